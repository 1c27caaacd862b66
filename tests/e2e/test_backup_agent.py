"""The backup agent's image on the local engine, started as a Docker target's agent is: the daemon's socket,
the host's network, a local repository bind-mounted at its own path, a state volume and a schedule file. Its
one tenant is a plain long-running container of the same image with a named volume.

Backups stop the tenant's container and start it again, restores bring back what was deleted (owners and
modes included), purges leave nothing, a wrong password fails loudly (exit codes, status, health), and the
serve loop takes a scheduled backup on its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

from harness.backup_rig import BackupRig, backup_tenant, backups, ok_json
from harness.waiting import wait_until

PREFIX = "octest-backup-"
TENANT = "acme"
TENANT_UID = 2000000001  # the tenant's files belong to its own host uid, mode 0700/0600: workers need capabilities
PASSWORD = "octest-backup-password"
KEEP = {"last": 1, "daily": 7, "weekly": 4, "monthly": 0}
MAX_STOP_S = 120
SCHEDULED_WAIT_S = 240.0  # one 60 s slot, a 15 s loop and the backup itself, with room to spare


@dataclass
class Rig(BackupRig):
    repository: Path

    def start_agent(self, role: str, password: str) -> Container:
        """A local repository, bind-mounted at its own path as the program does."""
        environment = {"RESTIC_REPOSITORY": str(self.repository), "RESTIC_PASSWORD": password}
        return self.run_agent(role, ["serve"], environment, binds={str(self.repository): str(self.repository)})


@pytest.fixture(scope="module")
def rig(engine: docker.DockerClient, images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    run = uuid.uuid4().hex[:8]
    base = tmp_path_factory.mktemp("backup-agent")
    repository, schedule_dir = base / "repository", base / "schedule"
    repository.mkdir()
    schedule_dir.mkdir()
    image = images["data_agent"]
    with backup_tenant(engine, image, PREFIX, run) as (tenant, volume):
        rig = Rig(engine, image, PREFIX, run, schedule_dir, tenant, volume, TENANT, KEEP, MAX_STOP_S, repository)
        rig.write_schedule(None)
        yield rig


@pytest.fixture(scope="module")
def agent(rig: Rig) -> Container:
    agent = rig.start_agent("agent", PASSWORD)
    # serve initializes the repository on its first loop
    wait_until((rig.repository / "config").exists, 60.0)
    return agent


def write_tenant_files(rig: Rig) -> None:
    rig.tenant_sh(
        "mkdir -p /data/state/sessions && echo 'the customer state' > /data/state/config.json && "
        "echo 'a session' > /data/state/sessions/one.jsonl && "
        f"chown -R {TENANT_UID}:{TENANT_UID} /data/state && chmod 0700 /data/state /data/state/sessions && "
        "chmod 0600 /data/state/config.json /data/state/sessions/one.jsonl"
    )


def test_run_takes_a_snapshot_with_the_gateway_stopped_and_started_again(rig: Rig, agent: Container) -> None:
    write_tenant_files(rig)
    before = rig.started_at()
    code, out, err = backups(agent, "run", TENANT)
    assert code == 0, err
    result = json.loads(out)
    assert (result["tenant"], result["ok"], result["error"]) == (TENANT, True, None)
    assert result["unavailable_s"] > 0 and result["bytes_added"] > 0
    assert rig.started_at() != before  # stopped for the snapshot, running again after it

    snapshots = ok_json(agent, "snapshots", TENANT)
    assert [s["short_id"] for s in snapshots][-1] == result["snapshot"]
    assert snapshots[-1]["paths"] == ["/tenant"]
    assert set(snapshots[-1]["tags"]) == {"openclaw-tenants", f"tenant={TENANT}"}
    status = ok_json(agent, "status", TENANT)[TENANT]
    assert (status["failing"], status["last_snapshot"]) == (False, result["snapshot"])
    assert backups(agent, "health")[0] == 0


def test_restore_brings_back_deleted_files_with_their_owners(rig: Rig, agent: Container) -> None:
    write_tenant_files(rig)
    assert backups(agent, "run", TENANT)[0] == 0
    rig.tenant_sh("rm -rf /data/state && echo 'written after the snapshot' > /data/stray")
    result = ok_json(agent, "restore", TENANT)
    assert (result["ok"], result["error"]) == (True, None)
    listing = rig.tenant_sh(
        "cat /data/state/config.json /data/state/sessions/one.jsonl; "
        "stat -c '%u %a %n' /data/state /data/state/config.json; ls /data"
    )
    assert listing.splitlines() == [
        "the customer state",
        "a session",
        f"{TENANT_UID} 700 /data/state",
        f"{TENANT_UID} 600 /data/state/config.json",
        "state",
    ]
    rig.started_at()


def test_restore_refuses_a_snapshot_that_is_not_the_tenants(agent: Container) -> None:
    code, out, err = backups(agent, "restore", TENANT, "--snapshot", "0123abcd")
    assert code == 1
    assert "is not one of acme's snapshots" in err
    assert json.loads(out)["ok"] is False


def test_forget_removes_every_snapshot_of_the_tenant(rig: Rig, agent: Container) -> None:
    assert backups(agent, "run", TENANT)[0] == 0
    assert ok_json(agent, "snapshots", TENANT)
    result = ok_json(agent, "forget", TENANT)
    assert result["ok"] is True and result["forgotten"] >= 1
    assert ok_json(agent, "snapshots", TENANT) == []


def test_a_wrong_password_fails_the_backup_the_status_and_the_health(rig: Rig, agent: Container) -> None:
    wrong = rig.start_agent("badpw", "not-the-password")
    before = rig.started_at()
    code, out, err = backups(wrong, "run", TENANT)
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False and "wrong password" in result["error"]
    assert "backups failed: acme" in err
    assert rig.started_at() == before  # the repository was checked before the gateway was stopped
    status = ok_json(wrong, "status")[TENANT]
    assert status["failing"] is True and "wrong password" in status["last_error"]
    code, out, err = backups(wrong, "health")
    assert code == 1 and json.loads(out)["failing"] == [TENANT]
    assert "failing: acme" in err


def test_serve_takes_a_scheduled_backup(rig: Rig, agent: Container) -> None:
    rig.write_schedule(60)

    def scheduled() -> bool:
        return ok_json(agent, "status", TENANT)[TENANT]["last_snapshot"] is not None

    wait_until(scheduled, SCHEDULED_WAIT_S, interval_s=3.0)
    status = ok_json(agent, "status", TENANT)[TENANT]
    assert (status["failing"], status["every_s"], status["overdue"]) == (False, 60, False)
    assert [s["short_id"] for s in ok_json(agent, "snapshots", TENANT)][-1] == status["last_snapshot"]
    events = [json.loads(line) for line in agent.logs(stdout=True, stderr=False).decode().splitlines()]
    assert any(e.get("event") == "backup" and e["snapshot"] == status["last_snapshot"] for e in events)
    rig.started_at()
    rig.write_schedule(None)
