"""A backup agent's image on the local engine, as the tests that run it need it: one tenant (a plain
long-running container of the same image with a named volume at /data), a schedule directory, and agent
containers made as the program makes a Docker target's (tenants/data_agent_specs.py: the daemon's
socket, the host's network, no capability, a state volume, the schedule read-only), each given its
repository in its environment and the binds it needs. Everything is labelled with the rig's target and
goes when `backup_tenant` is left.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import docker
import docker.errors
from docker.models.containers import Container

from data_agent.jobs import TARGET_LABEL
from tenants.data_names import (
    AGENT_IMAGE_ENV,
    BACKUP_STATE_DIR,
    DATA_AGENT_COMMAND,
    SCHEDULE_DIR,
    SCHEDULE_PATH,
    SCHEDULE_VERSION,
)

DOCKER_SOCKET = "/var/run/docker.sock"


@dataclass
class BackupRig:
    engine: docker.DockerClient
    image: str  # the data agent's
    prefix: str  # of every name the rig gives
    run: str
    schedule_dir: Path
    tenant: Container
    volume: str
    tenant_id: str
    keep: Mapping[str, int]
    max_stop_s: int

    @property
    def target(self) -> str:
        return f"{self.prefix}{self.run}"

    def write_schedule(self, every_s: int | None = None) -> None:
        """The schedule of the one tenant, replaced whole: a serving agent rereads it and never sees half."""
        doc = {
            "version": SCHEDULE_VERSION,
            "target": self.target,
            "stop_timeout_s": 5,
            "max_stop_s": self.max_stop_s,
            "tenants": {
                self.tenant_id: {
                    "container": self.tenant.name,
                    "volume": self.volume,
                    "every_s": every_s,
                    "keep": dict(self.keep),
                }
            },
        }
        tmp = self.schedule_dir / ".schedule.json.tmp"
        tmp.write_text(json.dumps(doc))
        tmp.replace(self.schedule_dir / Path(SCHEDULE_PATH).name)

    def run_agent(
        self,
        role: str,
        args: Sequence[str],
        environment: Mapping[str, str],
        binds: Mapping[str, str] | None = None,
        state_of: str | None = None,
    ) -> Container:
        """`backups ARGS` in a new agent container named for ROLE, detached, with the repository's ENVIRONMENT,
        BINDS (host path → container path, writable) and the state volume of agent STATE_OF (ROLE's own by
        default), made on first use."""
        state = f"{self.prefix}{state_of or role}-state-{self.run}"
        try:
            self.engine.volumes.get(state)
        except docker.errors.NotFound:
            self.engine.volumes.create(state, labels={TARGET_LABEL: self.target})
        volumes = {
            DOCKER_SOCKET: {"bind": DOCKER_SOCKET, "mode": "rw"},
            **{host: {"bind": inside, "mode": "rw"} for host, inside in (binds or {}).items()},
            str(self.schedule_dir): {"bind": SCHEDULE_DIR, "mode": "ro"},
            state: {"bind": BACKUP_STATE_DIR, "mode": "rw"},
        }
        agent: Container = self.engine.containers.run(
            self.image,
            ["backups", *args],
            name=f"{self.prefix}{role}-{self.run}",
            detach=True,
            user="0:0",
            network_mode="host",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            init=True,
            tmpfs={"/tmp": "rw,noexec,nosuid,size=64m"},
            environment={**environment, AGENT_IMAGE_ENV: self.image},
            volumes=volumes,
            labels={TARGET_LABEL: self.target},
        )
        return agent

    def tenant_sh(self, script: str) -> str:
        code, output = self.tenant.exec_run(["sh", "-ec", script])
        assert isinstance(output, bytes)
        text = output.decode(errors="replace")
        assert code == 0, text
        return text

    def started_at(self) -> str:
        """When the tenant's container last started; it must be running."""
        self.tenant.reload()
        assert self.tenant.status == "running"
        return str(self.tenant.attrs["State"]["StartedAt"])


@contextmanager
def backup_tenant(engine: docker.DockerClient, image: str, prefix: str, run: str) -> Iterator[tuple[Container, str]]:
    """The tenant's container and its volume, of the rig's target `<prefix><run>`; on the way out every
    container and volume labelled with that target goes, the agents' included."""
    target = f"{prefix}{run}"
    labels = {TARGET_LABEL: target}
    try:
        volume = f"{prefix}data-{run}"
        engine.volumes.create(volume, labels=labels)
        tenant = engine.containers.run(
            image,
            ["infinity"],
            entrypoint=["sleep"],
            name=f"{prefix}tenant-{run}",
            detach=True,
            init=True,  # sleep as pid 1 would ignore SIGTERM
            network_mode="none",
            volumes={volume: {"bind": "/data", "mode": "rw"}},
            labels=labels,
        )
        yield tenant, volume
    finally:
        for container in engine.containers.list(all=True, filters={"label": f"{TARGET_LABEL}={target}"}):
            container.remove(force=True)
        for found in engine.volumes.list(filters={"label": f"{TARGET_LABEL}={target}"}):
            found.remove(force=True)


def backups(agent: Container, *args: str) -> tuple[int, str, str]:
    """`backups ARGS` run inside a serving agent: exit code, stdout, stderr."""
    code, output = agent.exec_run([*DATA_AGENT_COMMAND, "backups", *args], demux=True)
    out, err = cast(tuple[bytes | None, bytes | None], output)
    assert code is not None
    return code, (out or b"").decode(), (err or b"").decode()


def ok_json(agent: Container, *args: str) -> Any:
    code, out, err = backups(agent, *args)
    assert code == 0, err
    return json.loads(out)
