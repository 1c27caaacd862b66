"""Operator authentication: bearer tokens from the environment, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


class Authenticator:
    """Maps a presented bearer token to its client name.

    Tokens are kept only as SHA-256 digests and compared with ``hmac.compare_digest`` against every
    client's digest, without stopping at a match: the time taken depends neither on how much of a
    token is right nor on which client it belongs to.
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._digests = [(client, _digest(token)) for client, token in tokens.items()]

    def identify(self, token: str | None) -> str | None:
        presented = _digest(token or "")
        found: str | None = None
        for client, expected in self._digests:
            if hmac.compare_digest(presented, expected) and token:
                found = client
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()
