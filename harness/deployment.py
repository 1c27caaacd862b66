"""One stack of the real program on the real engine, driven by the signup service's own runner.

The project directory is a temporary copy (Pulumi.yaml with an absolute virtualenv, the program
linked in, the fleet file written from a ``Fleet``), the backend a file directory and the
passphrase a test value, so nothing of the checkout or of ``make up``'s state is touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from docker import DockerClient
from pulumi import automation as auto

from signup.runner import AutomationRunner, UpdateError, UpResult
from tenants import data_names
from tenants import docker_specs as ds
from tenants import egress_filter_specs as egress
from tenants import model_gateway_names as gateway_names
from tenants.model import DockerTarget, Fleet

from .fleets import fleet_yaml
from .paths import ROOT

ENGINE_BIN = ROOT / ".tools" / "pulumi" / "bin"
ENGINE_HOME = ROOT / ".tools" / "pulumi" / "home"
POLICY_PACK = ROOT / "policy"


def engine_env(state: Path) -> dict[str, str]:
    """What `make` exports for the engine, plus a file backend and passphrase of this run."""
    return {
        "PATH": f"{ENGINE_BIN}:{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(ENGINE_HOME),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": "engine-tests-only",
    }


def project_copy(directory: Path) -> Path:
    """Pulumi.yaml pointing at the checkout's .venv, and the program itself (a symlink)."""
    directory.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "Pulumi.yaml").read_text()
    text = re.sub(r"(?m)^(\s+virtualenv:).*$", rf"\1 {ROOT / '.venv'}", text, count=1)
    (directory / "Pulumi.yaml").write_text(text)
    (directory / "__main__.py").symlink_to(ROOT / "__main__.py")
    return directory


def write_fleet(fleet: Fleet, path: Path) -> None:
    path.write_text(fleet_yaml(fleet.model_dump(mode="json", exclude_defaults=True)))


def with_tenant(fleet: Fleet, tenant_id: str, **changes: object) -> Fleet:
    """The fleet after an edit of one tenant's line in tenants.yaml."""
    tenants = tuple(t.model_copy(update=changes) if t.id == tenant_id else t for t in fleet.tenants)
    return fleet.model_copy(update={"tenants": tenants})


class Timings(Protocol):
    def step(self, label: str) -> AbstractContextManager[None]: ...


class Untimed:
    def step(self, label: str) -> AbstractContextManager[None]:
        return nullcontext()


ENGINE_TAIL_LINES = 80


def engine_tail(output: str) -> str:
    """The end of a failed update's CLI output: where the engine says what went wrong beyond its summary."""
    lines = output.splitlines()[-ENGINE_TAIL_LINES:]
    return "--- the engine's last output ---\n" + "\n".join(lines)


@dataclass
class Deployment:
    """A stack named ``name`` deploying shard ``default`` of whatever fleet ``apply`` was given last."""

    directory: Path
    name: str
    timings: Timings = field(default_factory=Untimed)
    tokens: dict[str, str] = field(default_factory=dict)
    last: UpResult | None = None
    updates: int = 0

    def __post_init__(self) -> None:
        self.project = project_copy(self.directory / "project")
        self.state = self.directory / "state"
        self.state.mkdir(exist_ok=True)
        self.fleet_file = self.project / "fleet.yaml"
        self.env = engine_env(self.state)
        self.runner = AutomationRunner(
            self.project,
            fleet_file=self.fleet_file,
            shards={self.name: "default"},
            env=self.env,
            pulumi_root=ENGINE_BIN.parent,
        )

    def stack(self) -> auto.Stack:
        stack: auto.Stack = self.runner.select(self.name)
        return stack

    def apply(self, fleet: Fleet, label: str = "") -> UpResult:
        """`pulumi up` of ``fleet`` through the runner the signup service uses."""
        self.updates += 1
        label = label or f"{self.name}: up #{self.updates}"
        write_fleet(fleet, self.fleet_file)
        with self.timings.step(label):
            try:
                self.last = self.runner.up(self.name)
            except UpdateError as exc:
                exc.add_note(engine_tail(exc.detail))
                raise
        self.tokens = dict(self.last.tokens)
        return self.last

    def preview(self, label: str = "preview", fleet: Fleet | None = None, **options: Any) -> auto.PreviewResult:
        """`pulumi preview` of the fleet last applied, or of ``fleet`` (which then becomes the file)."""
        if fleet is not None:
            write_fleet(fleet, self.fleet_file)
        with self.timings.step(label):
            return self.stack().preview(color="never", **options)

    def refresh(self, label: str = "refresh") -> auto.RefreshResult:
        with self.timings.step(label):
            return self.stack().refresh(color="never")

    def destroy(self, label: str = "destroy") -> auto.DestroyResult:
        with self.timings.step(label):
            return self.stack().destroy(color="never")

    def remove(self) -> None:
        """Forget the stack (its resources are destroyed first by the caller)."""
        self.stack().workspace.remove_stack(self.name, force=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    def teardown(self, side: Fleetside, fleet: Fleet, label: str = "destroy") -> None:
        """Destroy and forget the stack, then remove what it kept (volumes): tests and benchmarks only."""
        try:
            self.destroy(label)
            self.remove()
        finally:
            side.remove_fleet(fleet)


@dataclass
class Fleetside:
    """What the tests read back from Docker about a deployed fleet (container ids, start times)."""

    client: DockerClient

    def container_id(self, name: str) -> str | None:
        found = self.client.containers.list(all=True, filters={"name": f"^{name}$"})
        return found[0].id if found else None

    def started_at(self, name: str) -> str:
        return str(self.client.containers.get(name).attrs["State"]["StartedAt"])

    def seconds_since_start(self, name: str) -> float:
        stamp = datetime.fromisoformat(self.started_at(name)[:26].rstrip("Z") + "+00:00")
        return (datetime.now(UTC) - stamp).total_seconds()

    def container_ids(self, fleet: Fleet) -> dict[str, str | None]:
        """Name → id of every container the fleet can have (None: no such container)."""
        return {name: self.container_id(name) for name in container_names(fleet)}

    def remove_fleet(self, fleet: Fleet) -> None:
        """Everything of the fleet's tenants and platform, volumes included (tests only: data is retained otherwise)."""
        for name in container_names(fleet):
            for container in self.client.containers.list(all=True, filters={"name": f"^{name}$"}):
                container.remove(force=True)
        platform = [name for n in targets_of(fleet) for name in (ds.edge_name(n), gateway_names.docker_name(n))]
        for name in [ds.network_name(t.id) for t in fleet.tenants] + platform:
            for network in self.client.networks.list(names=[name]):
                network.remove()
        volumes = [ds.volume_name(t.id, mode) for t in fleet.tenants for mode in ("disk", "volume")]
        platform_volumes = [
            name
            for n in targets_of(fleet)
            for name in (gateway_names.docker_volume_name(n), data_names.backup_state_volume(n))
        ]
        for name in volumes + platform_volumes:
            for volume in self.client.volumes.list(filters={"name": name}):
                if volume.name == name:
                    volume.remove(force=True)
        remove_disks(fleet)


def remove_disks(fleet: Fleet) -> None:
    """Unmount and delete the disks of the fleet's tenants on this host (their agent is gone by now, so the
    agent's own module does it here, as root): a later run may reuse the ids."""
    # On every disk target of the fleet: a tenant may have moved since the fleet was written.
    disk_targets = [
        (name, target)
        for name, target in fleet.targets.items()
        if isinstance(target, DockerTarget) and target.storage.mode == "disk"
    ]
    for tenant in fleet.tenants:
        for name, target in disk_targets:
            root = data_names.disk_root(target.storage.root, name)
            env = {**os.environ, data_names.DISK_ROOT_ENV: root}
            command = [sys.executable, "-m", "data_agent", "disks", "remove", tenant.id]
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"could not remove the disk of {tenant.id} under {root}: {done.stderr[-400:]}")


def targets_of(fleet: Fleet) -> list[str]:
    return sorted({t.target for t in fleet.tenants})


def container_names(fleet: Fleet) -> list[str]:
    """Every tenant gateway, edge proxy, model gateway, egress filter and data agent the fleet can have."""
    platform = [
        name
        for n in targets_of(fleet)
        for name in (
            ds.edge_name(n),
            gateway_names.docker_name(n),
            egress.filter_name(n),
            data_names.storage_agent_name(n),
            data_names.backup_agent_name(n),
        )
    ]
    return [ds.container_name(t.id) for t in fleet.tenants] + platform
