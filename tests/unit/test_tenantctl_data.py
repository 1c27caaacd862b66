"""tenantctl backup | backups | restore | move | purge against fake data agents (the Docker SDK's client
replaced by one whose containers answer ``exec_run`` like the agents do) and the fake ``pulumi up`` runner."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import typer
from typer.testing import CliRunner

from harness.fake_runner import FakeRunner
from harness.fleets import docker as docker_host_doc
from harness.fleets import fleet_yaml
from signup.runner import UpdateError, UpResult
from tenantctl import data as data_cli
from tenantctl import docker_access
from tenantctl import move as moving
from tenants import audit, edit
from tenants.data_names import DATA_AGENT_COMMAND
from tenants.edit_errors import EditError
from tenants.load import load_fleet
from tests.unit.cli_apps import app_with

AGENT = list(DATA_AGENT_COMMAND)
HOSTS = {"ssh://ops@src": "src", "ssh://ops@dst": "dst", "ssh://ops@old": "old"}
REAL_CLIENT_FOR = docker_access.client_for


def fleet_doc(*, backups: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "domain": "tenants.example.com",
        "defaults": {"model_provider": "kimi"},
        "targets": {
            "src": {**docker_host_doc(), "host": "ssh://ops@src"},
            "dst": {**docker_host_doc(), "host": "ssh://ops@dst"},
            "old": {**docker_host_doc(), "host": "ssh://ops@old", "storage": {"mode": "volume"}},
            "cluster": {
                "type": "kubernetes",
                "context": "prod",
                "capacity": {"cpus": 64, "memory_gib": 256, "storage_gib": 4000},
            },
        },
        "tenants": [
            {"id": "acme", "plan": "basic", "target": "src"},
            {"id": "globex", "plan": "basic", "target": "src", "state": "suspended"},
            {"id": "vandelay", "plan": "basic", "target": "src", "state": "offboarded", "retained_on": ["old"]},
            {"id": "initech", "plan": "basic", "target": "dst", "shard": "east", "retained_on": ["src"]},
            {"id": "hooli", "plan": "basic", "target": "cluster", "shard": "k8s"},
        ],
    }
    if backups:
        doc["backups"] = {"repository": "/srv/openclaw-backups"}
    return doc


# --- the fake agents -----------------------------------------------------------------------------


@dataclass
class World:
    """What the fake targets hold: one repository's snapshots, each target's volumes and disks."""

    snapshots: dict[str, list[str]] = field(default_factory=lambda: {"vandelay": ["v1", "v2"]})
    volumes: dict[str, set[str]] = field(
        default_factory=lambda: {
            "src": {"openclaw-acme-data", "openclaw-globex-data", "openclaw-vandelay-data"},
            "dst": {"openclaw-initech-data"},
            "old": {"openclaw-vandelay-state"},
        }
    )
    disks: dict[str, set[str]] = field(
        default_factory=lambda: {"src": {"acme", "globex", "vandelay", "initech"}, "dst": {"initech"}}
    )
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, list[str]]] = field(default_factory=list)  # (container, agent arguments)
    failing: dict[tuple[str, str], str] = field(default_factory=dict)  # (container, subcommand) → error
    missing: set[str] = field(default_factory=set)  # containers that do not exist
    retagged: dict[str, str] = field(default_factory=dict)
    made: int = 0

    def args_of(self, container: str) -> list[list[str]]:
        return [args for name, args in self.calls if name == container]


@dataclass(frozen=True)
class ExecResult:
    """What the SDK's ``exec_run(..., demux=True)`` returns."""

    exit_code: int
    output: tuple[bytes | None, bytes | None]


def reply(code: int, stdout: str = "", stderr: str = "") -> ExecResult:
    return ExecResult(code, (stdout.encode() or None, stderr.encode() or None))


class FakeContainer:
    def __init__(self, world: World, name: str, target: str) -> None:
        self.world, self.name, self.target, self.status = world, name, target, "running"

    def exec_run(self, cmd: list[str], demux: bool = False) -> ExecResult:
        assert demux and cmd[: len(AGENT)] == AGENT
        args = cmd[len(AGENT) :]
        self.world.calls.append((self.name, args))
        failure = self.world.failing.get((self.name, args[1]))
        if failure is not None and args[1] != "run":
            return reply(1, stderr=f"restic: {failure}\n")
        handler: Callable[[list[str], str | None], ExecResult] = getattr(self, f"do_{args[1]}")
        return handler(args[2:], failure)

    def do_run(self, ids: list[str], failure: str | None) -> ExecResult:
        lines = []
        for tenant_id in ids:
            if failure:
                lines.append({"tenant": tenant_id, "ok": False, "snapshot": None, "error": failure})
                continue
            self.world.made += 1
            snapshot = f"snap{self.world.made}"
            self.world.snapshots.setdefault(tenant_id, []).append(snapshot)
            line = {"tenant": tenant_id, "ok": True, "snapshot": snapshot, "seconds": 2.5, "unavailable_s": 1.5}
            lines.append({**line, "bytes_added": 3 * 1024 * 1024, "error": None})
        return reply(1 if failure else 0, "".join(json.dumps(line) + "\n" for line in lines))

    def do_snapshots(self, args: list[str], _: str | None) -> ExecResult:
        found = self.world.snapshots.get(args[0], [])
        docs = [
            {"id": s, "short_id": s[:8], "time": "2026-05-01T00:00:00Z", "tags": [f"tenant={args[0]}"]} for s in found
        ]
        return reply(0, json.dumps(docs))

    def do_restore(self, args: list[str], _: str | None) -> ExecResult:
        snapshot = args[args.index("--snapshot") + 1] if "--snapshot" in args else self.world.snapshots[args[0]][-1]
        return reply(0, json.dumps({"tenant": args[0], "snapshot": snapshot}))

    def do_forget(self, args: list[str], _: str | None) -> ExecResult:
        if "--retag-as" in args:
            self.world.retagged[args[0]] = args[args.index("--retag-as") + 1]
        self.world.snapshots.pop(args[0], None)
        return reply(0, json.dumps({"tenant": args[0]}))

    def do_status(self, args: list[str], _: str | None) -> ExecResult:
        return reply(0, json.dumps(self.world.status.get(self.target, {})))

    def do_release(self, args: list[str], _: str | None) -> ExecResult:
        return reply(0, json.dumps({"tenant": args[0], "claim": None}))

    def do_remove(self, args: list[str], _: str | None) -> ExecResult:
        self.world.disks.get(self.target, set()).discard(args[0])
        return reply(0, json.dumps({"tenant": args[0], "removed": True}))


class FakeVolume:
    def __init__(self, world: World, target: str, name: str) -> None:
        self.world, self.target, self.name = world, target, name

    def remove(self) -> None:
        self.world.volumes[self.target].discard(self.name)


class FakeClient:
    def __init__(self, world: World, target: str) -> None:
        self.world, self.target = world, target
        self.containers, self.volumes = self, self._Volumes(self)

    def get(self, name: str) -> FakeContainer:
        if name in self.world.missing or not name.endswith(f"-{self.target}"):
            raise docker.errors.NotFound(f"No such container: {name}")
        return FakeContainer(self.world, name, self.target)

    class _Volumes:
        def __init__(self, client: FakeClient) -> None:
            self.client = client

        def get(self, name: str) -> FakeVolume:
            if name not in self.client.world.volumes.get(self.client.target, set()):
                raise docker.errors.NotFound(f"get {name}: no such volume")
            return FakeVolume(self.client.world, self.client.target, name)

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_real_docker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test here reaches a daemon: ``world`` replaces the client; a test without it fails if it tries."""

    def refuse(host: str, environ: object = None) -> object:
        raise AssertionError(f"a test reached for the Docker host {host}")

    monkeypatch.setattr(docker_access, "client_for", refuse)
    yield


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, _no_real_docker: None) -> World:
    state = World()
    monkeypatch.setattr(docker_access, "client_for", lambda host, environ=None: FakeClient(state, HOSTS[host]))
    return state


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(fleet_yaml(fleet_doc()))
    return path


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, fleet_file: Path) -> FakeRunner:
    fake = FakeRunner(fleet_file)
    monkeypatch.setattr(moving, "automation_runner", lambda project, file, stacks: fake)
    return fake


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    # Tables as wide as they need: a console without a terminal (a test worker) would wrap them at 80.
    for console in (data_cli.out, data_cli.err):
        monkeypatch.setattr(console, "width", 250)
    return app_with(data_cli.register)


def run(app: typer.Typer, *args: str, answer: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=answer, env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


def tenant(path: Path, tenant_id: str) -> Any:
    return load_fleet(path).tenant(tenant_id)


def ids(path: Path) -> set[str]:
    return {t.id for t in load_fleet(path).tenants}


# --- backup --------------------------------------------------------------------------------------


def test_backup_of_one_tenant_runs_its_targets_agent_and_prints_the_snapshot(
    app: typer.Typer, world: World, fleet_file: Path
) -> None:
    code, out, err = run(app, "backup", "acme", "--file", str(fleet_file))
    assert code == 0, err
    assert world.calls == [("openclaw-backup-src", ["backups", "run", "acme"])]
    row = next(line for line in out.splitlines() if line.lstrip().startswith("acme"))
    assert row.split()[1:] == ["snap1", "2.5", "1.5", "3.0", "MiB"]


def test_backup_all_calls_each_docker_target_once_with_its_live_tenants(
    app: typer.Typer, world: World, fleet_file: Path
) -> None:
    code, _, err = run(app, "backup", "--all", "--file", str(fleet_file))
    assert code == 0, err
    assert sorted(world.calls) == [
        ("openclaw-backup-dst", ["backups", "run", "initech"]),
        ("openclaw-backup-src", ["backups", "run", "acme", "globex"]),  # vandelay is offboarded
    ]
    assert "tenant hooli is on Kubernetes target cluster" in err


def test_backup_all_exits_1_naming_each_failed_tenant_and_its_target(
    app: typer.Typer, world: World, fleet_file: Path
) -> None:
    world.failing[("openclaw-backup-src", "run")] = "repository is locked"
    world.missing.add("openclaw-backup-dst")
    code, out, err = run(app, "backup", "--all", "--file", str(fleet_file))
    assert code == 1
    assert "tenant acme on target src: backup failed: repository is locked" in err
    assert "tenant globex on target src: backup failed: repository is locked" in err
    assert "tenant initech on target dst: backup failed: the backup agent openclaw-backup-dst" in err
    assert "does not exist: deploy the target's shard" in err
    assert out.count("FAILED") == 3


def test_backup_needs_one_tenant_or_all(app: typer.Typer, world: World, fleet_file: Path) -> None:
    assert run(app, "backup", "--file", str(fleet_file))[0] == 1
    assert run(app, "backup", "acme", "--all", "--file", str(fleet_file))[0] == 1
    assert world.calls == []


def test_backup_of_an_unknown_tenant_says_so(app: typer.Typer, world: World, fleet_file: Path) -> None:
    code, _, err = run(app, "backup", "nobody", "--file", str(fleet_file))
    assert code == 1
    assert "tenant nobody is not in" in err


def test_without_a_backups_section_backup_says_what_to_add(app: typer.Typer, world: World, tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(fleet_yaml(fleet_doc(backups=False)))
    code, _, err = run(app, "backup", "acme", "--file", str(path))
    assert code == 1
    assert "has no backups: section" in err
    assert world.calls == []


SFTP_BACKUPS = {"repository": "sftp://backup@vault.example.net//srv/openclaw", "known_hosts": "vault ssh-ed25519 AAAA"}
NO_JOB = "it has no backup job: the repository /srv/openclaw-backups is a path on the Docker hosts"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("backup", "hooli"),
            ("kubectl create job openclaw-backup-now --from=cronjob/openclaw-backup -n tenant-hooli", SFTP_BACKUPS),
        ),
        (("backups", "hooli"), ("kubectl get jobs -n tenant-hooli", SFTP_BACKUPS)),
        (("restore", "hooli"), ("claim openclaw-state", SFTP_BACKUPS)),
        (
            ("move", "hooli", "--to-target", "dst", "--yes"),
            ("tenantctl move moves between Docker targets", SFTP_BACKUPS),
        ),
        # A path on the Docker hosts: the program makes no CronJob, and nothing points at one.
        (("backup", "hooli"), (NO_JOB, None)),
        (("backups", "hooli"), (NO_JOB, None)),
        (("restore", "hooli"), (NO_JOB, None)),
        (("purge", "hooli", "--yes"), ("kubectl delete namespace tenant-hooli", None)),
    ],
)
def test_kubernetes_tenants_are_told_what_to_run_instead_with_exit_2(
    app: typer.Typer,
    world: World,
    tmp_path: Path,
    args: tuple[str, ...],
    expected: tuple[str, dict[str, str] | None],
) -> None:
    instead, repository = expected
    doc = fleet_doc()
    doc["backups"] = repository or doc["backups"]
    fleet_file = tmp_path / "tenants.yaml"
    fleet_file.write_text(fleet_yaml(doc))
    code, _, err = run(app, *args, "--file", str(fleet_file))
    assert code == 2
    assert err.startswith("tenant hooli is on Kubernetes target cluster: ")
    assert instead in err
    assert len(err.strip().splitlines()) == 1
    assert world.calls == []


# --- backups ----------------------------------------------------------------------------------


def recent(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def good(snapshot: str) -> dict[str, Any]:
    return {"last_success": recent(3), "last_snapshot": snapshot, "failing": False, "overdue": False, "every_s": 86400}


def test_backups_lists_every_docker_tenants_last_backup(app: typer.Typer, world: World, fleet_file: Path) -> None:
    world.status = {"src": {"acme": good("aaaa1111"), "globex": good("bbbb2222")}, "dst": {"initech": good("cc")}}
    code, out, err = run(app, "backups", "--file", str(fleet_file))
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["acme"][1] == "src"
    assert rows["acme"][-2:] == ["aaaa1111", "ok"]
    assert rows["acme"][3] == "3h"
    assert rows["initech"][1] == "dst"
    assert rows["vandelay"][-2:] == ["not", "scheduled"]  # offboarded: not in the agent's schedule
    assert "hooli" not in rows
    assert sorted(world.calls) == [
        ("openclaw-backup-dst", ["backups", "status"]),
        ("openclaw-backup-src", ["backups", "status"]),
    ]


def test_backups_exits_1_on_a_failing_or_overdue_tenant(app: typer.Typer, world: World, fleet_file: Path) -> None:
    failing = {**good("aaaa1111"), "failing": True, "last_error": "sftp: connection refused"}
    overdue = {**good("bbbb2222"), "last_success": recent(50), "overdue": True}
    world.status = {"src": {"acme": failing, "globex": overdue}, "dst": {"initech": good("cc")}}
    code, out, err = run(app, "backups", "--file", str(fleet_file))
    assert code == 1
    assert "FAILING: sftp: connection refused" in out
    assert "OVERDUE" in out
    problems = [line for line in err.strip().splitlines() if not line.startswith("tenant hooli")]
    assert problems[0] == (
        "tenant acme on target src: backups failing (sftp: connection refused); fix it, then `tenantctl backup acme`"
    )
    assert problems[1].startswith("tenant globex on target src: backup overdue (last success ")
    assert len(problems) == 2


def test_backups_exits_1_when_an_agent_cannot_be_asked(app: typer.Typer, world: World, fleet_file: Path) -> None:
    world.status = {"src": {"acme": good("a"), "globex": good("b")}}
    world.missing.add("openclaw-backup-dst")
    code, _, err = run(app, "backups", "--file", str(fleet_file))
    assert code == 1
    assert "tenant initech on target dst: the backup agent openclaw-backup-dst on target dst (ssh://ops@dst)" in err


def test_backups_of_one_tenant_lists_its_snapshots(app: typer.Typer, world: World, fleet_file: Path) -> None:
    code, out, err = run(app, "backups", "vandelay", "--file", str(fleet_file))
    assert code == 0, err
    assert world.calls == [("openclaw-backup-src", ["backups", "snapshots", "vandelay"])]
    assert [line.split()[0] for line in out.splitlines() if line.strip().startswith("v")] == ["v1", "v2"]
    assert "2 snapshots of tenant vandelay" in out


# --- restore ----------------------------------------------------------------------------------


def test_restore_runs_the_agents_restore_and_names_the_snapshot(
    app: typer.Typer, world: World, fleet_file: Path
) -> None:
    world.snapshots["acme"] = ["s1", "s2"]
    code, out, err = run(app, "restore", "acme", "--file", str(fleet_file))
    assert code == 0, err
    assert world.calls == [("openclaw-backup-src", ["backups", "restore", "acme"])]
    assert out.strip() == "restored tenant acme on target src from snapshot s2"
    code, out, _ = run(app, "restore", "globex", "--snapshot", "s1", "--file", str(fleet_file))
    assert code == 0
    assert world.calls[-1] == ("openclaw-backup-src", ["backups", "restore", "globex", "--snapshot", "s1"])
    assert out.strip() == "restored tenant globex on target src from snapshot s1"


def test_restore_refuses_an_offboarded_tenant(app: typer.Typer, world: World, fleet_file: Path) -> None:
    code, _, err = run(app, "restore", "vandelay", "--file", str(fleet_file))
    assert code == 1
    assert "tenant vandelay on target src is offboarded" in err
    assert "`tenantctl resume vandelay`" in err
    assert world.calls == []


def test_a_failed_restore_is_one_line_with_the_agents_reason(app: typer.Typer, world: World, fleet_file: Path) -> None:
    world.failing[("openclaw-backup-src", "restore")] = "no snapshot of acme"
    code, _, err = run(app, "restore", "acme", "--file", str(fleet_file))
    assert code == 1
    assert err.strip() == "tenant acme on target src: restore failed: restic: no snapshot of acme"


# --- move -------------------------------------------------------------------------------------


def move_args(fleet_file: Path, tenant_id: str = "acme", to: str = "old") -> tuple[str, ...]:
    project = str(fleet_file.parent)
    return ("move", tenant_id, "--to-target", to, "--yes", "--project-dir", project, "--file", str(fleet_file))


def test_move_runs_every_step_and_leaves_the_tenant_active_on_the_destination(
    app: typer.Typer, world: World, fleet_file: Path, runner: FakeRunner
) -> None:
    code, out, err = run(app, *move_args(fleet_file))
    assert code == 0, err
    moved = tenant(fleet_file, "acme")
    assert (moved.target, moved.shard, moved.state, moved.retained_on) == ("old", "default", "active", ("src",))
    assert [u.stack for u in runner.updates] == ["default", "default", "default"]
    assert world.calls == [
        ("openclaw-backup-src", ["backups", "run", "acme"]),
        ("openclaw-backup-old", ["backups", "restore", "acme", "--snapshot", "snap1"]),
    ]
    steps = [line for line in out.splitlines() if line.startswith("[")]
    assert [re.sub(r": \d+\.\d s( \(.*\))?$", "", s) for s in steps] == [
        f"[1/8] suspend acme in {fleet_file}",
        "[2/8] deploy stack default",
        "[3/8] final backup on src",
        f"[4/8] move acme to old in {fleet_file}",
        "[5/8] deploy stack default",
        "[6/8] restore on old",
        f"[7/8] resume acme in {fleet_file}",
        "[8/8] deploy stack default",
    ]
    assert steps[2].endswith("(snapshot snap1)")
    assert "moved tenant acme from target src to old in " in out
    assert "; gateway downtime " in out
    assert "`tenantctl purge acme --from-target src`" in out
    assert "token changed" not in out
    assert "openclaw-acme-data" in world.volumes["src"]  # the source's copy is never touched
    assert world.args_of("openclaw-storage-src") == []


def test_move_to_a_target_of_another_shard_takes_its_shard_deploys_both_stacks_and_says_the_token_changed(
    app: typer.Typer, world: World, fleet_file: Path, runner: FakeRunner
) -> None:
    code, out, err = run(app, *move_args(fleet_file, to="dst"), "--stack-of", "east=prod-east")
    assert code == 0, err
    moved = tenant(fleet_file, "acme")
    assert (moved.target, moved.shard, moved.retained_on) == ("dst", "east", ("src",))
    assert [u.stack for u in runner.updates] == ["default", "default", "prod-east", "prod-east"]
    assert "[6/9] deploy stack prod-east" in out
    assert "its gateway token changed with its shard" in out
    assert "stack prod-east's output tenantTokens" in out


def test_moving_a_suspended_tenant_keeps_it_suspended_and_has_no_downtime(
    app: typer.Typer, world: World, fleet_file: Path, runner: FakeRunner
) -> None:
    code, out, err = run(app, *move_args(fleet_file, "globex"))
    assert code == 0, err
    moved = tenant(fleet_file, "globex")
    assert (moved.target, moved.state) == ("old", "suspended")
    assert len(runner.updates) == 2
    assert "downtime" not in out
    assert "[6/6] restore on old" in out  # suspend, up, backup, move, up, restore


def test_a_move_failing_at_the_restore_says_where_the_tenant_is_and_how_to_finish_or_go_back(
    app: typer.Typer, world: World, fleet_file: Path, runner: FakeRunner
) -> None:
    world.failing[("openclaw-backup-old", "restore")] = "repository unreachable"
    code, out, err = run(app, *move_args(fleet_file))
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0] == (
        "tenantctl move: tenant acme stopped at restore on old: target old: `backups restore acme --snapshot snap1` "
        "failed: restic: repository unreachable"
    )
    assert lines[1].startswith(f"  where it is: {fleet_file} places tenant acme (suspended) on target old")
    assert "snapshot snap1" in lines[1]
    assert lines[2] == (
        f"  to finish: tenantctl restore acme --snapshot snap1 --file {fleet_file}, "
        f"tenantctl resume acme --file {fleet_file}, pulumi up --stack default"
    )
    assert lines[3].startswith(f"  to go back: on acme's line in {fleet_file} set target: src and remove src from ")
    assert lines[3].endswith("; its copy on src was never touched")
    assert "[5/" in out and "[6/" not in out
    moved = tenant(fleet_file, "acme")
    assert (moved.target, moved.state, moved.retained_on) == ("old", "suspended", ("src",))
    assert "openclaw-acme-data" in world.volumes["src"]
    assert "acme" in world.disks["src"]


def test_a_move_failing_at_its_first_deploy_says_to_resume_or_run_it_again(
    app: typer.Typer, world: World, fleet_file: Path, runner: FakeRunner
) -> None:
    runner.fail_next(UpdateError("docker host ssh://ops@src unreachable"))
    code, _, err = run(app, *move_args(fleet_file))
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0] == (
        "tenantctl move: tenant acme stopped at deploy stack default: docker host ssh://ops@src unreachable"
    )
    where = f"tenant acme is suspended in {fleet_file}, still on target src, its data there untouched"
    assert lines[1] == f"  where it is: {where}"
    assert lines[2] == "  to finish: run the same tenantctl move again"
    assert lines[3] == f"  to go back: tenantctl resume acme --file {fleet_file}, then pulumi up --stack default"
    assert (tenant(fleet_file, "acme").target, tenant(fleet_file, "acme").state) == ("src", "suspended")
    assert world.calls == []


def test_a_move_failing_at_the_destinations_deploy_says_to_deploy_both_stacks_then_restore(
    app: typer.Typer, world: World, fleet_file: Path, runner: FakeRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_up = runner.up

    def up(stack: str) -> UpResult:
        if stack == "east":
            raise UpdateError("docker host ssh://ops@dst unreachable")
        return real_up(stack)

    monkeypatch.setattr(runner, "up", up)
    code, _, err = run(app, *move_args(fleet_file, to="dst"))
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0] == "tenantctl move: tenant acme stopped at deploy stack east: docker host ssh://ops@dst unreachable"
    assert lines[2] == (
        f"  to finish: pulumi up --stack default, pulumi up --stack east, tenantctl restore acme --snapshot snap1 "
        f"--file {fleet_file}, tenantctl resume acme --file {fleet_file}, pulumi up --stack east"
    )
    assert lines[3] == (
        f"  to go back: on acme's line in {fleet_file} set target: src and shard: default and remove src from "
        f"retained_on, then tenantctl resume acme --file {fleet_file} and pulumi up --stack default and "
        "pulumi up --stack east; its copy on src was never touched"
    )
    assert world.args_of("openclaw-backup-dst") == []


@pytest.mark.parametrize(
    "case",
    [
        ("acme", "src", "it is already there"),
        ("acme", "cluster", "target cluster is a Kubernetes target"),
        ("acme", "nowhere", "there is no target nowhere in the fleet"),
        ("vandelay", "dst", "is offboarded"),
        ("initech", "src", "target src still holds its earlier copy; delete it first with `tenantctl purge initech"),
    ],
)
def test_move_refuses_before_any_step(
    app: typer.Typer,
    world: World,
    fleet_file: Path,
    runner: FakeRunner,
    case: tuple[str, str, str],
) -> None:
    tenant_id, to, why = case
    before = fleet_file.read_text()
    code, _, err = run(app, *move_args(fleet_file, tenant_id, to))
    assert code == 1
    assert why in err
    assert len(err.strip().splitlines()) == 1
    assert fleet_file.read_text() == before
    assert runner.updates == [] and world.calls == []


def test_move_asks_before_it_starts(app: typer.Typer, world: World, fleet_file: Path, runner: FakeRunner) -> None:
    before = fleet_file.read_text()
    args = [a for a in move_args(fleet_file) if a != "--yes"]
    code, out, _ = run(app, *args, answer="n\n")
    assert code == 1
    assert "move tenant acme from target src to old; its gateway stops until the move ends?" in out
    assert fleet_file.read_text() == before and runner.updates == []


def test_stacks_come_from_the_command_line_then_the_projects_stack_files(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  openclaw-tenants:shard: default\n")
    assert moving.stacks_of(tmp_path, {}) == {"default": "dev"}
    assert moving.stacks_of(tmp_path, {"default": "prod", "east": "e1"}) == {"default": "prod", "east": "e1"}


def test_the_runner_uses_the_projects_local_backend_unless_the_environment_names_one(tmp_path: Path) -> None:
    (tmp_path / ".pulumi-state").mkdir()
    (tmp_path / ".pulumi-passphrase").write_text("secret\n")
    env, engine = moving.local_backend_env(tmp_path, {})
    assert env == {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / '.pulumi-state'}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / ".pulumi-passphrase"),
    }
    assert engine is None
    own = {"PULUMI_BACKEND_URL": "s3://state", "PULUMI_CONFIG_PASSPHRASE": "x"}
    assert moving.local_backend_env(tmp_path, own) == ({}, None)
    (tmp_path / ".tools/pulumi/bin").mkdir(parents=True)
    (tmp_path / ".tools/pulumi/bin/pulumi").write_text("")
    env, engine = moving.local_backend_env(tmp_path, own | {"PATH": "/usr/bin"})
    assert engine == tmp_path / ".tools/pulumi"
    assert env["PATH"] == f"{tmp_path / '.tools/pulumi/bin'}:/usr/bin"
    assert env["PULUMI_HOME"] == str(tmp_path / ".tools/pulumi/home")


# --- purge ------------------------------------------------------------------------------------


def audit_entries(fleet_file: Path) -> list[dict[str, Any]]:
    return audit.read(fleet_file.parent / "audit.jsonl")


def test_purge_deletes_every_copy_and_the_backups_then_the_line_then_audits(
    app: typer.Typer, world: World, fleet_file: Path
) -> None:
    code, out, err = run(app, "purge", "vandelay", "--yes", "--file", str(fleet_file))
    assert code == 0, err
    assert "openclaw-vandelay-data" not in world.volumes["src"]  # disk mode
    assert "openclaw-vandelay-state" not in world.volumes["old"]  # volume mode: no disk
    assert "vandelay" not in world.disks["src"]
    assert world.args_of("openclaw-storage-src") == [["disks", "remove", "vandelay"]]
    assert world.args_of("openclaw-storage-old") == []
    assert world.args_of("openclaw-backup-src") == [
        ["backups", "snapshots", "vandelay"],
        ["backups", "forget", "vandelay"],
    ]
    assert "vandelay" not in ids(fleet_file)
    (entry,) = audit_entries(fleet_file)
    assert entry["tenant"] == "vandelay" and entry["action"] == "purge" and entry["complete"] is True
    assert [(d["target"], d["volume"], d.get("disk")) for d in entry["deleted"]] == [
        ("src", "openclaw-vandelay-data", "/var/lib/openclaw-tenants/disks/src/vandelay.img"),
        ("old", "openclaw-vandelay-state", None),
    ]
    assert entry["backups"] == {"action": "forgotten", "snapshots": ["v1", "v2"]}
    assert "purged tenant vandelay (the id is free)" in out


def test_purge_keep_backups_retags_them_with_the_id_and_date(app: typer.Typer, world: World, fleet_file: Path) -> None:
    code, _, err = run(app, "purge", "vandelay", "--yes", "--keep-backups", "--file", str(fleet_file))
    assert code == 0, err
    tag = f"purged-vandelay-{datetime.now(UTC).date().isoformat()}"
    assert world.args_of("openclaw-backup-src")[-1] == ["backups", "forget", "vandelay", "--retag-as", tag]
    (entry,) = audit_entries(fleet_file)
    assert entry["backups"] == {"action": "retagged", "tag": tag, "snapshots": ["v1", "v2"]}


def test_purge_refuses_a_live_tenant(app: typer.Typer, world: World, fleet_file: Path) -> None:
    before = fleet_file.read_text()
    code, _, err = run(app, "purge", "acme", "--yes", "--file", str(fleet_file))
    assert code == 1
    assert err.strip() == (
        "tenant acme is active on target src: only an offboarded tenant is purged; `tenantctl offboard acme` "
        "and deploy shard default first"
    )
    assert fleet_file.read_text() == before and world.calls == [] and audit_entries(fleet_file) == []


def test_purge_from_target_deletes_only_that_copy_and_keeps_the_backups(
    app: typer.Typer, world: World, fleet_file: Path, tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "purges.jsonl"
    log.parent.mkdir()
    code, out, err = run(
        app, "purge", "initech", "--from-target", "src", "--yes", "--audit-log", str(log), "--file", str(fleet_file)
    )
    assert code == 0, err
    assert world.args_of("openclaw-storage-src") == [["disks", "remove", "initech"]]
    assert world.args_of("openclaw-backup-src") == [] and world.args_of("openclaw-backup-dst") == []
    assert "openclaw-initech-data" in world.volumes["dst"]
    assert tenant(fleet_file, "initech").retained_on == ()
    (entry,) = audit.read(log)
    assert entry["scope"] == "copy"
    assert entry["deleted"][0]["target"] == "src"
    assert entry["deleted"][0]["volume_existed"] is False  # the fake never had initech's volume on src
    assert "purged its copy on target src" in out


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (("--from-target", "old"), "tenant initech holds no earlier copy on target old (retained_on: src)"),
        (("--from-target", "src", "--keep-backups"), "--keep-backups is for a whole purge"),
    ],
)
def test_purge_from_target_refusals(
    app: typer.Typer, world: World, fleet_file: Path, extra: tuple[str, ...], why: str
) -> None:
    code, _, err = run(app, "purge", "initech", *extra, "--yes", "--file", str(fleet_file))
    assert code == 1
    assert why in err
    assert world.calls == []


def test_purge_asks_and_a_no_deletes_nothing(app: typer.Typer, world: World, fleet_file: Path) -> None:
    code, out, _ = run(app, "purge", "vandelay", "--file", str(fleet_file), answer="n\n")
    assert code == 1
    assert (
        "purge tenant vandelay: delete volume openclaw-vandelay-data and disk "
        "/var/lib/openclaw-tenants/disks/src/vandelay.img on target src; volume openclaw-vandelay-state on target "
        "old, forget its 2 snapshots, remove its line? This cannot be undone"
    ) in out
    assert "vandelay" in ids(fleet_file)
    assert "openclaw-vandelay-data" in world.volumes["src"] and audit_entries(fleet_file) == []


def test_a_purge_stopped_half_way_audits_what_it_deleted(app: typer.Typer, world: World, fleet_file: Path) -> None:
    world.missing.add("openclaw-storage-src")
    code, _, err = run(app, "purge", "vandelay", "--yes", "--file", str(fleet_file))
    assert code == 1
    assert "tenant vandelay: purge stopped: the disk agent openclaw-storage-src on target src" in err
    assert "vandelay" in ids(fleet_file)
    (entry,) = audit_entries(fleet_file)
    assert entry["complete"] is False
    assert [d["volume"] for d in entry["deleted"]] == ["openclaw-vandelay-data"]
    assert "openclaw-storage-src" in entry["error"]


def test_a_purge_whose_edit_is_refused_says_the_data_is_gone_and_to_run_it_again(
    app: typer.Typer, world: World, fleet_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: Path, tenant_id: str) -> None:
        raise EditError(f"the lock on {path} is held by another edit")

    real = edit.purge_tenant
    monkeypatch.setattr(edit, "purge_tenant", refuse)
    code, _, err = run(app, "purge", "vandelay", "--yes", "--file", str(fleet_file))
    assert code == 1
    assert err.strip().startswith("tenant vandelay: its data is deleted (audited in ")
    assert err.strip().endswith(
        "failed: the lock on " + str(fleet_file) + " is held by another edit; run the same purge again"
    )
    (entry,) = audit_entries(fleet_file)
    assert entry["complete"] is False and len(entry["deleted"]) == 2
    monkeypatch.setattr(edit, "purge_tenant", real)
    code, _, err = run(app, "purge", "vandelay", "--yes", "--file", str(fleet_file))  # deleting again is harmless
    assert code == 0, err
    assert "vandelay" not in ids(fleet_file)
    assert [e["complete"] for e in audit_entries(fleet_file)] == [False, True]


# --- reaching a target ----------------------------------------------------------------------------


def test_a_tcp_host_needs_client_certificates(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    with pytest.raises(docker_access.AccessError) as caught:
        REAL_CLIENT_FOR("tcp://10.0.0.5:2376", {"DOCKER_CERT_PATH": str(tmp_path)})
    assert str(caught.value) == (
        f"host tcp://10.0.0.5:2376: a tcp:// daemon is reached only over mutual TLS, and {tmp_path} lacks cert.pem, "
        "key.pem; set DOCKER_CERT_PATH to the directory of the daemon's CA (ca.pem) and this machine's client "
        "certificate (cert.pem, key.pem)"
    )


def test_only_unix_ssh_and_tcp_hosts_are_reached() -> None:
    with pytest.raises(docker_access.AccessError, match="unix://, ssh:// or tcp://"):
        REAL_CLIENT_FOR("npipe:////./pipe/docker_engine", {})


def test_a_stopped_agent_is_named_with_the_fix(world: World) -> None:
    client = FakeClient(world, "src")
    stopped = FakeContainer(world, "openclaw-backup-src", "src")
    stopped.status = "exited"
    client.get = lambda name: stopped  # type: ignore[method-assign]
    target = docker_access.TargetDocker("src", "ssh://ops@src", client)  # type: ignore[arg-type]
    with pytest.raises(docker_access.AccessError) as caught:
        target.backups("status")
    assert str(caught.value) == (
        "the backup agent openclaw-backup-src on target src (ssh://ops@src) is exited: deploy the target's shard "
        "to start it"
    )


def test_agent_replies_parse_json_and_explain_failures() -> None:
    bad = docker_access.AgentReply(("backups", "status"), 1, "not json", "warming up\nrestic: wrong password\n")
    assert bad.message == "restic: wrong password"
    with pytest.raises(docker_access.AccessError, match="printed no JSON: restic: wrong password"):
        bad.document()
    assert docker_access.AgentReply(("x",), 0, '{"a": 1}\n{"b": 2}\n', "").lines() == [{"a": 1}, {"b": 2}]


def test_adopt_lifts_the_claim_of_the_disk_on_the_tenants_target_and_audits_it(
    app: typer.Typer, world: World, fleet_file: Path
) -> None:
    code, out, err = run(app, "adopt", "acme", "--yes", "--file", str(fleet_file))
    assert code == 0, err
    assert world.calls == [("openclaw-storage-src", ["disks", "release", "acme"])]
    [entry] = audit.read(fleet_file.parent / "audit.jsonl")
    assert (entry["action"], entry["tenant"], entry["target"]) == ("adopt", "acme", "src")
    assert entry["disk"].endswith("/src/acme.img") and entry["disk"] in out


def test_adopt_asks_first_and_does_nothing_when_refused(app: typer.Typer, world: World, fleet_file: Path) -> None:
    code, _, _ = run(app, "adopt", "acme", "--file", str(fleet_file), answer="n\n")
    assert code == 1 and world.calls == []
    assert not (fleet_file.parent / "audit.jsonl").exists()
