"""Personal data in feed files: which columns hold it, the keyed hash that protects it, and
what is kept of a row the reader cannot split into fields.

A plain SHA-256 of a name or a phone number is no protection: the names and numbers a
caller can have are few enough to hash them all and look the stored values up. The hash
here is HMAC-SHA256 (RFC 2104) under a secret that lives outside the config and the
warehouse, in ``$JOINTCAST_PII_KEY`` or in the file ``[warehouse] pii_key_file`` names:
without the secret no list of candidates maps to a stored value, and with it the same
value always hashes alike, so hashed columns still join and count. DuckDB computes it
from the two key pads held as session variables of the ingesting connection (never in a
table or in the SQL text), and a missing pad is an error, never a NULL hash.

PII columns fail closed: a configured name matches a header column whatever its case, and
so does every duplicate of it (``CallerPhone_1``, as DuckDB renames a repeated header);
a file whose header lacks a configured column is refused, since its PII may sit under a
name nobody configured (or in bytes of another encoding).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from jointcast.config import FeedSettings, PiiSettings
from warehouse.db import folded_name
from warehouse.key_files import KeyFileProblem, read_key_file

KEY_ENV = "JOINTCAST_PII_KEY"
MIN_KEY_CHARS = 32
"""A key shorter than this (128 bits as hex) is refused: a guessable key is no key."""
_BLOCK = 64  # SHA-256's block size, which HMAC pads the key to
_INNER, _OUTER = "jointcast_pii_inner", "jointcast_pii_outer"
HOW_TO_SET = (
    f"set {KEY_ENV} or name a key file in [warehouse] pii_key_file "
    "(make one with: openssl rand -hex 32 > pii.key && chmod 600 pii.key)"
)


class PiiKeyError(RuntimeError):
    """The PII key is missing, unreadable, too short or readable by others."""


class PiiColumnError(RuntimeError):
    """A configured PII column is not in a file's header."""


def load_key(key_file: Path | None) -> bytes | None:
    """The secret from ``$JOINTCAST_PII_KEY``, else from ``key_file``; None when neither is given."""
    from_env = os.environ.get(KEY_ENV)
    if from_env is not None:
        return _checked(from_env.strip().encode("utf-8"), f"${KEY_ENV}")
    if key_file is None:
        return None
    try:
        secret = read_key_file(key_file).strip().encode("utf-8")
    except KeyFileProblem as problem:
        raise PiiKeyError(f"the PII key file {key_file} {problem} ({HOW_TO_SET})") from None
    return _checked(secret, f"the PII key file {key_file}")


def _checked(secret: bytes, where: str) -> bytes:
    if len(secret) < MIN_KEY_CHARS:
        raise PiiKeyError(f"{where} holds {len(secret)} characters; a PII key needs {MIN_KEY_CHARS} or more")
    return secret


def keyed_hash(secret: bytes, text: str) -> str:
    """HMAC-SHA256 of ``text`` as hex: the value ``hash_sql`` computes in DuckDB."""
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


@contextmanager
def hashing_key(con: duckdb.DuckDBPyConnection, secret: bytes | None) -> Iterator[None]:
    """Make ``hash_sql`` usable on ``con`` for the block; the pads are reset afterwards."""
    if secret is None:
        yield
        return
    block = (hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret).ljust(_BLOCK, b"\0")
    con.execute(f"SET VARIABLE {_INNER} = ?", [bytes(b ^ 0x36 for b in block)])
    con.execute(f"SET VARIABLE {_OUTER} = ?", [bytes(b ^ 0x5C for b in block)])
    try:
        yield
    finally:
        con.execute(f"RESET VARIABLE {_INNER}")
        con.execute(f"RESET VARIABLE {_OUTER}")


def hash_sql(value: str) -> str:
    """SQL for HMAC-SHA256 (hex) of the VARCHAR expression ``value``, NULL for NULL; inside
    ``hashing_key`` only: outside it the query fails rather than store an unkeyed value."""

    def pad(name: str) -> str:
        return f"coalesce(getvariable('{name}'), error('the PII key is not set: {HOW_TO_SET}'))"

    inner = f"unhex(sha256({pad(_INNER)} || encode({value})))"
    return f"CASE WHEN {value} IS NULL THEN NULL ELSE sha256({pad(_OUTER)} || {inner}) END"


def matching(header: Iterable[str], names: Iterable[str], nested: bool = False) -> list[str]:
    """The header columns that are one of ``names``: any case, and any ``<name>_<n>`` duplicate.

    ``nested``: the header's dotted names are a JSON record's nested fields (``caller.phone``), so a
    name matches its fields too (``caller`` matches ``caller.phone``) and the column that holds it as
    JSON text (``caller.phone`` matches ``caller`` where ``caller`` is not always an object).
    """
    wanted = {folded_name(n) for n in names}
    found = []
    for column in header:
        folded = folded_name(column)
        duplicate = re.fullmatch(r"(.+)_\d+", folded)
        within = nested and any(_nested(folded, name) or _nested(name, folded) for name in wanted)
        if folded in wanted or (duplicate and duplicate.group(1) in wanted) or within:
            found.append(column)
    return found


def _nested(inner: str, outer: str) -> bool:
    """Whether dotted name ``inner`` is a field inside ``outer`` (``caller.phone`` in ``caller``)."""
    return inner.startswith(outer + ".")


def split_pii(
    header: Sequence[str], pii: PiiSettings, feed_id: str, nested: bool = False
) -> tuple[set[str], set[str]]:
    """The header's (dropped, hashed) columns; a configured column absent from it is an error.
    ``nested``: the header holds a JSON record's nested fields as dotted names (see ``matching``)."""
    for key, names in (("drop", pii.drop), ("hash", pii.hash)):
        for name in names:
            if not matching(header, [name], nested):
                raise PiiColumnError(
                    f"PII column '{name}' (feeds.pii.{key} of feed {feed_id}) is not in the file's "
                    "header; the file is refused rather than store personal data unprotected"
                )
    dropped = set(matching(header, pii.drop, nested))
    return dropped, set(matching(header, pii.hash, nested)) - dropped


def unreadable_values(
    line: str | None, header: Sequence[str], feed: FeedSettings, secret: bytes | None
) -> dict:
    """What quarantine keeps of a row the reader could not read.

    A feed with no PII columns, or one that retains unreadable rows raw, keeps the line. A CSV
    line that splits into as many fields as the header keeps its fields, PII ones removed.
    Anything else keeps only its length and (when there is a key) its keyed hash, so the row
    can be matched against the source by whoever holds both.
    """
    pii = feed.pii
    if not pii.columns or pii.retain_unreadable_raw:
        return {"line": line}
    text = line or ""
    fields = _fields(text, feed.delimiter) if feed.format == "csv" else []
    if header and len(fields) == len(header):
        personal = set(matching(header, pii.columns))
        return {c: v for c, v in zip(header, fields, strict=True) if c not in personal}
    kept: dict = {"length": len(text)}
    if secret is not None:
        kept["hmac_sha256"] = keyed_hash(secret, text)
    return kept


def _fields(line: str, delimiter: str) -> list[str]:
    """The line's fields when it is exactly one CSV record; none otherwise."""
    try:
        records = list(csv.reader(io.StringIO(line, newline=""), delimiter=delimiter, quotechar='"'))
    except csv.Error:
        return []
    return records[0] if len(records) == 1 else []
