"""The backup agent without Docker or restic: its schedule file, when a tenant is due, retention, the SFTP
connection it builds, status and health, and one tenant's backup against a stand-in daemon and repository."""

from __future__ import annotations

import ast
import json
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from data_agent import backups
from data_agent.backups import Paths
from data_agent.jobs import BACKUP_CAPS, RESTORE_CAPS, TARGET_LABEL, WORKER_LABEL, backup_worker, restore_worker
from data_agent.locking import file_lock
from data_agent.operations import Agent, OperationError, backup_tenant, choose_snapshot, forget_tenant
from data_agent.restic import (
    LOCK_ATTEMPTS,
    Repository,
    RepositoryConfigError,
    Restic,
    ResticError,
    SftpEndpoint,
    connection_options,
    parse_sftp,
    sftp_command,
    ssh_reason,
)
from data_agent.schedule import (
    RETRY_AFTER_S,
    Retention,
    Schedule,
    ScheduleError,
    is_due,
    is_overdue,
    latest_slot,
    parse_schedule,
    slot_offset_s,
)
from data_agent.status import StatusStore, TenantStatus, iso, sync_schedule
from tenants.data_names import KNOWN_HOSTS_ENV, SCHEDULE_VERSION, SSH_KEY_ENV, tenant_tag
from tenants.model import PlanBackup

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400
KEEP = {"last": 1, "daily": 7, "weekly": 4, "monthly": 0}


def schedule_doc(**tenants: dict[str, Any]) -> dict[str, Any]:
    return {"version": SCHEDULE_VERSION, "target": "local", "stop_timeout_s": 30, "max_stop_s": 900, "tenants": tenants}


def tenant_doc(tenant_id: str, every_s: int | None = DAY, **keep: int) -> dict[str, Any]:
    return {
        "container": f"openclaw-{tenant_id}",
        "volume": f"openclaw-{tenant_id}-data",
        "every_s": every_s,
        "keep": {**KEEP, **keep},
    }


# --- the schedule file ------------------------------------------------------------------------------


def test_a_schedule_is_read_with_every_tenant() -> None:
    schedule = parse_schedule(schedule_doc(acme=tenant_doc("acme"), beta=tenant_doc("beta", None)))
    assert (schedule.target, schedule.stop_timeout_s, schedule.max_stop_s) == ("local", 30, 900)
    acme = schedule.tenants["acme"]
    assert (acme.container, acme.volume, acme.every_s) == ("openclaw-acme", "openclaw-acme-data", DAY)
    assert acme.keep == Retention(last=1, daily=7, weekly=4, monthly=0)
    assert schedule.tenants["beta"].every_s is None


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.pop("max_stop_s"), "missing keys ['max_stop_s']"),
        (lambda d: d.update(extra=1), "unknown keys ['extra']"),
        (lambda d: d["tenants"]["acme"].update(every_s=0), "tenants.acme.every_s"),
        (lambda d: d["tenants"]["acme"].update(every_s=True), "tenants.acme.every_s"),
        (lambda d: d["tenants"]["acme"].update(every_s="24h"), "tenants.acme.every_s"),
        (lambda d: d["tenants"]["acme"]["keep"].update(last=0), "tenants.acme.keep.last"),
        (lambda d: d["tenants"]["acme"]["keep"].pop("weekly"), "tenants.acme.keep: missing keys ['weekly']"),
        (lambda d: d["tenants"]["acme"].update(volume=""), "tenants.acme.volume"),
        (lambda d: d["tenants"].update({"Bad_Id": tenant_doc("x")}), "tenants.Bad_Id: not a tenant id"),
    ],
)
def test_a_schedule_that_cannot_be_followed_is_refused_naming_the_key(change: Any, where: str) -> None:
    doc = schedule_doc(acme=tenant_doc("acme"))
    change(doc)
    with pytest.raises(ScheduleError, match=where.replace("[", r"\[").replace("]", r"\]")):
        parse_schedule(doc)


def test_retention_passes_every_kind_that_keeps_something() -> None:
    assert Retention(1, 7, 4, 0).forget_args() == ["--keep-last", "1", "--keep-daily", "7", "--keep-weekly", "4"]
    assert Retention(3, 0, 0, 12).forget_args() == ["--keep-last", "3", "--keep-monthly", "12"]


# --- when a tenant is due ---------------------------------------------------------------------------


def cron_offset_s(cron: str) -> int:
    minute, hour = cron.split()[:2]
    first = [int(field.split("-")[0].split("/")[0]) if field != "*" else 0 for field in (minute, hour)]
    return first[1] * 3600 + first[0] * 60


@pytest.mark.parametrize("every", ["1m", "5m", "15m", "30m", "1h", "2h", "6h", "12h", "24h"])
@pytest.mark.parametrize("tenant_id", ["acme", "beta", "tenant-0042", "zz9"])
def test_a_tenant_backs_up_at_the_minute_its_cluster_cronjob_would(every: str, tenant_id: str) -> None:
    plan = PlanBackup(every=every)
    assert plan.every_s is not None
    cron = plan.cron(tenant_id)
    assert cron is not None
    assert slot_offset_s(tenant_id, plan.every_s) == cron_offset_s(cron)


def test_slots_repeat_every_interval_from_the_offset() -> None:
    offset = slot_offset_s("acme", 3600)
    base = 1_800_000_000 - 1_800_000_000 % 3600
    assert latest_slot(base + offset, "acme", 3600) == base + offset
    assert latest_slot(base + offset - 1, "acme", 3600) == base + offset - 3600
    assert latest_slot(base + offset + 3599, "acme", 3600) == base + offset
    assert 0 <= slot_offset_s("acme", 7) < 7  # any other interval: spread within it


def test_a_new_tenant_waits_for_its_first_slot_then_once_per_slot() -> None:
    every = 3600
    slot = latest_slot(1_800_000_000, "acme", every) + every  # the next slot after 'since'
    since = slot - 10
    assert not is_due(slot - 1, "acme", every, since=since, last_attempt=None, failing=False)
    assert is_due(slot, "acme", every, since=since, last_attempt=None, failing=False)
    assert not is_due(slot + 60, "acme", every, since=since, last_attempt=slot + 1, failing=False)
    assert is_due(slot + every, "acme", every, since=since, last_attempt=slot + 1, failing=False)


def test_a_missed_slot_runs_as_soon_as_the_agent_is_back() -> None:
    slot = latest_slot(1_800_000_000, "acme", DAY)
    assert is_due(slot + 3 * DAY + 5, "acme", DAY, since=slot - DAY, last_attempt=slot - 10, failing=False)


def test_a_failed_backup_is_retried_before_its_next_slot() -> None:
    slot = latest_slot(1_800_000_000, "acme", DAY)
    attempt = slot + 1
    assert not is_due(attempt + RETRY_AFTER_S - 1, "acme", DAY, since=0, last_attempt=attempt, failing=True)
    assert is_due(attempt + RETRY_AFTER_S, "acme", DAY, since=0, last_attempt=attempt, failing=True)
    assert not is_due(attempt + RETRY_AFTER_S, "acme", DAY, since=0, last_attempt=attempt, failing=False)


def test_a_tenant_without_a_schedule_is_never_due_nor_overdue() -> None:
    assert not is_due(1e12, "acme", None, since=0, last_attempt=None, failing=True)
    assert not is_overdue(1e12, None, since=0, last_success=None, max_stop_s=900)


def test_overdue_means_a_slot_was_missed() -> None:
    limit = 2 * DAY + 900
    assert not is_overdue(1000 + limit, DAY, since=1000, last_success=None, max_stop_s=900)
    assert is_overdue(1001 + limit, DAY, since=1000, last_success=None, max_stop_s=900)
    assert not is_overdue(5000 + limit, DAY, since=1000, last_success=5000, max_stop_s=900)
    assert not is_overdue(1e12, DAY, since=None, last_success=None, max_stop_s=900)  # nothing to count from


# --- the repository and restic ----------------------------------------------------------------------


def test_both_sftp_forms_name_the_same_kind_of_endpoint() -> None:
    assert parse_sftp("sftp://backup@nas.example.net:2222//srv/restic") == SftpEndpoint(
        "backup", "nas.example.net", 2222, "/srv/restic"
    )
    assert parse_sftp("sftp://backup@[2001:db8::7]//srv/restic") == SftpEndpoint(
        "backup", "2001:db8::7", 22, "/srv/restic"
    )
    assert parse_sftp("sftp:backup@nas.example.net:/srv/restic") == SftpEndpoint(
        "backup", "nas.example.net", 22, "/srv/restic"
    )
    for bad in ("sftp://nas//srv", "sftp:backup@nas:relative", "sftp://a@b:99999//x"):
        with pytest.raises(RepositoryConfigError):
            parse_sftp(bad)


def test_the_sftp_command_trusts_only_the_configured_key_and_host_key() -> None:
    endpoint = SftpEndpoint("backup", "nas.example.net", 2222, "/srv/restic")
    assert sftp_command(endpoint, "/tmp/k/id", "/tmp/k/known_hosts", "/tmp/k/ssh.log") == (
        "ssh -i /tmp/k/id -o UserKnownHostsFile=/tmp/k/known_hosts -o StrictHostKeyChecking=yes "
        "-o IdentitiesOnly=yes -o BatchMode=yes -E /tmp/k/ssh.log -p 2222 backup@nas.example.net -s sftp"
    )


SFTP_ENV = {
    "RESTIC_REPOSITORY": "sftp://backup@nas.example.net:2222//srv/restic",
    "RESTIC_PASSWORD": "pw",
    SSH_KEY_ENV: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
    KNOWN_HOSTS_ENV: "[nas.example.net]:2222 ssh-ed25519 AAAAC3Nza",
}


def test_the_key_and_known_hosts_exist_only_for_the_command_in_private_files() -> None:
    repository = Repository.from_env(SFTP_ENV)
    with connection_options(repository) as connection:
        options = connection.options
        assert options[0] == "-o"
        command = options[1].removeprefix("sftp.command=").split()
        key, known_hosts = Path(command[command.index("-i") + 1]), Path(command[4].split("=", 1)[1])
        assert key.read_text() == SFTP_ENV[SSH_KEY_ENV] + "\n"
        assert known_hosts.read_text() == SFTP_ENV[KNOWN_HOSTS_ENV] + "\n"
        assert stat.S_IMODE(key.stat().st_mode) == stat.S_IMODE(known_hosts.stat().st_mode) == 0o600
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
        assert command[-5:] == ["-p", "2222", "backup@nas.example.net", "-s", "sftp"]
        assert Path(command[command.index("-E") + 1]) == connection.ssh_log and connection.ssh_log.parent == key.parent
    assert not key.exists() and not key.parent.exists()


def test_repositories_need_their_credentials() -> None:
    with pytest.raises(RepositoryConfigError, match="RESTIC_PASSWORD"):
        Repository.from_env({"RESTIC_REPOSITORY": "/srv/restic"})
    with pytest.raises(RepositoryConfigError, match=KNOWN_HOSTS_ENV):
        Repository.from_env({k: v for k, v in SFTP_ENV.items() if k != KNOWN_HOSTS_ENV})
    with pytest.raises(RepositoryConfigError, match="AWS_SECRET_ACCESS_KEY"):
        Repository.from_env(
            {"RESTIC_REPOSITORY": "s3:https://s3.example.net/b", "RESTIC_PASSWORD": "p", "AWS_ACCESS_KEY_ID": "a"}
        )
    local = Repository.from_env({"RESTIC_REPOSITORY": "/srv/restic", "RESTIC_PASSWORD": "p"})
    assert (local.kind, local.local_path, local.env()) == (
        "local",
        "/srv/restic",
        {"RESTIC_REPOSITORY": "/srv/restic", "RESTIC_PASSWORD": "p"},
    )


@dataclass
class FakeRestic:
    """Stands in for the restic binary: answers by subcommand, records every call."""

    answers: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)
    seen_files: list[bool] = field(default_factory=list)

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(command)
        self.envs.append(kwargs["env"])
        if "-o" in command:
            key = command[command.index("-o") + 1].split()[2]
            self.seen_files.append(Path(key).exists())
        args = [a for a in command if not a.startswith("sftp.command=")]
        subcommand = next(a for a in args[1:] if not a.startswith("-") and a != "/nonexistent")
        queue = self.answers.get(subcommand) or [(0, "", "")]
        code, out, err = queue.pop(0) if len(queue) > 1 else queue[0]
        return subprocess.CompletedProcess(command, code, out, err)


def test_restic_runs_with_the_sftp_command_and_without_the_key_in_its_environment() -> None:
    fake = FakeRestic()
    Restic(Repository.from_env(SFTP_ENV), runner=fake).run(["snapshots", "--json"], 10)
    assert fake.calls[0][:2] == ["restic", "-o"]
    assert fake.calls[0][2].startswith("sftp.command=ssh -i ")
    assert fake.calls[0][3:] == ["--no-cache", "snapshots", "--json"]
    assert fake.seen_files == [True]
    assert SSH_KEY_ENV not in fake.envs[0] and KNOWN_HOSTS_ENV not in fake.envs[0]
    assert fake.envs[0]["RESTIC_REPOSITORY"] == SFTP_ENV["RESTIC_REPOSITORY"]


HOST_KEY_CHANGED = """@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
The fingerprint for the ED25519 key sent by the remote host is
SHA256:1gbnKa4K7zEgOimvoaIXSG5dtq2fR6dNNv4R2udk4rE.
Offending ED25519 key in /tmp/restic-ssh-x/known_hosts:1
Host key for [nas.example.net]:2222 has changed and you have requested strict checking.
Host key verification failed.
"""
SESSION_NOT_STARTED = (
    "Fatal: unable to open repository at sftp://backup@nas.example.net:2222//srv/restic: "
    "unable to start the sftp session, error: EOF\n"
)


def test_ssh_says_why_the_sftp_session_did_not_start() -> None:
    assert ssh_reason(HOST_KEY_CHANGED) == (
        f"ssh: host key verification failed: the sftp server's host key is not in known_hosts ({KNOWN_HOSTS_ENV}): "
        "Host key for [nas.example.net]:2222 has changed (it sent SHA256:1gbnKa4K7zEgOimvoaIXSG5dtq2fR6dNNv4R2udk4rE)"
    )
    unknown = "No ED25519 host key is known for [nas.example.net]:2222 and you have requested strict checking.\n"
    assert ssh_reason(unknown + "Host key verification failed.\n") == (
        f"ssh: host key verification failed: the sftp server's host key is not in known_hosts ({KNOWN_HOSTS_ENV}): "
        "No ED25519 host key is known for [nas.example.net]:2222"
    )
    assert ssh_reason("backup@nas.example.net: Permission denied (publickey).\n") == (
        f"ssh: the sftp server does not accept the key in {SSH_KEY_ENV}: "
        "backup@nas.example.net: Permission denied (publickey)."
    )
    refused = "ssh: connect to host nas.example.net port 2222: Connection refused"
    assert ssh_reason(refused + "\n") == refused
    assert ssh_reason("") is None


def ssh_saying(log: str, stderr: str) -> Any:
    """A restic whose ssh wrote `log` (where the sftp command's -E names) and which failed with `stderr`."""

    def runner(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        ssh = command[command.index("-o") + 1].split()
        Path(ssh[ssh.index("-E") + 1]).write_text(log)
        return subprocess.CompletedProcess(command, 1, "", stderr)

    return runner


def test_a_failed_sftp_session_is_explained_by_what_ssh_said() -> None:
    restic = Restic(Repository.from_env(SFTP_ENV), runner=ssh_saying(HOST_KEY_CHANGED, SESSION_NOT_STARTED))
    with pytest.raises(ResticError) as failed:
        restic.ensure_repository()  # not taken for a missing repository: nothing is initialized on that server
    message = str(failed.value)
    assert message.startswith("ssh: host key verification failed: the sftp server's host key is not in known_hosts")
    assert message.endswith(
        "(unable to open repository at sftp://backup@nas.example.net:2222//srv/restic: "
        "unable to start the sftp session, error: EOF)"
    )
    # restic's own reason stands when ssh is not what failed
    wrong = Restic(
        Repository.from_env(SFTP_ENV),
        runner=ssh_saying("Killed by signal 15.\n", "Fatal: wrong password or no key found\n"),
    )
    with pytest.raises(ResticError, match=r"^wrong password or no key found$"):
        wrong.snapshots("acme")


LOCAL = Repository("/srv/restic", "pw", "local")
LOCKED = (1, "", "unable to create lock in backend: repository is already locked exclusively by PID 7")


def test_restic_waits_out_another_agents_lock_a_bounded_number_of_times() -> None:
    naps: list[float] = []
    fake = FakeRestic({"forget": [LOCKED, LOCKED, (0, "", "")]})
    Restic(LOCAL, runner=fake, sleep=naps.append).forget_snapshots(["abc"])
    assert len(fake.calls) == 3 and len(naps) == 2
    stuck = FakeRestic({"forget": [LOCKED]})
    with pytest.raises(ResticError, match="already locked"):
        Restic(LOCAL, runner=stuck, sleep=naps.append).forget_snapshots(["abc"])
    assert len(stuck.calls) == LOCK_ATTEMPTS


def test_a_missing_repository_is_initialized_and_a_wrong_password_is_an_error() -> None:
    missing = (1, "", "Fatal: unable to open config file: stat /srv/restic/config\nIs there a repository at the ...")
    fake = FakeRestic({"cat": [missing]})
    assert Restic(LOCAL, runner=fake).ensure_repository() is True
    assert [c[-1] for c in fake.calls] == ["config", "init"]
    wrong = FakeRestic({"cat": [(1, "", "Fatal: wrong password or no key found\n")]})
    with pytest.raises(ResticError, match=r"^wrong password or no key found$"):
        Restic(LOCAL, runner=wrong).ensure_repository()
    assert [c[-1] for c in wrong.calls] == ["config"]


def test_a_repository_another_agent_initialised_first_is_used_as_it_is() -> None:
    missing = (1, "", "Fatal: unable to open config file: stat /srv/restic/config\nIs there a repository at the ...")
    taken = (1, "", "Fatal: create repository at /srv/restic failed: config file already exists\n")
    fake = FakeRestic({"cat": [missing, (0, "{}", "")], "init": [taken]})
    assert Restic(LOCAL, runner=fake).ensure_repository() is False
    assert [c[-1] for c in fake.calls] == ["config", "init", "config"]
    broken = FakeRestic({"cat": [missing, missing], "init": [(1, "", "Fatal: permission denied\n")]})
    with pytest.raises(ResticError, match="permission denied"):
        Restic(LOCAL, runner=broken).ensure_repository()


def test_retention_forgets_over_all_of_the_tenants_snapshots_as_one_group() -> None:
    fake = FakeRestic()
    Restic(LOCAL, runner=fake, cache_dir="/var/lib/openclaw-backup/restic-cache").apply_retention(
        "acme", Retention(1, 7, 4, 0)
    )
    assert fake.calls[0] == [
        "restic",
        "--cache-dir",
        "/var/lib/openclaw-backup/restic-cache",
        "forget",
        "--tag",
        tenant_tag("acme"),
        "--group-by",
        "",
        "--keep-last",
        "1",
        "--keep-daily",
        "7",
        "--keep-weekly",
        "4",
        "--prune",
    ]


# --- workers ----------------------------------------------------------------------------------------


def test_a_backup_worker_reads_the_volume_read_only_with_one_capability() -> None:
    spec = backup_worker(
        "openclaw-local/data-agent:0.14.0-1", LOCAL, target="local", tenant_id="acme", volume="v", timeout_s=900
    )
    kwargs = spec.create_kwargs()
    assert kwargs["volumes"] == {
        "v": {"bind": "/tenant", "mode": "ro"},
        "/srv/restic": {"bind": "/srv/restic", "mode": "rw"},
    }
    assert (kwargs["cap_drop"], kwargs["cap_add"], kwargs["user"]) == (["ALL"], list(BACKUP_CAPS), "root")
    assert kwargs["security_opt"] == ["no-new-privileges:true"]
    assert (kwargs["network_mode"], kwargs["read_only"]) == ("host", True)
    assert kwargs["labels"] == {WORKER_LABEL: "acme", TARGET_LABEL: "local"}
    assert kwargs["entrypoint"] == ["python3", "-m", "data_agent.worker"]
    assert kwargs["command"][:5] == ["backup", "--tenant", "acme", "--path", "/tenant"]


def test_a_restore_worker_writes_where_the_snapshots_path_lands() -> None:
    snapshot = {"id": "f" * 64, "short_id": "ffffffff", "paths": ["/data"]}
    spec = restore_worker("img", LOCAL, target="local", tenant_id="acme", volume="v", snapshot=snapshot, timeout_s=60)
    kwargs = spec.create_kwargs()
    assert kwargs["volumes"]["v"] == {"bind": "/restore/data", "mode": "rw"}
    assert kwargs["cap_add"] == list(RESTORE_CAPS)
    assert kwargs["command"][:7] == ["restore", "--snapshot", "f" * 64, "--root", "/restore", "--path", "/data"]
    for paths in (["/a", "/b"], ["/../etc"], ["relative"]):
        with pytest.raises(RuntimeError, match="not one path"):
            restore_worker(
                "img",
                LOCAL,
                target="t",
                tenant_id="acme",
                volume="v",
                snapshot={**snapshot, "paths": paths},
                timeout_s=1,
            )


def test_only_the_tenants_own_snapshots_can_be_restored() -> None:
    own = [{"id": "aaaa1111" + "0" * 56, "short_id": "aaaa1111"}, {"id": "bbbb2222" + "0" * 56, "short_id": "bbbb2222"}]
    assert choose_snapshot("acme", own, None) is own[-1]
    assert choose_snapshot("acme", own, "aaaa1111") is own[0]
    with pytest.raises(OperationError, match="is not one of acme's snapshots"):
        choose_snapshot("acme", own, "cccc3333")  # beta's snapshot id: never restored into acme
    with pytest.raises(OperationError, match="acme has no snapshots"):
        choose_snapshot("acme", [], None)


# --- one tenant's backup against a stand-in daemon --------------------------------------------------


@dataclass
class FakeContainer:
    name: str
    status: str
    log: list[str]
    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    runs_forever: bool = False
    attrs: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)

    def stop(self, timeout: int) -> None:
        self.log.append(f"stop {self.name} {timeout}")
        self.status = "exited"

    def start(self) -> None:
        self.log.append(f"start {self.name}")
        self.status = "running"

    def reload(self) -> None:
        if self.name == "worker" and not self.runs_forever:
            self.status = "exited"
        self.attrs = {"State": {"ExitCode": self.exit_code}}

    def logs(self, stdout: bool, stderr: bool) -> bytes:
        return (self.stdout if stdout else self.stderr).encode()

    def remove(self, force: bool) -> None:
        self.log.append(f"remove {self.name}")


@dataclass
class FakeContainers:
    gateways: dict[str, FakeContainer]
    worker: FakeContainer

    def get(self, name: str) -> FakeContainer:
        if name not in self.gateways:
            raise docker.errors.NotFound(name)
        return self.gateways[name]

    def list(self, all: bool, filters: dict[str, Any]) -> list[FakeContainer]:
        return []

    def create(self, **kwargs: Any) -> FakeContainer:
        self.worker.log.append("create worker")
        self.worker.kwargs = kwargs
        return self.worker


@dataclass
class FakeVolumes:
    names: set[str]

    def get(self, name: str) -> str:
        if name not in self.names:
            raise docker.errors.NotFound(name)
        return name


@dataclass
class FakeDocker:
    containers: FakeContainers
    volumes: FakeVolumes


class Ticking:
    """A monotonic clock that moves `step` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def make_agent(
    tmp_path: Path, *, running: bool, worker: FakeContainer, restic: FakeRestic, step: float = 1.0
) -> tuple[Agent, FakeDocker, list[str]]:
    log = worker.log
    gateway = FakeContainer("openclaw-acme", "running" if running else "exited", log)
    client = FakeDocker(FakeContainers({"openclaw-acme": gateway}, worker), FakeVolumes({"openclaw-acme-data"}))
    schedule = parse_schedule(schedule_doc(acme=tenant_doc("acme")))
    agent = Agent(
        client,  # type: ignore[arg-type]
        Restic(LOCAL, runner=restic, sleep=lambda _: None),
        "img",
        schedule,
        StatusStore(tmp_path / "status.json"),
        tmp_path / "agent.lock",
        clock=lambda: 1_800_000_000.0,
        monotonic=Ticking(step),
    )
    return agent, client, log


def ok_worker(log: list[str]) -> FakeContainer:
    return FakeContainer("worker", "created", log, stdout='{"snapshot": "5a4f1200", "bytes_added": 1404}\n')


def test_a_running_gateway_is_stopped_for_the_snapshot_and_started_again(tmp_path: Path) -> None:
    log: list[str] = []
    restic = FakeRestic()
    agent, client, _ = make_agent(tmp_path, running=True, worker=ok_worker(log), restic=restic)
    result = backup_tenant(agent, agent.schedule.tenants["acme"])
    assert result["ok"] is True, result
    assert (result["snapshot"], result["bytes_added"], result["error"]) == ("5a4f1200", 1404, None)
    assert result["unavailable_s"] > 0
    assert log == ["stop openclaw-acme 30", "create worker", "start worker", "remove worker", "start openclaw-acme"]
    assert client.containers.gateways["openclaw-acme"].status == "running"
    assert client.containers.worker.kwargs["volumes"]["openclaw-acme-data"] == {"bind": "/tenant", "mode": "ro"}
    assert [c[c.index("--no-cache") + 1] for c in restic.calls] == ["cat", "forget"]  # retention after the start
    status = agent.status.load()["acme"]
    assert (status.failing, status.last_snapshot, status.stopped) == (False, "5a4f1200", None)
    assert status.last_success == status.last_attempt == 1_800_000_000.0


def test_a_gateway_that_was_not_running_is_left_alone(tmp_path: Path) -> None:
    log: list[str] = []
    agent, client, _ = make_agent(tmp_path, running=False, worker=ok_worker(log), restic=FakeRestic())
    result = backup_tenant(agent, agent.schedule.tenants["acme"])
    assert result["ok"] is True and result["unavailable_s"] == 0.0
    assert log == ["create worker", "start worker", "remove worker"]
    assert client.containers.gateways["openclaw-acme"].status == "exited"


def test_a_failed_snapshot_still_starts_the_gateway_and_is_recorded_failing(tmp_path: Path) -> None:
    log: list[str] = []
    worker = FakeContainer("worker", "created", log, exit_code=1, stderr="backup: wrong password or no key found\n")
    agent, _, _ = make_agent(tmp_path, running=True, worker=worker, restic=FakeRestic())
    result = backup_tenant(agent, agent.schedule.tenants["acme"])
    assert (result["ok"], result["snapshot"]) == (False, None)
    assert result["error"] == "backup: wrong password or no key found"
    assert log[-1] == "start openclaw-acme"
    status = agent.status.load()["acme"]
    assert (status.failing, status.last_error, status.last_success) == (True, result["error"], None)


def test_a_snapshot_that_keeps_the_gateway_down_past_max_stop_is_aborted(tmp_path: Path) -> None:
    log: list[str] = []
    worker = FakeContainer("worker", "created", log, runs_forever=True)
    agent, _, _ = make_agent(tmp_path, running=True, worker=worker, restic=FakeRestic(), step=100.0)
    result = backup_tenant(agent, agent.schedule.tenants["acme"])
    assert result["ok"] is False
    assert "aborted after max_stop_s=900s" in result["error"]
    assert log[-2:] == ["remove worker", "start openclaw-acme"]


def test_no_gateway_is_stopped_for_a_repository_that_cannot_take_the_snapshot(tmp_path: Path) -> None:
    log: list[str] = []
    broken = FakeRestic({"cat": [(1, "", "Fatal: wrong password or no key found")]})
    agent, _, _ = make_agent(tmp_path, running=True, worker=ok_worker(log), restic=broken)
    result = backup_tenant(agent, agent.schedule.tenants["acme"])
    assert (result["ok"], result["error"]) == (False, "wrong password or no key found")
    assert log == []


def test_forget_leaves_no_snapshot_under_the_tenants_tag(tmp_path: Path) -> None:
    snapshots = json.dumps([{"id": "a" * 64, "short_id": "aaaaaaaa", "time": "2026-01-01T00:00:00Z"}])
    fake = FakeRestic({"snapshots": [(0, snapshots, ""), (0, "[]", "")]})
    store = StatusStore(tmp_path / "status.json")
    store.record("acme", lambda s: setattr(s, "failing", True))
    lock = file_lock(tmp_path / "agent.lock", 5, "test")
    result = forget_tenant(Restic(LOCAL, runner=fake), store, lock, "acme", None)
    assert result == {"tenant": "acme", "ok": True, "forgotten": 1, "snapshots": ["aaaaaaaa"]}
    assert fake.calls[1][-3:] == ["forget", "--prune", "a" * 64]
    assert store.load() == {}


# --- status and health ------------------------------------------------------------------------------


@pytest.fixture
def agent_files(tmp_path: Path) -> Iterator[Paths]:
    paths = Paths(schedule=tmp_path / "schedule.json", status=tmp_path / "state" / "status.json")
    paths.schedule.write_text(json.dumps(schedule_doc(acme=tenant_doc("acme"), beta=tenant_doc("beta"))))
    yield paths


def run_cli(paths: Paths, argv: Sequence[str], now: float, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = backups.main(list(argv), paths=paths, environ={}, clock=lambda: now)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_status_is_written_whole_and_read_back(tmp_path: Path) -> None:
    store = StatusStore(tmp_path / "status.json")
    store.record("acme", lambda s: setattr(s, "last_success", 1_800_000_000.0))
    doc = json.loads((tmp_path / "status.json").read_text())
    assert doc["tenants"]["acme"]["last_success"] == iso(1_800_000_000.0) == "2027-01-15T08:00:00Z"
    assert store.load()["acme"] == TenantStatus(last_success=1_800_000_000.0)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".status.")] == []


def test_health_names_every_failing_and_overdue_tenant(agent_files: Paths, capsys: pytest.CaptureFixture[str]) -> None:
    now = 1_800_000_000.0
    schedule = parse_schedule(json.loads(agent_files.schedule.read_text()))
    store = StatusStore(agent_files.status)
    store.update(lambda known: sync_schedule(known, schedule, now - 3 * DAY))
    store.record("acme", lambda s: setattr(s, "last_success", now - 3600))
    code, report, err = run_cli(agent_files, ["health"], now, capsys)
    assert (code, report) == (1, {"healthy": False, "failing": [], "overdue": ["beta"]})
    assert err.strip() == "backups unhealthy: overdue: beta"

    def failed(s: TenantStatus) -> None:
        s.failing, s.last_error, s.last_success = True, "wrong password or no key found", now - 60

    store.record("acme", failed)
    store.record("beta", lambda s: setattr(s, "last_success", now - 60))
    code, report, err = run_cli(agent_files, ["health"], now, capsys)
    assert (code, report["failing"], report["overdue"]) == (1, ["acme"], [])
    assert err.strip() == "backups unhealthy: failing: acme"

    code, report, _ = run_cli(agent_files, ["status", "acme"], now, capsys)
    assert code == 0
    assert report == {
        "acme": {
            "last_success": iso(now - 60),
            "last_snapshot": None,
            "last_attempt": None,
            "last_error": "wrong password or no key found",
            "failing": True,
            "every_s": DAY,
            "overdue": False,
        }
    }
    store.record("acme", lambda s: setattr(s, "failing", False))
    code, report, err = run_cli(agent_files, ["health"], now, capsys)
    assert (code, report, err) == (0, {"healthy": True, "failing": [], "overdue": []}, "")


def test_status_of_a_tenant_the_agent_does_not_know_exits_4(
    agent_files: Paths, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, err = run_cli(agent_files, ["status", "gamma"], 0.0, capsys)
    assert (code, report) == (4, None)
    assert "gamma is not in this agent's schedule" in err
    code, _, err = run_cli(agent_files, ["run"], 0.0, capsys)
    assert code == 2 and "name tenants or --all" in err


def test_serve_stops_at_once_without_a_repository_or_its_own_image(
    agent_files: Paths, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(agent_files, ["serve"], 0.0, capsys)
    assert code == 1 and err.startswith("repository: RESTIC_REPOSITORY and RESTIC_PASSWORD must both be set")
    environ = {"RESTIC_REPOSITORY": "/srv/restic", "RESTIC_PASSWORD": "pw"}
    assert backups.main(["serve"], paths=agent_files, environ=environ) == 1
    assert "OPENCLAW_DATA_AGENT_IMAGE must name" in capsys.readouterr().err


def test_a_changed_interval_starts_counting_afresh(tmp_path: Path) -> None:
    tenants: dict[str, TenantStatus] = {}
    daily = parse_schedule(schedule_doc(acme=tenant_doc("acme")))
    sync_schedule(tenants, daily, 100.0)
    sync_schedule(tenants, daily, 200.0)
    assert (tenants["acme"].since, tenants["acme"].every_s) == (100.0, DAY)
    hourly: Schedule = parse_schedule(schedule_doc(acme=tenant_doc("acme", 3600)))
    sync_schedule(tenants, hourly, 300.0)
    assert (tenants["acme"].since, tenants["acme"].every_s) == (300.0, 3600)


# --- what the image carries -------------------------------------------------------------------------


def test_the_agent_imports_only_the_stdlib_the_docker_sdk_and_the_names_it_shares() -> None:
    allowed = set(sys.stdlib_module_names) | {"docker", "data_agent"}
    wrong: dict[str, list[str]] = {}
    for path in sorted((ROOT / "data_agent").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            bad = [n for n in names if n.split(".")[0] not in allowed and n != "tenants.data_names"]
            if bad:
                wrong[path.name] = bad
    assert wrong == {}
