"""Gateway tokens between a successful update and their one delivery to the client that asked.

Where a token lives: its authoritative copy is in the stack's Pulumi state, encrypted by the stack's
secrets provider (``tenantTokens`` is a secret output). This service adds no other copy at rest: the job
store keeps only the token's SHA-256 digest and whether it was delivered. Between the update and the
first authorised read the plaintext sits in this process's memory (``TokenVault``); reading it there
removes it. After a restart the memory is empty, so a pending token is read again from the stack outputs
and checked against the stored digest (a rotated token is never handed out as the one created).

Why not encrypt it into the database: that needs a key the service can read, which sits next to the
database and adds nothing over Pulumi's own encrypted state; memory plus re-reading from that state
keeps exactly one place to protect. A token whose delivery response is lost is not delivered again:
rotate it (bump ``rotation`` in tenants.yaml) or read it as an operator with
``pulumi stack output tenantTokens --show-secrets``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def matches(token: str, expected_digest: str) -> bool:
    return hmac.compare_digest(digest(token), expected_digest)


class TokenVault:
    """Plaintext tokens awaiting delivery, keyed by job id; memory only."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, job_id: str, token: str) -> None:
        with self._lock:
            self._tokens[job_id] = token

    def peek(self, job_id: str) -> str | None:
        with self._lock:
            return self._tokens.get(job_id)

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._tokens.pop(job_id, None)
