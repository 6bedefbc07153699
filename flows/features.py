"""The features stage: joint events linked, demand panel counted, model inputs derived."""

from __future__ import annotations

from prefect import flow

from flows.common import exclusive, logger, warehouse
from jointcast.config import Settings


@flow(name="features", persist_result=False)
@exclusive("features")
def features_flow(settings: Settings) -> dict:
    """Recompute every features.* table from core (fast enough that a rerun is a full rebuild)."""
    from features.build import FeatureParameters, build_features
    from warehouse.features_store import read_events, read_incidents, write_features

    log = logger()
    params = FeatureParameters.from_settings(settings)
    with warehouse(settings) as con:
        incidents = read_incidents(con)
        built = build_features(incidents.lazy(), read_events(settings.events_path), params)
        counts = write_features(
            con,
            built.joint_events,
            {"demand": built.demand, "joint_demand": built.joint_demand},
            (built.model_inputs(band).collect() for band in built.bands),
        )
    log.info(
        "features from %d incidents: %d joint events, %d panel rows (%d series), %d model input rows",
        incidents.height,
        built.joint_events["joint_event_id"].n_unique(),
        counts["demand"],
        built.demand.select("agency_id", "area_id").n_unique(),
        counts["model_inputs"],
    )
    return counts
