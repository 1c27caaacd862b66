"""The backup agent's image on the local engine with an SFTP repository: a real OpenSSH server of the test's
own on 127.0.0.1 (harness/sftp_server.py), its host key pinned in known_hosts, its user reached with a key of
its own. The agent's container is made as the program makes a Docker target's (tenants/data_agent_specs.py):
the daemon's socket, the host's network, no capability, a state volume, a schedule file, and the repository
only in its environment.

`backups run` initializes the repository and snapshots the tenant's volume over SFTP (the files land under
the server user's path, owned by it, and none of them holds the tenant's data in the clear); `snapshots`
lists the snapshot and `restore` brings deleted files back; a server whose host key is not the pinned one
fails the backup with a message that says so, and the tenant's container is never stopped for it.
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
from harness.sftp_server import SftpServer, SftpServerError, keygen, sftp_server
from tenants.data_names import KNOWN_HOSTS_ENV, SSH_KEY_ENV

PREFIX = "octest-sftp-"
TENANT = "acme"
TENANT_UID = 2000000001  # the tenant's files are its own host uid's, mode 0700/0600
PASSWORD = "octest-sftp-password"
KEEP = {"last": 1, "daily": 7, "weekly": 4, "monthly": 0}
MAX_STOP_S = 300
RUN_S = 600  # one `backups run` in a container of its own: init, a worker, retention


@dataclass
class Rig(BackupRig):
    server: SftpServer
    marker: str  # in a file name and a file's content of the tenant: never in the repository in the clear

    @property
    def repository(self) -> Path:
        """On the server's file system, under its user's home."""
        return self.server.home / "restic"

    def environment(self, known_hosts: str) -> dict[str, str]:
        """An sftp repository's, as the program passes it: the key and the pinned host key inline."""
        return {
            "RESTIC_REPOSITORY": self.server.url(self.repository),
            "RESTIC_PASSWORD": PASSWORD,
            SSH_KEY_ENV: self.server.client_key,
            KNOWN_HOSTS_ENV: known_hosts,
        }

    def start_agent(self, role: str, known_hosts: str) -> Container:
        return self.run_agent(role, ["serve"], self.environment(known_hosts))

    def run_once(self, *args: str) -> tuple[int, str, str]:
        """`backups ARGS` as the only command of the agent's container (its state volume, before it serves):
        nothing else reaches the repository meanwhile."""
        container = self.run_agent("once", args, self.environment(self.server.known_hosts), state_of="agent")
        code = int(container.wait(timeout=RUN_S)["StatusCode"])
        out = container.logs(stdout=True, stderr=False).decode()
        err = container.logs(stdout=False, stderr=True).decode()
        return code, out, err

    def repository_files(self) -> list[Path]:
        return sorted(p for p in self.repository.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def rig(engine: docker.DockerClient, images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    run = uuid.uuid4().hex[:8]
    schedule_dir = tmp_path_factory.mktemp("backup-sftp-schedule")
    image = images["data_agent"]
    try:
        with sftp_server(f"{PREFIX}{run}") as server, backup_tenant(engine, image, PREFIX, run) as (tenant, volume):
            marker = uuid.uuid4().hex
            rig = Rig(
                engine, image, PREFIX, run, schedule_dir, tenant, volume, TENANT, KEEP, MAX_STOP_S, server, marker
            )
            rig.write_schedule()
            yield rig
    except SftpServerError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def agent(rig: Rig) -> Container:
    return rig.start_agent("agent", rig.server.known_hosts)


def write_tenant_files(rig: Rig) -> None:
    rig.tenant_sh(
        f"mkdir -p /data/state/sessions && echo 'the customer state {rig.marker}' > /data/state/config.json && "
        f"echo 'a session' > /data/state/sessions/{rig.marker}.jsonl && "
        f"chown -R {TENANT_UID}:{TENANT_UID} /data/state && chmod 0700 /data/state /data/state/sessions && "
        f"chmod 0600 /data/state/config.json /data/state/sessions/{rig.marker}.jsonl"
    )


def test_run_initializes_the_repository_over_sftp_and_snapshots_the_volume_encrypted(rig: Rig) -> None:
    assert not rig.repository.exists()
    write_tenant_files(rig)
    before = rig.started_at()
    code, out, err = rig.run_once("run", TENANT)
    assert code == 0, f"{err}\n--- sshd:\n{rig.server.messages()[-3000:]}"
    result = json.loads(out)
    assert (result["tenant"], result["ok"], result["error"]) == (TENANT, True, None)
    assert result["snapshot"] and result["bytes_added"] > 0
    assert rig.started_at() != before  # stopped for the snapshot, running again after it

    files = rig.repository_files()
    assert (rig.repository / "config").is_file()
    assert len(list((rig.repository / "snapshots").iterdir())) == 1
    assert list((rig.repository / "data").rglob("*")), "no data packs"
    assert {path.stat().st_uid for path in [rig.repository, *files]} == {rig.server.uid}  # written over SFTP
    marker = rig.marker.encode()
    assert not [path for path in files if marker in path.read_bytes() or rig.marker in str(path)]
    assert not [path for path in files if b"the customer state" in path.read_bytes()]


def test_snapshots_lists_it_and_restore_brings_deleted_files_back(rig: Rig, agent: Container) -> None:
    snapshots = ok_json(agent, "snapshots", TENANT)
    assert len(snapshots) == 1
    assert snapshots[0]["paths"] == ["/tenant"]
    assert set(snapshots[0]["tags"]) == {"openclaw-tenants", f"tenant={TENANT}"}
    status = ok_json(agent, "status", TENANT)[TENANT]  # the state volume kept what `run` recorded
    assert (status["failing"], status["last_snapshot"]) == (False, snapshots[0]["short_id"])

    rig.tenant_sh("rm -rf /data/state && echo 'written after the snapshot' > /data/stray")
    result = ok_json(agent, "restore", TENANT)
    assert (result["ok"], result["error"]) == (True, None)
    assert result["snapshot"] == snapshots[0]["id"]
    listing = rig.tenant_sh(
        f"cat /data/state/config.json /data/state/sessions/{rig.marker}.jsonl; "
        "stat -c '%u %a %n' /data/state /data/state/config.json; ls /data"
    )
    assert listing.splitlines() == [
        f"the customer state {rig.marker}",
        "a session",
        f"{TENANT_UID} 700 /data/state",
        f"{TENANT_UID} 600 /data/state/config.json",
        "state",
    ]
    rig.started_at()


def test_a_server_that_is_not_the_pinned_host_fails_the_backup_and_never_stops_the_tenant(
    rig: Rig, agent: Container, tmp_path: Path
) -> None:
    impostor = rig.server.known_hosts_of(keygen(tmp_path / "other_host_key", "not the server"))
    wrong = rig.start_agent("wronghost", impostor)
    snapshots_before = sorted((rig.repository / "snapshots").iterdir())
    before = rig.started_at()

    code, out, err = backups(wrong, "run", TENANT)
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False and result["snapshot"] is None
    error = result["error"]
    assert error.startswith("ssh: host key verification failed: the sftp server's host key is not in known_hosts")
    assert f"Host key for [127.0.0.1]:{rig.server.port} has changed" in error
    assert "backups failed: acme" in err
    assert rig.started_at() == before  # the repository was checked before the gateway was stopped
    assert sorted((rig.repository / "snapshots").iterdir()) == snapshots_before

    status = ok_json(wrong, "status")[TENANT]
    assert status["failing"] is True and "host key verification failed" in status["last_error"]
    code, out, err = backups(wrong, "health")
    assert code == 1 and json.loads(out)["failing"] == [TENANT]
    # The right agent is untouched by it.
    assert len(ok_json(agent, "snapshots", TENANT)) == 1
