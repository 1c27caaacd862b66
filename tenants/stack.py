"""What one Pulumi stack deploys: its shard of the fleet, with the stack's own overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .errors import plain_message
from .model import DockerTarget, Fleet, Tenant, check_domain

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
        update["images"] = _revalidated(fleet.images, images, IMAGE_KEYS)
    given = (("address", settings.edge_address), ("port", settings.edge_port))
    edge = {k: v for k, v in given if v is not None}
    if edge:
        update["targets"] = {
            name: target.model_copy(update={"edge": _revalidated(target.edge, edge, EDGE_KEYS)})
            if isinstance(target, DockerTarget)
            else target
            for name, target in fleet.targets.items()
        }
    return fleet.model_copy(update=update)


# Model field → the stack config key that overrides it, for error messages.
IMAGE_KEYS = {"openclaw": "openclawImage", "proxy": "proxyImage"}
EDGE_KEYS = {"address": "edgeAddress", "port": "edgePort"}

ModelT = TypeVar("ModelT", bound=BaseModel)


def _revalidated(current: ModelT, changes: Mapping[str, object], keys: Mapping[str, str]) -> ModelT:
    """``current`` with ``changes``, checked exactly as in a fleet file; each error names its config key."""
    try:
        return type(current).model_validate(current.model_dump() | dict(changes))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            key = keys.get(field, "/".join(keys[k] for k in changes))
            problems.append(f"openclaw-tenants:{key}: {plain_message(error['msg'])}")
        raise ValueError("; ".join(problems)) from None


def select_shard(fleet: Fleet, shard: str) -> tuple[Tenant, ...]:
    if shard == ALL_SHARDS:
        return fleet.tenants
    if shard not in fleet.shards():
        raise ValueError(f"shard {shard!r} has no tenants; shards in the fleet: {', '.join(fleet.shards())}")
    return tuple(t for t in fleet.tenants if t.shard == shard)
