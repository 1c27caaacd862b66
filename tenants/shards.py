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
