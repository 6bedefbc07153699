# jointcast: `make run` sets everything up and runs the demo; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/jointcast demo

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# Headless Chromium for the report's browser test (tests/browser.py); installed once, with apt.
browser:
	@command -v chromium >/dev/null || { \
		if command -v apt-get >/dev/null; then \
			echo "installing chromium (apt) for the report's browser test"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "*** chromium is missing and apt-get is unavailable: install Chromium by hand;" \
				"tests/test_report.py will fail until /usr/bin/chromium exists" >&2; \
		fi; }

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) demo
