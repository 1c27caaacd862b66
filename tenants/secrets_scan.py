"""Refuse credentials in tenants.yaml: it is reviewed in pull requests and kept in git."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from .errors import Path

SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a provider API key (sk-...)", re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)

# Structured fields whose values are checked by their own validators, not for entropy.
_STRUCTURED = {"images", "host", "address_pools", "domain", "known_hosts"}  # known_hosts: public host keys

HINT = (
    "secrets never go in tenants.yaml; store provider keys with "
    "`pulumi config set --secret openclaw-tenants:<provider>ApiKey <value>` (see README, Configuration)"
)


def shannon_bits(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_random(text: str) -> bool:
    """A long unbroken run of mixed characters with high entropy is almost always a token.

    Words joined by separators (``Billing-Account-2026``, URLs) have short runs and pass.
    """
    alphabet = r"[A-Za-z0-9+=]+" if "://" in text else r"[A-Za-z0-9+/=]+"  # base64 uses '/', URLs too
    run = max(re.findall(alphabet, text), key=len, default="")
    if len(run) < 24:
        return False
    hex_token = len(run) >= 32 and re.fullmatch(r"[0-9a-fA-F]+", run) is not None
    mixed = all(re.search(p, run) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return (hex_token or mixed) and shannon_bits(run) >= 3.5


def _strings(node: Any, path: Path) -> Iterator[tuple[Path, str, bool]]:
    """Every string scalar (keys included) with its path and whether it is free-form."""
    if isinstance(node, dict):
        for key, value in node.items():
            child = (*path, str(key))
            if isinstance(key, str):
                yield child, key, True
            yield from _strings(value, child)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))
    elif isinstance(node, str):
        free = not any(isinstance(p, str) and p in _STRUCTURED for p in path)
        yield path, node, free


def find_credentials(data: Any) -> Iterator[tuple[Path, str]]:
    """Yield (path, message) for each value that looks like a credential."""
    for path, text, free in _strings(data, ()):
        for kind, pattern in SHAPES:
            if pattern.search(text):
                yield path, f"value looks like {kind}; {HINT}"
                break
        else:
            if free and looks_random(text):
                yield path, f"value looks like a secret (long random string); {HINT}"
