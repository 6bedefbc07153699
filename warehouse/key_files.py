"""Secret key files: made random and owner-only, read only when owner-only.

Both kinds of key the workspace holds (the PII hashing key, each agency's mart key) live in
files of this kind, never in the config or the warehouse. A key file others can read protects
nothing, so it is refused, as ssh refuses such a private key.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


class KeyFileProblem(ValueError):
    """Why a key file cannot be used, as the end of a sentence that names the file."""


def read_key_file(path: Path) -> str:
    """The text of the key file at ``path``, or KeyFileProblem: missing, unreadable, or open to
    others (any group or other permission bit)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileProblem("not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileProblem(f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileProblem(f"is open to others (mode {stat.S_IMODE(mode):04o}): chmod 600 it")
    return text


def write_key_file(path: Path) -> Path:
    """A new random key (256 bits, hex) in ``path``, readable by its owner only; an existing key
    file is kept, so a workspace written again still opens what its key protects."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path
