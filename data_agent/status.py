"""What the backup agent remembers of each tenant (status.json, written atomically) and what it reports:
`backups status` (last success, failing, overdue) and `backups health` (the container's healthcheck)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .locking import file_lock
from .schedule import Schedule, is_overdue

STATUS_VERSION = 1
STATUS_LOCK_WAIT_S = 30.0  # a read-modify-write of status.json takes milliseconds


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


TIME_FIELDS = ("last_success", "last_attempt", "since")


@dataclass
class TenantStatus:
    last_success: float | None = None
    last_snapshot: str | None = None
    last_attempt: float | None = None
    last_error: str | None = None
    failing: bool = False
    since: float | None = None  # when `every_s` (the interval below) took effect: the first slot comes after it
    every_s: int | None = None
    stopped: str | None = None  # a gateway this agent stopped and has not started again (serve starts it)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        for name in TIME_FIELDS:
            doc[name] = iso(doc[name])
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TenantStatus:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in doc.items() if k in known}
        for name in TIME_FIELDS:
            values[name] = from_iso(values.get(name))
        return cls(**values)


@dataclass
class StatusStore:
    path: Path
    lock_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def load(self) -> dict[str, TenantStatus]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        tenants = doc.get("tenants", {}) if isinstance(doc, dict) else {}
        return {tenant_id: TenantStatus.from_json(entry) for tenant_id, entry in tenants.items()}

    def _save(self, tenants: Mapping[str, TenantStatus]) -> None:
        """Write to a temporary file beside it, then rename: a reader sees the old file or the new, whole."""
        doc = {"version": STATUS_VERSION, "tenants": {k: v.to_json() for k, v in sorted(tenants.items())}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".status.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(doc, out, indent=1, sort_keys=True)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise

    def update(self, change: Callable[[dict[str, TenantStatus]], None]) -> dict[str, TenantStatus]:
        """Read, change and write back under a lock, so the serve loop and exec'd commands never lose a write."""
        with file_lock(self.lock_path, STATUS_LOCK_WAIT_S, "another status update"):
            tenants = self.load()
            change(tenants)
            self._save(tenants)
            return tenants

    def record(self, tenant_id: str, change: Callable[[TenantStatus], None]) -> None:
        self.update(lambda tenants: change(tenants.setdefault(tenant_id, TenantStatus())))

    def forget(self, tenant_id: str) -> None:
        def drop(tenants: dict[str, TenantStatus]) -> None:
            tenants.pop(tenant_id, None)

        self.update(drop)


def sync_schedule(tenants: dict[str, TenantStatus], schedule: Schedule, now: float) -> None:
    """Start each tenant's `since` when it first appears or its interval changes."""
    for tenant_id, entry in schedule.tenants.items():
        status = tenants.setdefault(tenant_id, TenantStatus())
        if status.since is None or status.every_s != entry.every_s:
            status.since, status.every_s = now, entry.every_s


def view(schedule: Schedule, tenants: Mapping[str, TenantStatus], now: float) -> dict[str, dict[str, Any]]:
    """`backups status`: every tenant of the schedule."""
    out: dict[str, dict[str, Any]] = {}
    for tenant_id, entry in schedule.tenants.items():
        status = tenants.get(tenant_id, TenantStatus())
        out[tenant_id] = {
            "last_success": iso(status.last_success),
            "last_snapshot": status.last_snapshot,
            "last_attempt": iso(status.last_attempt),
            "last_error": status.last_error,
            "failing": status.failing,
            "every_s": entry.every_s,
            "overdue": is_overdue(
                now,
                entry.every_s,
                since=status.since if status.every_s == entry.every_s else None,
                last_success=status.last_success,
                max_stop_s=schedule.max_stop_s,
            ),
        }
    return out


def unhealthy(report: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The failing and the overdue tenants of a status report."""
    failing = sorted(t for t, r in report.items() if r["failing"])
    overdue = sorted(t for t, r in report.items() if r["overdue"])
    return failing, overdue
