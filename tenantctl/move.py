"""tenantctl move: a tenant to another Docker target (and shard), its data carried by the fleet's backup
repository, the source's copy never touched.

The move is a list of steps, each an edit of tenants.yaml (:mod:`tenants.edit`), a ``pulumi up`` of one
stack (the signup service's :class:`signup.runner.AutomationRunner`), or one call to a target's backup
agent: suspend → up → final backup on the source → set the target (+ shard; the source is kept in
``retained_on``) → up → restore on the destination → resume → up. A failed step stops the move, and
:class:`MoveError` says where the tenant is and how to finish or go back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from signup.config import discover_stacks
from signup.runner import AutomationRunner, StackRunner, summarize
from tenants import edit

# Where a failed move leaves the tenant: untouched, suspended at the source, placed at the destination by
# the file (and then deployed there, its data not there yet), or restored there.
Phase = Literal["unchanged", "suspended", "placed", "deployed", "restored"]


class Agents(Protocol):
    """The targets' backup agents, as the move needs them."""

    def backup(self, target: str, tenant_id: str) -> str:
        """A snapshot of the tenant's data on ``target`` now; its id."""
        ...

    def restore(self, target: str, tenant_id: str, snapshot: str) -> None:
        """The tenant's data on ``target`` replaced by ``snapshot``."""
        ...


@dataclass(frozen=True)
class Move:
    """What is moved where, and which stacks deploy which shard."""

    tenant_id: str
    fleet_file: Path
    source: str  # target
    destination: str
    source_shard: str
    destination_shard: str
    stacks: Mapping[str, str]  # shard → stack
    was_active: bool  # a suspended tenant stays suspended, and has no downtime

    def stack(self, shard: str) -> str:
        return self.stacks.get(shard, shard)

    @property
    def source_stack(self) -> str:
        return self.stack(self.source_shard)

    @property
    def destination_stack(self) -> str:
        return self.stack(self.destination_shard)

    @property
    def shard_changes(self) -> bool:
        return self.source_shard != self.destination_shard


@dataclass(frozen=True)
class StepDone:
    number: int
    total: int
    label: str
    seconds: float
    detail: str = ""


@dataclass
class MoveOutcome:
    steps: list[StepDone] = field(default_factory=list)
    snapshot: str | None = None
    downtime_s: float | None = None  # None: the tenant was suspended before the move


class MoveError(Exception):
    """A step failed: which, why, where the tenant is now, how to finish the move and how to go back."""

    def __init__(self, step: str, error: str, *, where: str, finish: str, back: str, done: MoveOutcome) -> None:
        self.step, self.error, self.where, self.finish, self.back, self.done = step, error, where, finish, back, done
        super().__init__(f"{step}: {error}")


@dataclass(frozen=True)
class _Step:
    label: str
    action: Callable[[], str]  # returns a detail to print
    reached: Phase  # where the tenant is once it succeeded
    stops_gateway: bool = False
    starts_gateway: bool = False


def run_move(move: Move, runner: StackRunner, agents: Agents, report: Callable[[StepDone], None]) -> MoveOutcome:
    """Every step in order, each reported when done; ``MoveError`` at the first that fails."""
    outcome = MoveOutcome()
    file, tid = move.fleet_file, move.tenant_id

    def up(stack: str) -> Callable[[], str]:
        return lambda: runner.up(stack).summary

    def suspend() -> str:
        changed = edit.set_state(file, tid, "suspended").changed
        return "" if changed else "already suspended"

    def backup() -> str:
        outcome.snapshot = agents.backup(move.source, tid)
        return f"snapshot {outcome.snapshot}"

    def place() -> str:
        edit.move_tenant(file, tid, move.destination, shard=move.destination_shard if move.shard_changes else None)
        shard = f", shard {move.destination_shard}" if move.shard_changes else ""
        return f"target {move.destination}{shard}, retained_on {move.source}"

    def restore() -> str:
        assert outcome.snapshot is not None  # the backup step ran first
        agents.restore(move.destination, tid, outcome.snapshot)
        return f"snapshot {outcome.snapshot}"

    def resume() -> str:
        edit.set_state(file, tid, "active")
        return ""

    steps = [
        _Step(f"suspend {tid} in {file}", suspend, "suspended"),
        _Step(f"deploy stack {move.source_stack}", up(move.source_stack), "suspended", stops_gateway=True),
        _Step(f"final backup on {move.source}", backup, "suspended"),
        _Step(f"move {tid} to {move.destination} in {file}", place, "placed"),
    ]
    if move.shard_changes:
        steps.append(_Step(f"deploy stack {move.source_stack} (its old shard)", up(move.source_stack), "placed"))
    steps += [
        _Step(f"deploy stack {move.destination_stack}", up(move.destination_stack), "deployed"),
        _Step(f"restore on {move.destination}", restore, "restored"),
    ]
    if move.was_active:
        steps += [
            _Step(f"resume {tid} in {file}", resume, "restored"),
            _Step(
                f"deploy stack {move.destination_stack}",
                up(move.destination_stack),
                "restored",
                starts_gateway=True,
            ),
        ]
    phase: Phase = "unchanged"
    down_since: float | None = None
    for number, step in enumerate(steps, 1):
        started = time.monotonic()
        if step.stops_gateway and move.was_active:
            down_since = started
        try:
            detail = step.action()
        except (Exception, KeyboardInterrupt) as exc:  # every failure of a step, and Ctrl-C, is explained
            where, finish, back = guidance(move, phase, outcome.snapshot)
            raise MoveError(step.label, _reason(exc), where=where, finish=finish, back=back, done=outcome) from exc
        ended = time.monotonic()
        if step.starts_gateway and down_since is not None:
            outcome.downtime_s = ended - down_since
        phase = step.reached
        done = StepDone(number, len(steps), step.label, ended - started, detail)
        outcome.steps.append(done)
        report(done)
    return outcome


def _reason(exc: BaseException) -> str:
    """One line: an explained refusal's own message, else the first error lines of a CLI failure."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = getattr(exc, "summary", None) or str(exc) or type(exc).__name__
    return " ".join(summarize(text, text).split()) if "\n" in text else text


def guidance(move: Move, phase: Phase, snapshot: str | None) -> tuple[str, str, str]:
    """Where the tenant is after the steps of ``phase``, how to finish the move, and how to go back."""
    tid, src, dst = move.tenant_id, move.source, move.destination
    f = f"--file {move.fleet_file}"
    up_src, up_dst = f"pulumi up --stack {move.source_stack}", f"pulumi up --stack {move.destination_stack}"
    resume = f"tenantctl resume {tid} {f}"
    again = "run the same tenantctl move again"
    if phase == "unchanged":
        return f"nothing changed: tenant {tid} is still on target {src}", again, "nothing to undo"
    if phase == "suspended":
        where = f"tenant {tid} is suspended in {move.fleet_file}, still on target {src}, its data there untouched"
        back = f"{resume}, then {up_src}" if move.was_active else "nothing to undo (it was suspended before)"
        return where, again, back
    shard_back = f" and shard: {move.source_shard}" if move.shard_changes else ""
    both = f"{up_src} and {up_dst}" if move.shard_changes else up_src
    back = (
        f"on {tid}'s line in {move.fleet_file} set target: {src}{shard_back} and remove {src} from retained_on, "
        + (f"then {resume} and {both}" if move.was_active else f"then {both}")
        + f"; its copy on {src} was never touched"
    )
    then_resume = f", {resume}, {up_dst}" if move.was_active else ""
    if phase in ("placed", "deployed"):
        where = (
            f"{move.fleet_file} places tenant {tid} (suspended) on target {dst}; its data is still only on {src} "
            f"(retained_on) and in snapshot {snapshot}"
        )
        restore = f"tenantctl restore {tid} --snapshot {snapshot} {f}{then_resume}"
        if phase == "deployed":
            return where, restore, back
        deploy = f"{up_src}, {up_dst}" if move.shard_changes else up_dst
        return where, f"{deploy}, {restore}", back
    where = f"tenant {tid}'s data is restored on target {dst} from snapshot {snapshot}"
    finish = f"{resume}, then {up_dst}" if move.was_active else "nothing left to do"
    return where, finish, back


# --- the runner: the signup service's, on the project as `make` deploys it ------------------------

STATE_DIR, PASSPHRASE_FILE, ENGINE_DIR = ".pulumi-state", ".pulumi-passphrase", ".tools/pulumi"


def stacks_of(project_dir: Path, given: Mapping[str, str]) -> dict[str, str]:
    """shard → stack: what the command line names, else what the project's stack files say (as the signup
    service finds them), else the shard's own name (see :meth:`Move.stack`)."""
    return discover_stacks(project_dir) | dict(given)


def local_backend_env(
    project_dir: Path, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, str], Path | None]:
    """The environment and engine of ``make up``, when the process has none of its own: the project's file
    backend and passphrase file, and the engine ``scripts/ensure-pulumi.sh`` built (else ``pulumi`` on PATH)."""
    env = os.environ if environ is None else environ
    extra: dict[str, str] = {}
    if "PULUMI_BACKEND_URL" not in env and (project_dir / STATE_DIR).is_dir():
        extra["PULUMI_BACKEND_URL"] = f"file://{project_dir / STATE_DIR}"
    has_passphrase = "PULUMI_CONFIG_PASSPHRASE" in env or "PULUMI_CONFIG_PASSPHRASE_FILE" in env
    if not has_passphrase and (project_dir / PASSPHRASE_FILE).is_file():
        extra["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(project_dir / PASSPHRASE_FILE)
    engine = project_dir / ENGINE_DIR
    if not (engine / "bin" / "pulumi").is_file():
        return extra, None
    extra |= {
        "PATH": f"{engine / 'bin'}:{env.get('PATH', '')}",
        "PULUMI_HOME": str(engine / "home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
    }
    return extra, engine


def automation_runner(project_dir: Path, fleet_file: Path, stacks: Mapping[str, str]) -> AutomationRunner:
    """The signup service's runner on ``project_dir`` (each stack checked to deploy its shard and this file)."""
    env, engine = local_backend_env(project_dir)
    return AutomationRunner(
        project_dir,
        fleet_file=fleet_file,
        shards={stack: shard for shard, stack in stacks.items()},
        env=env,
        pulumi_root=engine,
    )
