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
from typing import Any, cast

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from data_agent.jobs import TARGET_LABEL
from harness.sftp_server import SftpServer, SftpServerError, keygen, sftp_server
from tenants.data_names import (
    AGENT_IMAGE_ENV,
    BACKUP_STATE_DIR,
    DATA_AGENT_COMMAND,
    KNOWN_HOSTS_ENV,
    SCHEDULE_DIR,
    SCHEDULE_PATH,
    SCHEDULE_VERSION,
    SSH_KEY_ENV,
)

PREFIX = "octest-sftp-"
TENANT = "acme"
TENANT_UID = 2000000001  # the tenant's files are its own host uid's, mode 0700/0600
PASSWORD = "octest-sftp-password"
KEEP = {"last": 1, "daily": 7, "weekly": 4, "monthly": 0}
RUN_S = 600  # one `backups run` in a container of its own: init, a worker, retention


@dataclass
class Rig:
    engine: docker.DockerClient
    run: str
    image: str
    server: SftpServer
    repository: Path  # on the server's file system, under its user's home
    schedule_dir: Path
    tenant: Container
    volume: str
    marker: str  # in a file name and a file's content of the tenant: never in the repository in the clear

    @property
    def target(self) -> str:
        return f"{PREFIX}{self.run}"

    def write_schedule(self) -> None:
        doc = {
            "version": SCHEDULE_VERSION,
            "target": self.target,
            "stop_timeout_s": 5,
            "max_stop_s": 300,
            "tenants": {TENANT: {"container": self.tenant.name, "volume": self.volume, "every_s": None, "keep": KEEP}},
        }
        (self.schedule_dir / Path(SCHEDULE_PATH).name).write_text(json.dumps(doc))

    def agent_kwargs(self, role: str, known_hosts: str, state_of: str) -> dict[str, Any]:
        """A Docker target's backup agent as backup_agent_spec makes it, for an sftp repository, with the
        state volume of agent `state_of`."""
        state = f"{PREFIX}{state_of}-state-{self.run}"
        try:
            self.engine.volumes.get(state)
        except docker.errors.NotFound:
            self.engine.volumes.create(state, labels={TARGET_LABEL: self.target})
        return {
            "name": f"{PREFIX}{role}-{self.run}",
            "detach": True,
            "user": "0:0",
            "network_mode": "host",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "init": True,
            "tmpfs": {"/tmp": "rw,noexec,nosuid,size=64m"},
            "environment": {
                "RESTIC_REPOSITORY": self.server.url(self.repository),
                "RESTIC_PASSWORD": PASSWORD,
                SSH_KEY_ENV: self.server.client_key,
                KNOWN_HOSTS_ENV: known_hosts,
                AGENT_IMAGE_ENV: self.image,
            },
            "volumes": {
                "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                str(self.schedule_dir): {"bind": SCHEDULE_DIR, "mode": "ro"},
                state: {"bind": BACKUP_STATE_DIR, "mode": "rw"},
            },
            "labels": {TARGET_LABEL: self.target},
        }

    def start_agent(self, role: str, known_hosts: str) -> Container:
        agent: Container = self.engine.containers.run(
            self.image, ["backups", "serve"], **self.agent_kwargs(role, known_hosts, role)
        )
        return agent

    def run_once(self, *args: str) -> tuple[int, str, str]:
        """`backups ARGS` as the only command of the agent's container (its state volume, before it serves):
        nothing else reaches the repository meanwhile."""
        container = self.engine.containers.run(
            self.image, ["backups", *args], **self.agent_kwargs("once", self.server.known_hosts, "agent")
        )
        code = int(container.wait(timeout=RUN_S)["StatusCode"])
        out = container.logs(stdout=True, stderr=False).decode()
        err = container.logs(stdout=False, stderr=True).decode()
        return code, out, err

    def tenant_sh(self, script: str) -> str:
        code, output = self.tenant.exec_run(["sh", "-ec", script])
        assert isinstance(output, bytes)
        text = output.decode(errors="replace")
        assert code == 0, text
        return text

    def started_at(self) -> str:
        self.tenant.reload()
        assert self.tenant.status == "running"
        return str(self.tenant.attrs["State"]["StartedAt"])

    def repository_files(self) -> list[Path]:
        return sorted(p for p in self.repository.rglob("*") if p.is_file())


def backups(agent: Container, *args: str) -> tuple[int, str, str]:
    code, output = agent.exec_run([*DATA_AGENT_COMMAND, "backups", *args], demux=True)
    out, err = cast(tuple[bytes | None, bytes | None], output)
    assert code is not None
    return code, (out or b"").decode(), (err or b"").decode()


def ok_json(agent: Container, *args: str) -> Any:
    code, out, err = backups(agent, *args)
    assert code == 0, err
    return json.loads(out)


def _remove_labelled(engine: docker.DockerClient, target: str) -> None:
    for container in engine.containers.list(all=True, filters={"label": f"{TARGET_LABEL}={target}"}):
        container.remove(force=True)
    for volume in engine.volumes.list(filters={"label": f"{TARGET_LABEL}={target}"}):
        volume.remove(force=True)


@pytest.fixture(scope="module")
def rig(engine: docker.DockerClient, images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    run = uuid.uuid4().hex[:8]
    target = f"{PREFIX}{run}"
    schedule_dir = tmp_path_factory.mktemp("backup-sftp-schedule")
    try:
        with sftp_server(f"{PREFIX}{run}") as server:
            image = images["data_agent"]
            volume = f"{PREFIX}data-{run}"
            labels = {TARGET_LABEL: target}
            engine.volumes.create(volume, labels=labels)
            tenant = engine.containers.run(
                image,
                ["infinity"],
                entrypoint=["sleep"],
                name=f"{PREFIX}tenant-{run}",
                detach=True,
                init=True,  # sleep as pid 1 would ignore SIGTERM
                network_mode="none",
                volumes={volume: {"bind": "/data", "mode": "rw"}},
                labels=labels,
            )
            rig = Rig(
                engine, run, image, server, server.home / "restic", schedule_dir, tenant, volume, uuid.uuid4().hex
            )
            rig.write_schedule()
            yield rig
    except SftpServerError as exc:
        pytest.fail(str(exc))
    finally:
        _remove_labelled(engine, target)


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
