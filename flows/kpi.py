"""The KPI stage: joint-operations KPIs per agency and period, rewritten whole from the warehouse.

Reads core.incidents, meta.batches, the quarantine's reasons, the published shifts and
(once scored) forecast.accuracy; planning.kpi_tables builds every kpi.* table; warehouse.kpi_store
writes them and the per-agency views in one transaction. Nothing else depends on it: a
publication reads whatever KPIs were last computed, and says so when there are none.
"""

from __future__ import annotations

from prefect import flow

from flows.common import done, exclusive, markdown_artifact, run_name, warehouse
from jointcast.config import Settings


@flow(name="kpi", flow_run_name=run_name("kpi"), persist_result=False)
@exclusive("kpi")
def kpi_flow(settings: Settings) -> dict[str, int]:
    """Rebuild the kpi.* tables; returns their row counts."""
    from planning.kpi_tables import KpiSettings, build_kpis
    from warehouse.kpi_store import read_kpi_inputs, write_kpis
    from warehouse.marts import refresh_marts

    with warehouse(settings) as con:
        inputs = read_kpi_inputs(con)
        tables = build_kpis(inputs, KpiSettings.from_settings(settings))
        counts = write_kpis(con, tables, list(settings.agency_ids))
        refresh_marts(con, settings)  # the agencies' marts carry their KPIs
    scored = inputs.accuracy.height
    accuracy = f"{scored:,} scored rows" if scored else "no forecast accuracy yet"
    summary = (
        f"{inputs.incidents.height:,} incidents of {inputs.batches.height:,} batches: "
        + ", ".join(f"kpi.{name} {rows:,} rows" for name, rows in counts.items())
        + f" ({accuracy})"
    )
    done("kpi", summary)
    markdown_artifact("kpi", _described(counts), summary)
    return counts


def _described(counts: dict[str, int]) -> str:
    """The KPI tables in the Prefect UI: each one's rows and where an agency reads its own."""
    lines = ["# Joint-operations KPIs", "", "| table | rows | one agency's rows |", "|---|---|---|"]
    lines += [f"| `kpi.{name}` | {rows:,} | `kpi.<agency_id>_{name}` |" for name, rows in counts.items()]
    return "\n".join(lines)
