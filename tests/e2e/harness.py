"""Apply the Docker specs of a fleet to a real engine with the Docker SDK, the way the program would.

The harness never describes a container itself: every field comes from ``tenants.docker_specs``.
What it adds is bookkeeping only: a run label on everything it creates (so cleanup is exact) and a
digest of the spec, standing in for the engine's "replace on change" diff.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors
import docker.types
from docker.models.containers import Container

from components import docker_ops
from tenants import docker_specs as ds
from tenants.model import Fleet

RUN_LABEL = "openclaw-tenants.test/run"
DIGEST_LABEL = "openclaw-tenants.test/spec-digest"


def digest(spec: Any) -> str:
    return hashlib.sha256(json.dumps(ds.to_data(spec), sort_keys=True).encode()).hexdigest()[:16]


def token_for(run_id: str, tenant_id: str, rotation: int) -> str:
    """Stands in for RandomPassword with a `rotation` keeper: same inputs, same token."""
    return hashlib.sha256(f"{run_id}/{tenant_id}/{rotation}".encode()).hexdigest()[:48]


def _tar(upload: ds.Upload) -> tuple[str, bytes]:
    data = upload.content.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(upload.path.rsplit("/", 1)[1])
        info.size, info.mode = len(data), int(upload.mode, 8)
        info.uid, info.gid, info.mtime = upload.owner, upload.group, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return upload.path.rsplit("/", 1)[0], buf.getvalue()


@dataclass
class Applier:
    client: docker.DockerClient
    run_id: str
    tokens: dict[str, str] = field(default_factory=dict)
    host: str = field(default_factory=lambda: os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))

    @property
    def run_labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id}

    # --- single resources ------------------------------------------------------------

    def _network(self, spec: ds.NetworkSpec) -> None:
        if not self.client.networks.list(names=[spec.name]):
            ipam = None
            if spec.subnet is not None:
                ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=spec.subnet)])
            self.client.networks.create(
                spec.name,
                driver="bridge",
                internal=spec.internal,
                ipam=ipam,
                options=dict(spec.options),
                labels={**spec.labels, **self.run_labels},
            )

    def _volume(self, spec: ds.VolumeSpec) -> None:
        try:
            self.client.volumes.get(spec.name)
        except docker.errors.NotFound:
            self.client.volumes.create(spec.name, labels={**spec.labels, **self.run_labels})

    def _find(self, name: str) -> Container | None:
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def remove_container(self, name: str, grace_s: int = 30) -> None:
        """Stop with a grace period, then remove: what the program's destroy_grace_seconds does."""
        found = self._find(name)
        if found is not None:
            found.stop(timeout=grace_s)
            found.remove(force=True)

    def _container(self, spec: ds.ContainerSpec, secrets: Mapping[str, str]) -> Container:
        want = digest(spec) + hashlib.sha256(json.dumps(dict(secrets), sort_keys=True).encode()).hexdigest()[:8]
        found = self._find(spec.name)
        if found is not None and found.labels.get(DIGEST_LABEL) == want:
            return found
        self.remove_container(spec.name, spec.stop_grace_s)
        env = dict(spec.env) | {var: secrets[ref] for var, ref in spec.secret_env.items() if ref in secrets}
        hc = spec.healthcheck
        first, *others = spec.networks
        container = self.client.containers.create(
            spec.image,
            command=list(spec.command),
            entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
            working_dir=spec.working_dir,
            name=spec.name,
            hostname=spec.hostname,
            user=spec.user,
            environment=env,
            nano_cpus=int(spec.cpus * 1e9),
            mem_limit=spec.memory_mb * 1024 * 1024,
            memswap_limit=spec.memory_mb * 1024 * 1024,
            pids_limit=spec.pids_limit,
            cap_drop=list(spec.cap_drop),
            security_opt=list(spec.security_opts),
            init=spec.init,
            read_only=spec.read_only,
            tmpfs=dict(spec.tmpfs),
            restart_policy={"Name": spec.restart},
            log_config={"Type": spec.log_driver, "Config": dict(spec.log_opts)},
            labels={**spec.labels, **self.run_labels, DIGEST_LABEL: want},
            network=first,
            volumes={m.volume: {"bind": m.path, "mode": "rw"} for m in spec.mounts},
            ports={f"{p.internal}/tcp": (p.ip, p.external) for p in spec.ports},
            healthcheck=None
            if hc is None
            else {
                "test": list(hc.test),
                "interval": hc.interval_s * 10**9,
                "timeout": hc.timeout_s * 10**9,
                "retries": hc.retries,
                "start_period": hc.start_period_s * 10**9,
                "start_interval": hc.start_interval_s * 10**9,
            },
        )
        for name in others:
            self.client.networks.get(name).connect(container)
        for upload in spec.uploads:
            directory, archive = _tar(upload)
            container.put_archive(directory, archive)
        container.start()
        return container

    # --- a whole fleet -----------------------------------------------------------------

    def apply(self, fleet: Fleet) -> None:
        """Converge the engine on the fleet: create, replace and remove like `pulumi up` would."""
        for tenant in fleet.tenants:
            spec = ds.tenant_spec(fleet, tenant)
            self._volume(spec.volume)
            self.tokens[tenant.id] = token_for(self.run_id, tenant.id, tenant.rotation)
            if spec.network is not None:
                self._network(spec.network)
            if spec.container is not None:
                self._container(spec.container, {"gateway_token": self.tokens[tenant.id]})
            else:
                self.remove_container(ds.container_name(tenant.id))
            if spec.network is None:
                for net in self.client.networks.list(names=[ds.network_name(tenant.id)]):
                    net.reload()
                    for attached in net.containers:  # the edge proxy's link
                        net.disconnect(attached, force=True)
                    net.remove()
        for target in sorted({t.target for t in fleet.tenants}):
            edge = ds.edge_spec(fleet, target, fleet.tenants)
            self._network(edge.network)
            proxy = self._container(edge.container, {})
            # The same operations the program's dynamic resources perform on the running proxy.
            on_proxy = {"host": self.host, "container": proxy.name, "container_id": proxy.id}
            for network in edge.links:
                docker_ops.NetworkLinkProvider().create({**on_proxy, "network": network})
            docker_ops.NginxConfigProvider().create({**on_proxy, "path": edge.config_path, "content": edge.config})

    def seconds_since_start(self, name: str) -> float:
        """Seconds from the container's start until now, by the engine's clock."""
        container = self.client.containers.get(name)
        started_at = container.attrs["State"]["StartedAt"]
        stamp = datetime.fromisoformat(started_at[:26].rstrip("Z") + "+00:00")
        return (datetime.now(UTC) - stamp).total_seconds()

    def cleanup(self) -> None:
        """Remove everything this run created, volumes included."""
        filters = {"label": f"{RUN_LABEL}={self.run_id}"}
        for container in self.client.containers.list(all=True, filters=filters):
            container.remove(force=True)
        for network in self.client.networks.list(filters=filters):
            network.remove()
        for volume in self.client.volumes.list(filters=filters):
            volume.remove(force=True)


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> float:
    """Poll ``check`` until it holds; return the seconds it took. Bounded by ``timeout_s``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"condition not met within {timeout_s:.0f}s")
        time.sleep(interval_s)
    return time.monotonic() - start
