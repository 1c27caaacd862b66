"""Ids for new tenants: random, unused, and valid by the model's own rule."""

from __future__ import annotations

import secrets
import string

from .edit_errors import EditError
from .model import Fleet, check_tenant_id

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_RANDOM_CHARS = 8
MAX_PREFIX = 40 - 1 - ID_RANDOM_CHARS  # a tenant id has at most 40 characters
ATTEMPTS = 1000


def generate_id(fleet: Fleet, prefix: str = "t") -> str:
    """A random, unused, valid tenant id like ``t-7f3k2q9x`` (never a reserved word).

    ``prefix`` is a DNS label of at most 31 characters, or "" for no prefix; anything else is a
    ValueError (a configuration mistake, not a refused edit).
    """
    if prefix and (len(prefix) > MAX_PREFIX or not _valid_prefix(prefix)):
        raise ValueError(
            f"tenant id prefix {prefix!r} must be lowercase letters, digits and '-' (at most {MAX_PREFIX}), "
            "starting and ending with a letter or digit"
        )
    taken = {t.id for t in fleet.tenants}
    for _ in range(ATTEMPTS):
        suffix = _random_suffix()
        candidate = f"{prefix}-{suffix}" if prefix else suffix
        if candidate not in taken and _valid_id(candidate):
            return candidate
    raise EditError("could not generate an unused tenant id; try again")


def _valid_prefix(prefix: str) -> bool:
    return all(c in ID_ALPHABET + "-" for c in prefix) and not prefix.startswith("-") and not prefix.endswith("-")


def _random_suffix() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_RANDOM_CHARS))


def _valid_id(candidate: str) -> bool:
    """The model's own rule (format, reserved words, the edge prefix), so an id it makes is always accepted."""
    try:
        check_tenant_id(candidate)
    except ValueError:
        return False
    return True
