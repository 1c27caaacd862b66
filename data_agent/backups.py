"""`python3 -m data_agent backups ...`: a Docker target's backup agent (serve) and its commands.

Every command prints JSON on stdout (one document; one line per tenant for `run`), progress on stderr, and on
failure a one-line reason on stderr and a non-zero exit: 1 failed, 2 usage, 4 a tenant this agent does not know.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import docker
import docker.errors

from tenants.data_names import AGENT_IMAGE_ENV as IMAGE_ENV
from tenants.data_names import BACKUP_STATUS_PATH, SCHEDULE_PATH, TENANT_TAG_PREFIX

from .gateway import start_if_stopped
from .locking import file_lock
from .operations import OPERATION_LOCK_WAIT_S, Agent, OperationError, backup_tenant, forget_tenant, restore_tenant
from .restic import Repository, RepositoryConfigError, Restic, ResticError
from .schedule import TENANT_ID, Schedule, ScheduleError, is_due, latest_slot, load_schedule
from .status import StatusStore, sync_schedule, unhealthy, view

LOOP_S = 15.0
RETAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=-]{0,127}$")
EXIT_FAILED, EXIT_USAGE, EXIT_UNKNOWN = 1, 2, 4


@dataclass(frozen=True)
class Paths:
    schedule: Path = Path(SCHEDULE_PATH)
    status: Path = Path(BACKUP_STATUS_PATH)

    @property
    def lock(self) -> Path:
        return self.status.with_name("agent.lock")

    @property
    def cache(self) -> Path:
        return self.status.with_name("restic-cache")


class CommandError(Exception):
    """Stop with this one-line reason on stderr and this exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class Terminated(BaseException):
    """SIGTERM: unwinds through every `finally`, so a stopped gateway is started and a worker removed."""


def emit(doc: object) -> None:
    print(json.dumps(doc, sort_keys=True), flush=True)


def event(name: str, **fields: object) -> None:
    emit({"event": name, "time": round(time.time(), 3), **fields})


@dataclass
class Context:
    """What the commands are given: the environment, the files, the Docker client and the clock."""

    paths: Paths
    environ: Mapping[str, str]
    docker_client: Callable[[], docker.DockerClient]
    clock: Callable[[], float] = time.time
    _client: docker.DockerClient | None = None

    @property
    def status(self) -> StatusStore:
        return StatusStore(self.paths.status)

    def schedule(self) -> Schedule:
        try:
            return load_schedule(self.paths.schedule)
        except ScheduleError as exc:
            raise CommandError(f"schedule: {exc}") from None

    def restic(self) -> Restic:
        try:
            repository = Repository.from_env(self.environ)
        except RepositoryConfigError as exc:
            raise CommandError(f"repository: {exc}") from None
        return Restic(repository, cache_dir=str(self.paths.cache))

    def image(self) -> str:
        image = self.environ.get(IMAGE_ENV, "")
        if not image:
            raise CommandError(f"{IMAGE_ENV} must name this agent's own image (its workers run it)")
        return image

    def agent(self, schedule: Schedule) -> Agent:
        image = self.image()
        if self._client is None:
            try:
                self._client = self.docker_client()
            except docker.errors.DockerException as exc:
                raise CommandError(f"no Docker daemon: {exc}") from None
        return Agent(self._client, self.restic(), image, schedule, self.status, self.paths.lock, clock=self.clock)


def _tenant_id(value: str) -> str:
    if not TENANT_ID.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a tenant id")
    return value


def _retag(value: str) -> str:
    if not RETAG.match(value) or value.startswith(TENANT_TAG_PREFIX):
        raise argparse.ArgumentTypeError(f"{value!r} is not a tag to move snapshots to")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python3 -m data_agent backups", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="initialize the repository if needed, then run what is due every 15 s")
    run = commands.add_parser("run", help="back tenants up now")
    run.add_argument("tenants", nargs="*", type=_tenant_id, metavar="ID")
    run.add_argument("--all", action="store_true", help="every tenant of the schedule")
    snapshots = commands.add_parser("snapshots", help="a tenant's snapshots, newest last")
    snapshots.add_argument("tenant", type=_tenant_id, metavar="ID")
    restore = commands.add_parser("restore", help="replace a tenant's volume with a snapshot (default latest)")
    restore.add_argument("tenant", type=_tenant_id, metavar="ID")
    restore.add_argument("--snapshot", metavar="S")
    forget = commands.add_parser("forget", help="delete every snapshot of a tenant and prune")
    forget.add_argument("tenant", type=_tenant_id, metavar="ID")
    forget.add_argument("--retag-as", type=_retag, metavar="TAG", help="keep them, under this tag instead")
    status = commands.add_parser("status", help="each tenant's last backup, failing, overdue")
    status.add_argument("tenant", nargs="?", type=_tenant_id, metavar="ID")
    commands.add_parser("health", help="exit 1 naming every failing or overdue tenant")
    return top


# --- commands -----------------------------------------------------------------------------------------


def cmd_run(ctx: Context, tenants: list[str], every: bool) -> int:
    if bool(tenants) == every:
        raise CommandError("name tenants or --all, not both nor neither", EXIT_USAGE)
    schedule = ctx.schedule()
    agent = ctx.agent(schedule)
    failed: list[str] = []
    for tenant_id in list(schedule.tenants) if every else tenants:
        entry = schedule.tenants.get(tenant_id)
        if entry is None:
            result: dict[str, Any] = {"tenant": tenant_id, "ok": False, "error": "not in this agent's schedule"}
        else:
            print(f"backing up {tenant_id}", file=sys.stderr)
            result = backup_tenant(agent, entry)
        if not result["ok"]:
            failed.append(tenant_id)
        emit(result)
    if failed:
        print(f"backups failed: {', '.join(failed)}", file=sys.stderr)
    return EXIT_FAILED if failed else 0


def cmd_snapshots(ctx: Context, tenant_id: str) -> int:
    keys = ("id", "short_id", "time", "paths", "tags")
    emit([{k: s.get(k) for k in keys} for s in ctx.restic().snapshots(tenant_id)])
    return 0


def _known(schedule: Schedule, tenant_id: str) -> None:
    if tenant_id not in schedule.tenants:
        raise CommandError(f"{tenant_id} is not in this agent's schedule ({schedule.target})", EXIT_UNKNOWN)


def cmd_restore(ctx: Context, tenant_id: str, ref: str | None) -> int:
    schedule = ctx.schedule()
    _known(schedule, tenant_id)
    result = restore_tenant(ctx.agent(schedule), schedule.tenants[tenant_id], ref)
    emit(result)
    if not result["ok"]:
        raise CommandError(f"restore of {tenant_id} failed: {result['error']}")
    return 0


def cmd_forget(ctx: Context, tenant_id: str, retag_as: str | None) -> int:
    lock = file_lock(ctx.paths.lock, OPERATION_LOCK_WAIT_S, "another backup or restore of this agent")
    emit(forget_tenant(ctx.restic(), ctx.status, lock, tenant_id, retag_as))
    return 0


def report(ctx: Context) -> dict[str, dict[str, Any]]:
    return view(ctx.schedule(), ctx.status.load(), ctx.clock())


def cmd_status(ctx: Context, tenant_id: str | None) -> int:
    tenants = report(ctx)
    if tenant_id is not None and tenant_id not in tenants:
        raise CommandError(f"{tenant_id} is not in this agent's schedule", EXIT_UNKNOWN)
    emit({tenant_id: tenants[tenant_id]} if tenant_id else tenants)
    return 0


def cmd_health(ctx: Context) -> int:
    failing, overdue = unhealthy(report(ctx))
    emit({"healthy": not (failing or overdue), "failing": failing, "overdue": overdue})
    if failing or overdue:
        parts = [f"{label}: {', '.join(ids)}" for label, ids in (("failing", failing), ("overdue", overdue)) if ids]
        raise CommandError("backups unhealthy: " + "; ".join(parts))
    return 0


# --- serve --------------------------------------------------------------------------------------------


def due(schedule: Schedule, ctx: Context, now: float) -> list[str]:
    """Tenants to back up now, the longest waiting first."""
    tenants = ctx.status.update(lambda known: sync_schedule(known, schedule, now))
    waiting: list[tuple[float, str]] = []
    for tenant_id, entry in schedule.tenants.items():
        status = tenants[tenant_id]
        if is_due(
            now,
            tenant_id,
            entry.every_s,
            since=status.since,
            last_attempt=status.last_attempt,
            failing=status.failing,
        ):
            waiting.append((latest_slot(now, tenant_id, entry.every_s or 1), tenant_id))
    return [tenant_id for _, tenant_id in sorted(waiting)]


def restart_stopped(agent: Agent) -> None:
    """Gateways an earlier run stopped and did not start again (killed mid-backup): start them now."""
    with agent.lock():
        for tenant_id, status in agent.status.load().items():
            if status.stopped is None:
                continue
            name = status.stopped
            try:
                start_if_stopped(agent.docker, name)
            except Exception as exc:  # the Docker SDK raises its own errors and the HTTP library's
                event("gateway-start-failed", tenant=tenant_id, container=name, error=str(exc))
                continue

            def clear(entry: Any) -> None:
                entry.stopped = None

            agent.status.record(tenant_id, clear)
            event("gateway-started", tenant=tenant_id, container=name)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


def iterations(limit: int | None) -> Iterator[int]:
    n = 0
    while limit is None or n < limit:
        yield n
        n += 1


def cmd_serve(ctx: Context, *, loops: int | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """Until SIGTERM (or `loops` iterations): reread the schedule, back up what is due, one tenant at a time."""
    ctx.restic(), ctx.image()  # a misconfigured environment stops the agent at once; the rest is retried
    signal.signal(signal.SIGTERM, _terminate)
    schedule: Schedule | None = None
    initialized = False
    try:
        for _ in iterations(loops):
            try:
                schedule = ctx.schedule()
            except CommandError as exc:
                event("schedule-unreadable", error=str(exc), keeping=schedule is not None)
            if schedule is not None:
                try:
                    initialized = serve_once(ctx, schedule, initialized)
                except Exception as exc:  # the daemon or the repository away for a moment: the next loop retries
                    event("serve-error", error=f"{type(exc).__name__}: {exc}")
            sleep(LOOP_S)
    except Terminated:
        print("backup agent stopped", file=sys.stderr)
    return 0


def serve_once(ctx: Context, schedule: Schedule, initialized: bool) -> bool:
    """One loop: start gateways left stopped, initialize the repository once, back up what is due."""
    agent = ctx.agent(schedule)
    restart_stopped(agent)
    if not initialized:
        try:
            if agent.restic.ensure_repository():
                event("repository-initialized")
            initialized = True
        except ResticError as exc:
            event("repository-unavailable", error=str(exc))
    for tenant_id in due(schedule, ctx, ctx.clock()):
        result = backup_tenant(agent, schedule.tenants[tenant_id])
        event("backup" if result["ok"] else "backup-failed", **result)
    return initialized


def main(
    argv: list[str],
    *,
    paths: Paths | None = None,
    environ: Mapping[str, str] | None = None,
    docker_client: Callable[[], docker.DockerClient] = docker.from_env,
    clock: Callable[[], float] = time.time,
) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_USAGE
    ctx = Context(paths or Paths(), os.environ if environ is None else environ, docker_client, clock)
    try:
        match args.command:
            case "serve":
                return cmd_serve(ctx)
            case "run":
                return cmd_run(ctx, args.tenants, args.all)
            case "snapshots":
                return cmd_snapshots(ctx, args.tenant)
            case "restore":
                return cmd_restore(ctx, args.tenant, args.snapshot)
            case "forget":
                return cmd_forget(ctx, args.tenant, args.retag_as)
            case "status":
                return cmd_status(ctx, args.tenant)
            case _:
                return cmd_health(ctx)
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except (ResticError, OperationError, OSError) as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # still one line: the Docker SDK's and the HTTP library's own errors
        print(f"{args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
