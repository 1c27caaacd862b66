"""One tenant with everything its specs need, looked up in the fleet once.

A tenant entry names its plan, target and channel; the spec builders need what those names stand
for, plus values derived from them (effective limits, host, URL, image, the gateway's config). The
fleet resolves each tenant into one frozen value, so every builder of every backend reads the same
answers and none of them looks anything up again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from . import openclaw
from .contract import SecretRef
from .host_uid import host_uid
from .model import (
    DockerTarget,
    EgressMode,
    Fleet,
    KubernetesTarget,
    Limits,
    ModelAllowance,
    Plan,
    TargetT,
    Tenant,
    effective_limits,
    effective_model_allowance,
    public_host,
    public_url,
)
from .model_gateway_names import gateway_url
from .units import gib_to_mib


@dataclass(frozen=True)
class ResolvedTenant(Generic[TargetT]):
    """A tenant, its plan, its effective limits, its target and what follows from them."""

    tenant: Tenant
    plan: Plan
    limits: Limits
    memory_mib: int  # limits.memory_gib in whole MiB, the unit every backend takes
    target: TargetT
    host: str
    url: str
    image: str  # the gateway image of the tenant's channel
    gateway_config_text: str  # openclaw.json as the gateway reads it
    secret_env: Mapping[str, SecretRef]  # variable → the generated secret that fills it
    models: ModelAllowance  # budget, rates and allowed models at the target's model gateway
    egress: EgressMode  # the plan's mode, else the target's
    uid: int  # the host uid and gid its gateway runs as (tenants/host_uid.py)

    @property
    def id(self) -> str:
        return self.tenant.id


class DockerTenant(ResolvedTenant[DockerTarget]):
    """A tenant on a Docker host."""


class KubernetesTenant(ResolvedTenant[KubernetesTarget]):
    """A tenant on a Kubernetes cluster."""


OnBackend = TypeVar("OnBackend", DockerTenant, KubernetesTenant)


def resolve(fleet: Fleet, tenant: Tenant) -> DockerTenant | KubernetesTenant:
    """``tenant`` resolved against ``fleet``; a Docker or a Kubernetes tenant by its target."""
    target = fleet.targets[tenant.target]
    # The gateway trusts forwarded client addresses only from its own edge: the Docker host's address
    # pools, where the edge proxy reaches it, or the cluster's ingress controller pods.
    if isinstance(target, DockerTarget):
        return _resolve(DockerTenant, fleet, tenant, target, trusted_proxies=target.address_pools)
    return _resolve(KubernetesTenant, fleet, tenant, target, trusted_proxies=target.trusted_proxies)


def resolve_all(fleet: Fleet, tenants: Iterable[Tenant], kind: type[OnBackend]) -> tuple[OnBackend, ...]:
    """Those of ``tenants`` that run on ``kind``'s backend, resolved, in order."""
    resolved = (resolve(fleet, tenant) for tenant in tenants)
    return tuple(r for r in resolved if isinstance(r, kind))


Resolved = TypeVar("Resolved", bound="ResolvedTenant[Any]")


def _resolve(
    kind: type[Resolved],
    fleet: Fleet,
    tenant: Tenant,
    target: DockerTarget | KubernetesTarget,
    trusted_proxies: tuple[str, ...],
) -> Resolved:
    plan = fleet.plans[tenant.plan]
    limits = effective_limits(plan, tenant.overrides)
    host = public_host(tenant.id, fleet.domain, target, own_domain=tenant.domain)
    url = public_url(host, target)
    models = effective_model_allowance(plan, tenant, fleet.models)
    own = tuple((m, fleet.models[m]) for m in models.own_models)
    route = openclaw.ModelRoute(gateway_url(tenant.target, target), own[0][1].api, own)
    config = openclaw.gateway_config(url, trusted_proxies, route, plan.profile)
    return kind(
        tenant=tenant,
        plan=plan,
        limits=limits,
        memory_mib=gib_to_mib(limits.memory_gib),
        target=target,
        host=host,
        url=url,
        image=openclaw.image(fleet.images.openclaw, fleet.version_of(tenant)),
        gateway_config_text=openclaw.render_config(config),
        secret_env=openclaw.secret_environment(),
        models=models,
        egress=plan.egress or target.egress.mode,
        uid=host_uid(tenant.id, tenant.host_uid),
    )
