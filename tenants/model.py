"""The schema of tenants.yaml, version 1: frozen pydantic models, unknown keys refused."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from .contract import DEFAULT_STATE, TenantState
from .egress_ranges import ForbiddenRange, uncovered_forbidden
from .host_uid import HOST_UID_MAX, HOST_UID_MIN

SCHEMA_VERSION = 1

ModelProvider = Literal["kimi", "minimax", "anthropic", "openai", "openrouter"]
# What a tenant's gateway may connect to beyond its own network (see tenants/egress_ranges.py):
# nothing; only its target's model gateway; public addresses on allowed ports plus the model gateway.
# `direct-unfiltered` (Docker only) is a plain bridge with no filter: metadata, host and private
# networks are all in reach. It exists for migrations and is warned about wherever it is used.
EgressMode = Literal["none", "models", "internet", "direct-unfiltered"]
UNFILTERED: EgressMode = "direct-unfiltered"
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
Profile = Literal["standard", "lean"]
ModelApi = Literal["openai", "anthropic"]  # the API style an upstream speaks
ModelEgress = Literal["internet", "none"]

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
TENANT_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{1,38}[a-z0-9])$")
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
OPENCLAW_VERSION = re.compile(r"^\d{4}\.\d{1,2}\.\d{1,2}$")
LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
MODEL_ID = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")

RESERVED_IDS = frozenset(
    {
        "www",
        "api",
        "admin",
        "app",
        "auth",
        "dashboard",
        "docs",
        "edge",
        "grafana",
        "internal",
        "login",
        "mail",
        "metrics",
        "openclaw",
        "proxy",
        "root",
        "signup",
        "smtp",
        "status",
        "system",
        "default",
        "kube-system",
    }
)

# `edge-<target>` names each Docker target's edge proxy (its component, network and container), and
# `models-<target>` its model gateway.
RESERVED_ID_PREFIXES: dict[str, str] = {
    "edge-": "the edge proxies of the targets",
    "models-": "the model gateways of the targets",
    "backup-": "the backup agents of the targets",
    "storage-": "the disk agents of the targets",
}


def check_domain(value: str) -> str:
    labels = value.split(".")
    if len(value) > 200 or not all(DNS_LABEL.match(label) and len(label) <= 63 for label in labels):
        raise ValueError(f"{value!r} is not a lowercase DNS name like tenants.example.com")
    return value


def check_dotted_domain(value: str) -> str:
    """A DNS name of two labels or more: one that can be registered (or a name under one), never a
    bare top-level label."""
    check_domain(value)
    if "." not in value:
        raise ValueError(f"{value!r} is a single label; name a registered domain like acme.com, or a name under one")
    return value


DottedDomain = Annotated[str, AfterValidator(check_dotted_domain)]


def check_channel(name: str, version: str) -> None:
    if not NAME.match(name):
        raise ValueError(f"channel name {name!r} must be lowercase letters, digits and '-'")
    if not OPENCLAW_VERSION.match(version):
        raise ValueError(f"channel {name!r} must pin an exact OpenClaw version like 2026.9.6, not {version!r}")


def check_tenant_id(value: str) -> str:
    if not 3 <= len(value) <= 40:
        raise ValueError(f"{value!r} must be 3 to 40 characters long")
    if not TENANT_ID.match(value):
        raise ValueError(
            f"{value!r} is not a DNS label: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    if value in RESERVED_IDS:
        raise ValueError(f"{value!r} is reserved; reserved ids: {', '.join(sorted(RESERVED_IDS))}")
    for prefix, names in RESERVED_ID_PREFIXES.items():
        if value.startswith(prefix):
            raise ValueError(f"{value!r} starts with {prefix!r}, which names {names}")
    return value


def check_model_id(value: str) -> str:
    if not MODEL_ID.match(value):
        raise ValueError(f"model id {value!r} must be lowercase letters, digits, '.', '_' and '-' (at most 64)")
    return value


def check_base_url(value: str) -> str:
    if not re.match(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/\S*)?$", value):
        raise ValueError(f"must be an http(s) base URL like https://api.example.com/v1, not {value!r}")
    return value.rstrip("/")


def check_name(value: str) -> str:
    """Shard and channel names."""
    if not NAME.match(value):
        raise ValueError(f"{value!r} must be a lowercase name of letters, digits and '-'")
    return value


def check_label_key(key: str) -> str:
    if not LABEL_KEY.match(key):
        raise ValueError(f"label key {key!r} is not a valid label key ([prefix/]name, at most 63 characters)")
    if key.startswith(("openclaw.io/", "app.kubernetes.io/")):
        raise ValueError(f"label key {key!r} uses a reserved prefix (openclaw.io/, app.kubernetes.io/)")
    return key


def check_label_value(value: str) -> str:
    if not LABEL_VALUE.match(value):
        raise ValueError(f"label value {value!r} is not valid: at most 63 of A-Z a-z 0-9 . _ -")
    return value


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Numbers are strict: YAML `true` or "3" is a mistake, not a 1 or a 3.
Cpus = Annotated[float, Field(strict=True, gt=0, le=256, allow_inf_nan=False)]
MemoryGiB = Annotated[float, Field(strict=True, ge=1, le=1024, allow_inf_nan=False)]
StorageGiB = Annotated[int, Field(strict=True, ge=1, le=65536)]
LabelKey = Annotated[str, Field(strict=True), AfterValidator(check_label_key)]
LabelValue = Annotated[str, Field(strict=True), AfterValidator(check_label_value)]
UsdBudget = Annotated[Decimal, Field(ge=0, le=1_000_000, max_digits=10, decimal_places=2)]
UsdPerMtok = Annotated[Decimal, Field(ge=0, le=100_000, max_digits=12, decimal_places=6)]
ModelRpm = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
ModelTpm = Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)]
ModelId = Annotated[str, Field(strict=True), AfterValidator(check_model_id)]
BaseUrl = Annotated[str, Field(strict=True), AfterValidator(check_base_url)]


class Limits(Frozen):
    """The resources one tenant may use."""

    cpus: Cpus
    memory_gib: MemoryGiB
    storage_gib: StorageGiB


class PlanMax(Limits):
    """The most a tenant's overrides may raise its plan's limits and model allowance to."""

    model_budget_usd: UsdBudget
    model_rpm: ModelRpm
    model_tpm: ModelTpm


class CatalogModel(Frozen):
    """A model tenants may be allowed: its provider, its upstream name, API style and prices."""

    provider: ModelProvider
    upstream_model: Annotated[str, Field(strict=True, min_length=1, max_length=200, pattern=r"^\S+$")]
    api: ModelApi
    input_usd_per_mtok: UsdPerMtok
    output_usd_per_mtok: UsdPerMtok


# How often a plan's tenants are backed up: every N minutes (N dividing 60) or hours (N dividing 24), so the same
# interval is a cron schedule on a cluster and a period on a Docker host; `off` takes none on a schedule.
BACKUP_EVERY = re.compile(r"^(?P<n>[1-9][0-9]?)(?P<unit>[mh])$")
BACKUP_OFF = "off"
_PERIODS = {"m": 60, "h": 24}
Retention = Annotated[int, Field(strict=True, ge=0, le=1000)]


class BackupRetention(Frozen):
    """Which snapshots of a tenant are kept after each backup (restic forget --keep-*)."""

    last: Annotated[int, Field(strict=True, ge=1, le=1000)] = 1
    daily: Retention = 7
    weekly: Retention = 4
    monthly: Retention = 0


class PlanBackup(Frozen):
    """A plan's backup schedule and retention."""

    every: str = "24h"
    keep: BackupRetention = BackupRetention()

    @field_validator("every")
    @classmethod
    def _every(cls, value: str) -> str:
        match = BACKUP_EVERY.match(value)
        if value != BACKUP_OFF and (not match or _PERIODS[match["unit"]] % int(match["n"])):
            raise ValueError(
                f"{value!r} is not a backup interval: Nm with N dividing 60 (e.g. 15m), Nh with N dividing 24 "
                "(e.g. 6h, 24h), or off"
            )
        return value

    @property
    def every_s(self) -> int | None:
        """Seconds between scheduled backups; None: off."""
        match = BACKUP_EVERY.match(self.every)
        if match is None:
            return None
        return int(match["n"]) * (60 if match["unit"] == "m" else 3600)

    def cron(self, tenant_id: str) -> str | None:
        """The schedule as a cron line, its minute (and hour) spread by the tenant id so a cluster's tenants do
        not all back up at once; None: off."""
        match = BACKUP_EVERY.match(self.every)
        if match is None:
            return None
        n, spread = int(match["n"]), int(hashlib.sha256(tenant_id.encode()).hexdigest(), 16)
        if match["unit"] == "m":
            return f"{spread % n}-59/{n} * * * *" if n > 1 else "* * * * *"
        minute, hour = spread % 60, (spread // 60) % n
        return f"{minute} {hour}-23/{n} * * *" if n < 24 else f"{minute} {(spread // 60) % 24} * * *"


class Plan(Frozen):
    """What a customer buys: limits, the most an override may raise them to, proxy rate and price,
    and its model allowance (monthly budget, request and token rates, allowed models)."""

    cpus: Cpus
    memory_gib: MemoryGiB
    storage_gib: StorageGiB
    max: PlanMax
    pids_limit: Annotated[int, Field(strict=True, ge=64, le=65536)]
    rate_limit_rps: Annotated[int, Field(strict=True, ge=1, le=100_000)]
    burst: Annotated[int, Field(strict=True, ge=0, le=100_000)]
    monthly_price: Annotated[Decimal, Field(ge=0, le=1_000_000, max_digits=10, decimal_places=2)]
    model_budget_usd: UsdBudget
    model_rpm: ModelRpm
    model_tpm: ModelTpm
    models: tuple[ModelId, ...] = Field(min_length=1)
    # Gateway runtime profile: "lean" loads only the plugins a hosted tenant uses (see bench/RESULTS.md).
    profile: Profile = "standard"
    # Replaces the target's egress mode for this plan's tenants (a stricter or a wider plan).
    egress: EgressMode | None = None
    backup: PlanBackup = PlanBackup()

    @field_validator("egress", mode="before")
    @classmethod
    def _egress(cls, value: object) -> object:
        return _renamed_direct(value)


class Capacity(Frozen):
    """What a Docker host can give its tenants."""

    cpus: Cpus
    memory_gib: Annotated[float, Field(strict=True, gt=0, le=65536, allow_inf_nan=False)]
    networks: Annotated[int, Field(strict=True, ge=2, le=1_000_000)] = Field(
        description="user networks the daemon's address pools allow (~30 with Docker's defaults)"
    )
    # The disk space tenants' disks may take under the target's storage root; unset, it is not checked (warned).
    storage_gib: Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)] | None = None


class Overcommit(Frozen):
    """How far the sum of tenant limits may exceed capacity (1.0 = not at all)."""

    cpu: Annotated[float, Field(strict=True, ge=1, le=16, allow_inf_nan=False)] = 1.0
    memory: Annotated[float, Field(strict=True, ge=1, le=4, allow_inf_nan=False)] = 1.0
    # Tenant disks are sparse files: they take only what is written, so a host may promise more than it has.
    storage: Annotated[float, Field(strict=True, ge=1, le=4, allow_inf_nan=False)] = 1.0


K8S_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
CONFIG_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def check_k8s_name(value: str) -> str:
    if not K8S_NAME.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes object name (lowercase letters, digits, '-', '.')")
    return value


def check_config_key(value: str) -> str:
    if not CONFIG_KEY.match(value):
        raise ValueError(f"{value!r} is not a Pulumi config key name (letters, digits, '-', '_')")
    return value


K8sName = Annotated[str, Field(strict=True), AfterValidator(check_k8s_name)]
ConfigKey = Annotated[str, Field(strict=True), AfterValidator(check_config_key)]


EdgeTlsMode = Literal["none", "certificate"]
DEFAULT_EDGE_TLS_KEYS = ("edgeTlsCert", "edgeTlsKey")  # the certificate's and its key's config keys
# OpenClaw allows each client address 32 unauthenticated sockets; the edge's own per-client limit stays
# above that, so the gateway's guard answers first and a client keeps room for authenticated sockets.
GATEWAY_UNAUTH_SOCKETS = 32
EDGE_SUBNET_MAX_PREFIX = 28
HTTPS_PORT, HTTP_PORT = 443, 80  # the ports a URL leaves out
# A tenant URL pattern: the scheme, `{id}` as the host's first label, the rest of the DNS name, a port.
PUBLIC_URL = re.compile(r"^(?P<scheme>https?)://\{id\}\.(?P<domain>[^:/]+)(?::(?P<port>\d{1,5}))?$")


class EdgeTls(Frozen):
    """TLS at a Docker target's edge proxy.

    `none`: plain HTTP, for an edge on a loopback address or behind the operator's own TLS load balancer
    (`public_url: https://...`). `certificate`: the edge terminates TLS with the operator's certificate for
    `*.<domain>`, PEM text in two Pulumi secret config keys (the certificate with its chain, then its key),
    so no key material is ever in tenants.yaml. `tls: certificate` is short for `{mode: certificate}`.
    """

    mode: EdgeTlsMode = "none"
    cert: ConfigKey = DEFAULT_EDGE_TLS_KEYS[0]
    key: ConfigKey = DEFAULT_EDGE_TLS_KEYS[1]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"mode": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _keys(self) -> EdgeTls:
        if self.mode == "none" and (self.cert, self.key) != DEFAULT_EDGE_TLS_KEYS:
            raise ValueError(
                "cert and key name the config keys of mode certificate; remove them, or set mode: certificate"
            )
        if self.cert == self.key:
            raise ValueError(f"cert and key must be two different config keys, not {self.cert!r} twice")
        return self

    def config_keys(self) -> tuple[str, str]:
        return (self.cert, self.key)


def _public_url(value: str | None) -> str | None:
    if value is None:
        return None
    match = PUBLIC_URL.match(value)
    if not match:
        raise ValueError(
            f"{value!r} is not a tenant URL pattern like https://{{id}}.tenants.example.com: a scheme, {{id}} "
            "(each tenant's id) as the first label of the host, the rest of its DNS name, an optional :PORT, "
            "no path"
        )
    check_domain(match["domain"])
    if match["port"] and not 1 <= int(match["port"]) <= 65535:
        raise ValueError(f"{value!r}: port {match['port']} is not between 1 and 65535")
    return value


class Edge(Frozen):
    """Where a target's edge proxy listens on its host, the subnet of its own network, its TLS, and the
    URL tenants are reached at when the operator's load balancer stands in front of it.

    The edge network lies outside the tenant address pools: gateways trust exactly those pools as
    proxies, so a client arriving through the host's port forwarding (from the edge network's
    gateway address) is still attributed as a client.
    """

    address: str = "127.0.0.1"
    port: Port = 8080
    # With tls certificate: plain HTTP on this host port answers every known host with a 308 to https.
    http_port: Port | None = None
    subnet: str = "10.255.255.0/24"
    tls: EdgeTls = EdgeTls()
    # `https://{id}.tenants.example.com[:PORT]`: what clients use when a load balancer fronts the edge; its
    # host names replace the fleet's domain for this target's tenants, as a cluster's `domain` does.
    public_url: Annotated[str | None, AfterValidator(_public_url)] = None
    # The operator's load balancers: only a peer in these ranges may name the client (X-Forwarded-For,
    # or the PROXY protocol header with proxy_protocol: true, which every connection must then send).
    trusted_proxies: tuple[str, ...] = ()
    proxy_protocol: bool = False
    # Per client (its address) and tenant: open connections, and the share of the tenant's plan rate and
    # burst one client may use; the tenant's own limits apply on top.
    client_connections: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 64
    tenant_connections: Annotated[int, Field(strict=True, ge=1, le=4096)] = 1024
    client_rate_share: Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)] = 0.5

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str) -> str:
        net = ipaddress.ip_network(value)
        if net.version != 4 or net.prefixlen > EDGE_SUBNET_MAX_PREFIX:
            raise ValueError(
                f"{value} must be an IPv4 network of /{EDGE_SUBNET_MAX_PREFIX} or larger: the edge listens on "
                "its second address and the operator's load balancers may join it"
            )
        return value

    @field_validator("client_connections")
    @classmethod
    def _above_the_gateways_own(cls, value: int) -> int:
        if value <= GATEWAY_UNAUTH_SOCKETS:
            raise ValueError(
                f"{value} is not above the {GATEWAY_UNAUTH_SOCKETS} unauthenticated sockets each gateway allows "
                "one client: the edge would refuse a client's signed-in sockets while its handshakes wait"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in _check_cidrs(value):
            if ipaddress.ip_network(cidr).prefixlen == 0:
                raise ValueError(
                    f"{cidr} trusts every address: any client could name any client address, undoing "
                    "per-client limits and the gateways' per-address lockouts; list your load balancers"
                )
        return value

    @model_validator(mode="after")
    def _client_limits(self) -> Edge:
        if self.proxy_protocol and not self.trusted_proxies:
            raise ValueError("proxy_protocol needs trusted_proxies: the load balancers allowed to send it")
        if self.client_connections > self.tenant_connections:
            raise ValueError(
                f"client_connections {self.client_connections} is above tenant_connections "
                f"{self.tenant_connections}: one client would be limited only by its tenant's total"
            )
        return self

    @field_validator("address")
    @classmethod
    def _ip(cls, value: str) -> str:
        if ipaddress.ip_address(value).is_unspecified:
            raise ValueError(
                f"{value!r} publishes on every host address; name the address to listen on "
                "(127.0.0.1 behind a local load balancer, or the host's public address)"
            )
        return value

    @model_validator(mode="after")
    def _plain_http_only_where_safe(self) -> Edge:
        """Tokens travel in every request: plain HTTP only on the host itself or behind the operator's TLS."""
        public = self._public()
        certificate = self.tls.mode == "certificate"
        if not certificate and not ipaddress.ip_address(self.address).is_loopback and public[0] != "https":
            raise ValueError(
                f"the edge on {self.address} (not a loopback address) would serve tenants in plain HTTP: their "
                "tokens would cross the network unencrypted, and the openclaw CLI refuses ws:// to it. Set "
                "tls: certificate (a certificate for *.<domain> in the secret config keys edgeTlsCert and "
                "edgeTlsKey), or, behind your own TLS load balancer, public_url: https://{id}.<domain>"
            )
        if certificate and public[0] == "http":
            raise ValueError(f"public_url {self.public_url} is http, but the edge serves TLS: use https://")
        if self.http_port is not None and not certificate:
            raise ValueError(
                "http_port answers plain HTTP with a redirect to https, which needs tls: certificate; "
                "without it the edge's port already speaks plain HTTP"
            )
        if self.http_port == self.port:
            raise ValueError(f"http_port and port are both {self.port}; the redirect needs a port of its own")
        return self

    def _public(self) -> tuple[str | None, str | None, int | None]:
        """The scheme, domain and port of ``public_url``; all None without one."""
        match = PUBLIC_URL.match(self.public_url or "")
        if not match:
            return (None, None, None)
        return (match["scheme"], match["domain"], int(match["port"]) if match["port"] else None)

    @property
    def scheme(self) -> str:
        """What clients speak to tenants: https when the edge or a load balancer in front terminates TLS."""
        given = self._public()[0]
        return given or ("https" if self.tls.mode == "certificate" else "http")

    @property
    def public_domain(self) -> str | None:
        """The domain of ``public_url``; None: the fleet's."""
        return self._public()[1]

    @property
    def public_port(self) -> int:
        """The port clients reach tenants on."""
        scheme, domain, port = self._public()
        if domain is not None:
            return port or (HTTPS_PORT if scheme == "https" else HTTP_PORT)
        return self.port

    def url_of(self, host: str) -> str:
        """A tenant's URL from its host name; the scheme's own port is left out."""
        port = self.public_port
        default = HTTPS_PORT if self.scheme == "https" else HTTP_PORT
        return f"{self.scheme}://{host}" + ("" if port == default else f":{port}")


class Dns(Frozen):
    """How tenant host names get into DNS."""

    mode: Literal["none", "external-dns", "cloudflare"] = "none"
    # cloudflare: the Pulumi config key holding the zone id, and what the records point at
    zone_id_config: ConfigKey = "cloudflareZoneId"
    record_target: str | None = None
    proxied: bool = False

    @model_validator(mode="after")
    def _cloudflare_needs_target(self) -> Dns:
        if self.mode == "cloudflare" and not self.record_target:
            raise ValueError("dns mode cloudflare needs record_target: the IP or host name records point at")
        return self


def _check_upstreams(value: dict[ModelProvider, str]) -> dict[ModelProvider, str]:
    return {provider: check_base_url(url) for provider, url in value.items()}


Upstreams = Annotated[dict[ModelProvider, Annotated[str, Field(strict=True)]], AfterValidator(_check_upstreams)]


class DockerModelGateway(Frozen):
    """A Docker target's model gateway: whether it may reach the internet, and upstream overrides
    (an on-premises or test upstream instead of a provider's public API)."""

    egress: ModelEgress = "internet"
    upstreams: Upstreams = Field(default_factory=dict)


class ClusterModelGateway(Frozen):
    """A cluster's model gateway: its platform namespace, and upstream overrides."""

    namespace: K8sName = "openclaw-models"
    upstreams: Upstreams = Field(default_factory=dict)


def _renamed_direct(value: object) -> object:
    if value == "direct":
        raise ValueError(
            "egress 'direct' is now 'direct-unfiltered': it lets tenants reach cloud metadata, the host "
            "and private networks; use 'internet' (public addresses on allowed ports) or 'models'"
        )
    return value


def _check_cidrs(value: tuple[str, ...]) -> tuple[str, ...]:
    for cidr in value:
        try:
            ipaddress.ip_network(cidr)
        except ValueError as exc:
            raise ValueError(f"{cidr!r} is not a CIDR like 203.0.113.0/24 ({exc})") from None
    return value


Cidrs = Annotated[tuple[str, ...], AfterValidator(_check_cidrs)]


class DockerEgress(Frozen):
    """What a Docker target's tenants may reach: the mode (a plan may replace it), and for `internet`
    the allowed ports, further excluded ranges and the one DNS resolver tenants may use."""

    mode: EgressMode = "models"
    ports: tuple[Port, ...] = Field(default=(443,), min_length=1)
    excluded: Cidrs = ()  # beyond tenants/egress_ranges.py, e.g. the provider's public service ranges
    resolver: str | None = None  # without one, `internet` tenants resolve no names but their own

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"mode": _renamed_direct(value)} if isinstance(value, str) else value

    @field_validator("resolver")
    @classmethod
    def _resolver(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"resolver must be an IP address like 10.0.0.2, not {value!r}") from None
        return value


StorageMode = Literal["disk", "volume"]


class DockerStorage(Frozen):
    """Where a Docker target keeps tenants' data.

    `disk` (the default): each tenant gets an ext4 file system of its own, a sparse image under `root` on the
    host holding exactly `storage_gib` GiB and `storage_gib x inodes_per_gib` inodes, so a tenant that fills its
    disk gets ENOSPC and every other tenant and the host keep writing. `volume`: a plain Docker volume on the
    daemon's data root, unbounded, for hosts that cannot loop-mount (and stacks deployed before disks).
    """

    mode: StorageMode = "disk"
    root: str = "/var/lib/openclaw-tenants/disks"
    inodes_per_gib: Annotated[int, Field(strict=True, ge=1024, le=1_048_576)] = 65536

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", value) or "/../" in f"{value}/" or "/./" in f"{value}/":
            raise ValueError(f"root must be an absolute host path like /var/lib/openclaw-tenants/disks, not {value!r}")
        return value


DOCKER_PLAIN_PORT = 2375  # Docker's port for unencrypted TCP; --tlsverify daemons listen on 2376


class DockerHostTls(Frozen):
    """The client certificate a tcp:// Docker host demands (dockerd --tlsverify): three Pulumi secret config
    keys holding PEM text, so no key material is ever in tenants.yaml. `tls: NAME` is short for the keys
    NAMEDockerCa, NAMEDockerCert and NAMEDockerKey."""

    ca: ConfigKey  # the CA that signed the daemon's certificate
    cert: ConfigKey  # this program's client certificate, signed by a CA the daemon trusts
    key: ConfigKey  # that certificate's private key

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        if isinstance(value, str):
            return {"ca": f"{value}DockerCa", "cert": f"{value}DockerCert", "key": f"{value}DockerKey"}
        return value

    @model_validator(mode="after")
    def _distinct(self) -> DockerHostTls:
        if len({self.ca, self.cert, self.key}) < 3:
            raise ValueError(f"ca, cert and key must be three different config keys, not {self.config_keys()}")
        return self

    def config_keys(self) -> tuple[str, str, str]:
        return (self.ca, self.cert, self.key)


def _tcp_port(host: str) -> int | None:
    try:
        return urlsplit(host).port
    except ValueError:
        raise ValueError(f"must be tcp://HOST:PORT with a port number, not {host!r}") from None


def _plain_tcp_message(host: str) -> str:
    return (
        f"{host} needs tls: a Docker daemon on plain TCP gives root on its host to anyone who reaches the "
        "port. Start dockerd with --tlsverify (port 2376), store its CA and a client certificate and key as "
        "secrets: `pulumi config set --secret NAMEDockerCa < ca.pem` (likewise NAMEDockerCert < cert.pem, "
        "NAMEDockerKey < key.pem), and set `tls: NAME` (or tls: {ca: KEY, cert: KEY, key: KEY}); "
        "or reach the host over ssh://USER@HOST"
    )


class DockerTarget(Frozen):
    """One Docker host."""

    type: Literal["docker"]
    host: str = "unix:///var/run/docker.sock"
    egress: DockerEgress = DockerEgress()
    capacity: Capacity
    overcommit: Overcommit = Overcommit()
    edge: Edge = Edge()
    address_pools: tuple[str, ...] = ("172.16.0.0/12", "192.168.0.0/16")
    dns: Dns = Dns()
    model_gateway: DockerModelGateway = DockerModelGateway()
    tls: DockerHostTls | None = None  # required by, and only for, a tcp:// host
    # plan → a runtime registered with this host's daemon (daemon.json "runtimes"), e.g. gVisor's runsc
    runtime: dict[str, str] = Field(default_factory=dict)
    storage: DockerStorage = DockerStorage()

    @field_validator("runtime")
    @classmethod
    def _runtime(cls, value: dict[str, str]) -> dict[str, str]:
        for plan, name in value.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name):
                raise ValueError(
                    f"plan {plan!r}: {name!r} is not a Docker runtime name (letters, digits, '.', '_', '-'), "
                    'like runsc: a name under "runtimes" in the daemon.json of the host'
                )
        return value

    @field_validator("dns")
    @classmethod
    def _dns_mode(cls, value: Dns) -> Dns:
        if value.mode == "external-dns":
            raise ValueError("dns mode external-dns needs a Kubernetes target; use none or cloudflare")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not re.match(r"^(unix|tcp|ssh)://\S+$", value):
            raise ValueError(f"must be unix://PATH, tcp://HOST:PORT or ssh://USER@HOST, not {value!r}")
        if value.startswith("tcp://"):
            _tcp_port(value)
        return value

    @model_validator(mode="after")
    def _host_tls(self) -> DockerTarget:
        """Only mutual TLS makes a TCP daemon safe to expose; unix:// and ssh:// are secured by the host."""
        tcp = self.host.startswith("tcp://")
        if tcp and self.tls is None:
            raise ValueError(_plain_tcp_message(self.host))
        if not tcp and self.tls is not None:
            raise ValueError(
                f"tls is for tcp:// hosts only; {self.host} is guarded by file permissions or SSH keys: remove tls"
            )
        if tcp and _tcp_port(self.host) == DOCKER_PLAIN_PORT:
            raise ValueError(
                f"{self.host}: port {DOCKER_PLAIN_PORT} is Docker's unencrypted port; a daemon with "
                "--tlsverify listens on 2376: use tcp://HOST:2376"
            )
        return self

    @field_validator("address_pools")
    @classmethod
    def _pools(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one CIDR")
        for cidr in value:
            ipaddress.ip_network(cidr)
        return value

    @model_validator(mode="after")
    def _edge_outside_pools(self) -> DockerTarget:
        edge = ipaddress.ip_network(self.edge.subnet)
        for cidr in self.address_pools:
            if edge.overlaps(ipaddress.ip_network(cidr)):
                raise ValueError(
                    f"edge.subnet {self.edge.subnet} overlaps address pool {cidr}; tenant gateways trust "
                    "the pools as proxies, so the edge network must lie outside them"
                )
        return self


class ClusterCapacity(Frozen):
    """What a Kubernetes cluster can give its tenants (allocatable, summed over nodes)."""

    cpus: Annotated[float, Field(strict=True, gt=0, le=1_000_000, allow_inf_nan=False)]
    memory_gib: Annotated[float, Field(strict=True, gt=0, le=100_000_000, allow_inf_nan=False)]
    storage_gib: Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)]


class Tls(Frozen):
    """TLS at the ingress: none, a cert-manager issuer, or the controller's wildcard certificate."""

    mode: Literal["none", "cert-manager", "wildcard-secret"] = "none"
    issuer: K8sName | None = None
    secret: K8sName | None = None

    @model_validator(mode="after")
    def _fields_for_mode(self) -> Tls:
        if self.mode == "cert-manager" and not self.issuer:
            raise ValueError("tls mode cert-manager needs issuer: the ClusterIssuer's name")
        if self.mode == "wildcard-secret" and not self.secret:
            raise ValueError("tls mode wildcard-secret needs secret: the wildcard certificate's Secret")
        return self


# What the NetworkPolicy of a cluster's tenants lets out in each mode that takes no `cidrs`.
_CLOSED_CLUSTER_MODES: dict[str, str] = {
    "none": "nothing, not even cluster DNS",
    "models": "cluster DNS and the model gateway only",
}


def _listing(ranges: list[ForbiddenRange]) -> str:
    named = [f"{r.cidr} ({r.why})" for r in ranges]
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"


def _cluster_egress_problems(egress: ClusterEgress) -> list[str]:
    """Everything wrong with a cluster's egress: a mode Kubernetes cannot enforce, cidrs that do not
    fit the mode, allowed ranges that reach a forbidden or node range, exclusions carved out of
    nothing (Kubernetes refuses an ipBlock `except` outside its `cidr`)."""
    problems: list[str] = []
    if egress.mode == UNFILTERED:
        problems.append(
            "egress mode direct-unfiltered is for Docker targets only: a NetworkPolicy always applies to "
            "Kubernetes tenants; use internet with cidrs and excluded"
        )
    elif egress.mode == "internet" and not egress.cidrs:
        problems.append(
            "egress mode internet needs cidrs, the ranges tenants may reach on egress.ports "
            "(e.g. [0.0.0.0/0, ::/0] with every forbidden range in egress.excluded)"
        )
    elif egress.mode != "internet" and egress.cidrs:
        problems.append(
            f"egress.cidrs apply only to mode internet, and this cluster's egress mode is {egress.mode!r} "
            f"({_CLOSED_CLUSTER_MODES[egress.mode]}); set mode: internet or remove cidrs"
        )
    allowed = [(cidr, ipaddress.ip_network(cidr)) for cidr in egress.cidrs]
    excluded = [(cidr, ipaddress.ip_network(cidr)) for cidr in egress.excluded]
    carved = tuple(net for _, net in excluded)
    nodes = tuple(ForbiddenRange(cidr, "a node range of this cluster") for cidr in egress.node_cidrs)
    for cidr, net in allowed:
        covering = [e for e, ex in excluded if ex.version == net.version and net.subnet_of(ex)]  # type: ignore[arg-type]
        if covering:
            problems.append(f"egress.cidrs {cidr} lies inside egress.excluded {covering[0]}, so it allows nothing")
            continue
        reached = uncovered_forbidden(net, carved, nodes)
        if reached:
            them = "it" if len(reached) == 1 else "them"
            problems.append(f"egress.cidrs {cidr} reaches {_listing(reached)}; add {them} to egress.excluded")
    for version in (4, 6):
        same = [(a, an) for a, an in allowed if an.version == version]
        outside = [e for e, ex in excluded if ex.version == version and not any(ex.overlaps(an) for _, an in same)]
        if outside:
            lies, it = ("lies", "it") if len(outside) == 1 else ("lie", "them")
            problems.append(
                f"egress.excluded {', '.join(outside)} {lies} outside every IPv{version} range of egress.cidrs "
                f"({', '.join(a for a, _ in same) or 'there is none'}): an exclusion is carved out of an "
                f"allowed range (Kubernetes refuses an except outside its cidr); remove {it} or allow a range "
                f"around {it}"
            )
    return problems


class ClusterEgress(Frozen):
    """Where tenant pods may connect besides their own namespace: nothing, cluster DNS and the model
    gateway, or also `cidrs` on `ports` less `excluded` (mode internet). Every range the cluster's
    tenants may reach stays clear of tenants/egress_ranges.py and of the cluster's own nodes."""

    mode: EgressMode = "models"
    cidrs: Cidrs = ()
    excluded: Cidrs = ()  # carved out of `cidrs`: every forbidden range they reach, and any other
    node_cidrs: Cidrs = ()  # the nodes' addresses (kubelets, node ports), forbidden like private ranges
    ports: tuple[Port, ...] = Field(default=(443,), min_length=1)  # an empty list would mean every port

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"mode": value} if isinstance(value, str) else value

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        return _renamed_direct(value)

    @model_validator(mode="after")
    def _reach(self) -> ClusterEgress:
        problems = _cluster_egress_problems(self)
        if len(problems) > 1:
            numbered = "; ".join(f"({n}) {p}" for n, p in enumerate(problems, 1))
            raise ValueError(f"{len(problems)} problems: {numbered}")
        if problems:
            raise ValueError(problems[0])
        return self


class KubernetesTarget(Frozen):
    """One Kubernetes cluster; each tenant gets a namespace of its own."""

    type: Literal["kubernetes"]
    kubeconfig_secret: ConfigKey | None = None
    context: str | None = None
    domain: str | None = None
    ingress_class: K8sName = "nginx"
    ingress_namespace: K8sName = "ingress-nginx"
    dns_namespace: K8sName = "kube-system"
    tls: Tls = Tls()
    dns: Dns = Dns()
    storage_class: K8sName | None = None
    runtime_class: dict[str, K8sName] = Field(default_factory=dict)
    egress: ClusterEgress = ClusterEgress()
    # Where the ingress controller's pods live; gateways trust forwarded client addresses from there.
    trusted_proxies: tuple[str, ...] = ("10.0.0.0/8",)
    capacity: ClusterCapacity
    overcommit: Overcommit = Overcommit()
    model_gateway: ClusterModelGateway = ClusterModelGateway()

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one CIDR: the ingress controller's pod network")
        for cidr in value:
            ipaddress.ip_network(cidr)
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        return None if value is None else check_domain(value)

    @model_validator(mode="after")
    def _one_kubeconfig(self) -> KubernetesTarget:
        if (self.kubeconfig_secret is None) == (self.context is None):
            raise ValueError(
                "set exactly one of kubeconfig_secret (a Pulumi config key holding a kubeconfig, "
                "set with --secret) or context (a context of the operator's kubeconfig)"
            )
        return self


Target = Annotated[DockerTarget | KubernetesTarget, Field(discriminator="type")]
TargetT = TypeVar("TargetT", DockerTarget, KubernetesTarget)


class Images(Frozen):
    """Image repositories; the OpenClaw tag comes from the tenant's channel."""

    openclaw: str = "ghcr.io/openclaw/openclaw"
    proxy: str = "docker.io/library/nginx:1.27.5"
    # Built from Debian and PyPI packages (tests/e2e/images/build.sh); push it to your registry.
    model_gateway: str = "openclaw-local/model-gateway:1.83.10-1"
    # Debian's nftables in a minimal image (tests/e2e/images/build.sh): applies each Docker host's egress rules.
    egress_filter: str = "openclaw-local/egress-filter:1.0.6-1"
    # Debian's restic, e2fsprogs and the data_agent package (tests/e2e/images/build.sh): tenant disks and backups.
    data_agent: str = "openclaw-local/data-agent:0.14.0-1"

    @field_validator("openclaw")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$", value):
            raise ValueError(
                f"must be an image repository without a tag, like ghcr.io/openclaw/openclaw, not {value!r}"
            )
        return value

    @field_validator("proxy", "model_gateway", "egress_filter", "data_agent")
    @classmethod
    def _pinned(cls, value: str) -> str:
        name, _, tag = value.rpartition(":")
        if "@sha256:" in value:
            return value
        if not name or "/" in tag or tag in ("", "latest", "mainline", "stable"):
            raise ValueError(f"must be pinned to an exact tag or digest, like nginx:1.27.5, not {value!r}")
        return value


RepositoryKind = Literal["local", "sftp", "s3"]
SFTP_URL = re.compile(
    r"^sftp://(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:(?P<port>\d{1,5}))?/(?P<path>/\S+)$"
)
SFTP_SHORT = re.compile(r"^sftp:(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>/\S+)$")
S3_URL = re.compile(r"^s3:https?://[A-Za-z0-9.-]+(:\d{1,5})?/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$")
LOCAL_PATH = re.compile(r"^(/[A-Za-z0-9._-]+)+$")


def repository_kind(repository: str) -> RepositoryKind:
    """What kind of restic repository a `backups.repository` names; ValueError for anything else."""
    if LOCAL_PATH.match(repository) and "/../" not in f"{repository}/":
        return "local"
    if SFTP_URL.match(repository) or SFTP_SHORT.match(repository):
        return "sftp"
    if S3_URL.match(repository):
        return "s3"
    raise ValueError(
        f"{repository!r} is not a restic repository this product can use: an absolute path (/srv/openclaw-backups), "
        "sftp://USER@HOST[:PORT]//PATH, sftp:USER@HOST:/PATH, or s3:https://HOST/BUCKET[/PREFIX]"
    )


class Backups(Frozen):
    """The fleet's one restic repository: every tenant's snapshots, tagged with its id, so a tenant keeps them
    when it moves between targets. Encrypted with the password in Pulumi secret config `password`.

    A local path is bind-mounted at the same path into each Docker host's backup agent: with several hosts it
    must be storage they share. SFTP needs the server's `known_hosts` lines and a private key in secret config
    `ssh_key`; S3 the access keys in secret config `s3_access_key` and `s3_secret_key`. Kubernetes backup jobs
    may connect to cluster DNS and to `cidrs` on `port`, 443 and 6443, and to nothing else: `cidrs` lists the
    repository's addresses and the API server's endpoints (`kubectl get endpoints kubernetes`), which a job
    scales its gateway down and up through.
    """

    repository: str
    password: ConfigKey = "backupPassword"
    ssh_key: ConfigKey = "backupSshKey"
    known_hosts: str | None = None
    s3_access_key: ConfigKey = "backupS3AccessKey"
    s3_secret_key: ConfigKey = "backupS3SecretKey"
    stop_timeout_s: Annotated[int, Field(strict=True, ge=1, le=600)] = 30
    max_stop_s: Annotated[int, Field(strict=True, ge=10, le=86400)] = 900
    cidrs: Cidrs = ()
    port: Port = 443

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        repository_kind(value)
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Backups:
        if self.kind == "sftp" and not (self.known_hosts or "").strip():
            raise ValueError(
                "an sftp repository needs known_hosts: the server's host key lines (ssh-keyscan output checked "
                "out of band), so a backup never goes to a server that only claims the name"
            )
        if self.kind != "sftp" and self.known_hosts is not None:
            raise ValueError("known_hosts is for sftp repositories only; remove it")
        return self

    @property
    def kind(self) -> RepositoryKind:
        return repository_kind(self.repository)

    @property
    def reaches_pods(self) -> bool:
        """A cluster's backup jobs can use it: a path on the Docker hosts is out of every pod's reach."""
        return self.kind != "local"

    def secret_keys(self) -> tuple[str, ...]:
        """The Pulumi secret config keys this repository needs."""
        extra = {"local": (), "sftp": (self.ssh_key,), "s3": (self.s3_access_key, self.s3_secret_key)}
        return (self.password, *extra[self.kind])


class Defaults(Frozen):
    """Values a tenant entry may leave out."""

    plan: str = "basic"
    target: str | None = None
    model_provider: ModelProvider | None = None
    channel: str = "stable"
    shard: str = "default"


class Overrides(Frozen):
    """Per-tenant raises of the plan's limits, never beyond the plan's max."""

    cpus: Cpus | None = None
    memory_gib: MemoryGiB | None = None
    storage_gib: StorageGiB | None = None
    model_budget_usd: UsdBudget | None = None
    model_rpm: ModelRpm | None = None
    model_tpm: ModelTpm | None = None


class Tenant(Frozen):
    """One customer. Defaults are already applied by the loader."""

    id: str
    plan: str
    target: str
    model_provider: ModelProvider
    state: TenantState = DEFAULT_STATE
    shard: str
    channel: str
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    overrides: Overrides = Overrides()
    rotation: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] = 0
    # The host uid/gid its gateway runs as, instead of the one derived from its id (tenants/host_uid.py):
    # only to settle a collision with another tenant of its target. Changing it re-owns its data.
    host_uid: Annotated[int, Field(strict=True, ge=HOST_UID_MIN, le=HOST_UID_MAX)] | None = None
    # Its own host name instead of <id>.<domain>, on a registrable domain no other tenant uses, so that
    # browsers keep its cookies to it (tenants/cookie_sites.py).
    domain: DottedDomain | None = None
    # Docker targets that still hold an earlier copy of its data after `tenantctl move`, until
    # `tenantctl purge ID --from-target T` deletes it.
    retained_on: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_tenant_id(value)

    @field_validator("shard", "channel")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @property
    def live(self) -> bool:
        """Whether the tenant still has a network (active or suspended)."""
        return self.state != "offboarded"


def effective_limits(plan: Plan, overrides: Overrides) -> Limits:
    """The plan's limits with a tenant's overrides applied."""
    return Limits(
        cpus=plan.cpus if overrides.cpus is None else overrides.cpus,
        memory_gib=plan.memory_gib if overrides.memory_gib is None else overrides.memory_gib,
        storage_gib=plan.storage_gib if overrides.storage_gib is None else overrides.storage_gib,
    )


class ModelAllowance(Frozen):
    """What a tenant may spend at its model gateway: its plan's allowance with its overrides."""

    budget_usd: Decimal  # per calendar month (UTC)
    rpm: int
    tpm: int
    models: tuple[str, ...]  # the plan's allowlist
    own_models: tuple[str, ...]  # those of the tenant's provider, in the plan's order

    @property
    def default_model(self) -> str:
        """The first allowed model of the tenant's provider."""
        return self.own_models[0]


def effective_model_allowance(plan: Plan, tenant: Tenant, catalog: dict[str, CatalogModel]) -> ModelAllowance:
    """The plan's model allowance raised by the tenant's overrides; the loader has checked that the
    tenant's provider has an allowed model."""
    overrides = tenant.overrides
    return ModelAllowance(
        budget_usd=plan.model_budget_usd if overrides.model_budget_usd is None else overrides.model_budget_usd,
        rpm=plan.model_rpm if overrides.model_rpm is None else overrides.model_rpm,
        tpm=plan.model_tpm if overrides.model_tpm is None else overrides.model_tpm,
        models=plan.models,
        own_models=tuple(m for m in plan.models if m in catalog and catalog[m].provider == tenant.model_provider),
    )


class Fleet(Frozen):
    """A whole validated fleet; built only by ``tenants.load``."""

    version: Literal[1]
    domain: str
    images: Images
    channels: dict[str, str]
    defaults: Defaults
    plans: dict[str, Plan]
    targets: dict[str, Target]
    tenants: tuple[Tenant, ...]
    models: dict[str, CatalogModel] = Field(default_factory=dict)
    # Domains of this fleet that the operator has put on the Public Suffix List (as github.io is): to
    # browsers, each tenant host under one is a site of its own (tenants/cookie_sites.py).
    public_suffixes: tuple[DottedDomain, ...] = ()
    backups: Backups | None = None  # absent: no backups anywhere (tenants/fleet_warnings.py says so)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return check_domain(value)

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: dict[str, str]) -> dict[str, str]:
        for name, version in value.items():
            check_channel(name, version)
        return value

    def target_as(self, name: str, kind: type[TargetT]) -> TargetT:
        """Target ``name``, which must be of ``kind`` (a spec builder for one backend asks for its own)."""
        target = self.targets[name]
        if not isinstance(target, kind):
            raise TypeError(f"target {name!r} is a {target.type} target, not {kind.__name__}")
        return target

    def tenant(self, tenant_id: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.id == tenant_id:
                return tenant
        raise KeyError(tenant_id)

    def limits(self, tenant: Tenant) -> Limits:
        return effective_limits(self.plans[tenant.plan], tenant.overrides)

    def version_of(self, tenant: Tenant) -> str:
        return self.channels[tenant.channel]

    def shards(self) -> tuple[str, ...]:
        return tuple(sorted({t.shard for t in self.tenants}))

    def host(self, tenant: Tenant) -> str:
        return public_host(tenant.id, self.domain, self.targets[tenant.target], own_domain=tenant.domain)

    def url(self, tenant: Tenant) -> str:
        target = self.targets[tenant.target]
        return public_url(self.host(tenant), target)


def public_host(
    tenant_id: str, fleet_domain: str, target: DockerTarget | KubernetesTarget, *, own_domain: str | None = None
) -> str:
    """A tenant's public host name: its own domain, if it has one; else under the fleet's domain, which a
    cluster, or an edge's ``public_url``, may replace with its own."""
    if own_domain is not None:
        return own_domain
    own = target.domain if isinstance(target, KubernetesTarget) else target.edge.public_domain
    return f"{tenant_id}.{own or fleet_domain}"


def public_url(host: str, target: DockerTarget | KubernetesTarget) -> str:
    """Where a tenant is reached: a cluster's ingress (https with TLS), or a Docker host's edge (https with
    its certificate or behind the operator's TLS, on its port or ``public_url``'s)."""
    if isinstance(target, KubernetesTarget):
        scheme = "http" if target.tls.mode == "none" else "https"
        return f"{scheme}://{host}"
    return target.edge.url_of(host)
