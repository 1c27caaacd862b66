"""Where a new tenant goes: the shard it names, else the least loaded shard its target allows."""

from __future__ import annotations

from tenants.edit import shard_for_new_tenant
from tenants.model import Fleet


def choose_shard(fleet: Fleet, *, target: str | None, shard: str | None) -> str:
    """The shard a new tenant names, else the one ``tenants.edit`` picks for its target."""
    return shard or shard_for_new_tenant(fleet, target)
