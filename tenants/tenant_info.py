"""What a stack reports about each of its tenants: where it is reached and what it runs, no secrets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .contract import TenantState
from .resolved import ResolvedTenant


@dataclass(frozen=True)
class TenantInfo:
    id: str
    host: str
    url: str
    state: TenantState
    plan: str
    shard: str


def tenant_info(tenant: ResolvedTenant[Any]) -> TenantInfo:
    entry = tenant.tenant
    return TenantInfo(
        id=entry.id, host=tenant.host, url=tenant.url, state=entry.state, plan=entry.plan, shard=entry.shard
    )
