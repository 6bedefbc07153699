"""How the workspace's Data Docs show a batch: its outcome, not only its expectations.

A feed's suite mixes two kinds of expectation (see suites.py): row-level ones, whose
failing rows are quarantined while the rest of the batch loads, and batch-level gates,
which reject the whole file. Great Expectations calls a result successful only when every
expectation passed, so a loaded batch with one quarantined row would read "Failed". Each
stored result is therefore given, once the warehouse has committed the batch, the batch's
outcome: ``success`` is whether the batch was loaded, and ``meta["batch_outcome"]`` says
how ("passed with 3 rows quarantined", "rejected: row count within 40..120"). The
expectation results themselves are left as GX found them. The validation page renderer
below shows that outcome under the page header; it is wired in through the site's
``site_section_builders`` config, GX's documented hook for page renderers.

The pages' layout, icons and the index's tables come from public CDNs (Bootstrap, jQuery,
bootstrap-table, Font Awesome: GX's templates name them; GX ships only its own stylesheet
and fonts). ``data_docs.css`` goes into GX's custom-styles slot and shows a note at the top
of every page only when Bootstrap did not load, i.e. offline.
"""

from __future__ import annotations

import re
from pathlib import Path

from great_expectations.render.components import RenderedStringTemplateContent
from great_expectations.render.renderer import ValidationResultsPageRenderer

SITE = "local_site"
OUTCOME = "batch_outcome"  # the key of a result's meta that holds the batch's outcome
RENDERER = {"module_name": __name__, "class_name": "BatchResultsPageRenderer"}
STYLES = Path(__file__).with_name("data_docs.css")
BEGIN, END = "/* jointcast data docs: begin */", "/* jointcast data docs: end */"
ALERT = {"passed": "alert-success", "passed_with_quarantine": "alert-warning", "rejected": "alert-danger"}


class BatchResultsPageRenderer(ValidationResultsPageRenderer):
    """GX's validation page with the batch's outcome right under its header."""

    def render(self, validation_results, suite_parameters=None):
        document = super().render(validation_results, suite_parameters)
        outcome = validation_results.meta.get(OUTCOME)
        if outcome and document.sections:
            document.sections[0].content_blocks.insert(1, _outcome_block(outcome))
        return document


def _outcome_block(outcome: dict) -> RenderedStringTemplateContent:
    return RenderedStringTemplateContent(
        string_template={
            "template": "Batch outcome: $summary. $detail",
            "params": {"summary": outcome["summary"], "detail": outcome.get("detail", "")},
            "styling": {"params": {"summary": {"tag": "strong"}}},
            "tag": "div",
        },
        styling={"classes": ["col-12", "alert", ALERT.get(outcome.get("status"), "alert-secondary"), "mt-2"]},
    )


def set_up_site(context) -> None:
    """The local site with the batch-outcome renderer, and the offline note in its styles."""
    sites = context.list_data_docs_sites()
    wanted = site_config(sites.get(SITE))
    if SITE not in sites:
        context.add_data_docs_site(SITE, wanted)
    elif sites[SITE] != wanted:
        context.update_data_docs_site(SITE, wanted)
    install_styles(Path(context.plugins_directory))


def site_config(current: dict | None) -> dict:
    """The local site's config with the batch-outcome page renderer for validation results."""
    config = dict(current or {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": True,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": "uncommitted/data_docs/local_site/"},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })  # fmt: skip
    sections = dict(config.get("site_section_builders") or {})
    sections["validations"] = {
        **(sections.get("validations") or {}),
        "renderer": RENDERER,
        # every run, whatever its file is called: GX's default hides run names with "profiling"
        "run_name_filter": {"matches_regex": "^"},
    }
    sections["profiling"] = "None"  # nothing here is profiled (GX's spelling of "no section")
    config["site_section_builders"] = sections
    return config


def install_styles(plugins_directory: Path) -> None:
    """Put data_docs.css into GX's custom-styles file, keeping whatever else is in it."""
    path = plugins_directory / "custom_data_docs" / "styles" / "data_docs_custom_styles.css"
    block = f"{BEGIN}\n{STYLES.read_text(encoding='utf-8').strip()}\n{END}"
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old)
    else:
        new = f"{old.rstrip()}\n\n{block}\n".lstrip()
    if new != old:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new, encoding="utf-8")
