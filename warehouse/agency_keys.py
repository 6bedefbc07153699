"""Each agency's mart key: from ``$JOINTCAST_KEY_<AGENCY_ID>`` or the agency's ``key_file``.

A key never enters the config or the warehouse: the config names at most the file that holds
it. The environment wins over the file, so an operator can hand one agency's key to one
command without touching the workspace. A key file must be readable by its owner only (as ssh
insists of a private key): a key others can read protects nothing.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from jointcast.config import Settings

KEY_ENV_PREFIX = "JOINTCAST_KEY_"
MIN_KEY_CHARS = 16
"""A key shorter than this is refused: DuckDB derives the AES-256 key from it, but a short
passphrase can be guessed."""


class KeyProblem(ValueError):
    """A key that is missing, unreadable or unfit, said in one line."""


def key_env(agency_id: str) -> str:
    """The environment variable holding the agency's key: JOINTCAST_KEY_CITY_POLICE."""
    return KEY_ENV_PREFIX + agency_id.upper()


def agency_key(settings: Settings, agency_id: str) -> str | None:
    """The agency's key: the environment's, else its key file's; None when neither is set."""
    if (value := os.environ.get(key_env(agency_id))) is not None:
        return _checked(value, f"${key_env(agency_id)}")
    path = settings.key_file(agency_id)
    if path is None:
        return None
    return _checked(_read_key_file(path), f"key file {path}")


def require_key(settings: Settings, agency_id: str) -> str:
    """The agency's key, or KeyProblem saying where to put it."""
    key = agency_key(settings, agency_id)
    if key is None:
        where = f"set ${key_env(agency_id)} or the agency's key_file in the config"
        raise KeyProblem(f"no key for agency '{agency_id}': {where}")
    return key


def write_key_file(path: Path) -> Path:
    """A new random key (256 bits, hex) in ``path``, readable by its owner only; an existing key
    file is kept, so a workspace written again keeps opening its marts."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path


def _read_key_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyProblem(f"key file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyProblem(f"key file {path} cannot be read: {exc}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyProblem(f"key file {path} is open to others (mode {stat.S_IMODE(mode):04o}): chmod 600 it")
    return text


def _checked(value: str, where: str) -> str:
    key = value.strip()
    if "\n" in key or "\r" in key:
        raise KeyProblem(f"{where} holds more than one line: a key is one line")
    if len(key) < MIN_KEY_CHARS:
        raise KeyProblem(f"{where} holds a key of {len(key)} characters: at least {MIN_KEY_CHARS} are needed")
    return key
