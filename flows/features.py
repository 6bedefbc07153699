"""The features stage: joint events linked, demand panel counted, model inputs derived."""

from __future__ import annotations

from prefect import flow

from flows.common import done, exclusive, run_name, warehouse
from jointcast.config import Settings
from jointcast.faults import reach


@flow(name="features", flow_run_name=run_name("features"), persist_result=False)
@exclusive("features")
def features_flow(settings: Settings) -> dict:
    """Rebuild every features.* table from core, unless they were built from these very inputs."""
    from features.build import build_features
    from features.panel import SERIES
    from flows.pending import feature_parameters, features_inputs
    from warehouse.features_store import read_events, read_incidents, table_counts, write_features
    from warehouse.stages import recorded_inputs

    with warehouse(settings) as con:
        params = feature_parameters(con, settings)
        inputs_digest = features_inputs(con, settings, params)
        if recorded_inputs(con, "features") == inputs_digest:
            done("features", "built from these inputs already: nothing to rebuild")
            return table_counts(con)
        incidents = read_incidents(con)
        built = build_features(incidents.lazy(), read_events(settings.events_path), params)
        reach("features.before_commit")
        counts = write_features(
            con,
            built.joint_events,
            built.tables(),
            (part.collect() for part in built.model_input_parts()),
            inputs_digest,
            built.outages,
        )
        reach("features.after_commit")
    joint, series = built.joint_events["joint_event_id"].n_unique(), built.demand.select(SERIES).n_unique()
    panel, inputs = counts["demand"], counts["model_inputs"]
    outages = (
        f", {built.outages.height} feed outage{'s' * (built.outages.height != 1)}"
        if built.outages.height
        else ""
    )
    done("features", f"{incidents.height:,} incidents: {joint:,} joint events, {panel:,} panel rows "
                     f"({series} series), {inputs:,} model input rows{outages}")  # fmt: skip
    return counts
