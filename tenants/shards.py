"""Which tenants one stack deploys: a stack serves one shard of the fleet, or all of it."""

from __future__ import annotations

from .model import Fleet, Tenant

ALL_SHARDS = ""


def select_shard(fleet: Fleet, shard: str) -> tuple[Tenant, ...]:
    """The tenants of ``shard`` in fleet order; an unknown shard is refused with the known ones."""
    if shard == ALL_SHARDS:
        return fleet.tenants
    if shard not in fleet.shards():
        raise ValueError(f"shard {shard!r} has no tenants; shards in the fleet: {', '.join(fleet.shards())}")
    return tuple(t for t in fleet.tenants if t.shard == shard)


def copy_only_targets(fleet: Fleet, tenants: tuple[Tenant, ...]) -> tuple[str, ...]:
    """Docker targets that hold only earlier copies of tenants' data (``retained_on``) and none of the fleet's
    tenants, whose disk agent this stack keeps running so `tenantctl purge --from-target` can delete them.

    A target with tenants of its own has its agent in their stack; one that only holds copies is kept by the
    stack of the lowest shard among the tenants with a copy there, so exactly one stack owns it."""
    hosting = {t.target for t in fleet.tenants}
    keepers: dict[str, str] = {}
    for tenant in fleet.tenants:
        for target in tenant.retained_on:
            if target not in hosting:
                keepers[target] = min(keepers.get(target, tenant.shard), tenant.shard)
    ours = {t.shard for t in tenants}
    return tuple(sorted(target for target, shard in keepers.items() if shard in ours))
