"""The configured quantiles (forecast.quantiles) published as a map beside p10/p50/p90."""

from datetime import timedelta

import duckdb
import polars as pl
import pytest

from models.distribution import QUANTILE_MAP, with_quantiles
from models.forecasting import QUANTILES, configured_quantiles
from planning.overrides import apply_overrides
from planning.provenance import forecast_digest
from tests.test_planning import T0, TIME, _overrides, _settings
from warehouse.db import _migrations, migrate

CONFIGURED = (0.05, 0.1, 0.5, 0.9, 0.95)


def _hourly() -> pl.DataFrame:
    frame = pl.DataFrame({"agency_id": ["fire", "fire", "ems"], "mean": [0.3, 2.5, 12.0]})
    return with_quantiles(frame, {"fire": 0.2}, QUANTILES).with_columns(pl.col("p10", "p50", "p90").clip(0.0))


def test_the_configured_quantiles_increase_with_the_level_and_hold_p10_p50_p90():
    hourly = configured_quantiles(_hourly(), {"fire": 0.2}, CONFIGURED)
    assert hourly.schema["quantiles"] == QUANTILE_MAP
    for row in hourly.iter_rows(named=True):
        levels = row["quantiles"]
        assert list(levels) == list(CONFIGURED)
        values = list(levels.values())
        assert all(a <= b for a, b in zip(values, values[1:], strict=False)) and values[0] >= 0
        assert values[-1] > values[0]
        assert (levels[0.1], levels[0.5], levels[0.9]) == pytest.approx((row["p10"], row["p50"], row["p90"]))
    only_high = configured_quantiles(_hourly(), {"fire": 0.2}, (0.95,))
    assert [list(m) for m in only_high["quantiles"]] == [[0.95]] * 3


def test_overrides_scale_every_configured_quantile_and_keep_the_models_own():
    hours = 4
    model = pl.DataFrame({
        "agency_id": ["fire"] * hours, "area_id": ["A1"] * hours,
        "bucket_start": [T0 + timedelta(hours=h) for h in range(hours)], "model_mean": [1.0] * hours,
        "model_p10": [0.5] * hours, "model_p50": [1.0] * hours, "model_p90": [2.0] * hours,
    }, schema_overrides={"bucket_start": TIME}).with_columns(
        model_quantiles=pl.lit([{"key": 0.5, "value": 1.0}, {"key": 0.95, "value": 3.0}])
        .cast(pl.List(pl.Struct({"key": pl.Float64, "value": pl.Float64}))).cast(QUANTILE_MAP)
    )  # fmt: skip
    overrides = _overrides([(1, "fire", None, T0 + timedelta(hours=1), T0 + timedelta(hours=3), 2.0)])
    adjusted = apply_overrides(model, overrides)
    assert adjusted["override_factor"].to_list() == [1.0, 2.0, 2.0, 1.0]
    assert adjusted["quantiles"].to_list() == [
        {0.5: 1.0, 0.95: 3.0}, {0.5: 2.0, 0.95: 6.0}, {0.5: 2.0, 0.95: 6.0}, {0.5: 1.0, 0.95: 3.0},
    ]  # fmt: skip
    assert adjusted["model_quantiles"].to_list() == [{0.5: 1.0, 0.95: 3.0}] * hours
    assert [m[0.5] for m in adjusted["quantiles"]] == adjusted["p50"].to_list()
    unmapped = model.with_columns(model_quantiles=pl.lit(None, QUANTILE_MAP))  # published before the column
    assert apply_overrides(unmapped, overrides)["quantiles"].is_null().all()


def test_the_forecast_digest_changes_with_the_configured_quantiles():
    base = _settings()
    wider = base.model_copy(update={"forecast": base.forecast.model_copy(update={"quantiles": CONFIGURED})})
    assert forecast_digest(base, "1", "d") == forecast_digest(_settings(), "1", "d")
    assert forecast_digest(wider, "1", "d") != forecast_digest(base, "1", "d")


def test_the_migration_adds_null_quantiles_to_rows_already_published(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA meta; CREATE TABLE meta.schema_migrations (version INTEGER PRIMARY KEY,"
                " name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")  # fmt: skip
    for version, name, sql in _migrations():
        if version < 8:
            con.execute(sql)
            con.execute("INSERT INTO meta.schema_migrations VALUES (?, ?, now())", [version, name])
    old = ("'pd', 'B01', TIMESTAMPTZ '2026-03-08 06:00:00+00', 1, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0, [], "
           "'time of day +5%', false, 'm', '3', 'run', now(), now(), 1")  # fmt: skip
    con.execute(
        "INSERT INTO forecast.demand (agency_id, area_id, bucket_start, horizon, mean, p10, p50, p90, model_mean,"
        " model_p10, model_p50, model_p90, override_factor, override_ids, drivers, data_stale, model_name,"
        f" model_version, mlflow_run_id, generated_at, data_as_of, publication_id) VALUES ({old})"
    )
    con.execute("INSERT INTO forecast.history BY NAME SELECT *, 1 AS vintage FROM forecast.demand")
    assert migrate(con)[0] == "008_configured_quantiles.sql"  # later migrations follow it
    for table in ("demand", "history"):
        types = dict(con.execute(f"SELECT column_name, data_type FROM duckdb_columns() WHERE "
                                 f"schema_name = 'forecast' AND table_name = '{table}'").fetchall())  # fmt: skip
        assert types["quantiles"] == types["model_quantiles"] == "MAP(DOUBLE, DOUBLE)"
        assert con.execute(f"SELECT quantiles, model_quantiles FROM forecast.{table}").fetchall() == [
            (None, None)
        ]
    con.execute("UPDATE forecast.demand SET quantiles = MAP {0.5: 1.0, 0.95: 3.5}")
    assert con.execute("SELECT quantiles[0.95], quantiles[0.5], p90 FROM forecast.demand").fetchone() == (
        3.5, 1.0, 2.0,
    )  # fmt: skip
    comments = con.execute("SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = 'forecast' "
                           "AND table_name = 'demand' AND column_name LIKE '%quantiles'").fetchall()  # fmt: skip
    assert len(comments) == 2 and all("quantiles[0.95]" in text for _, text in comments)
