"""tenantctl backup | backups | restore | move | purge | adopt: a Docker tenant's data, through its target's agents.

Every command reads the fleet file for where a tenant lives, then calls the backup agent
(``openclaw-backup-<target>``) or the disk agent (``openclaw-storage-<target>``) at the target's ``host``
(:mod:`tenantctl.docker_access`). A Kubernetes tenant's backups are its namespace's CronJob: these commands
say what to run instead and exit 2.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from tenants import audit, edit
from tenants import docker_specs as ds
from tenants.data_names import K8S_BACKUP_JOB, backup_agent_name
from tenants.disk_specs import disk_spec
from tenants.k8s_specs import APP, PVC, namespace_name
from tenants.model import DockerTarget, Fleet, Tenant
from tenants.resolved import DockerTenant, resolve

from . import move as moving
from .console import EXPLAINED, Renders, err, fail, load_or_exit, out
from .docker_access import AccessError, AgentReply, TargetDocker, open_target

EXIT_KUBERNETES = 2

FileOpt = Annotated[Path, typer.Option("--file", "-f", help="Fleet file.")]
AuditOpt = Annotated[
    Path | None, typer.Option("--audit-log", help="Audit log (JSON lines); audit.jsonl beside the fleet file.")
]
IdArg = Annotated[str, typer.Argument(help="Tenant id.", show_default=False)]
YesOpt = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (automation).")]


def register(app: typer.Typer) -> None:
    """Add the data commands to ``app``."""
    app.command("backup")(backup)
    app.command("backups")(backups)
    app.command("restore")(restore)
    app.command("move")(move)
    app.command("purge")(purge)
    app.command("adopt")(adopt)


# --- where a tenant's data is ----------------------------------------------------------------------


def tenant_of(fleet: Fleet, tenant_id: str, file: Path) -> Tenant:
    try:
        return fleet.tenant(tenant_id)
    except KeyError:
        fail(f"tenant {tenant_id} is not in {file}: check the id (`tenantctl validate {file}` lists the fleet)")


def on_kubernetes(tenant: Tenant, instead: str) -> str:
    return f"tenant {tenant.id} is on Kubernetes target {tenant.target}: {instead}"


def kubernetes_instead(fleet: Fleet, tenant: Tenant, command: str) -> str:
    """What to run on a cluster instead of a Docker-only command."""
    ns = namespace_name(tenant.id)
    if command in {"backup", "backups", "restore", "move"} and not (fleet.backups and fleet.backups.reaches_pods):
        # No CronJob exists: the program makes none without a repository pods can reach.
        why = (
            "the fleet has no backups: section"
            if fleet.backups is None
            else f"the repository {fleet.backups.repository} is a path on the Docker hosts, which pods cannot reach"
        )
        return on_kubernetes(
            tenant, f"it has no backup job: {why}; use an sftp:// or s3: repository (README, Backups and restores)"
        )
    job = f"`kubectl create job {K8S_BACKUP_JOB}-now --from=cronjob/{K8S_BACKUP_JOB} -n {ns}`"
    instead = {
        "backup": f"its backups run as the CronJob {K8S_BACKUP_JOB} in namespace {ns}; back it up now with {job}",
        "backups": f"its backups are the runs of the CronJob {K8S_BACKUP_JOB}: `kubectl get jobs -n {ns}` lists "
        f"them and `kubectl logs job/<name> -n {ns}` shows one",
        "restore": f"tenantctl restores Docker tenants only; scale `deployment/{APP} -n {ns}` to 0 and run "
        f"`restic restore` of tag tenant={tenant.id} into the claim {PVC}",
        "move": "tenantctl move moves between Docker targets; back it up with "
        f"{job} and restore the snapshot into the new place's claim {PVC}",
        "adopt": f"a cluster tenant's claim {PVC} lives and goes with its namespace {ns}: there is no disk to adopt",
        "purge": f"tenantctl purges Docker tenants only; `kubectl delete namespace {ns}` deletes its claim {PVC}, "
        f"`restic forget --tag tenant={tenant.id} --prune` its snapshots",
    }[command]
    return on_kubernetes(tenant, instead)


def docker_target(fleet: Fleet, tenant: Tenant, command: str) -> DockerTarget:
    """The tenant's target; a Kubernetes one ends the command with what to run instead (exit 2)."""
    target = fleet.targets[tenant.target]
    if not isinstance(target, DockerTarget):
        fail(kubernetes_instead(fleet, tenant, command), EXIT_KUBERNETES)
    return target


def require_backups(fleet: Fleet, tenant: Tenant | None, file: Path) -> None:
    if fleet.backups is None:
        whose = f"tenant {tenant.id} on target {tenant.target}: " if tenant else ""
        fail(
            f"{whose}{file} has no backups: section, so no target runs a backup agent; add one "
            "(repository and password) and deploy every shard"
        )


@contextmanager
def reaching(target_name: str, target: DockerTarget, tenant_id: str | None = None) -> Iterator[TargetDocker]:
    """The target's daemon; a daemon or agent out of reach ends the command with one line."""
    try:
        with open_target(target_name, target.host) as docker_target:
            yield docker_target
    except AccessError as exc:
        whose = f"tenant {tenant_id}: " if tenant_id else ""
        fail(f"{whose}{exc}")


def checked(reply: AgentReply, tenant: Tenant, what: str) -> AgentReply:
    if not reply.ok:
        fail(f"tenant {tenant.id} on target {tenant.target}: {what} failed: {reply.message}")
    return reply


def docker_tenants(fleet: Fleet, tenants: tuple[Tenant, ...], command: str, file: Path) -> dict[str, list[Tenant]]:
    """Target name → its tenants, for the Docker targets; for each Kubernetes tenant, what to run instead
    (on stderr). None on a Docker target ends the command (exit 2)."""
    groups: dict[str, list[Tenant]] = {}
    for tenant in tenants:
        if isinstance(fleet.targets[tenant.target], DockerTarget):
            groups.setdefault(tenant.target, []).append(tenant)
        else:
            err.print(kubernetes_instead(fleet, tenant, command))
    if not groups:
        fail(f"{file} has no tenant on a Docker target for tenantctl {command}", EXIT_KUBERNETES)
    return groups


def plain_table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def human_bytes(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def seconds(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


# --- backup ------------------------------------------------------------------------------------------


def backup(
    tenant_id: Annotated[str | None, typer.Argument(help="Tenant id (or --all).", show_default=False)] = None,
    every: Annotated[bool, typer.Option("--all", help="Every live tenant of every Docker target.")] = False,
    file: FileOpt = Path("tenants.yaml"),
) -> None:
    """Back a tenant up now, or every live Docker tenant with --all; exit 1 if any failed.

    One agent call per target; each gateway stops for its snapshot and starts again."""
    if (tenant_id is None) == (not every):
        fail("tenantctl backup: name one tenant or pass --all")
    fleet = load_or_exit(file)
    if tenant_id is not None:
        tenant = tenant_of(fleet, tenant_id, file)
        docker_target(fleet, tenant, "backup")
        groups = {tenant.target: [tenant]}
    else:
        groups = docker_tenants(fleet, tuple(t for t in fleet.tenants if t.live), "backup", file)
    require_backups(fleet, fleet.tenant(tenant_id) if tenant_id else None, file)
    results = [row for name, tenants in groups.items() for row in backup_target(fleet, name, tenants)]
    table = plain_table("tenant", "snapshot", "seconds", "unavailable s", "added")
    for row in results:
        snapshot = str(row.get("snapshot") or "-") if row.get("ok") else "FAILED"
        table.add_row(
            str(row["tenant"]),
            snapshot,
            seconds(row.get("seconds")),
            seconds(row.get("unavailable_s")),
            human_bytes(row.get("bytes_added")),
        )
    out.print(table)
    failed = [row for row in results if not row.get("ok")]
    for row in failed:
        err.print(f"tenant {row['tenant']} on target {row['target']}: backup failed: {row.get('error') or '?'}")
    if failed:
        raise typer.Exit(1)


def backup_target(fleet: Fleet, target_name: str, tenants: list[Tenant]) -> list[dict[str, Any]]:
    """One ``backups run`` on the target for all of ``tenants``: one result per tenant, failures included."""
    target = fleet.target_as(target_name, DockerTarget)
    ids = [t.id for t in tenants]
    try:
        with open_target(target_name, target.host) as docker:
            reply = docker.backups("run", *ids)
            lines = reply.lines()
    except AccessError as exc:
        return [{"tenant": i, "target": target_name, "ok": False, "error": str(exc)} for i in ids]
    found = {str(line.get("tenant")): line for line in lines if isinstance(line, dict)}
    missing = {"ok": False, "error": f"the backup agent gave no result: {reply.message}"}
    return [{**found.get(i, missing), "tenant": i, "target": target_name} for i in ids]


# --- backups -----------------------------------------------------------------------------------------


def backups(
    tenant_id: Annotated[str | None, typer.Argument(help="Tenant id: list its snapshots.", show_default=False)] = None,
    file: FileOpt = Path("tenants.yaml"),
) -> None:
    """Every Docker tenant's last backup, failing or overdue (exit 1 if any); with an id, its snapshots."""
    fleet = load_or_exit(file)
    if tenant_id is not None:
        list_snapshots(fleet, tenant_of(fleet, tenant_id, file), file)
        return
    require_backups(fleet, None, file)
    table = plain_table("tenant", "target", "last success", "age", "snapshot", "status")
    problems: list[str] = []
    for name, tenants in docker_tenants(fleet, fleet.tenants, "backups", file).items():
        statuses, unreachable = target_status(fleet, name)
        for tenant in tenants:
            status = statuses.get(tenant.id)
            cells, problem = status_cells(tenant, fleet.target_as(name, DockerTarget), status, unreachable)
            table.add_row(tenant.id, name, *cells)
            if problem:
                problems.append(problem)
    out.print(table)
    for problem in problems:
        err.print(problem)
    if problems:
        raise typer.Exit(1)


def target_status(fleet: Fleet, target_name: str) -> tuple[Mapping[str, Any], str | None]:
    """The target's agent's ``backups status``, or why it could not be read."""
    target = fleet.target_as(target_name, DockerTarget)
    try:
        with open_target(target_name, target.host) as docker:
            reply = docker.backups("status")
            if not reply.ok:
                return {}, f"the backup agent's status failed: {reply.message}"
            document = reply.document()
    except AccessError as exc:
        return {}, str(exc)
    return (document if isinstance(document, dict) else {}), None


def status_cells(
    tenant: Tenant, target: DockerTarget, status: Any, unreachable: str | None
) -> tuple[list[str], str | None]:
    """The row's last success, age, snapshot and status, and the problem to report (None: fine)."""
    where = f"tenant {tenant.id} on target {tenant.target}"
    if unreachable is not None:
        return ["-", "-", "-", "unknown"], f"{where}: {unreachable}"
    if not isinstance(status, dict):
        return ["-", "-", "-", "not scheduled"], None
    last, snapshot = status.get("last_success"), str(status.get("last_snapshot") or "-")
    cells = [str(last or "never"), age(last), snapshot]
    if status.get("failing"):
        error = status.get("last_error") or "unknown error"
        return [*cells, f"FAILING: {error}"], (
            f"{where}: backups failing ({error}); fix it, then `tenantctl backup {tenant.id}`"
        )
    if status.get("overdue"):
        return [*cells, "OVERDUE"], (
            f"{where}: backup overdue (last success {last or 'never'}); check the agent's log "
            f"(`docker -H {target.host} logs {backup_agent_name(tenant.target)}`), then `tenantctl backup {tenant.id}`"
        )
    return [*cells, "ok" if status.get("every_s") else "ok (not scheduled)"], None


def age(stamp: object) -> str:
    """How long ago ``stamp`` (ISO 8601 or seconds since the epoch) was, as 3d 4h, 2h 5m or 40s."""
    when: datetime | None = None
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        when = datetime.fromtimestamp(stamp, UTC)
    elif isinstance(stamp, str) and stamp:
        try:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return "-"
    if when is None:
        return "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    total = max(0, int((datetime.now(UTC) - when).total_seconds()))
    days, hours, minutes = total // 86400, total % 86400 // 3600, total % 3600 // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{total}s"


def list_snapshots(fleet: Fleet, tenant: Tenant, file: Path) -> None:
    target = docker_target(fleet, tenant, "backups")
    require_backups(fleet, tenant, file)
    with reaching(tenant.target, target, tenant.id) as docker:
        document = checked(docker.backups("snapshots", tenant.id), tenant, "listing snapshots").document()
    snapshots = document if isinstance(document, list) else []
    table = plain_table("snapshot", "time", "tags")
    for snap in snapshots:
        if isinstance(snap, dict):
            tags = ", ".join(str(t) for t in snap.get("tags") or ())
            table.add_row(str(snap.get("short_id") or snap.get("id") or "-"), str(snap.get("time") or "-"), tags)
    out.print(table)
    out.print(f"{len(snapshots)} snapshots of tenant {tenant.id} (newest last)")


# --- restore -----------------------------------------------------------------------------------------


def restore(
    tenant_id: IdArg,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Snapshot id; the latest without it.")] = None,
    file: FileOpt = Path("tenants.yaml"),
) -> None:
    """Replace a live tenant's data with a snapshot (the latest without --snapshot).

    Its gateway stops for the restore and starts again if it ran."""
    fleet = load_or_exit(file)
    tenant = tenant_of(fleet, tenant_id, file)
    target = docker_target(fleet, tenant, "restore")
    require_backups(fleet, tenant, file)
    if not tenant.live:
        fail(
            f"tenant {tenant.id} on target {tenant.target} is offboarded, so it has no gateway to restore for: "
            f"`tenantctl resume {tenant.id}` and deploy shard {tenant.shard} first"
        )
    with reaching(tenant.target, target, tenant.id) as docker:
        reply = checked(docker.backups("restore", tenant.id, *_snapshot_args(snapshot)), tenant, "restore")
    try:
        document = reply.document()
    except AccessError:
        document = None
    restored = document.get("snapshot") if isinstance(document, dict) else None
    out.print(f"restored tenant {tenant.id} on target {tenant.target} from snapshot {restored or snapshot or '?'}")


def _snapshot_args(snapshot: str | None) -> tuple[str, ...]:
    return ("--snapshot", snapshot) if snapshot else ()


# --- move --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetAgents:
    """The backup agents of a fleet's Docker targets, as the move calls them."""

    fleet: Fleet

    def _call(self, target_name: str, *args: str) -> AgentReply:
        target = self.fleet.target_as(target_name, DockerTarget)
        with open_target(target_name, target.host) as docker:
            reply = docker.backups(*args)
        if not reply.ok:
            raise AccessError(f"target {target_name}: `backups {' '.join(args)}` failed: {reply.message}")
        return reply

    def backup(self, target: str, tenant_id: str) -> str:
        lines = [line for line in self._call(target, "run", tenant_id).lines() if isinstance(line, dict)]
        snapshot = next((line.get("snapshot") for line in lines if line.get("tenant") == tenant_id), None)
        if not snapshot:
            raise AccessError(f"target {target}: the backup of {tenant_id} named no snapshot")
        return str(snapshot)

    def restore(self, target: str, tenant_id: str, snapshot: str) -> None:
        self._call(target, "restore", tenant_id, "--snapshot", snapshot)


def parse_stacks(pairs: list[str]) -> dict[str, str]:
    stacks: dict[str, str] = {}
    for pair in pairs:
        shard, sep, stack = pair.partition("=")
        if not sep or not shard.strip() or not stack.strip():
            fail(f"--stack-of {pair!r}: expected SHARD=STACK, e.g. --stack-of default=dev")
        stacks[shard.strip()] = stack.strip()
    return stacks


def move(
    tenant_id: IdArg,
    *,
    to_target: Annotated[str, typer.Option("--to-target", help="The Docker target to move to.", show_default=False)],
    to_shard: Annotated[
        str | None, typer.Option("--to-shard", help="Its shard there; the one the target serves without it.")
    ] = None,
    stack_of: Annotated[
        list[str] | None, typer.Option("--stack-of", help="SHARD=STACK when the project's stack files do not say.")
    ] = None,
    project_dir: Annotated[Path, typer.Option("--project-dir", help="The Pulumi project.")] = Path("."),
    yes: YesOpt = False,
    file: FileOpt = Path("tenants.yaml"),
) -> None:
    """Move a tenant to another Docker target (and shard), its data through the backup repository.

    Suspend, deploy, final backup, set the target, deploy, restore there, resume, deploy; each step is
    printed with its time. The source keeps its copy (retained_on) until `tenantctl purge --from-target`."""
    fleet = load_or_exit(file)
    tenant = tenant_of(fleet, tenant_id, file)
    docker_target(fleet, tenant, "move")
    check_destination(fleet, tenant, to_target)
    require_backups(fleet, tenant, file)
    project = project_dir.resolve()
    plan = moving.Move(
        tenant_id=tenant.id,
        fleet_file=file,
        source=tenant.target,
        destination=to_target,
        source_shard=tenant.shard,
        destination_shard=to_shard or shard_served(fleet, to_target, tenant.shard),
        stacks=moving.stacks_of(project, parse_stacks(stack_of or [])),
        was_active=tenant.state == "active",
    )
    if not yes:
        shard = f" (shard {plan.destination_shard})" if plan.shard_changes else ""
        down = "its gateway stops until the move ends" if plan.was_active else "it stays suspended"
        typer.confirm(f"move tenant {tenant.id} from target {plan.source} to {to_target}{shard}; {down}?", abort=True)
    runner = moving.automation_runner(project, file.resolve(), plan.stacks)
    try:
        outcome = moving.run_move(plan, runner, FleetAgents(fleet), report_step)
    except moving.MoveError as failed:
        err.print(f"tenantctl move: tenant {tenant.id} stopped at {failed.step}: {failed.error}")
        err.print(f"  where it is: {failed.where}")
        err.print(f"  to finish: {failed.finish}")
        err.print(f"  to go back: {failed.back}")
        raise typer.Exit(1) from None
    total = sum(step.seconds for step in outcome.steps)
    down = f"; gateway downtime {outcome.downtime_s:.1f} s" if outcome.downtime_s is not None else ""
    out.print(f"moved tenant {tenant.id} from target {plan.source} to {to_target} in {total:.1f} s{down}")
    if plan.shard_changes:
        out.print(
            f"its gateway token changed with its shard: give the customer the new one (stack "
            f"{plan.destination_stack}'s output tenantTokens)"
        )
    out.print(
        f"its earlier copy stays on {plan.source}: `tenantctl purge {tenant.id} --from-target {plan.source}` "
        "deletes it once the move is confirmed"
    )


def shard_served(fleet: Fleet, target_name: str, otherwise: str) -> str:
    """The shard a Docker target's tenants are in (one: its edge proxy's stack); ``otherwise`` when it has none."""
    shards = sorted({t.shard for t in fleet.tenants if t.target == target_name})
    return shards[0] if shards else otherwise


def check_destination(fleet: Fleet, tenant: Tenant, to_target: str) -> None:
    where = f"tenant {tenant.id} on target {tenant.target}"
    if to_target not in fleet.targets:
        fail(f"{where}: there is no target {to_target} in the fleet; name one of {', '.join(sorted(fleet.targets))}")
    if not isinstance(fleet.targets[to_target], DockerTarget):
        fail(f"{where}: target {to_target} is a Kubernetes target; tenantctl move moves between Docker targets")
    if to_target == tenant.target:
        fail(f"{where}: it is already there; name another Docker target with --to-target")
    if not tenant.live:
        fail(f"{where} is offboarded: `tenantctl resume {tenant.id}` and deploy first, or purge it")
    if to_target in tenant.retained_on:
        fail(
            f"{where}: target {to_target} still holds its earlier copy; delete it first with "
            f"`tenantctl purge {tenant.id} --from-target {to_target}`"
        )


def report_step(step: moving.StepDone) -> None:
    detail = f" ({step.detail})" if step.detail else ""
    out.print(f"[{step.number}/{step.total}] {step.label}: {step.seconds:.1f} s{detail}")


# --- purge -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """One target's copy of a tenant's data: its volume, and its disk image in disk mode."""

    target: str
    host: str
    volume: str
    disk: str | None


def copy_on(fleet: Fleet, tenant: Tenant, target_name: str) -> Copy:
    """The names the spec builders give the tenant's data on ``target_name``."""
    resolved = resolve(fleet, tenant.model_copy(update={"target": target_name}))
    assert isinstance(resolved, DockerTenant)  # retained_on and the purge's own target are Docker targets
    disk = disk_spec(resolved, ds.container_name(tenant.id), ds.volume_name(tenant.id, "volume"))
    return Copy(target_name, resolved.target.host, ds.volume_spec(resolved).name, disk.image if disk else None)


@dataclass
class PurgeRecord:
    """What a purge deleted, for the audit log (also when it stopped half way)."""

    tenant: str
    scope: str  # "tenant" or "copy"
    deleted: list[dict[str, Any]] = field(default_factory=list)
    backups: dict[str, Any] = field(default_factory=dict)

    def entry(self, file: Path, error: str | None) -> dict[str, Any]:
        return {
            "action": "purge",
            "tenant": self.tenant,
            "scope": self.scope,
            "fleet_file": str(file),
            "deleted": self.deleted,
            "backups": self.backups,
            "complete": error is None,
            **({"error": error} if error else {}),
        }


def purge(
    tenant_id: IdArg,
    *,
    from_target: Annotated[
        str | None, typer.Option("--from-target", help="Only the earlier copy on this target (retained_on).")
    ] = None,
    yes: YesOpt = False,
    keep_backups: Annotated[
        bool, typer.Option("--keep-backups", help="Retag its snapshots purged-<id>-<date> instead of forgetting.")
    ] = False,
    audit_log: AuditOpt = None,
    file: FileOpt = Path("tenants.yaml"),
) -> None:
    """Delete an offboarded tenant's data and backups, then its line (the id is free again).

    With --from-target, only the copy a move left on that target. Every purge is appended to the audit log."""
    fleet = load_or_exit(file)
    tenant = tenant_of(fleet, tenant_id, file)
    copies = purge_scope(fleet, tenant, from_target, keep_backups)
    record = PurgeRecord(tenant.id, "copy" if from_target else "tenant")
    if from_target is not None or fleet.backups is None:
        record.backups = {"action": "kept (a copy's purge)" if from_target else "none (the fleet has no backups)"}
    snapshots = [] if from_target else listed_snapshots(fleet, tenant)
    if not yes:
        typer.confirm(purge_question(tenant, copies, snapshots, keep_backups, from_target), abort=True)
    log = audit_path(file, audit_log)
    try:
        for copy in copies:
            delete_copy(fleet, tenant, copy, record)
        if from_target is None and fleet.backups is not None:
            drop_backups(fleet, tenant, snapshots, keep_backups, record)
    except AccessError as exc:
        audit.append(log, record.entry(file, str(exc)))
        fail(f"tenant {tenant.id}: purge stopped: {exc}; what was deleted is in {log}, and {file} is unchanged")
    try:
        if from_target is not None:
            edit.release_copy(file, tenant.id, from_target)
        else:
            edit.purge_tenant(file, tenant.id)
    except EXPLAINED as exc:
        problem = " ".join((exc.render() if isinstance(exc, Renders) else str(exc)).split())
        audit.append(log, record.entry(file, f"{file} was not changed: {problem}"))
        line = f"the retained_on entry {from_target}" if from_target else "its line"
        fail(
            f"tenant {tenant.id}: its data is deleted (audited in {log}), but removing {line} from {file} "
            f"failed: {problem}; run the same purge again"
        )
    audit.append(log, record.entry(file, None))
    what = f"its copy on target {from_target}" if from_target else f"tenant {tenant.id} (the id is free)"
    out.print(f"purged {what}; audit entry appended to {log}")


def purge_scope(fleet: Fleet, tenant: Tenant, from_target: str | None, keep_backups: bool) -> list[Copy]:
    """The copies a purge deletes, or the command ends with why it refuses."""
    if from_target is not None:
        if from_target not in tenant.retained_on:
            held = ", ".join(tenant.retained_on) or "none"
            fail(
                f"tenant {tenant.id} holds no earlier copy on target {from_target} (retained_on: {held}); "
                "only those copies are purged with --from-target"
            )
        if keep_backups:
            fail(
                f"tenant {tenant.id}: --keep-backups is for a whole purge; --from-target {from_target} never touches "
                "its backups (they follow the tenant, whichever target holds it)"
            )
        return [copy_on(fleet, tenant, from_target)]
    docker_target(fleet, tenant, "purge")
    if tenant.state != "offboarded":
        fail(
            f"tenant {tenant.id} is {tenant.state} on target {tenant.target}: only an offboarded tenant is purged; "
            f"`tenantctl offboard {tenant.id}` and deploy shard {tenant.shard} first"
        )
    return [copy_on(fleet, tenant, name) for name in (tenant.target, *tenant.retained_on)]


def listed_snapshots(fleet: Fleet, tenant: Tenant) -> list[str]:
    """The ids of the tenant's snapshots, as its target's backup agent lists them ([] without backups)."""
    if fleet.backups is None:
        return []
    target = fleet.target_as(tenant.target, DockerTarget)
    with reaching(tenant.target, target, tenant.id) as docker:
        document = checked(docker.backups("snapshots", tenant.id), tenant, "listing snapshots").document()
    return [str(s["id"]) for s in document if isinstance(s, dict) and s.get("id")] if isinstance(document, list) else []


def purge_question(
    tenant: Tenant, copies: list[Copy], snapshots: list[str], keep: bool, from_target: str | None
) -> str:
    places = "; ".join(
        f"volume {c.volume}" + (f" and disk {c.disk}" if c.disk else "") + f" on target {c.target}" for c in copies
    )
    if from_target is not None:
        backups_part = "its backups stay"
    elif keep:
        backups_part = f"retag its {len(snapshots)} snapshots out of reach"
    else:
        backups_part = f"forget its {len(snapshots)} snapshots"
    line = "release the copy from retained_on" if from_target else "remove its line"
    return f"purge tenant {tenant.id}: delete {places}, {backups_part}, {line}? This cannot be undone"


def delete_copy(fleet: Fleet, tenant: Tenant, copy: Copy, record: PurgeRecord) -> None:
    """The copy's volume, then its disk (the volume binds the disk's data directory)."""
    target = fleet.target_as(copy.target, DockerTarget)
    with open_target(copy.target, target.host) as docker:
        existed = docker.remove_volume(copy.volume)
        done: dict[str, Any] = {"target": copy.target, "host": copy.host, "volume": copy.volume}
        done["volume_existed"] = existed
        record.deleted.append(done)
        if copy.disk is not None:
            reply = docker.disks("remove", tenant.id)
            if not reply.ok:
                raise AccessError(f"target {copy.target}: `disks remove {tenant.id}` failed: {reply.message}")
            done["disk"] = copy.disk


def drop_backups(fleet: Fleet, tenant: Tenant, snapshots: list[str], keep: bool, record: PurgeRecord) -> None:
    tag = f"purged-{tenant.id}-{datetime.now(UTC).date().isoformat()}"
    args = ("forget", tenant.id, *(("--retag-as", tag) if keep else ()))
    target = fleet.target_as(tenant.target, DockerTarget)
    with open_target(tenant.target, target.host) as docker:
        reply = docker.backups(*args)
    if not reply.ok:
        raise AccessError(f"target {tenant.target}: `backups {' '.join(args)}` failed: {reply.message}")
    record.backups = {"action": "retagged" if keep else "forgotten", "snapshots": snapshots}
    if keep:
        record.backups["tag"] = tag


def audit_path(file: Path, given: Path | None) -> Path:
    return given or file.resolve().parent / audit.LOG_NAME


def adopt(
    tenant_id: IdArg, yes: YesOpt = False, audit_log: AuditOpt = None, file: FileOpt = Path("tenants.yaml")
) -> None:
    """Hand a disk an earlier tenant with this id left on its target to this tenant (the same customer).

    The next deployment then takes the disk and its data as the tenant's own, instead of refusing it. For a
    new customer with the id, purge the disk instead. Every adoption is appended to the audit log."""
    fleet = load_or_exit(file)
    tenant = tenant_of(fleet, tenant_id, file)
    target = docker_target(fleet, tenant, "adopt")
    copy = copy_on(fleet, tenant, tenant.target)
    if copy.disk is None:
        fail(f"tenant {tenant.id}: target {tenant.target} keeps plain volumes (storage mode volume); no disk to adopt")
    if not yes:
        typer.confirm(
            f"adopt {copy.disk} on target {tenant.target} as tenant {tenant.id}'s own disk? Only for the same "
            "customer: its data becomes this tenant's",
            abort=True,
        )
    with reaching(tenant.target, target, tenant.id) as docker:
        checked(docker.disks("release", tenant.id), tenant, "releasing the disk's claim")
    log = audit_path(file, audit_log)
    audit.append(log, {"action": "adopt", "tenant": tenant.id, "target": tenant.target, "disk": copy.disk})
    out.print(f"tenant {tenant.id}: the next deployment takes {copy.disk} as its disk; audit entry appended to {log}")
