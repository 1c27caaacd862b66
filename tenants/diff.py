"""What a change to tenants.yaml does: which customers change, what it costs, which stacks it touches.

``diff_fleets(base, head)`` is pure: two validated fleets in, a frozen ``FleetDiff`` out. Every tenant
present in either fleet whose deployment, limits or cost differs gets one ``TenantChange``:

- ``added`` / ``removed``: in only one of the fleets;
- ``suspended`` / ``resumed`` / ``offboarded``: its state changed (named after the new state:
  ``resumed`` means it became active again);
- ``changed``: same state, something else differs.

Each change lists its field changes old -> new (plan, target, shard, channel, image, provider, rotation,
overrides, labels, host name, and the plan's own settings and price), the effective limits before and
after (``Fleet.limits``) and the monthly cost before and after.

**Cost rule**: a tenant costs its plan's ``monthly_price`` while it is active; suspended and offboarded
tenants cost 0 (``tenants.cost.COST_RULE``, repeated in every rendered diff). Money is ``Decimal``.

**Destructive findings** (``tenantctl diff`` exits 2 when there is any), each naming the tenant and the
documented migration:

- ``removed-live``: a tenant removed while active or suspended (offboard it first; removing an
  offboarded tenant's line is safe);
- ``storage-shrunk``: its effective ``storage_gib`` decreases (plan change or override);
- ``target-moved`` / ``shard-moved``: it moves to another target or shard.

Changes of the fleet's own settings (domain, images, channels, plans, targets, defaults) are listed
leaf by leaf in ``settings``. The affected shards (one Pulumi stack each) are the shards of every
changed tenant, old and new, and of every tenant using a changed setting.

Loading the two fleets dominates the time of a review of a large fleet (YAML parsing is most of it),
so ``load_pair`` validates base and head in two processes at once when both are large.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from .contract import TenantState
from .cost import COST_RULE, ZERO, money, money_md, tenant_cost
from .errors import FleetError, Problem
from .load import parse_fleet
from .model import DockerTarget, Fleet, Limits, Tenant

ChangeKind = Literal["added", "removed", "suspended", "resumed", "offboarded", "changed"]
FindingReason = Literal["removed-live", "storage-shrunk", "target-moved", "shard-moved"]
Value = str | int | float | bool | None | list[Any] | dict[str, Any]

KINDS: tuple[ChangeKind, ...] = ("added", "removed", "suspended", "resumed", "offboarded", "changed")
# How a state change is named: after the state the tenant ends up in.
STATE_KIND: dict[TenantState, ChangeKind] = {"active": "resumed", "suspended": "suspended", "offboarded": "offboarded"}

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
    """A destructive change: it needs a documented migration, not just a merge."""

    tenant: str
    reason: FindingReason
    message: str


@dataclass(frozen=True)
class FleetDiff:
    base: str  # where each fleet came from, e.g. "HEAD~1:tenants.yaml"
    head: str
    tenants: tuple[TenantChange, ...]  # sorted by id
    settings: tuple[SettingChange, ...]  # sorted by path
    destructive: tuple[Finding, ...]  # by tenant id; a tenant's in the order of FindingReason
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

    def of_kind(self, kind: ChangeKind) -> tuple[TenantChange, ...]:
        return tuple(c for c in self.tenants if c.kind == kind)

    def tenant(self, tenant_id: str) -> TenantChange:
        for change in self.tenants:
            if change.id == tenant_id:
                return change
        raise KeyError(tenant_id)


# --- comparing ----------------------------------------------------------------------------------


def _image(fleet: Fleet, tenant: Tenant) -> str:
    return f"{fleet.images.openclaw}:{fleet.version_of(tenant)}"


PLAN_SETTINGS = ("pids_limit", "rate_limit_rps", "burst", "profile")


def _tenant_fields(fleet: Fleet, tenant: Tenant) -> dict[str, Value]:
    """Everything about a tenant a reviewer compares, flat; limits and state are handled apart."""
    plan = fleet.plans[tenant.plan]
    out: dict[str, Value] = {
        "plan": tenant.plan,
        "target": tenant.target,
        "shard": tenant.shard,
        "channel": tenant.channel,
        "image": _image(fleet, tenant),
        "model_provider": tenant.model_provider,
        "rotation": tenant.rotation,
        "host": fleet.host(tenant),
    }
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
            kind = STATE_KIND[new.state]
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


def _findings(change: TenantChange) -> Iterator[Finding]:
    who = change.id
    if change.kind == "removed" and change.old_state != "offboarded":
        lost = "gateway, network and token" if change.old_state == "active" else "network and token"
        yield Finding(
            who,
            "removed-live",
            f"tenant {who!r} is removed while {change.old_state}: removing its line deletes its {lost} at "
            f"once. Offboard it first (`tenantctl offboard {who}`), deploy, then remove "
            f"the line in a later change; its data volume is kept either way (see {REMOVAL_DOC}, {MIGRATION_DOC})",
        )
    if change.old_limits and change.new_limits and change.new_limits.storage_gib < change.old_limits.storage_gib:
        old, new = change.old_limits.storage_gib, change.new_limits.storage_gib
        yield Finding(
            who,
            "storage-shrunk",
            f"tenant {who!r}: storage shrinks from {old} GiB to {new} GiB; volumes and claims cannot shrink in "
            f"place. Keep overrides.storage_gib: {old}, or migrate its data to a new volume ({MIGRATION_DOC})",
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
    for section in ("domain", "images", "channels", "defaults", "plans", "targets"):
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
        if section == "domain" or path == "images.openclaw":
            found = self.all
        elif section == "images":  # the edge proxy's image: every Docker target's proxy
            found = self.docker
        else:
            found = self.by.get((section, name), set())
        return tuple(sorted(found))


def diff_fleets(base: Fleet, head: Fleet, *, base_source: str = "base", head_source: str = "head") -> FleetDiff:
    """Compare two validated fleets (see the module docstring for every rule)."""
    old_by_id = {t.id: t for t in base.tenants}
    new_by_id = {t.id: t for t in head.tenants}
    # What a tenant's comparison depends on besides the tenant itself: an unchanged tenant whose plan,
    # channel, target, domain and image repository are unchanged is skipped without building its fields.
    same_fleet = base.domain == head.domain and base.images.openclaw == head.images.openclaw
    same_plans = {name for name, plan in base.plans.items() if head.plans.get(name) == plan}
    same_channels = {name for name, version in base.channels.items() if head.channels.get(name) == version}
    same_targets = {name for name, target in base.targets.items() if head.targets.get(name) == target}
    changes: list[TenantChange] = []
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
    findings = tuple(finding for change in changes for finding in _findings(change))
    return FleetDiff(
        base=base_source,
        head=head_source,
        tenants=tuple(changes),
        settings=settings,
        destructive=findings,
        affected_shards=tuple(sorted(shards)),
        base_cost=sum((tenant_cost(base, t) for t in base.tenants), ZERO),
        head_cost=sum((tenant_cost(head, t) for t in head.tenants), ZERO),
    )


# --- reading fleets: files, git refs, two at once ----------------------------------------------


class SourceError(Exception):
    """A --base/--head value that is neither a file nor a git ref holding the fleet file (one line)."""


@dataclass(frozen=True)
class FleetText:
    source: str  # how messages name it: a path, or "<ref>:<path>"
    text: str


class FleetPairError(Exception):
    """One or both fleets are invalid; ``render`` lists every problem of each."""

    def __init__(self, errors: Sequence[FleetError]) -> None:
        self.errors = tuple(errors)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(error.render() for error in self.errors)


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError as exc:
        raise SourceError(f"cannot run git: {exc}") from None


def repo_root(cwd: Path) -> Path | None:
    """The top of the git working tree around ``cwd``, or None outside one (or without git)."""
    try:
        done = _git(["rev-parse", "--show-toplevel"], cwd)
    except SourceError:
        return None
    return Path(done.stdout.decode().strip()) if done.returncode == 0 else None


def _decode(data: bytes, source: str) -> FleetText:
    try:
        return FleetText(source, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FleetPairError([FleetError(source, [Problem(0, (), f"cannot read file: {exc}")])]) from None


def read_fleet_text(value: str | None, file: str = "tenants.yaml", cwd: Path | None = None) -> FleetText:
    """The fleet text named by a --base/--head value.

    An existing file path is read. Anything else is a git ref, read as ``git show <ref>:<file>`` (``file``
    relative to the repository root). ``None`` is the working-tree copy of ``file``: under the repository
    root inside a git working tree, else relative to ``cwd``. Raises SourceError (one line) for a ref that
    does not exist or does not hold ``file``, FleetPairError for a file that cannot be read.
    """
    cwd = cwd or Path.cwd()
    if value is None:
        root = repo_root(cwd)
        path = (root / file) if root is not None else (cwd / file)
        return _read_file(path, file)
    candidate = cwd / value
    if candidate.is_file():
        return _read_file(candidate, value)
    if not value or value.startswith("-"):
        raise SourceError(f"{value!r} is neither an existing file nor a git ref")
    inner = file.removeprefix("./")
    done = _git(["show", f"{value}:{inner}"], cwd)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[0].removeprefix("fatal: ") if lines else f"git exited {done.returncode}"
        raise SourceError(f"{value!r} is neither an existing file nor a git ref holding {inner} ({reason})")
    return _decode(done.stdout, f"{value}:{inner}")


def _read_file(path: Path, source: str) -> FleetText:
    try:
        return _decode(path.read_bytes(), source)
    except OSError as exc:
        raise FleetPairError([FleetError(source, [Problem(0, (), f"cannot read file: {exc}")])]) from None


@dataclass(frozen=True)
class _Invalid:
    source: str
    problems: tuple[Problem, ...]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing a large fleet allocates hundreds of thousands of
    containers, and each full collection on the way walks every live object again (the parse takes
    ~40% longer with it, more the larger the heap). Nothing is lost: cycles are collected later."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse(item: FleetText) -> Fleet | _Invalid:
    """``parse_fleet``, with its failure as data: a FleetError does not pickle, so its parts travel instead."""
    try:
        with _gc_paused():
            return parse_fleet(item.text, item.source)
    except FleetError as exc:
        return _Invalid(exc.source, tuple(exc.problems))


# Below this much text both fleets are validated in this process: a worker costs more than it saves.
PARALLEL_MIN_CHARS = 200_000


def _can_fork() -> bool:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return sys.platform == "linux" and cpus > 1 and "fork" in multiprocessing.get_all_start_methods()


def load_pair(base: FleetText, head: FleetText, *, parallel: bool | None = None) -> tuple[Fleet, Fleet]:
    """Validate both fleets, each exactly as ``parse_fleet`` does; raise FleetPairError listing both if invalid.

    Identical texts are validated once. Otherwise, with ``parallel`` (default: when both texts are
    large and this is Linux with more than one CPU) the base is validated in a forked worker process,
    which inherits every loaded module, while this process validates the head; the worker returns
    the base Fleet pickled. A worker that cannot start or dies falls back to validating here.
    """
    if base.text == head.text:
        first = _parse(base)
        results: list[Fleet | _Invalid] = [first, first if isinstance(first, Fleet) else _parse(head)]
    else:
        if parallel is None:
            parallel = min(len(base.text), len(head.text)) >= PARALLEL_MIN_CHARS and _can_fork()
        results = _parse_both(base, head) if parallel else [_parse(base), _parse(head)]
    errors = [FleetError(r.source, r.problems) for r in results if isinstance(r, _Invalid)]
    if errors:
        raise FleetPairError(errors)
    old, new = results
    assert isinstance(old, Fleet) and isinstance(new, Fleet)
    return old, new


def _parse_both(base: FleetText, head: FleetText) -> list[Fleet | _Invalid]:
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as pool:
            pending = pool.submit(_parse, base)
            new = _parse(head)
            try:
                with _gc_paused():  # unpickling builds as many objects as parsing
                    old = pending.result()
            except BrokenProcessPool:
                old = _parse(base)
    except OSError:  # no process could be started
        return [_parse(base), _parse(head)]
    return [old, new]


# --- rendering ----------------------------------------------------------------------------------


def _limits_json(limits: Limits | None) -> dict[str, float | int] | None:
    if limits is None:
        return None
    return {"cpus": limits.cpus, "memory_gib": limits.memory_gib, "storage_gib": limits.storage_gib}


def render_json(diff: FleetDiff) -> str:
    """The diff as JSON; every key is always present, money is a string with two decimals."""
    counts = diff.count()
    doc: dict[str, Any] = {
        "base": diff.base,
        "head": diff.head,
        "destructive": [{"tenant": f.tenant, "reason": f.reason, "message": f.message} for f in diff.destructive],
        "affected_shards": list(diff.affected_shards),
        "summary": {"tenants_changed": len(diff.tenants), **counts, "settings_changed": len(diff.settings)},
        "cost": {
            "base_monthly": money(diff.base_cost),
            "head_monthly": money(diff.head_cost),
            "delta": money(diff.cost_delta),
            "rule": COST_RULE,
        },
        "tenants": [
            {
                "id": c.id,
                "kind": c.kind,
                "old_state": c.old_state,
                "new_state": c.new_state,
                "old_shard": c.old_shard,
                "new_shard": c.new_shard,
                "changes": [{"field": f.field, "old": f.old, "new": f.new} for f in c.fields],
                "old_limits": _limits_json(c.old_limits),
                "new_limits": _limits_json(c.new_limits),
                "old_cost": money(c.old_cost),
                "new_cost": money(c.new_cost),
                "cost_delta": money(c.cost_delta),
            }
            for c in diff.tenants
        ],
        "settings": [{"path": s.path, "old": s.old, "new": s.new, "shards": list(s.shards)} for s in diff.settings],
    }
    return json.dumps(doc, indent=2) + "\n"


def _cell(value: Value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_cell(item) for item in value) or "[]"
    return str(value)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _limits_md(limits: Limits | None) -> str:
    if limits is None:
        return "—"
    return f"{limits.cpus:g} / {limits.memory_gib:g} / {limits.storage_gib:g}"


def _details(change: TenantChange) -> str:
    if change.kind == "added":
        return f"new on {change.new_shard} ({change.new_state})"
    if change.kind == "removed":
        return f"line removed ({change.old_state})"
    # A new plan brings its own settings and price; the plan's name says it (the JSON lists them).
    implied = {"state", *PLAN_SETTINGS, "monthly_price"} if change.field("plan") else {"state"}
    parts = [f"{f.field} {_cell(f.old)} → {_cell(f.new)}" for f in change.fields if f.field not in implied]
    state = f"{change.old_state} → {change.new_state}" if change.old_state != change.new_state else ""
    return "; ".join(p for p in (state, *parts) if p) or "limits or price"


def _limits_cell(change: TenantChange) -> str:
    if change.old_limits == change.new_limits:
        return _limits_md(change.new_limits)
    return f"{_limits_md(change.old_limits)} → {_limits_md(change.new_limits)}"


def _cost_cell(change: TenantChange) -> str:
    if change.old_cost == change.new_cost:
        return money_md(change.new_cost)
    return f"{money_md(change.old_cost)} → {money_md(change.new_cost)} ({money_md(change.cost_delta, sign=True)})"


def _ordered(changes: Iterable[TenantChange]) -> list[TenantChange]:
    """Removed first (the riskiest), then as the kinds are listed, by id within a kind."""
    rank: dict[ChangeKind, int] = {
        "removed": 0,
        "offboarded": 1,
        "changed": 2,
        "suspended": 3,
        "resumed": 4,
        "added": 5,
    }
    return sorted(changes, key=lambda c: (rank[c.kind], c.id))


def render_markdown(diff: FleetDiff, *, max_rows: int | None = 300) -> str:
    """A pull-request comment: destructive warnings, summary, table of tenant changes, settings,
    affected stacks, cost delta, and the cost rule as a footnote. ``max_rows`` caps the table
    (``None``: every row); the JSON form always has every change."""
    counts = diff.count()
    out = [f"### Tenant diff: `{_md(diff.base)}` → `{_md(diff.head)}`", ""]
    if diff.destructive:
        n = len(diff.destructive)
        out += [
            "> [!CAUTION]",
            f"> **Destructive: {n} finding{'s' if n != 1 else ''}.** Each needs its documented migration "
            "(`tenantctl diff` exits 2).",
            ">",
            *(f"> - **{f.tenant}** ({f.reason}): {_md(f.message)}" for f in diff.destructive),
            "",
        ]
    if diff.tenants:
        kinds = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        summary = f"**{len(diff.tenants)} tenant{'s' if len(diff.tenants) != 1 else ''} change** ({kinds})"
    else:
        summary = "**No tenant changes**"
    if diff.settings:
        summary += f", {len(diff.settings)} setting{'s' if len(diff.settings) != 1 else ''}"
    stacks = ", ".join(f"`{s}`" for s in diff.affected_shards) or "none"
    out += [f"{summary}; cost {money_md(diff.cost_delta, sign=True)} / month[^cost]; stacks: {stacks}", ""]
    if diff.tenants:
        out += [
            "| tenant | change | details | limits: CPUs / memory GiB / storage GiB | cost / month |",
            "|---|---|---|---|--:|",
        ]
        rows = _ordered(diff.tenants)
        shown = rows if max_rows is None else rows[:max_rows]
        for c in shown:
            out.append(f"| {c.id} | {c.kind} | {_md(_details(c))} | {_limits_cell(c)} | {_cost_cell(c)} |")
        if len(shown) < len(rows):
            out.append(f"| … | | {len(rows) - len(shown)} more tenants: see `--format json` | | |")
        out.append("")
    if diff.settings:
        out += ["| setting | old | new | stacks |", "|---|---|---|---|"]
        for item in diff.settings:
            used_by = ", ".join(item.shards) or "none"
            out.append(f"| `{_md(item.path)}` | {_md(_cell(item.old))} | {_md(_cell(item.new))} | {used_by} |")
        out.append("")
    out += [
        f"**Monthly cost delta: {money_md(diff.cost_delta, sign=True)}** "
        f"({money_md(diff.base_cost)} → {money_md(diff.head_cost)})",
        "",
        f"**Affected stacks:** {stacks}",
        "",
        f"[^cost]: {COST_RULE}",
        "",
    ]
    return "\n".join(out)
