"""Told apart from every other failure: a write that failed because the disk is full.

A full disk (or quota, a file-size limit, a read-only mount) can stop any command at any write:
DuckDB committing to the warehouse or writing a raw file, an export, a report page, Data Docs.
Whatever wrote, the person at the terminal needs the same one line: what could not be written,
where, and that it is the disk, not the data. DuckDB says it in its message text
(``Could not write file "<path>": No space left on device``); Python raises ``OSError``.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator

_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS}
_MESSAGES = ("No space left on device", "File too large", "Disk quota exceeded", "Read-only file system")
_QUOTED_PATH = re.compile(r'"(/[^"]+)"|\'(/[^\']+)\'')
ADVICE = "the disk is full or a size limit was reached: free space and run the command again"


def unwritable(exc: BaseException) -> str | None:
    """One line naming the file that could not be written and why; None for any other failure."""
    for cause in _chain(exc):
        if isinstance(cause, OSError) and cause.errno in _ERRNOS:
            where = cause.filename or "a file"
            return f"cannot write {where}: {cause.strerror} ({ADVICE})"
        text = str(cause)
        said = next((message for message in _MESSAGES if message in text), None)
        if said is not None:
            found = _QUOTED_PATH.search(text)
            where = next(g for g in found.groups() if g) if found else "a file"
            return f"cannot write {where}: {said} ({ADVICE})"
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
