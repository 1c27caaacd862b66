"""One tenant's backup, restore and purge, as the agent runs them: one at a time per agent (a file lock shared
by the serve loop and exec'd commands), the gateway stopped only while a worker holds its volume, every
outcome recorded in status.json."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from .gateway import Pause, gateway_stopped
from .jobs import WorkerError, backup_worker, restore_worker, run_worker
from .locking import file_lock
from .restic import Restic, ResticError
from .schedule import Schedule, TenantSchedule
from .status import StatusStore, TenantStatus

OPERATION_LOCK_WAIT_S = 3600.0  # the longest one command waits for the agent's current backup or restore
RESTORE_TIMEOUT_S = 6 * 3600.0  # a restore is never cut short by max_stop_s: half a volume is worse than a wait


class OperationError(RuntimeError):
    """Why a tenant's backup, restore or purge did not happen, in one line."""


@dataclass
class Agent:
    docker: docker.DockerClient
    restic: Restic
    image: str  # the agent's own image: its workers run it
    schedule: Schedule
    status: StatusStore
    lock_path: Path
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    lock_wait_s: float = OPERATION_LOCK_WAIT_S

    def lock(self) -> AbstractContextManager[None]:
        return file_lock(self.lock_path, self.lock_wait_s, "another backup or restore of this agent")

    @contextmanager
    def paused(self, tenant: TenantSchedule) -> Iterator[Pause]:
        def stopping(status: TenantStatus) -> None:
            status.stopped = tenant.container

        def started(status: TenantStatus) -> None:
            status.stopped = None

        with gateway_stopped(
            self.docker,
            tenant.container,
            self.schedule.stop_timeout_s,
            on_stopping=lambda: self.status.record(tenant.tenant, stopping),
            on_started=lambda: self.status.record(tenant.tenant, started),
            clock=self.monotonic,
        ) as pause:
            yield pause


def _require_volume(client: docker.DockerClient, name: str) -> None:
    """Docker would create a missing volume for the worker: an empty backup, or a restore nobody sees."""
    try:
        client.volumes.get(name)
    except docker.errors.NotFound:
        raise OperationError(f"volume {name} does not exist") from None


def _message(exc: Exception) -> str:
    known = (OperationError, ResticError, WorkerError)
    return str(exc) if isinstance(exc, known) else f"{type(exc).__name__}: {exc}"


def _outcome(pause: Pause | None, error: str | None) -> tuple[float, str | None]:
    """Seconds the gateway was down, and the error including a gateway that did not start again."""
    if pause is None:
        return 0.0, error
    if pause.restart_error:
        error = f"{error}; {pause.restart_error}" if error else pause.restart_error
    return pause.unavailable_s, error


def backup_tenant(agent: Agent, tenant: TenantSchedule) -> dict[str, Any]:
    """Snapshot the tenant's volume (its gateway stopped meanwhile, at most max_stop_s), then apply retention."""
    started, begun = agent.clock(), agent.monotonic()
    snapshot: str | None = None
    bytes_added: int | None = None
    snapshot_at: float | None = None
    pause: Pause | None = None
    error: str | None = None
    try:
        with agent.lock():
            # Never stop a gateway for a repository that cannot take its snapshot.
            agent.restic.ensure_repository()
            _require_volume(agent.docker, tenant.volume)
            max_stop_s = agent.schedule.max_stop_s
            spec = backup_worker(
                agent.image,
                agent.restic.repository,
                target=agent.schedule.target,
                tenant_id=tenant.tenant,
                volume=tenant.volume,
                timeout_s=max_stop_s,
            )
            with agent.paused(tenant) as pause:
                deadline = agent.monotonic() + max_stop_s
                try:
                    done = run_worker(agent.docker, spec, deadline, clock=agent.monotonic)
                except WorkerError as exc:
                    if agent.monotonic() >= deadline:
                        agent.restic.unlock()
                        raise OperationError(
                            f"aborted after max_stop_s={max_stop_s}s with gateway {tenant.container} stopped: {exc}"
                        ) from None
                    raise
                snapshot, bytes_added, snapshot_at = str(done["snapshot"]), int(done["bytes_added"]), agent.clock()
            if pause.restart_error is None:
                agent.restic.apply_retention(tenant.tenant, tenant.keep)
    except Exception as exc:  # every failure is this tenant's result; the next tenant still runs
        error = _message(exc)
    unavailable_s, error = _outcome(pause, error)
    if snapshot is not None and error is not None and pause is not None and pause.restart_error is None:
        error = f"snapshot {snapshot} taken, but retention failed: {error}"

    def record(status: TenantStatus) -> None:
        status.last_attempt = started
        if snapshot is not None:
            status.last_snapshot, status.last_success = snapshot, snapshot_at
        status.failing, status.last_error = error is not None, error

    agent.status.record(tenant.tenant, record)
    return {
        "tenant": tenant.tenant,
        "ok": error is None,
        "snapshot": snapshot,
        "seconds": round(agent.monotonic() - begun, 3),
        "unavailable_s": unavailable_s,
        "bytes_added": bytes_added,
        "error": error,
    }


def choose_snapshot(tenant_id: str, snapshots: list[dict[str, Any]], ref: str | None) -> dict[str, Any]:
    """The newest, or the one `ref` names (a full or short id) among the tenant's own snapshots only: a
    snapshot of another tenant is never restored into this one."""
    if not snapshots:
        raise OperationError(f"{tenant_id} has no snapshots")
    if ref is None or ref == "latest":
        return snapshots[-1]
    matches = [s for s in snapshots if len(ref) >= 4 and str(s["id"]).startswith(ref)]
    if len(matches) != 1:
        found = "matches several" if matches else "is not one"
        raise OperationError(f"{ref!r} {found} of {tenant_id}'s snapshots (backups snapshots {tenant_id})")
    return matches[0]


def restore_tenant(agent: Agent, tenant: TenantSchedule, ref: str | None) -> dict[str, Any]:
    """Replace the tenant's volume with a snapshot: its gateway stopped if it ran, the volume emptied first."""
    begun = agent.monotonic()
    pause: Pause | None = None
    error: str | None = None
    chosen: dict[str, Any] = {}
    try:
        with agent.lock():
            chosen = choose_snapshot(tenant.tenant, agent.restic.snapshots(tenant.tenant), ref)
            _require_volume(agent.docker, tenant.volume)
            spec = restore_worker(
                agent.image,
                agent.restic.repository,
                target=agent.schedule.target,
                tenant_id=tenant.tenant,
                volume=tenant.volume,
                snapshot=chosen,
                timeout_s=RESTORE_TIMEOUT_S,
            )
            print(f"restoring {tenant.tenant} from snapshot {chosen['short_id']}", file=sys.stderr)
            with agent.paused(tenant) as pause:
                run_worker(agent.docker, spec, agent.monotonic() + RESTORE_TIMEOUT_S, clock=agent.monotonic)
    except Exception as exc:
        error = _message(exc)
    unavailable_s, error = _outcome(pause, error)
    return {
        "tenant": tenant.tenant,
        "ok": error is None,
        "snapshot": chosen.get("id"),
        "seconds": round(agent.monotonic() - begun, 3),
        "unavailable_s": unavailable_s,
        "error": error,
    }


def forget_tenant(
    restic: Restic, status: StatusStore, lock: AbstractContextManager[None], tenant_id: str, retag_as: str | None
) -> dict[str, Any]:
    """Purge: every snapshot of the tenant deleted and the repository pruned, or moved to `retag_as` so that
    nothing selects them as this tenant's; either way none is left under its tag."""
    with lock:
        snapshots = restic.snapshots(tenant_id)
        ids = [str(s["id"]) for s in snapshots]
        if retag_as is not None and ids:
            restic.retag(tenant_id, retag_as)
        else:
            restic.forget_snapshots(ids)
        left = restic.snapshots(tenant_id)
        if left:
            raise OperationError(f"{len(left)} snapshots of {tenant_id} are still there")
        status.forget(tenant_id)
    result: Mapping[str, Any] = (
        {"retagged": len(ids), "tag": retag_as} if retag_as is not None else {"forgotten": len(ids)}
    )
    return {"tenant": tenant_id, "ok": True, **result, "snapshots": [s["short_id"] for s in snapshots]}
