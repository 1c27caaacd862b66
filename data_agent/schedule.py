"""The backup agent's schedule file (written by the deployment, reread every loop) and when each tenant is due.

A tenant's scheduled backups fall on slots `offset + k * every_s` seconds after the epoch (UTC), the offset
spread by a hash of its id exactly as `tenants.model.PlanBackup.cron` spreads a cluster's CronJobs, so the
tenants of one host are not all stopped at once and a tenant backs up at the same minute on either backend.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenants.data_names import SCHEDULE_VERSION

TENANT_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
RETRY_AFTER_S = 900  # a failed scheduled backup is tried again this soon, or at its next slot if that is sooner
RETENTION_KEYS = ("last", "daily", "weekly", "monthly")


class ScheduleError(ValueError):
    """The schedule file is not one this agent can follow; the message names the offending key."""


@dataclass(frozen=True)
class Retention:
    """Which of a tenant's snapshots survive each backup (restic forget --keep-*)."""

    last: int
    daily: int
    weekly: int
    monthly: int

    def forget_args(self) -> list[str]:
        """`--keep-<kind> N` for every kind that keeps something (0 keeps nothing: restic's own meaning)."""
        args: list[str] = []
        for kind in RETENTION_KEYS:
            count: int = getattr(self, kind)
            if count:
                args += [f"--keep-{kind}", str(count)]
        return args


@dataclass(frozen=True)
class TenantSchedule:
    tenant: str
    container: str  # its gateway container: stopped for a consistent snapshot while it runs
    volume: str  # its data volume: what is backed up and restored
    every_s: int | None  # None: no scheduled backups (on demand still works)
    keep: Retention


@dataclass(frozen=True)
class Schedule:
    target: str
    stop_timeout_s: int  # how long a gateway gets to stop
    max_stop_s: int  # a snapshot that keeps a gateway stopped longer is aborted
    tenants: Mapping[str, TenantSchedule]


def _int(value: object, where: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ScheduleError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _str(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScheduleError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _object(value: object, where: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ScheduleError(f"{where}: expected an object, got {value!r}")
    missing = [k for k in keys if k not in value]
    unknown = sorted(set(value) - set(keys))
    if missing or unknown:
        raise ScheduleError(f"{where}: missing keys {missing}, unknown keys {unknown}")
    return value


def _tenant(tenant_id: str, value: object) -> TenantSchedule:
    where = f"tenants.{tenant_id}"
    if not TENANT_ID.match(tenant_id):
        raise ScheduleError(f"{where}: not a tenant id")
    doc = _object(value, where, ("container", "volume", "every_s", "keep"))
    every_s = None if doc["every_s"] is None else _int(doc["every_s"], f"{where}.every_s", 1)
    keep = _object(doc["keep"], f"{where}.keep", RETENTION_KEYS)
    return TenantSchedule(
        tenant=tenant_id,
        container=_str(doc["container"], f"{where}.container"),
        volume=_str(doc["volume"], f"{where}.volume"),
        every_s=every_s,
        keep=Retention(
            last=_int(keep["last"], f"{where}.keep.last", 1),
            daily=_int(keep["daily"], f"{where}.keep.daily", 0),
            weekly=_int(keep["weekly"], f"{where}.keep.weekly", 0),
            monthly=_int(keep["monthly"], f"{where}.keep.monthly", 0),
        ),
    )


def parse_schedule(value: object) -> Schedule:
    doc = _object(value, "schedule", ("version", "target", "stop_timeout_s", "max_stop_s", "tenants"))
    if doc["version"] != SCHEDULE_VERSION:
        raise ScheduleError(f"version: expected {SCHEDULE_VERSION}, got {doc['version']!r}")
    tenants = doc["tenants"]
    if not isinstance(tenants, dict):
        raise ScheduleError(f"tenants: expected an object, got {tenants!r}")
    return Schedule(
        target=_str(doc["target"], "target"),
        stop_timeout_s=_int(doc["stop_timeout_s"], "stop_timeout_s", 1),
        max_stop_s=_int(doc["max_stop_s"], "max_stop_s", 1),
        tenants={tenant_id: _tenant(tenant_id, entry) for tenant_id, entry in sorted(tenants.items())},
    )


def load_schedule(path: Path) -> Schedule:
    try:
        return parse_schedule(json.loads(path.read_text()))
    except OSError as exc:
        raise ScheduleError(f"{path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ScheduleError(f"{path}: not JSON: {exc}") from exc


# --- when a tenant is due ----------------------------------------------------------------------------


def slot_offset_s(tenant_id: str, every_s: int) -> int:
    """Seconds after each period's start (UTC) at which this tenant's backups fall; for the intervals a plan
    can name, the minute (and hour) of `PlanBackup.cron(tenant_id)`."""
    spread = int(hashlib.sha256(tenant_id.encode()).hexdigest(), 16)
    if every_s % 3600 == 0 and 86400 % every_s == 0:
        hours = every_s // 3600
        return ((spread // 60) % hours) * 3600 + (spread % 60) * 60
    if every_s % 60 == 0 and 3600 % every_s == 0:
        return (spread % (every_s // 60)) * 60
    return spread % every_s


def latest_slot(now: float, tenant_id: str, every_s: int) -> float:
    """The most recent of the tenant's slots at or before `now`."""
    offset = slot_offset_s(tenant_id, every_s)
    return math.floor((now - offset) / every_s) * every_s + offset


def is_due(
    now: float,
    tenant_id: str,
    every_s: int | None,
    *,
    since: float | None,
    last_attempt: float | None,
    failing: bool,
) -> bool:
    """Whether a scheduled backup should start now. `since`: when the tenant's current interval took effect
    (a newly scheduled tenant waits for its first slot); a failure is retried after RETRY_AFTER_S."""
    if every_s is None:
        return False
    known = [t for t in (since, last_attempt) if t is not None]
    if not known:
        return True
    if failing and last_attempt is not None and now - last_attempt >= min(every_s, RETRY_AFTER_S):
        return True
    return latest_slot(now, tenant_id, every_s) > max(known)


def is_overdue(
    now: float, every_s: int | None, *, since: float | None, last_success: float | None, max_stop_s: int
) -> bool:
    """No snapshot for longer than two intervals plus the longest a snapshot may take: at least one slot missed."""
    if every_s is None:
        return False
    known = [t for t in (since, last_success) if t is not None]
    if not known:
        return False
    return now - max(known) > 2 * every_s + max_stop_s
