"""What each tenant gets on a Docker target, as plain frozen data.

The Pulumi components, `tenantctl render docker` and the end-to-end harness all consume these
specs, so what is reviewed, tested and deployed is one description. Secret values never appear
here: ``secret_env`` names which secret fills which variable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import openclaw
from .contract import SecretRef, TenantState
from .edge_config import Route, render_edge_config
from .labels import MANAGED_BY, fixed_labels, owner_labels
from .model import DockerTarget, Fleet
from .resolved import DockerTenant

EDGE_PORT = 8080  # inside the edge container; unprivileged so nginx runs as nobody
EDGE_CONFIG_PATH = "/etc/nginx/nginx.conf"
NOBODY = "65534:65534"


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    internal: bool
    labels: Mapping[str, str]
    subnet: str | None = None  # None: the daemon picks one from its address pools
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeSpec:
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Mount:
    volume: str
    path: str


@dataclass(frozen=True)
class Upload:
    path: str
    content: str
    owner: int
    group: int
    mode: str


@dataclass(frozen=True)
class Port:
    internal: int
    external: int
    ip: str


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval_s: int
    timeout_s: int
    retries: int
    start_period_s: int
    start_interval_s: int


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    command: tuple[str, ...]
    entrypoint: tuple[str, ...] | None
    working_dir: str | None
    user: str
    env: Mapping[str, str]
    secret_env: Mapping[str, SecretRef]
    cpus: float
    memory_mib: int
    pids_limit: int
    read_only: bool
    tmpfs: Mapping[str, str]
    networks: tuple[str, ...]
    mounts: tuple[Mount, ...]
    uploads: tuple[Upload, ...]
    ports: tuple[Port, ...]
    healthcheck: Healthcheck | None
    labels: Mapping[str, str]
    # Stable across replacements: the gateway recognises its own dead predecessor's lease by host.
    hostname: str | None = None
    # Seconds a stopping container gets to shut down cleanly (and release its state lease).
    stop_grace_s: int = 30
    cap_drop: tuple[str, ...] = ("ALL",)
    security_opts: tuple[str, ...] = ("no-new-privileges:true",)
    init: bool = True
    restart: str = "unless-stopped"
    log_driver: str = "json-file"
    log_opts: Mapping[str, str] = field(default_factory=lambda: {"max-size": "10m", "max-file": "3"})


@dataclass(frozen=True)
class TenantDockerSpec:
    tenant_id: str
    plan: str
    state: TenantState
    shard: str
    url: str
    network: NetworkSpec | None
    volume: VolumeSpec
    container: ContainerSpec | None
    route: Route | None


@dataclass(frozen=True)
class EdgeSpec:
    """The edge proxy of one Docker target.

    The container itself never changes with the fleet: it starts on its own network with a
    route-less bootstrap config. Tenant networks are attached (``links``) and the routing config
    (``config``) is written and reloaded in place, so adding, changing or removing one tenant never
    interrupts the others.
    """

    target: str
    network: NetworkSpec
    container: ContainerSpec
    routes: tuple[Route, ...]
    links: tuple[tuple[str, str], ...]  # (tenant id, its network name), one per route
    config: str
    config_path: str = EDGE_CONFIG_PATH


def to_data(spec: Any) -> Any:
    """JSON-ready form of a spec."""
    return dataclasses.asdict(spec)


def network_name(tenant_id: str) -> str:
    return f"tenant-{tenant_id}"


def container_name(tenant_id: str) -> str:
    return f"openclaw-{tenant_id}"


def volume_name(tenant_id: str) -> str:
    return f"openclaw-{tenant_id}-state"


def edge_name(target_name: str) -> str:
    return f"openclaw-edge-{target_name}"


# An internal network still gives the host an address on the bridge, through which containers reach
# every host service listening on all interfaces; without that address the host is out of reach.
NO_HOST_ADDRESS = {"com.docker.network.bridge.inhibit_ipv4": "true"}


def network_spec(tenant: DockerTenant) -> NetworkSpec:
    # Separate bridges keep tenants apart; with egress `none` nothing outside the bridge is reachable.
    closed = tenant.target.egress == "none"
    return NetworkSpec(
        network_name(tenant.id),
        internal=closed,
        labels=fixed_labels(tenant.tenant),
        options=NO_HOST_ADDRESS if closed else {},
    )


def volume_spec(tenant: DockerTenant) -> VolumeSpec:
    return VolumeSpec(volume_name(tenant.id), labels=fixed_labels(tenant.tenant))


def container_spec(tenant: DockerTenant) -> ContainerSpec:
    return ContainerSpec(
        name=container_name(tenant.id),
        image=tenant.image,
        command=openclaw.COMMAND,
        entrypoint=None,
        working_dir=openclaw.WORKDIR,
        user=f"{openclaw.UID}:{openclaw.GID}",
        env={**openclaw.environment(tenant.memory_mib), openclaw.CONFIG_ENV: tenant.gateway_config_text},
        secret_env=tenant.secret_env,
        cpus=tenant.limits.cpus,
        memory_mib=tenant.memory_mib,
        pids_limit=tenant.plan.pids_limit,
        read_only=True,
        tmpfs={openclaw.TMP_DIR: "rw,noexec,nosuid,size=256m"},
        networks=(network_name(tenant.id),),
        mounts=(Mount(volume_name(tenant.id), openclaw.STATE_DIR),),
        uploads=(),
        ports=(),
        healthcheck=Healthcheck(
            test=openclaw.HEALTHCHECK_COMMAND,
            interval_s=30,
            timeout_s=5,
            retries=3,
            start_period_s=90,
            # 0: unset. A start interval needs Docker API 1.44 (Engine 25); Debian 12's 20.10 refuses
            # the container ("start interval requires API version 1.44").
            start_interval_s=0,
        ),
        labels=owner_labels(tenant.tenant),
        hostname=container_name(tenant.id),
    )


def route_spec(tenant: DockerTenant) -> Route:
    return Route(
        tenant_id=tenant.id,
        host=tenant.host,
        upstream=f"{container_name(tenant.id)}:{openclaw.PORT}",
        plan=tenant.tenant.plan,
        rate_limit_rps=tenant.plan.rate_limit_rps,
        burst=tenant.plan.burst,
    )


def tenant_spec(tenant: DockerTenant) -> TenantDockerSpec:
    """Active: everything; suspended: no container or route; offboarded: only the data volume."""
    entry = tenant.tenant
    active = entry.state == "active"
    return TenantDockerSpec(
        tenant_id=entry.id,
        plan=entry.plan,
        state=entry.state,
        shard=entry.shard,
        url=tenant.url,
        network=network_spec(tenant) if entry.live else None,
        volume=volume_spec(tenant),
        container=container_spec(tenant) if active else None,
        route=route_spec(tenant) if active else None,
    )


def _active_on(target_name: str, tenants: Sequence[DockerTenant]) -> list[DockerTenant]:
    return [t for t in tenants if t.tenant.target == target_name and t.tenant.state == "active"]


def edge_spec(fleet: Fleet, target_name: str, tenants: Sequence[DockerTenant]) -> EdgeSpec:
    """The one edge proxy of a Docker target, routing exactly its active tenants."""
    target = fleet.target_as(target_name, DockerTarget)
    routes = tuple(route_spec(t) for t in sorted(_active_on(target_name, tenants), key=lambda t: t.id))
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "openclaw.io/component": "edge",
        "openclaw.io/target": target_name,
    }
    name = edge_name(target_name)
    network = NetworkSpec(name, internal=False, labels=labels, subnet=target.edge.subnet)
    container = ContainerSpec(
        name=name,
        image=fleet.images.proxy,
        command=("-e", "stderr", "-g", "daemon off;"),
        entrypoint=("nginx",),
        working_dir=None,
        user=NOBODY,
        env={},
        secret_env={},
        cpus=1.0,
        memory_mib=512,
        pids_limit=256,
        # nginx.conf arrives as an upload and is rewritten on route changes: both need a writable root.
        read_only=False,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=64m"},
        networks=(name,),
        mounts=(),
        uploads=(
            Upload(path=EDGE_CONFIG_PATH, content=render_edge_config((), EDGE_PORT), owner=0, group=0, mode="0444"),
        ),
        ports=(Port(internal=EDGE_PORT, external=target.edge.port, ip=target.edge.address),),
        healthcheck=None,
        labels=labels,
    )
    return EdgeSpec(
        target=target_name,
        network=network,
        container=container,
        routes=routes,
        links=tuple((r.tenant_id, network_name(r.tenant_id)) for r in routes),
        config=render_edge_config(routes, EDGE_PORT),
    )


def target_images(fleet: Fleet, target_name: str, tenants: Sequence[DockerTenant]) -> tuple[str, ...]:
    """Every image a Docker target runs: its edge proxy's, its model gateway's and its active tenants'
    channels."""
    channels = sorted({t.image for t in _active_on(target_name, tenants)})
    return (fleet.images.proxy, fleet.images.model_gateway, *channels)
