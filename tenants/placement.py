"""Where a new tenant goes: the shard it names, else the least loaded shard its target allows."""

from __future__ import annotations

from .model import Fleet


def least_loaded_shard(fleet: Fleet) -> str:
    """The shard with the fewest tenants (any state; ties go to the first name); the default when empty."""
    counts: dict[str, int] = {}
    for tenant in fleet.tenants:
        counts[tenant.shard] = counts.get(tenant.shard, 0) + 1
    if not counts:
        return fleet.defaults.shard
    return min(sorted(counts), key=lambda shard: counts[shard])


def shard_for_new_tenant(fleet: Fleet, target: str | None, shard: str | None = None) -> str:
    """``shard`` when given; else the least loaded shard among those already on the new tenant's target
    (a Docker target serves exactly one shard, its edge proxy's stack), or among all shards when the
    target has no tenants yet. ``target`` None is the fleet's default target."""
    if shard is not None:
        return shard
    name = target if target is not None else fleet.defaults.target
    on_target = {t.shard for t in fleet.tenants if t.target == name}
    candidates = tuple(t for t in fleet.tenants if t.shard in on_target) if on_target else fleet.tenants
    return least_loaded_shard(fleet.model_copy(update={"tenants": candidates}))
