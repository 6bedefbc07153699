"""CSV cells a spreadsheet will not run as formulas (CSV injection, OWASP).

A spreadsheet opening a CSV treats a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return as a formula, so an area id or an override reason such as
``=HYPERLINK(...)`` would run on a planner's machine. OWASP's remedy is to prefix such a
cell with a single quote, which the spreadsheet shows as text. Only text columns are
touched, and in them a cell that is a plain number (``-1.5``, ``+3``, ``-2e-3``) is left
as it is: a number is never a formula, and numeric columns keep their values exactly.
"""

from __future__ import annotations

import duckdb

from warehouse.db import quote

FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
TEXT_TYPES = ("VARCHAR", "JSON")


def neutralised(value: str) -> str:
    """SQL for the VARCHAR expression ``value`` with a formula-like text prefixed by a quote."""
    return (
        f"CASE WHEN regexp_matches({value}, '{FORMULA_START}') "
        f"AND NOT regexp_matches({value}, '{PLAIN_NUMBER}') THEN '''' || {value} ELSE {value} END"
    )


def spreadsheet_safe(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """``query`` with every text column's formula-like cells neutralised, columns as before."""
    columns = con.execute(f"DESCRIBE {query}").fetchall()
    select = ", ".join(
        f"{neutralised(quote(name))} AS {quote(name)}" if column_type in TEXT_TYPES else quote(name)
        for name, column_type, *_ in columns
    )
    return f"SELECT {select} FROM ({query})"
