"""The scenario stage: a stored what-if run against the live publication, into ``scenario.*``.

Reads the scenario, the live publication's demand, staffing and areas, the model inputs of the
hours ahead and the champion; planning.scenario_run assembles the tables; warehouse.scenarios
writes them in one transaction. No ``forecast.*`` table is written.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow

from flows.common import done, exclusive, failed, run_name, warehouse
from jointcast.config import Settings


@flow(name="scenario", flow_run_name=run_name("scenario"), persist_result=False)
@exclusive("scenario")
def scenario_flow(settings: Settings, name: str) -> dict:
    """Run the stored scenario ``name`` (or id); returns its id and rows per scenario.* table."""
    from features.history import horizon_bands
    from models import tracking
    from models.forecasting import unmatched_features
    from planning.assemble import staffing_plans
    from planning.provenance import Provenance
    from planning.scenario_file import ScenarioError, check_scenario, parse_scenario
    from planning.scenario_run import ScenarioInputs, scenario_tables
    from warehouse.features_store import read_events
    from warehouse.marts import refresh_marts
    from warehouse.model_store import read_forecast_inputs
    from warehouse.publish import latest_publication
    from warehouse.scenarios import read_live, read_scenario, write_scenario_run

    tracking.use_store(settings.tracking_uri, settings.mlflow.experiment, settings.artifact_root)
    try:
        with warehouse(settings) as con:
            stored = read_scenario(con, name)
            latest = latest_publication(con)
            if latest is None:
                raise LookupError("nothing published yet: run `jointcast forecast` first")
            live = read_live(con)
            model_inputs, _ = read_forecast_inputs(con)
        model, champion = tracking.load_champion(settings.mlflow.registered_model)
        spec = parse_scenario(stored["spec"], f"'{stored['name']}'")
        check_scenario(spec, settings, set(live["areas"].select("agency_id", "area_id").iter_rows()))
        if unmatched := unmatched_features(
            model, model_inputs.columns, f"the champion (version {champion.version})"
        ):
            raise LookupError(unmatched)
        provenance = Provenance.of_publication(latest)
        inputs = ScenarioInputs(
            spec, live["demand"], live["staffing"], live["areas"], live["service_profile"], model_inputs,
            provenance.data_as_of, champion.version,
            staffing_plans(settings, live["service_profile"], provenance),
            provenance.dispersion.get("hourly", {}), live["panel"], read_events(settings.events_path),
        )  # fmt: skip
        now = datetime.now(UTC)
        tables = scenario_tables(inputs, model, settings, horizon_bands(settings.forecast.horizon_hours), now)
    except (LookupError, ScenarioError) as exc:
        return failed("scenario", [f"scenario: {exc}"])
    with warehouse(settings) as con:
        counts = write_scenario_run(con, stored["scenario_id"], tables, latest["publication_id"],
                                    champion.version, now)  # fmt: skip
        refresh_marts(con, settings)  # each agency's mart carries its scenario rows
        write_scenario_indexes(settings, con)
    described = {**stored, "baseline_publication_id": latest["publication_id"]}
    pages = _write_pages(settings, described, spec, tables, live["areas"])
    aid = tables["mutual_aid"]
    done(
        "scenario",
        f"{spec.name} (scenario {stored['scenario_id']}) against publication {latest['publication_id']}: "
        + ", ".join(f"scenario.{table} {rows:,} rows" for table, rows in counts.items())
        + f"; {aid.height} shifts short of units; {len(pages)} report pages",
    )
    return {"scenario_id": stored["scenario_id"], "rows": counts, "short_shifts": aid.height, "pages": pages}


def scenario_page_path(settings: Settings, agency_id: str, name: str):
    """The agency's page of scenario ``name``, beside its report."""
    return settings.report_root / f"{agency_id}_scenario_{name}.html"


def write_scenario_indexes(settings: Settings, con) -> None:
    """Every agency's list of its scenario pages (linked from its report), as the warehouse has them now."""
    import polars as pl

    from planning.scenario_page import render_scenario_index, scenario_index_name
    from warehouse.pages import write_report
    from warehouse.scenarios import read_scenario_runs

    runs = read_scenario_runs(con)
    for agency in settings.agencies:
        mine = runs.filter(pl.col("agency_id") == agency.id).with_columns(
            page=pl.format("{}_scenario_{}.html", pl.col("agency_id"), pl.col("name"))
        )
        html = render_scenario_index(agency.id, agency.name, agency.timezone, mine)
        write_report(html, settings.report_root / scenario_index_name(agency.id))


def _write_pages(settings: Settings, scenario: dict, spec, tables: dict, areas) -> list[str]:
    """Each agency's scenario page; returns where they were written."""
    from planning.scenario_page import scenario_pages
    from warehouse.pages import write_report

    pages = scenario_pages(settings, scenario, spec, tables, areas)
    return [
        str(write_report(html, scenario_page_path(settings, agency_id, spec.name)))
        for agency_id, html in pages.items()
    ]
