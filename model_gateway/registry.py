"""The key registry (tenants.json): which virtual key belongs to which tenant, with its limits.

Only active tenants are listed, so removing a tenant from the file revokes its key. The file is
rewritten in place while the gateway runs; `RegistryFile` re-reads it when its stat changes and
fails closed (no tenant at all) while it is missing or invalid.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

log = logging.getLogger("model_gateway.registry")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class RegistryError(ValueError):
    """tenants.json cannot be trusted; every key is refused until it can."""


@dataclass(frozen=True)
class TenantEntry:
    """What one active tenant may do: its key's hash, its monthly budget, rate limits and models."""

    tenant: str
    key_sha256: str
    budget_usd: Decimal
    rpm: int
    tpm: int
    models: frozenset[str]


def key_digest(key: str) -> str:
    """The registry's form of a virtual key: the hex sha256 of its UTF-8 bytes."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _positive_int(entry: Mapping[str, object], key: str, where: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RegistryError(f"{where}.{key}: expected a positive integer")
    return value


def _entry(tenant: str, entry: object) -> TenantEntry:
    where = f"tenants.{tenant}"
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: expected an object")
    digest = entry.get("key_sha256")
    if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
        raise RegistryError(f"{where}.key_sha256: expected 64 lowercase hex digits")
    budget_text = entry.get("budget_usd")
    try:
        budget = Decimal(budget_text) if isinstance(budget_text, str) else None
    except InvalidOperation:
        budget = None
    if budget is None or not budget.is_finite() or budget < 0:
        raise RegistryError(f"{where}.budget_usd: expected a non-negative decimal string")
    models = entry.get("models")
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise RegistryError(f"{where}.models: expected a list of model ids")
    return TenantEntry(
        tenant=tenant,
        key_sha256=digest,
        budget_usd=budget,
        rpm=_positive_int(entry, "rpm", where),
        tpm=_positive_int(entry, "tpm", where),
        models=frozenset(models),
    )


@dataclass(frozen=True)
class Registry:
    """The parsed registry, indexed by key hash."""

    by_digest: Mapping[str, TenantEntry]

    @classmethod
    def empty(cls) -> Registry:
        return cls({})

    def lookup(self, key: str) -> TenantEntry | None:
        """The tenant whose key this is, or None; only the key's hash is looked up, never the key."""
        return self.by_digest.get(key_digest(key))

    def __len__(self) -> int:
        return len(self.by_digest)


def parse_registry(document: object) -> Registry:
    """A parsed tenants.json; any problem (including two tenants sharing a key) raises RegistryError."""
    if not isinstance(document, dict) or document.get("version") != 1:
        raise RegistryError("expected an object with version 1")
    tenants = document.get("tenants")
    if not isinstance(tenants, dict):
        raise RegistryError("tenants must be an object")
    by_digest: dict[str, TenantEntry] = {}
    for tenant, raw in tenants.items():
        entry = _entry(tenant, raw)
        if entry.key_sha256 in by_digest:
            raise RegistryError(f"tenants.{tenant}: shares its key with {by_digest[entry.key_sha256].tenant}")
        by_digest[entry.key_sha256] = entry
    return Registry(by_digest)


class RegistryFile:
    """tenants.json on disk, re-read whenever its stat changes; invalid or missing means no tenant."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._registry = Registry.empty()
        self._last_problem = ""

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self) -> Registry:
        """The registry as the file says now (a stat per call; a parse only when the file changed)."""
        stamp = self._stat()
        if stamp is not None and stamp == self._stamp:
            return self._registry
        try:
            if stamp is None:
                raise RegistryError("missing")
            registry = parse_registry(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            # Not remembered as loaded: a file caught half-written is read again on the next call.
            self._stamp = None
            self._registry = Registry.empty()
            problem = f"{self.path}: {exc}; refusing every key"
            if problem != self._last_problem:
                log.error("%s", problem)
                self._last_problem = problem
            return self._registry
        self._stamp = stamp
        self._registry = registry
        self._last_problem = ""
        log.info("%s: %d tenants registered", self.path, len(registry))
        return registry
