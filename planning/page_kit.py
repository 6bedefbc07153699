"""The parts every planner page shares: its CSS, colours, chart styling and SVG embedding, tables,
local times. Pure: strings in and out (matplotlib draws off-screen, into SVG text)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

BAND, MEAN, ACTUAL = "#c6dbef", "#1f4e79", "#c0392b"
SHIFT_COLOURS = ("#e6a532", "#3b7dbf", "#24345a", "#7a9a3a", "#8e5ea2")

CSS = """
body { font-family: system-ui, "Segoe UI", Roboto, Arial, sans-serif; color: #1d2733; max-width: 1180px;
  margin: 0 auto; padding: 20px 28px; line-height: 1.4; }
h1 { margin: 0 0 4px; font-size: 26px; } code { font-size: 13px; } .meta b { color: #1d2733; }
h2 { margin: 28px 0 8px; font-size:19px; color: #1f4e79; border-bottom: 2px solid #dfe6ee; padding: 0 0 4px; }
.meta, figcaption, .note { color: #4a5868; font-size: 14px; } figcaption, .note { font-size: 13px; }
.banner { margin: 14px 0; padding: 10px 14px; border: 2px solid #b03a2e; background: #fdecea; color: #7b241c;
  font-weight: 600; border-radius: 4px; }
figure { margin: 8px 0; } figure svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 6px 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e3e8ee; text-align: left; vertical-align: top; }
th { background: #f3f6f9; } .num { text-align: right; font-variant-numeric: tabular-nums; }
tr.day-start td { border-top: 2px solid #b9c6d3; } footer li { margin: 4px 0; } footer { font-size: 14px; }
.chip { display: inline-block; background: #eef3f8; border-radius: 10px; padding: 0 8px; margin: 1px 2px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
#hotspot-map svg { max-width: 760px; } #hotspot-map path:hover { stroke: #1d2733; stroke-width: 2; }
@media print { body { max-width: none; padding: 0; } figure, table, .banner { break-inside: avoid; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; } }
"""


def style_axes(ax, ylabel: str, columns: int) -> None:
    """A chart's axes as every page draws them: from zero, light grid, legend above."""
    ax.set_ylim(bottom=0)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", color="#e3e8ee")
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower left", ncol=columns, fontsize=9, frameon=False, bbox_to_anchor=(0, 1.0))
    ax.figure.tight_layout()


def svg_figure(chart_id: str, fig: Figure, caption: str) -> str:
    """``fig`` as an inline SVG <figure> (text kept as text, ids salted by ``chart_id``: stable output)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": chart_id}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :].replace("<svg", f'<svg role="img" aria-label="{caption}"', 1)
    return f'<figure id="{chart_id}" class="chart">{svg}<figcaption>{caption}</figcaption></figure>'


def html_table(headers: list[str], rows: Iterable[str], numeric: Iterable[int]) -> str:
    """A table of ready ``rows`` (<tr> strings) under ``headers``; the ``numeric`` columns right-aligned."""
    numeric = set(numeric)
    cells = "".join(
        f"<th{' class=num' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def local_time(moment: object, zone: ZoneInfo) -> str:
    """``moment`` in ``zone`` as people read it (a naive datetime is UTC); "unknown" when missing."""
    if not isinstance(moment, datetime):
        return "unknown"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return escape(aware.astimezone(zone).strftime("%a %d %b %Y %H:%M %Z"))
