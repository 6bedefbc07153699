"""Writers: export rows in each feed's own file format, one file per calendar month."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jointcast.simulator.feeds import TIMESTAMP_FIELDS, FeedSpec

_SPECIAL_FORMATS = {"epoch_ms": "ms", "epoch_s": "s"}


def _timestamp(feed: FeedSpec, field: str) -> pl.Expr:
    column = pl.col(field)
    if feed.timestamp_format in _SPECIAL_FORMATS:
        return column.dt.epoch(_SPECIAL_FORMATS[feed.timestamp_format])
    if feed.timestamp_format == "iso":
        return column
    return column.dt.convert_time_zone(feed.timezone).dt.strftime(feed.timestamp_format)


def source_frame(feed: FeedSpec, rows: pl.DataFrame) -> pl.DataFrame:
    """The rows as the source shows them: its column names, timestamp format and codes.
    Timestamps are text, epoch integers or typed, as the feed has them."""
    values = {field: _timestamp(feed, field) for field in TIMESTAMP_FIELDS}
    if feed.format == "csv":
        values["received_at"] = pl.coalesce("received_text", values["received_at"])
    return rows.select(
        *(values.get(field, pl.col(field)).alias(name) for field, name in feed.columns.items()),
        "file_month",
    )


def _json_value(column: str, dtype: pl.DataType) -> pl.Expr:
    value = pl.col(column)
    if dtype == pl.String:
        text = pl.concat_str(pl.lit('"'), value, pl.lit('"'))
    elif dtype.is_float():
        text = value.round(6).cast(pl.String)
    else:
        text = value.cast(pl.String)
    return text.fill_null("null")


def _json_lines(feed: FeedSpec, rows: pl.DataFrame, frame: pl.DataFrame) -> pl.Series:
    """One JSON object per row; unparseable timestamps become strings, absent ones lose the key."""
    received = feed.columns["received_at"]
    frame = frame.with_columns(_text=rows["received_text"], _absent=rows["received_absent"])
    fragments = []
    for name, dtype in frame.schema.items():
        if name.startswith("_") or name == "file_month":
            continue
        value = _json_value(name, dtype)
        if name == received:
            quoted = pl.concat_str(pl.lit('"'), pl.col("_text"), pl.lit('"'))
            value = pl.when(pl.col("_text").is_not_null()).then(quoted).otherwise(value)
            value = pl.when(pl.col("_absent")).then(None).otherwise(value)
        fragments.append(pl.concat_str(pl.lit(f'"{name}": '), value))
    line = pl.concat_str(
        pl.lit("{"), pl.concat_str(fragments, separator=", ", ignore_nulls=True), pl.lit("}")
    )
    return frame.select(line.alias("line"), "file_month")


def write_feed(feed: FeedSpec, rows: pl.DataFrame, folder: Path) -> list[Path]:
    """Write one file per month to ``folder``; returns the paths in month order."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = source_frame(feed, rows)
    if feed.format == "jsonl":
        frame = _json_lines(feed, rows, frame)
    paths = []
    months = frame.partition_by("file_month", as_dict=True, maintain_order=True)
    for (month,), part in months.items():
        path = folder / f"{feed.id}_{month}.{feed.extension}"
        part = part.drop("file_month")
        if feed.format == "csv":
            part.write_csv(path, separator=feed.delimiter, float_precision=6, line_terminator="\n")
        elif feed.format == "jsonl":
            path.write_text("\n".join(part["line"].to_list()) + "\n", encoding="utf-8")
        else:
            part.write_parquet(path, compression="zstd", statistics=True)
        paths.append(path)
    return sorted(paths)
