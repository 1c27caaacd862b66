"""What each tenant gets on a Docker target, as plain frozen data.

The Pulumi components, `tenantctl render docker` and the end-to-end harness all consume these
specs, so what is reviewed, tested and deployed is one description. Secret values never appear
here: ``secret_env`` names which secret fills which variable.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from . import openclaw
from .contract import SecretRef, TenantState
from .data_names import disk_data
from .disk_specs import DiskSpec, disk_spec
from .edge_config import Clients, Route, TlsListener, render_edge_config
from .egress_rules import GUARDED, bridge_name
from .host_uid import Ownership
from .labels import EDGE_COMPONENT, fixed_labels, owner_labels, platform_labels
from .model import DockerTarget, Fleet, StorageMode
from .resolved import DockerTenant

EDGE_PORT = 8080  # inside the edge container; unprivileged so nginx runs as nobody
EDGE_HTTP_PORT = 8081  # inside the edge container: plain HTTP answering with redirects to https
EDGE_CONFIG_PATH = "/etc/nginx/nginx.conf"
EDGE_TLS_PATH = "/etc/nginx/edge-tls.pem"
NOBODY_ID = 65534
NOBODY = f"{NOBODY_ID}:{NOBODY_ID}"
# The edge's size (see tenants/edge_config.py, WORKER_CONNECTIONS): a base plus this much per worker.
HOST_CPUS_PER_EDGE_WORKER, EDGE_MAX_WORKERS = 8, 4
EDGE_MEMORY_MIB, EDGE_MEMORY_PER_WORKER_MIB = 256, 256


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
    owner: Ownership | None = None  # made to belong to its gateway's uid before the gateway starts
    # The local driver's options: a bind of the tenant's own disk (tenants/data_specs.py); {}: a plain volume.
    driver_opts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Bind:
    """A host path in a platform container (the daemon's socket, the disk root, a local backup repository)."""

    host_path: str
    path: str
    read_only: bool = False


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
    network_mode: str | None = None  # "host" for the egress filter; None: the networks above
    cap_add: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()  # the resolvers Docker's embedded DNS forwards to; () = the daemon's
    runtime: str | None = None  # a runtime registered with the daemon (gVisor's runsc); None: its default
    addresses: Mapping[str, str] = field(default_factory=dict)  # network name → a fixed IPv4 address there
    binds: tuple[Bind, ...] = ()
    pid_mode: str | None = None  # "host" for the disk agent: it mounts in the daemon's mount namespace
    device_cgroup_rules: tuple[str, ...] = ()  # the disk agent's loop devices


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
    disk: DiskSpec | None = None  # its own file system (storage mode disk), kept in every state until purged


@dataclass(frozen=True)
class CertificateFile:
    """Where the edge's certificate lives in its container: one PEM file (the chain, then the key) from two
    secret config keys, readable by nginx's user alone, rewritten in place on rotation and reloaded."""

    config_keys: tuple[str, str]  # the certificate's and the key's; the values never appear in a spec
    path: str = EDGE_TLS_PATH
    owner: int = NOBODY_ID
    group: int = NOBODY_ID
    mode: str = "0400"


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
    certificate: CertificateFile | None = None  # with tls certificate; written before ``config`` needs it


def to_data(spec: Any) -> Any:
    """JSON-ready form of a spec."""
    return dataclasses.asdict(spec)


def network_name(tenant_id: str) -> str:
    return f"tenant-{tenant_id}"


def container_name(tenant_id: str) -> str:
    return f"openclaw-{tenant_id}"


def volume_name(tenant_id: str, storage: StorageMode = "disk") -> str:
    """A tenant's Docker volume: a bind of its own disk, or (mode volume) a plain volume. Two names, so a
    target switched to disks never hands a tenant its old unbounded volume under the new driver options."""
    return f"openclaw-{tenant_id}-data" if storage == "disk" else f"openclaw-{tenant_id}-state"


def edge_name(target_name: str) -> str:
    return f"openclaw-edge-{target_name}"


# An internal network still gives the host an address on the bridge, through which containers reach
# every host service listening on all interfaces; without that address the host is out of reach.
NO_HOST_ADDRESS = {"com.docker.network.bridge.inhibit_ipv4": "true"}
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"


def network_spec(tenant: DockerTenant) -> NetworkSpec:
    """Separate bridges keep tenants apart. `none` and `models` networks are internal and give the host
    no address; every guarded network's bridge has the name the egress filter keys its rules on."""
    name = network_name(tenant.id)
    if tenant.egress not in GUARDED:
        return NetworkSpec(name, internal=False, labels=fixed_labels(tenant.tenant))
    closed = tenant.egress != "internet"
    options = {BRIDGE_NAME_OPTION: bridge_name(tenant.tenant.target, name), **(NO_HOST_ADDRESS if closed else {})}
    return NetworkSpec(name, internal=closed, labels=fixed_labels(tenant.tenant), options=options)


def volume_spec(tenant: DockerTenant) -> VolumeSpec:
    owner = Ownership(tenant.uid, tenant.uid, openclaw.STATE_DIR, openclaw.CACHE_DIR)
    storage = tenant.target.storage
    opts = {} if storage.mode == "volume" else disk_bind(disk_data(storage.root, tenant.tenant.target, tenant.id))
    return VolumeSpec(
        volume_name(tenant.id, storage.mode), labels=fixed_labels(tenant.tenant), owner=owner, driver_opts=opts
    )


def disk_bind(path: str) -> dict[str, str]:
    """The local driver's options for a volume that binds a host directory."""
    return {"type": "none", "o": "bind", "device": path}


def container_spec(tenant: DockerTenant) -> ContainerSpec:
    return ContainerSpec(
        name=container_name(tenant.id),
        image=tenant.image,
        command=openclaw.COMMAND,
        entrypoint=None,
        working_dir=openclaw.WORKDIR,
        user=f"{tenant.uid}:{tenant.uid}",
        env={**openclaw.environment(tenant.memory_mib), openclaw.CONFIG_ENV: tenant.gateway_config_text},
        secret_env=tenant.secret_env,
        cpus=tenant.limits.cpus,
        memory_mib=tenant.memory_mib,
        pids_limit=tenant.plan.pids_limit,
        read_only=True,
        tmpfs={openclaw.TMP_DIR: f"rw,noexec,nosuid,size={openclaw.TMP_SIZE_MIB}m"},
        networks=(network_name(tenant.id),),
        mounts=(Mount(volume_name(tenant.id, tenant.target.storage.mode), openclaw.STATE_DIR),),
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
        dns=_resolvers(tenant),
        runtime=docker_runtime(tenant),
    )


DEFAULT_RUNTIME = "runc"  # registered by every Docker daemon


def docker_runtime(tenant: DockerTenant) -> str | None:
    """The runtime the target maps the tenant's plan to. A target that maps any plan names runc for the
    others: the provider keeps a container's runtime when told none, so a tenant moved off a mapped plan
    would otherwise stay in its sandbox."""
    mapped = tenant.target.runtime
    return mapped.get(tenant.tenant.plan, DEFAULT_RUNTIME) if mapped else None


def _resolvers(tenant: DockerTenant) -> tuple[str, ...]:
    """`internet` tenants resolve through the operator's resolver only (the filter drops other port-53
    traffic); without one, and in every other mode, Docker's embedded DNS answers only for the bridge."""
    resolver = tenant.target.egress.resolver
    return (resolver,) if tenant.egress == "internet" and resolver else ()


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
        disk=disk_spec(tenant, container_name(entry.id), volume_name(entry.id, "volume")),
    )


def _active_on(target_name: str, tenants: Sequence[DockerTenant]) -> list[DockerTenant]:
    return [t for t in tenants if t.tenant.target == target_name and t.tenant.state == "active"]


def edge_spec(fleet: Fleet, target_name: str, tenants: Sequence[DockerTenant]) -> EdgeSpec:
    """The one edge proxy of a Docker target, routing exactly its active tenants."""
    target = fleet.target_as(target_name, DockerTarget)
    routes = tuple(route_spec(t) for t in sorted(_active_on(target_name, tenants), key=lambda t: t.id))
    labels = platform_labels(EDGE_COMPONENT, target_name)
    name = edge_name(target_name)
    network = NetworkSpec(name, internal=False, labels=labels, subnet=target.edge.subnet)
    address, workers = edge_address(target.edge.subnet), edge_workers(target)
    # The bootstrap config binds the address but leaves clients to the routing config: changing how the
    # edge treats clients rewrites that config in place and never recreates the container.
    render = partial(render_edge_config, listen_address=address, workers=workers)
    container = ContainerSpec(
        name=name,
        image=fleet.images.proxy,
        command=("-e", "stderr", "-g", "daemon off;"),
        entrypoint=("nginx",),
        working_dir=None,
        user=NOBODY,
        env={},
        secret_env={},
        cpus=float(workers),
        memory_mib=EDGE_MEMORY_MIB + EDGE_MEMORY_PER_WORKER_MIB * workers,
        pids_limit=256,  # nginx's master and at most EDGE_MAX_WORKERS workers
        # nginx.conf arrives as an upload and is rewritten on route changes: both need a writable root.
        read_only=False,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=64m"},
        networks=(name,),
        addresses={name: address},
        mounts=(),
        uploads=(Upload(path=EDGE_CONFIG_PATH, content=render((), EDGE_PORT), owner=0, group=0, mode="0444"),),
        ports=_edge_ports(target),
        healthcheck=None,
        labels=labels,
    )
    return EdgeSpec(
        target=target_name,
        network=network,
        container=container,
        routes=routes,
        links=tuple((r.tenant_id, network_name(r.tenant_id)) for r in routes),
        config=render(
            routes, EDGE_PORT, _tls_listener(target), _forwarded_proto(target), clients=Clients.of(target.edge)
        ),
        certificate=CertificateFile(target.edge.tls.config_keys()) if target.edge.tls.mode == "certificate" else None,
    )


def edge_address(subnet: str) -> str:
    """The edge's fixed address on its own network, the one its listeners bind: the second of the
    subnet (the first is the host's, the bridge gateway's)."""
    return str(ipaddress.ip_network(subnet)[2])


def edge_workers(target: DockerTarget) -> int:
    """nginx workers, and the edge's CPUs: one per HOST_CPUS_PER_EDGE_WORKER of the host, 1 to
    EDGE_MAX_WORKERS. A worker proxies far more than a tenant's share of a CPU; the rest is the tenants'."""
    return min(EDGE_MAX_WORKERS, max(1, math.ceil(target.capacity.cpus / HOST_CPUS_PER_EDGE_WORKER)))


def _edge_ports(target: DockerTarget) -> tuple[Port, ...]:
    """The edge's port, and with a certificate the plain-HTTP port that redirects to it."""
    edge = target.edge
    redirect = () if edge.http_port is None else (Port(EDGE_HTTP_PORT, edge.http_port, edge.address),)
    return (Port(internal=EDGE_PORT, external=edge.port, ip=edge.address), *redirect)


def _tls_listener(target: DockerTarget) -> TlsListener | None:
    edge = target.edge
    if edge.tls.mode != "certificate":
        return None
    return TlsListener(EDGE_TLS_PATH, edge.public_port, None if edge.http_port is None else EDGE_HTTP_PORT)


def _forwarded_proto(target: DockerTarget) -> str:
    """What gateways are told clients spoke: nginx's own scheme, or https behind the operator's TLS."""
    return "https" if target.edge.scheme == "https" and target.edge.tls.mode == "none" else "$scheme"


def target_images(fleet: Fleet, target_name: str, tenants: Sequence[DockerTenant]) -> tuple[str, ...]:
    """Every image a Docker target runs: its edge proxy's, its model gateway's, its egress filter's, its data
    agents' (with disks or backups) and its active tenants' channels."""
    channels = sorted({t.image for t in _active_on(target_name, tenants)})
    target = fleet.target_as(target_name, DockerTarget)
    data = (fleet.images.data_agent,) if target.storage.mode == "disk" or fleet.backups is not None else ()
    return (fleet.images.proxy, fleet.images.model_gateway, fleet.images.egress_filter, *data, *channels)
