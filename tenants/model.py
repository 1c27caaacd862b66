"""The schema of tenants.yaml, version 1: frozen pydantic models, unknown keys refused."""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from .contract import DEFAULT_STATE, TenantState

SCHEMA_VERSION = 1

ModelProvider = Literal["kimi", "minimax", "anthropic", "openai", "openrouter"]
Egress = Literal["direct", "none"]
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
}


def check_domain(value: str) -> str:
    labels = value.split(".")
    if len(value) > 200 or not all(DNS_LABEL.match(label) and len(label) <= 63 for label in labels):
        raise ValueError(f"{value!r} is not a lowercase DNS name like tenants.example.com")
    return value


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


class Capacity(Frozen):
    """What a Docker host can give its tenants."""

    cpus: Cpus
    memory_gib: Annotated[float, Field(strict=True, gt=0, le=65536, allow_inf_nan=False)]
    networks: Annotated[int, Field(strict=True, ge=2, le=1_000_000)] = Field(
        description="user networks the daemon's address pools allow (~30 with Docker's defaults)"
    )


class Overcommit(Frozen):
    """How far the sum of tenant limits may exceed capacity (1.0 = not at all)."""

    cpu: Annotated[float, Field(strict=True, ge=1, le=16, allow_inf_nan=False)] = 1.0
    memory: Annotated[float, Field(strict=True, ge=1, le=4, allow_inf_nan=False)] = 1.0


class Edge(Frozen):
    """Where a target's edge proxy listens on its host, and the subnet of its own network.

    The edge network lies outside the tenant address pools: gateways trust exactly those pools as
    proxies, so a client arriving through the host's port forwarding (from the edge network's
    gateway address) is still attributed as a client.
    """

    address: str = "127.0.0.1"
    port: Annotated[int, Field(strict=True, ge=1, le=65535)] = 8080
    subnet: str = "10.255.255.0/24"

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str) -> str:
        ipaddress.ip_network(value)
        return value

    @field_validator("address")
    @classmethod
    def _ip(cls, value: str) -> str:
        if ipaddress.ip_address(value).is_unspecified:
            raise ValueError(
                f"{value!r} publishes on every host address; name the address to listen on "
                "(127.0.0.1 behind a local load balancer, or the host's public address)"
            )
        return value


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


class DockerTarget(Frozen):
    """One Docker host."""

    type: Literal["docker"]
    host: str = "unix:///var/run/docker.sock"
    egress: Egress = "direct"
    capacity: Capacity
    overcommit: Overcommit = Overcommit()
    edge: Edge = Edge()
    address_pools: tuple[str, ...] = ("172.16.0.0/12", "192.168.0.0/16")
    dns: Dns = Dns()
    model_gateway: DockerModelGateway = DockerModelGateway()

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
        return value

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


class ClusterEgress(Frozen):
    """Where tenant pods may connect besides cluster DNS: the model providers, or an egress proxy."""

    cidrs: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()  # carved out of `cidrs`, e.g. private ranges and cloud metadata
    ports: tuple[Annotated[int, Field(strict=True, ge=1, le=65535)], ...] = (443,)

    @field_validator("cidrs", "excluded")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            ipaddress.ip_network(cidr)
        return value


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

    @field_validator("openclaw")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$", value):
            raise ValueError(
                f"must be an image repository without a tag, like ghcr.io/openclaw/openclaw, not {value!r}"
            )
        return value

    @field_validator("proxy", "model_gateway")
    @classmethod
    def _pinned(cls, value: str) -> str:
        name, _, tag = value.rpartition(":")
        if "@sha256:" in value:
            return value
        if not name or "/" in tag or tag in ("", "latest", "mainline", "stable"):
            raise ValueError(f"must be pinned to an exact tag or digest, like nginx:1.27.5, not {value!r}")
        return value


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
        return public_host(tenant.id, self.domain, self.targets[tenant.target])

    def url(self, tenant: Tenant) -> str:
        target = self.targets[tenant.target]
        return public_url(public_host(tenant.id, self.domain, target), target)


def public_host(tenant_id: str, fleet_domain: str, target: DockerTarget | KubernetesTarget) -> str:
    """A tenant's public host name; a cluster may serve its own domain."""
    domain = target.domain if isinstance(target, KubernetesTarget) and target.domain else fleet_domain
    return f"{tenant_id}.{domain}"


def public_url(host: str, target: DockerTarget | KubernetesTarget) -> str:
    """Where a tenant is reached: a cluster's ingress (https with TLS), or a Docker host's edge port."""
    if isinstance(target, KubernetesTarget):
        scheme = "http" if target.tls.mode == "none" else "https"
        return f"{scheme}://{host}"
    port = "" if target.edge.port == 80 else f":{target.edge.port}"
    return f"http://{host}{port}"
