"""Short-lived worker containers of the agent's own image: the only ones that mount a tenant's volume.

A worker runs `python3 -m data_agent.worker` as root with every capability dropped but what restic needs:
reading every file for a backup (the volume mounted read-only), writing every file with its owner and mode for
a restore. No new privileges, a read-only root with a private /tmp, the host's network (to reach the
repository as the agent does), removed when it ends or at its deadline.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from .restic import Repository

WORKER_LABEL = "openclaw-tenants.backup-worker"  # value: the tenant whose volume it mounts
TARGET_LABEL = "openclaw-tenants.backup-target"
WORKER_ENTRYPOINT = ("python3", "-m", "data_agent.worker")
BACKUP_CAPS = ("DAC_READ_SEARCH",)
RESTORE_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER")
TENANT_MOUNT = "/tenant"  # where a backup worker sees the volume: every snapshot's path
RESTORE_ROOT = "/restore"  # a restore writes the snapshot's path under here, where the volume is mounted
SNAPSHOT_PATH = re.compile(r"^(/[A-Za-z0-9_][A-Za-z0-9._-]*)+$")
POLL_S = 0.5


class WorkerError(RuntimeError):
    """A worker failed or ran past its deadline; the message says which and why."""


@dataclass(frozen=True)
class WorkerSpec:
    image: str
    command: tuple[str, ...]
    environment: Mapping[str, str]
    volumes: Mapping[str, Mapping[str, str]]  # volume name or host path -> {"bind": path, "mode": ro|rw}
    cap_add: tuple[str, ...]
    labels: Mapping[str, str]

    def create_kwargs(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "entrypoint": list(WORKER_ENTRYPOINT),
            "command": list(self.command),
            "environment": dict(self.environment),
            "volumes": {source: dict(mount) for source, mount in self.volumes.items()},
            "network_mode": "host",
            "user": "root",
            "cap_drop": ["ALL"],
            "cap_add": list(self.cap_add),
            "security_opt": ["no-new-privileges:true"],
            "read_only": True,
            "tmpfs": {"/tmp": "rw,nosuid,nodev,mode=1777"},
            "labels": dict(self.labels),
        }


def _repository_volumes(repository: Repository) -> dict[str, dict[str, str]]:
    path = repository.local_path
    return {path: {"bind": path, "mode": "rw"}} if path else {}


def _labels(target: str, tenant_id: str) -> dict[str, str]:
    return {WORKER_LABEL: tenant_id, TARGET_LABEL: target}


def backup_worker(
    image: str, repository: Repository, *, target: str, tenant_id: str, volume: str, timeout_s: float
) -> WorkerSpec:
    command = ("backup", "--tenant", tenant_id, "--path", TENANT_MOUNT, "--timeout-s", str(int(timeout_s)))
    return WorkerSpec(
        image=image,
        command=command,
        environment=repository.env(),
        volumes={volume: {"bind": TENANT_MOUNT, "mode": "ro"}, **_repository_volumes(repository)},
        cap_add=BACKUP_CAPS,
        labels=_labels(target, tenant_id),
    )


def restore_worker(
    image: str,
    repository: Repository,
    *,
    target: str,
    tenant_id: str,
    volume: str,
    snapshot: Mapping[str, Any],
    timeout_s: float,
) -> WorkerSpec:
    """The volume mounted where the snapshot's one path lands under RESTORE_ROOT, whatever that path is."""
    paths = snapshot.get("paths") or []
    if len(paths) != 1 or not SNAPSHOT_PATH.match(paths[0]):
        raise WorkerError(f"snapshot {snapshot.get('short_id')} has paths {paths}, not one path of a tenant's data")
    mount = f"{RESTORE_ROOT}{paths[0]}"
    command = ("restore", "--snapshot", str(snapshot["id"]), "--root", RESTORE_ROOT, "--path", paths[0])
    return WorkerSpec(
        image=image,
        command=(*command, "--timeout-s", str(int(timeout_s))),
        environment=repository.env(),
        volumes={volume: {"bind": mount, "mode": "rw"}, **_repository_volumes(repository)},
        cap_add=RESTORE_CAPS,
        labels=_labels(target, tenant_id),
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def remove_leftovers(client: docker.DockerClient, labels: Mapping[str, str]) -> None:
    """A worker left by an agent that was killed mid-run: it must not keep the volume or the repository."""
    selector = [f"{key}={value}" for key, value in labels.items()]
    for container in client.containers.list(all=True, filters={"label": selector}):
        container.remove(force=True)


def run_worker(
    client: docker.DockerClient,
    spec: WorkerSpec,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Run the worker to its end or to `deadline` (on `clock`), always remove it; its JSON result."""
    remove_leftovers(client, spec.labels)
    container = client.containers.create(**spec.create_kwargs())
    try:
        container.start()
        while True:
            container.reload()
            if container.status in ("exited", "dead"):
                break
            if clock() >= deadline:
                raise WorkerError(f"the {spec.command[0]} worker was still running at its deadline and was stopped")
            sleep(POLL_S)
        code = int(container.attrs["State"]["ExitCode"])
        out = container.logs(stdout=True, stderr=False).decode(errors="replace")
        if code != 0:
            err = _last_line(container.logs(stdout=False, stderr=True).decode(errors="replace"))
            raise WorkerError(err or f"the {spec.command[0]} worker exited with {code}")
        result: dict[str, Any] = json.loads(_last_line(out) or "{}")
        return result
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
