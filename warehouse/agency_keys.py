"""Each agency's mart key: from ``$JOINTCAST_KEY_<AGENCY_ID>`` or the agency's ``key_file``.

A key never enters the config or the warehouse: the config names at most the file that holds
it. The environment wins over the file, so an operator can hand one agency's key to one
command without touching the workspace. A key file must be readable by its owner only
(warehouse.key_files).
"""

from __future__ import annotations

import os

from jointcast.config import Settings
from warehouse.key_files import KeyFileProblem, read_key_file, write_key_file

__all__ = ["KeyProblem", "agency_key", "key_env", "require_key", "write_key_file"]

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
    try:
        return _checked(read_key_file(path), f"key file {path}")
    except KeyFileProblem as problem:
        raise KeyProblem(f"key file {path} {problem}") from None


def require_key(settings: Settings, agency_id: str) -> str:
    """The agency's key, or KeyProblem saying where to put it."""
    key = agency_key(settings, agency_id)
    if key is None:
        where = f"set ${key_env(agency_id)} or the agency's key_file in the config"
        raise KeyProblem(f"no key for agency '{agency_id}': {where}")
    return key


def _checked(value: str, where: str) -> str:
    key = value.strip()
    if "\n" in key or "\r" in key:
        raise KeyProblem(f"{where} holds more than one line: a key is one line")
    if len(key) < MIN_KEY_CHARS:
        raise KeyProblem(f"{where} holds a key of {len(key)} characters: at least {MIN_KEY_CHARS} are needed")
    return key
