"""Feed files behind one small interface: local paths and globs, file://, http(s)://, s3://.

fsspec lists and opens every kind of URI; remote files are copied to a local temporary
file (hashed on the way) so DuckDB reads them with its own fast readers, and tests use
local files only.

A local feed stays inside its folder (the part of its uri before any glob character): a
uri with a ``..`` step is refused, and so is a file whose real path (symlinks followed)
lies outside the folder's, so whoever can drop files into a feed folder cannot make the
warehouse read anything else on the machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import dropwhile
from pathlib import Path, PurePosixPath

import fsspec
from fsspec.core import url_to_fs
from fsspec.utils import get_protocol

CHUNK = 8 * 1024 * 1024
GLOB_CHARS = set("*?[")


class FeedSourceError(RuntimeError):
    """A feed file that cannot be listed or fetched."""


@dataclass(frozen=True)
class SourceFile:
    """One fetched feed file: where it came from, where it lies now, what it holds."""

    uri: str
    local_path: Path
    sha256: str
    size_bytes: int


def list_files(uri: str) -> list[str]:
    """Every file a feed URI names, sorted, so loads happen in a stable order.

    A glob that matches nothing, or a plain path that does not exist, is an error.
    """
    try:
        fs, path = url_to_fs(uri)
        if GLOB_CHARS & set(path):
            matches = sorted(p for p in fs.glob(path) if fs.isfile(p))
            if not matches:
                hint = " ('[' starts a glob character class: write a literal one as '[[]')"
                hint = hint if "[" in uri else ""
                raise FeedSourceError(f"no files match '{uri}'{hint}")
        elif fs.isfile(path):
            matches = [path]
        else:
            raise FeedSourceError(f"file not found: '{uri}'")
    except FeedSourceError:
        raise
    except Exception as exc:  # network, permissions, unknown protocol: one clear line
        raise FeedSourceError(f"cannot list '{uri}': {exc}") from exc
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return matches
    return [fs.unstrip_protocol(p) for p in matches]


def _named_local(uri: str) -> bool:
    """Whether the uri names a local file, told from its text alone (no filesystem loaded)."""
    return get_protocol(uri) in ("file", "local")


def refuse_parent_steps(uri: str) -> None:
    """A local uri may not climb out of the folder it names with ``..``: ``feeds/../../etc/*`` is
    refused, while leading steps (``../data/*.csv``, relative to the config's folder) only name the
    folder, as an absolute path would."""
    if not _named_local(uri):
        return
    parts = PurePosixPath(uri.removeprefix("file://")).parts
    named = list(dropwhile(lambda part: part == "..", parts))
    if ".." in named:
        raise FeedSourceError(f"uri '{uri}' has a '..' step: a local feed may not leave its folder")


def feed_folder(uri: str) -> Path | None:
    """The folder a local uri's files must lie in: its path before the first glob character."""
    if not _named_local(uri):
        return None
    parts = PurePosixPath(url_to_fs(uri)[1]).parts
    globbed = [i for i, part in enumerate(parts) if GLOB_CHARS & set(_ESCAPED.sub("", part))]
    kept = [_ESCAPED.sub(r"\1", part) for part in parts]
    return Path(*kept[: globbed[0]]) if globbed else Path(*kept).parent


_ESCAPED = re.compile(r"\[([\[*?])\]")
"""A glob character written as a one-character class (``[[]``, as glob.escape writes it): literal."""


def _is_local(uri: str) -> bool:
    fs, _ = url_to_fs(uri)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _check_inside(uri: str, path: Path, folder: Path) -> None:
    real, root = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    if not real.is_relative_to(root):
        raise FeedSourceError(f"file '{uri}' leads to '{real}', outside the feed's folder '{root}'; not read")


@contextmanager
def fetch(uri: str, suffix: str = "", inside: Path | None = None) -> Iterator[SourceFile]:
    """Yield the file as a local path with its SHA-256; remote files live in a temp copy.

    ``inside``: the feed's folder; a local file whose real path is elsewhere is refused.
    """
    if _is_local(uri):
        path = Path(url_to_fs(uri)[1])
        if inside is not None:
            _check_inside(uri, path, inside)
        yield _described(uri, path, lambda: (file_sha256(path), path.stat().st_size))
        return
    with tempfile.TemporaryDirectory(prefix="jointcast-fetch-") as tmp:
        local = Path(tmp) / ("source" + suffix)
        yield _described(uri, local, lambda: _download(uri, local))


def _download(uri: str, local: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    with fsspec.open(uri, "rb") as remote, open(local, "wb") as out:
        while block := remote.read(CHUNK):
            digest.update(block)
            out.write(block)
    return digest.hexdigest(), local.stat().st_size


def _described(uri: str, local: Path, read) -> SourceFile:
    try:
        sha256, size = read()
    except FileNotFoundError as exc:
        raise FeedSourceError(f"file not found: '{uri}'") from exc
    except OSError as exc:
        raise FeedSourceError(f"cannot read '{uri}': {exc}") from exc
    return SourceFile(uri, local, sha256, size)
