"""Charts for reviewers: what the model leans on, and how its backtest forecasts look."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from models.distribution import quantile_name  # noqa: E402


def feature_importance_chart(importance: pl.DataFrame, top: int = 20) -> Figure:
    rows = importance.head(top).reverse()
    fig, ax = plt.subplots(figsize=(7, 0.3 * rows.height + 1.2))
    ax.barh(rows["feature"].to_list(), rows["gain"].to_list(), color="#3b6ea8")
    ax.set_xlabel("total gain")
    ax.set_title("What the demand model leans on")
    fig.tight_layout()
    return fig


def backtest_chart(agency_hourly: pl.DataFrame, agency_id: str, quantiles: tuple[float, ...]) -> Figure:
    """The agency's hourly demand in the last backtest fold: actuals, forecast and its band."""
    last = agency_hourly["origin"].max()
    rows = agency_hourly.filter(pl.col("agency_id") == agency_id, pl.col("origin") == last).sort(
        "bucket_start"
    )
    low, high = quantile_name(quantiles[0]), quantile_name(quantiles[-1])
    fig, ax = plt.subplots(figsize=(11, 3.6))
    x = rows["bucket_start"].to_list()
    ax.fill_between(x, rows[low].clip(0).to_list(), rows[high].to_list(), color="#9cc3e6", alpha=0.6,
                    label=f"{low}-{high}")  # fmt: skip
    ax.plot(x, rows["mean"].to_list(), color="#1f4e79", lw=1.2, label="forecast mean")
    ax.plot(x, rows["actual"].to_list(), color="#c0392b", lw=0.8, alpha=0.8, label="actual")
    if rows["oracle"].null_count() == 0:
        ax.plot(x, rows["oracle"].to_list(), color="#555555", lw=0.8, ls="--", label="true rate")
    ax.set_title(f"{agency_id}: backtest from {last:%Y-%m-%d %H:%M} UTC, incidents per hour")
    ax.legend(loc="upper right", ncol=4, fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
