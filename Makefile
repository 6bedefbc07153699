# jointcast: `make run` sets everything up and runs the demo; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The open-source peers the benchmark runs beside jointcast (pyproject's `bench` extra), for `make bench` only.
BENCH_STAMP := $(VENV)/.installed-bench
# Exact versions of every dependency (dev tools included) that `make run` / `make test` install.
# pyproject.toml holds the supported ranges; `make lock` turns them into this file.
LOCK   := requirements.lock

# uv resolves the lock; it lives in a venv of its own so the project's venv holds the locked set only.
UV_VERSION := 0.13.9
TOOLS      := $(VENV)/tools
UV         := $(TOOLS)/bin/uv
# One lock for Linux, macOS and Windows, Python 3.11 and up (pyproject's requires-python).
LOCK_ARGS  := pyproject.toml --extra dev --extra bench --universal --python-version 3.11 --quiet \
	--custom-compile-command "make lock" -o $(LOCK)
# `make lock` keeps every pin it can and only resolves what pyproject.toml changed; upgrade on purpose
# with `make lock-upgrade` (everything) or `make lock UPGRADE="--upgrade-package polars"` (one package).
UPGRADE ?=

# Fast tests: no servers, browser, subprocess CLI runs, Dask cluster or model training.
FAST_MARKERS := not integration and not browser and not slow

.PHONY: run test test-fast test-faults bench lint lock lock-upgrade clean browser

$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --quiet --upgrade pip
	@# The lock also pins the bench extra (mlforecast, statsforecast); installing through it as constraints
	@# takes only what jointcast and its dev tools need, at the locked versions.
	$(BIN)/pip install --quiet --quiet -c $(LOCK) -e ".[dev]"
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check; \
		echo "*** $(LOCK) does not satisfy pyproject.toml: run 'make lock'" >&2; exit 1; }
	touch $(STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --quiet -c $(LOCK) -e ".[dev,bench]"
	touch $(BENCH_STAMP)

lock: $(UV)
	$(UV) pip compile $(LOCK_ARGS) $(UPGRADE)
	@# The DuckDB command line must be the library's own release: duckdb-extension-spatial pins the
	@# library exactly, and an extension loads only into the release it was built for.
	@v=$$(sed -n 's/^duckdb==\([^ ;]*\).*/\1/p' $(LOCK)); \
		test -n "$$v" || { echo "*** no duckdb pin in $(LOCK)" >&2; exit 1; }; \
		echo "duckdb-cli==$$v" > $(TOOLS)/duckdb-cli.txt; \
		echo "$(UV) pip compile ... --constraint duckdb-cli==$$v"; \
		$(UV) pip compile $(LOCK_ARGS) --constraint $(TOOLS)/duckdb-cli.txt --upgrade-package duckdb-cli

lock-upgrade:
	$(MAKE) lock UPGRADE=--upgrade

run: $(STAMP)
	$(BIN)/jointcast demo

# The tests run on one process per core (pytest-xdist), a test file to one process so that a module's
# fixtures are built once; `make test TEST_WORKERS=0` runs them in this process, one at a time.
TEST_WORKERS ?= auto

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=20

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "$(FAST_MARKERS)"

# Fault injection: each stage's command killed at each commit boundary, then run again (long: CI runs it).
test-faults: $(STAMP)
	$(BIN)/python -m pytest -q -m faults

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

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) demo
