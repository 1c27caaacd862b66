"""What one Pulumi stack deploys: its shard of the fleet, with the stack's own overrides."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from .model import DockerTarget, Edge, Fleet, Images, Tenant, check_domain

ALL_SHARDS = ""


@dataclass(frozen=True)
class StackSettings:
    """Per-stack values from Pulumi config; None means "as tenants.yaml says"."""

    tenants_file: str
    shard: str
    domain: str | None = None
    edge_address: str | None = None
    edge_port: int | None = None
    openclaw_image: str | None = None
    proxy_image: str | None = None


@dataclass(frozen=True)
class TenantInfo:
    """What a stack reports about a tenant (no secrets)."""

    id: str
    host: str
    endpoint: str
    state: str
    plan: str
    shard: str
    target: str


def tenant_info(fleet: Fleet, tenant: Tenant) -> TenantInfo:
    return TenantInfo(
        id=tenant.id,
        host=fleet.host(tenant),
        endpoint=fleet.url(tenant),
        state=tenant.state,
        plan=tenant.plan,
        shard=tenant.shard,
        target=tenant.target,
    )


def apply_overrides(fleet: Fleet, settings: StackSettings) -> Fleet:
    """The fleet as this stack sees it: a dev stack can serve a prod fleet file on localhost."""
    update: dict[str, object] = {}
    if settings.domain is not None:
        update["domain"] = check_domain(settings.domain)
    images = {k: v for k, v in (("openclaw", settings.openclaw_image), ("proxy", settings.proxy_image)) if v}
    if images:
        try:
            update["images"] = Images.model_validate(fleet.images.model_dump() | images)
        except ValidationError as exc:
            reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            key = "openclawImage" if settings.openclaw_image is not None else "proxyImage"
            raise ValueError(f"openclaw-tenants:{key}: {reasons}") from None
    given = (("address", settings.edge_address), ("port", settings.edge_port))
    edge = {k: v for k, v in given if v is not None}
    if edge:
        try:
            update["targets"] = {
                name: target.model_copy(update={"edge": Edge.model_validate(target.edge.model_dump() | edge)})
                if isinstance(target, DockerTarget)
                else target
                for name, target in fleet.targets.items()
            }
        except ValidationError as exc:
            reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            key = "edgeAddress" if settings.edge_address is not None else "edgePort"
            raise ValueError(f"openclaw-tenants:{key}: {reasons}") from None
    return fleet.model_copy(update=update)


def select_shard(fleet: Fleet, shard: str) -> tuple[Tenant, ...]:
    if shard == ALL_SHARDS:
        return fleet.tenants
    if shard not in fleet.shards():
        raise ValueError(f"shard {shard!r} has no tenants; shards in the fleet: {', '.join(fleet.shards())}")
    return tuple(t for t in fleet.tenants if t.shard == shard)
