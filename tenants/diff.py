"""What a change to tenants.yaml does: which customers change, what it costs, which stacks it touches.

``diff_fleets(base, head)`` is pure: two validated fleets in, a frozen ``FleetDiff`` out. Every tenant
present in either fleet whose deployment, limits or cost differs gets one ``TenantChange``:

- ``added`` / ``removed``: in only one of the fleets;
- ``suspended`` / ``resumed`` / ``offboarded``: its state changed (named after the new state, as
  ``tenants.contract.INTO_STATE`` names it: ``resumed`` means it became active again);
- ``changed``: same state, something else differs.

Each change lists its field changes old -> new (plan, target, shard, channel, image, provider, rotation,
overrides, labels, host name, the targets holding earlier copies of its data (``retained_on``), and
the plan's own settings and price), the effective limits before and
after (``Fleet.limits``) and the monthly cost before and after.

**Cost rule**: a tenant costs its plan's ``monthly_price`` while it is active; suspended and offboarded
tenants cost 0 (``tenants.cost.COST_RULE``, repeated in every rendered diff). Money is ``Decimal``.

**Destructive findings** (``tenantctl diff`` exits 2 when there is any), each naming the tenant (or the
target) and the documented migration:

- ``removed-live``: a tenant removed while active or suspended (offboard it first);
- ``data-forgotten``: an offboarded tenant's line removed, or a target dropped from its ``retained_on``,
  by hand: its data remains, but the fleet would forget it (and could give the id to a new customer);
  only ``tenantctl purge`` deletes the data and then releases the id or the copy;
- ``storage-shrunk``: its effective ``storage_gib`` decreases (plan change or override);
- ``target-moved`` / ``shard-moved``: it moves to another target or shard;
- ``host-changed`` (a target's): a Docker target's ``host`` changes, so its tenants' data stays behind
  on the old host (``tenantctl move`` moves tenants with their data);
- ``storage-moved`` (a target's): a Docker target's ``storage.mode`` or ``storage.root`` changes, so its
  tenants would start on empty storage while their data stays where it was.

A target's findings are raised only when some tenant has data there (any state, or a retained copy).

Changes of the fleet's own settings (domain, images, channels, plans, targets, defaults) are listed
leaf by leaf in ``settings``. The affected shards (one Pulumi stack each) are the shards of every
changed tenant, old and new, and of every tenant using a changed setting.

``tenants.fleet_sources`` reads the two fleets, ``tenants.fleet_pair`` validates them and
``tenants.diff_report`` renders the diff.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from . import openclaw
from .contract import INTO_STATE, TRANSITIONS, StateChange, TenantState
from .cost import ZERO, fleet_cost, money, tenant_cost
from .model import DockerTarget, Fleet, Limits, Tenant

# A state change is named after the state the tenant ends up in, as the contract names it.
ChangeKind = Literal["added", "removed", StateChange, "changed"]
# The order summaries count the kinds in: the state changes in the order of the contract's actions.
KINDS: Final[tuple[ChangeKind, ...]] = ("added", "removed", *(t.past for t in TRANSITIONS.values()), "changed")
FindingReason = Literal[
    "removed-live", "data-forgotten", "storage-shrunk", "target-moved", "shard-moved", "host-changed", "storage-moved"
]
Value = str | int | float | bool | None | list[Any] | dict[str, Any]
Purged = tuple[str, str | None]  # (tenant id, None): the tenant was purged; (tenant id, target): its copy there

# Where the operator reads how to do the change safely.
MIGRATION_DOC = "README.md#migrating-a-tenant"
REMOVAL_DOC = "README.md#destroying-and-where-data-lives"


@dataclass(frozen=True)
class FieldChange:
    """One value of a tenant that differs; ``None`` means unset (an override, a label)."""

    field: str
    old: Value
    new: Value


@dataclass(frozen=True)
class TenantChange:
    """One tenant that differs between the fleets; limits and cost are None / 0 on a side it is absent from."""

    id: str
    kind: ChangeKind
    old_state: TenantState | None  # None: not in the base fleet
    new_state: TenantState | None  # None: not in the head fleet
    old_shard: str | None
    new_shard: str | None
    fields: tuple[FieldChange, ...]
    old_limits: Limits | None
    new_limits: Limits | None
    old_cost: Decimal
    new_cost: Decimal

    @property
    def cost_delta(self) -> Decimal:
        return self.new_cost - self.old_cost

    @property
    def shards(self) -> tuple[str, ...]:
        """The shard(s) this change touches: both the old and the new one when it moves."""
        return tuple(sorted({s for s in (self.old_shard, self.new_shard) if s is not None}))

    def field(self, name: str) -> FieldChange | None:
        return next((f for f in self.fields if f.field == name), None)


@dataclass(frozen=True)
class SettingChange:
    """One leaf of the fleet's settings that differs, e.g. ``targets.host-01.edge.port``."""

    path: str
    old: Value
    new: Value
    shards: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """A destructive change: it needs a documented migration, not just a merge. About one tenant, or
    (``tenant`` None) about one target and every tenant with data on it."""

    tenant: str | None
    reason: FindingReason
    message: str
    target: str | None = None  # a target's finding: the target

    @property
    def subject(self) -> str:
        """Who the finding is about, for people: a tenant id, or ``target NAME``."""
        return self.tenant if self.tenant is not None else f"target {self.target}"


@dataclass(frozen=True)
class FleetDiff:
    base: str  # where each fleet came from, e.g. "HEAD~1:tenants.yaml"
    head: str
    tenants: tuple[TenantChange, ...]  # sorted by id
    settings: tuple[SettingChange, ...]  # sorted by path
    # By tenant id, a tenant's in the order of FindingReason; then the targets' findings, by target.
    destructive: tuple[Finding, ...]
    affected_shards: tuple[str, ...]
    base_cost: Decimal
    head_cost: Decimal

    @property
    def cost_delta(self) -> Decimal:
        return self.head_cost - self.base_cost

    @property
    def is_destructive(self) -> bool:
        return bool(self.destructive)

    def count(self) -> dict[ChangeKind, int]:
        counts: dict[ChangeKind, int] = dict.fromkeys(KINDS, 0)
        for change in self.tenants:
            counts[change.kind] += 1
        return counts

    def tenant(self, tenant_id: str) -> TenantChange:
        for change in self.tenants:
            if change.id == tenant_id:
                return change
        raise KeyError(tenant_id)


# --- comparing ----------------------------------------------------------------------------------


PLAN_SETTINGS = ("pids_limit", "rate_limit_rps", "burst", "profile")


def _tenant_fields(fleet: Fleet, tenant: Tenant) -> dict[str, Value]:
    """Everything about a tenant a reviewer compares, flat; limits and state are handled apart."""
    plan = fleet.plans[tenant.plan]
    out: dict[str, Value] = {
        "plan": tenant.plan,
        "target": tenant.target,
        "shard": tenant.shard,
        "channel": tenant.channel,
        "image": openclaw.image(fleet.images.openclaw, fleet.version_of(tenant)),
        "model_provider": tenant.model_provider,
        "rotation": tenant.rotation,
        "host": fleet.host(tenant),
    }
    if tenant.retained_on:
        out["retained_on"] = list(tenant.retained_on)
    for name in PLAN_SETTINGS:
        out[name] = getattr(plan, name)
    out["monthly_price"] = money(plan.monthly_price)
    for name in ("cpus", "memory_gib", "storage_gib"):
        value = getattr(tenant.overrides, name)
        if value is not None:
            out[f"overrides.{name}"] = value
    for key, value in sorted(tenant.labels.items()):
        out[f"labels.{key}"] = value
    return out


def _order(name: str) -> tuple[int, str]:
    """Field order: the tenant's own fields, its plan's settings, then overrides and labels by name."""
    group, _, _ = name.partition(".")
    return {"overrides": (1, name), "labels": (2, name)}.get(group, (0, ""))


def _field_changes(old: Mapping[str, Value], new: Mapping[str, Value]) -> tuple[FieldChange, ...]:
    names = sorted(dict.fromkeys([*old, *new]), key=_order)  # stable: fixed fields keep their order
    return tuple(FieldChange(n, old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n))


def _change(base: Fleet, head: Fleet, old: Tenant | None, new: Tenant | None) -> TenantChange | None:
    if old is None and new is None:
        raise ValueError("a change needs a tenant on at least one side")
    old_limits = base.limits(old) if old is not None else None
    new_limits = head.limits(new) if new is not None else None
    old_cost = tenant_cost(base, old) if old is not None else ZERO
    new_cost = tenant_cost(head, new) if new is not None else ZERO
    fields: tuple[FieldChange, ...] = ()
    if old is None:
        kind: ChangeKind = "added"
    elif new is None:
        kind = "removed"
    else:
        fields = _field_changes(_tenant_fields(base, old), _tenant_fields(head, new))
        if old.state != new.state:
            kind = INTO_STATE[new.state].past
            fields = (FieldChange("state", old.state, new.state), *fields)
        elif fields or old_limits != new_limits or old_cost != new_cost:
            kind = "changed"
        else:
            return None
    any_tenant = new if new is not None else old
    assert any_tenant is not None
    return TenantChange(
        id=any_tenant.id,
        kind=kind,
        old_state=old.state if old is not None else None,
        new_state=new.state if new is not None else None,
        old_shard=old.shard if old is not None else None,
        new_shard=new.shard if new is not None else None,
        fields=fields,
        old_limits=old_limits,
        new_limits=new_limits,
        old_cost=old_cost,
        new_cost=new_cost,
    )


SHOWN_TENANTS = 20  # tenants a target's finding names; the rest are counted


def _findings(
    change: TenantChange, old: Tenant | None, new: Tenant | None, purged: Collection[Purged] = ()
) -> Iterator[Finding]:
    who = change.id
    if change.kind == "removed" and change.old_state != "offboarded":
        lost = "gateway, network and token" if change.old_state == "active" else "network and token"
        yield Finding(
            who,
            "removed-live",
            f"tenant {who!r} is removed while {change.old_state}: removing its line deletes its {lost} at "
            f"once. Offboard it first (`tenantctl offboard {who}`) and deploy; its data is kept either way, "
            f"and only `tenantctl purge {who}` deletes it and releases the id (see {REMOVAL_DOC}, {MIGRATION_DOC})",
        )
    elif change.kind == "removed" and old is not None and (who, None) not in purged:
        copies = f" (and earlier copies on {_names(old.retained_on)})" if old.retained_on else ""
        yield Finding(
            who,
            "data-forgotten",
            f"the fleet would forget id {who!r} while its data remains on target {old.target!r}{copies}, and "
            f"could give the id to a new customer; only `tenantctl purge {who}` releases an id: it deletes the "
            f"data and backups, then removes the line ({REMOVAL_DOC})",
        )
    if old is not None and new is not None:
        dropped = [
            t for t in old.retained_on if t not in new.retained_on and t != new.target and (who, t) not in purged
        ]
        if dropped:
            names = _names(dropped)
            yield Finding(
                who,
                "data-forgotten",
                f"tenant {who!r}: retained_on drops {names}, so the fleet would forget the earlier copy of its "
                f"data still there; only `tenantctl purge {who} --from-target T` deletes a copy and releases "
                f"it ({REMOVAL_DOC})",
            )
    if change.old_limits and change.new_limits and change.new_limits.storage_gib < change.old_limits.storage_gib:
        old_gib, new_gib = change.old_limits.storage_gib, change.new_limits.storage_gib
        yield Finding(
            who,
            "storage-shrunk",
            f"tenant {who!r}: storage shrinks from {old_gib} GiB to {new_gib} GiB; volumes and claims cannot "
            f"shrink in place. Keep overrides.storage_gib: {old_gib}, or migrate its data to a new volume "
            f"({MIGRATION_DOC})",
        )
    moves: tuple[tuple[str, FindingReason], ...] = (("target", "target-moved"), ("shard", "shard-moved"))
    for name, reason in moves:
        moved = change.field(name)
        if moved is not None:
            yield Finding(
                who,
                reason,
                f"tenant {who!r} moves from {name} {moved.old!r} to {moved.new!r}: its resources would be "
                f"deleted from one and created empty on the other; moving a tenant is a documented "
                f"migration ({MIGRATION_DOC})",
            )


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _holders(fleet: Fleet, target: str) -> list[str]:
    """The tenants with data on ``target``: every tenant on it, whatever its state, and every tenant
    that keeps an earlier copy there."""
    return sorted(t.id for t in fleet.tenants if t.target == target or target in t.retained_on)


def _tenants_named(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:SHOWN_TENANTS])
    more = f" and {len(ids) - SHOWN_TENANTS} more" if len(ids) > SHOWN_TENANTS else ""
    return f"{shown}{more}"


def _target_findings(base: Fleet, head: Fleet) -> Iterator[Finding]:
    """A Docker target's host or storage place changing under the tenants whose data is there."""
    for name in sorted(base.targets.keys() & head.targets.keys()):
        old, new = base.targets[name], head.targets[name]
        if not isinstance(old, DockerTarget) or not isinstance(new, DockerTarget) or old == new:
            continue
        holders = _holders(base, name)
        if not holders:
            continue
        tenants = f"tenant{'s' if len(holders) != 1 else ''} {_tenants_named(holders)}"
        if old.host != new.host:
            yield Finding(
                None,
                "host-changed",
                f"target {name!r} changes host from {old.host!r} to {new.host!r}: the data of {tenants} stays "
                f"behind on {old.host!r} and they would start empty on {new.host!r}. Declare the new host as a "
                f"target of its own and move each tenant with its data (`tenantctl move ID --to-target NEW`) "
                f"({MIGRATION_DOC})",
                target=name,
            )
        moved = [
            f"storage.{key} from {getattr(old.storage, key)!r} to {getattr(new.storage, key)!r}"
            for key in ("mode", "root")
            if getattr(old.storage, key) != getattr(new.storage, key)
        ]
        if moved:
            yield Finding(
                None,
                "storage-moved",
                f"target {name!r} changes {' and '.join(moved)}: the data of {tenants} stays where it is and "
                f"they would start on empty storage. Keep the setting, or move the tenants to a target with "
                f"the new storage (`tenantctl move ID --to-target NEW`) ({MIGRATION_DOC})",
                target=name,
            )


def _flatten(value: Any, prefix: str, out: dict[str, Value]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}", out)
    else:
        out[prefix] = value


def _dump(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _dump(item) for key, item in value.items()}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def _settings(fleet: Fleet) -> dict[str, Value]:
    """The fleet's settings (everything but its tenants) as dotted leaf paths."""
    out: dict[str, Value] = {}
    for section in ("domain", "images", "channels", "defaults", "models", "plans", "targets"):
        _flatten(_dump(getattr(fleet, section)), section, out)
    return out


class _Users:
    """Which shards use each plan, channel, target, and the whole fleet or its Docker targets."""

    def __init__(self, fleets: Sequence[Fleet]) -> None:
        self.by: dict[tuple[str, str], set[str]] = {}
        self.all: set[str] = set()
        self.docker: set[str] = set()
        for fleet in fleets:
            for tenant in fleet.tenants:
                self.all.add(tenant.shard)
                if isinstance(fleet.targets.get(tenant.target), DockerTarget):
                    self.docker.add(tenant.shard)
                for section, name in (("plans", tenant.plan), ("channels", tenant.channel), ("targets", tenant.target)):
                    self.by.setdefault((section, name), set()).add(tenant.shard)

    def shards(self, path: str) -> tuple[str, ...]:
        """The shards whose deployment depends on a setting (defaults only fill in tenants: none)."""
        section, _, rest = path.partition(".")
        name = rest.split(".", 1)[0]
        # Every target's model gateway lists every model of the catalog, on either backend.
        if section in ("domain", "models") or path in ("images.openclaw", "images.model_gateway"):
            found = self.all
        elif section == "images":  # the edge proxy's image: every Docker target's proxy
            found = self.docker
        else:
            found = self.by.get((section, name), set())
        return tuple(sorted(found))


def diff_fleets(
    base: Fleet,
    head: Fleet,
    *,
    base_source: str = "base",
    head_source: str = "head",
    purged: Collection[Purged] = (),
) -> FleetDiff:
    """Compare two validated fleets (see the module docstring for every rule). ``purged`` holds what the head's
    audit log says `tenantctl purge` deleted: (tenant id, None) for a tenant, (tenant id, target) for a copy; a
    line or a retained_on entry removed for a purge forgets no data."""
    old_by_id = {t.id: t for t in base.tenants}
    new_by_id = {t.id: t for t in head.tenants}
    # What a tenant's comparison depends on besides the tenant itself: an unchanged tenant whose plan,
    # channel, target, domain and image repository are unchanged is skipped without building its fields.
    same_fleet = base.domain == head.domain and base.images.openclaw == head.images.openclaw
    same_plans = {name for name, plan in base.plans.items() if head.plans.get(name) == plan}
    same_channels = {name for name, version in base.channels.items() if head.channels.get(name) == version}
    same_targets = {name for name, target in base.targets.items() if head.targets.get(name) == target}
    changes: list[TenantChange] = []
    findings: list[Finding] = []
    for tenant_id in sorted(old_by_id.keys() | new_by_id.keys()):
        old, new = old_by_id.get(tenant_id), new_by_id.get(tenant_id)
        if (
            old is not None
            and old == new
            and same_fleet
            and old.plan in same_plans
            and old.channel in same_channels
            and old.target in same_targets
        ):
            continue
        change = _change(base, head, old, new)
        if change is not None:
            changes.append(change)
            findings.extend(_findings(change, old, new, purged))

    old_settings, new_settings = _settings(base), _settings(head)
    changed_paths = sorted(
        p for p in old_settings.keys() | new_settings.keys() if old_settings.get(p) != new_settings.get(p)
    )
    users = _Users((base, head)) if changed_paths else None
    settings = tuple(
        SettingChange(path, old_settings.get(path), new_settings.get(path), users.shards(path) if users else ())
        for path in changed_paths
    )
    shards = {s for change in changes for s in change.shards} | {s for item in settings for s in item.shards}
    findings.extend(_target_findings(base, head))
    return FleetDiff(
        base=base_source,
        head=head_source,
        tenants=tuple(changes),
        settings=settings,
        destructive=tuple(findings),
        affected_shards=tuple(sorted(shards)),
        base_cost=fleet_cost(base),
        head_cost=fleet_cost(head),
    )
