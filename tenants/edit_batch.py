"""A batch of edits applied to one fleet document under its lock, with one validation when all are valid.

When the result is invalid the batch is split (at the tenants the validation blames, else in halves)
and the parts are tried in order, each on top of what was accepted before it, so only the edits that
make the fleet invalid are refused, each with the problems it causes on its own; the others still
land, in the same single write.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from .contract import DEFAULT_STATE, TENANT_STATES
from .edit_errors import EditError, UnknownTenant, taken_id
from .errors import FleetError
from .model import Fleet, KubernetesTarget, Tenant
from .tenant_entries import (
    add_retained,
    append_entry,
    locate,
    new_entry,
    remove_entry,
    remove_retained,
    write_key,
    write_state,
)
from .yaml_document import FleetDocument

EditKind = Literal["add", "state", "move", "purge", "release"]
EDIT_KINDS: tuple[EditKind, ...] = get_args(EditKind)


@dataclass(frozen=True)
class Edit:
    """One edit of a batch: ``Edit.add(fields)``, ``Edit.set_state(id, state)``, ``Edit.move(id, target)``,
    ``Edit.purge(id)`` or ``Edit.release(id, target)``."""

    kind: EditKind
    fields: Mapping[str, object] = dataclasses.field(default_factory=dict)  # "add": the new tenant's keys
    tenant_id: str = ""  # every other kind: the tenant to change
    state: str = ""  # "state": its new state
    target: str = ""  # "move": where it goes; "release": the target whose earlier copy is forgotten
    shard: str | None = None  # "move": its new shard (None: unchanged)

    def __post_init__(self) -> None:
        if self.kind not in EDIT_KINDS:
            raise ValueError(f"unknown edit kind {self.kind!r}; one of: {', '.join(EDIT_KINDS)}")

    @classmethod
    def add(cls, fields: Mapping[str, object]) -> Edit:
        """Append a tenant entry built from ``fields`` (see :func:`tenants.edit.add_tenant`)."""
        return cls("add", fields=dict(fields))

    @classmethod
    def set_state(cls, tenant_id: str, state: str) -> Edit:
        """Set a tenant's state (see :func:`tenants.edit.set_state`)."""
        return cls("state", tenant_id=tenant_id, state=state)

    @classmethod
    def move(cls, tenant_id: str, target: str, shard: str | None = None) -> Edit:
        """Point a tenant at another Docker target (see :func:`tenants.edit.move_tenant`)."""
        return cls("move", tenant_id=tenant_id, target=target, shard=shard)

    @classmethod
    def purge(cls, tenant_id: str) -> Edit:
        """Remove an offboarded tenant's line (see :func:`tenants.edit.purge_tenant`)."""
        return cls("purge", tenant_id=tenant_id)

    @classmethod
    def release(cls, tenant_id: str, target: str) -> Edit:
        """Forget one earlier copy of a tenant's data (see :func:`tenants.edit.release_copy`)."""
        return cls("release", tenant_id=tenant_id, target=target)


@dataclass(frozen=True)
class Accepted:
    """An accepted edit until the final fleet is known; ``removed``: a purged tenant as it was."""

    tenant_id: str
    changed: bool
    removed: Tenant | None = None


Numbered = tuple[int, Edit]  # an edit and its position in the caller's list
Outcome = Accepted | EditError | FleetError


def precheck(change: Edit) -> EditError | None:
    """What refuses an edit whatever the file says (nothing read yet, no lock taken)."""
    try:
        if change.kind == "add":
            new_entry(change.fields)
        elif change.kind == "state" and change.state not in TENANT_STATES:
            return EditError(f"unknown state {change.state!r}; one of: {', '.join(TENANT_STATES)}")
        elif change.kind in ("move", "release") and not change.target:
            return EditError(f"a {change.kind} needs a target")
    except EditError as exc:
        return exc
    return None


@dataclass(frozen=True)
class _Now:
    """What the edits read of a tenant: as the accepted fleet has it, or as a group's edits left it."""

    state: str
    target: str | None
    shard: str | None
    retained_on: tuple[str, ...]

    @classmethod
    def of(cls, tenant: Tenant) -> _Now:
        return cls(str(tenant.state), tenant.target, tenant.shard, tenant.retained_on)


class _View:
    """The tenants of the accepted fleet with one group's edits on top (None: purged)."""

    def __init__(self, fleet: Fleet) -> None:
        self.by_id = {tenant.id: tenant for tenant in fleet.tenants}
        self.over: dict[str, _Now | None] = {}
        self.purged: dict[str, Tenant] = {}  # each purged tenant as it was

    def get(self, tenant_id: str) -> _Now | None:
        if tenant_id in self.over:
            return self.over[tenant_id]
        tenant = self.by_id.get(tenant_id)
        return None if tenant is None else _Now.of(tenant)

    def set(self, tenant_id: str, now: _Now | None) -> None:
        self.over[tenant_id] = now

    def purge(self, tenant_id: str, now: _Now) -> None:
        """Remember a purged tenant as it was: the accepted fleet's with what the group changed of it."""
        update = {"state": now.state, "target": now.target, "shard": now.shard, "retained_on": now.retained_on}
        self.purged[tenant_id] = self.by_id[tenant_id].model_copy(update=update)
        self.over[tenant_id] = None


class Batch:
    """Edits applied to one document. ``text``/``fleet`` are what was accepted so far (the file's at
    first); ``data`` is the tree of ``text`` unless ``dirty`` (it holds a refused attempt)."""

    def __init__(self, doc: FleetDocument) -> None:
        self.doc = doc
        self.text = doc.text
        self.fleet = doc.fleet
        self.data = doc.data
        self.dirty = False
        self.outcomes: dict[int, Outcome] = {}

    def run(self, edits: list[Numbered]) -> None:
        """Try all edits at once; split a refused group until each refused edit stands alone."""
        groups = deque([edits])
        while groups:
            group = groups.popleft()
            refused = self._attempt(group)
            if refused is None:
                continue
            error, blamed = refused
            if len(group) == 1:
                self.outcomes[group[0][0]] = error
                continue
            groups.extendleft(reversed(_split(group, blamed)))

    def _attempt(self, group: list[Numbered]) -> tuple[FleetError, set[int]] | None:
        """Apply ``group`` on top of the accepted text and validate it: None when accepted, else the
        problems and the edits they blame (those whose tenant entries the problems are about)."""
        if self.dirty:
            self.data = self.doc.load(self.text)  # back to the accepted tree
            self.dirty = False
        view = _View(self.fleet)
        outcomes: dict[int, Outcome] = {}
        touched: dict[int, list[int]] = {}  # position in the tenants list -> the edits that changed it
        for index, change in group:
            try:
                position = self._apply(change, view)
            except EditError as exc:
                outcomes[index] = exc
                continue
            tenant_id = _id_of(change)
            if position is None:  # already in effect
                outcomes[index] = Accepted(tenant_id, False)
                continue
            self.dirty = True
            if change.kind == "purge":
                removed = view.purged[tenant_id]
                touched = {(p - 1 if p > position else p): edits for p, edits in touched.items() if p != position}
                outcomes[index] = Accepted(tenant_id, True, removed)
                continue
            touched.setdefault(position, []).append(index)
            outcomes[index] = Accepted(tenant_id, True)
        if self.dirty:
            text = self.doc.dump(self.data)
            try:
                fleet = self.fleet if text == self.text else self.doc.validate(text)
            except FleetError as exc:
                blamed = {i for position in _positions(exc) for i in touched.get(position, ())}
                return exc, blamed
            self.text, self.fleet, self.dirty = text, fleet, False
        self.outcomes.update(outcomes)
        return None

    def _apply(self, change: Edit, view: _View) -> int | None:
        """Apply one edit to the tree: the position of the entry it changed (a purge: the one it removed),
        None when it is already in effect; :class:`EditError` refuses it."""
        path = self.doc.path
        if change.kind == "add":
            entry = new_entry(change.fields)
            tenant_id = entry.get("id")
            if isinstance(tenant_id, str) and (now := view.get(tenant_id)) is not None:
                raise taken_id(tenant_id, now.state, now.target, str(path))
            append_entry(self.data, entry, self.doc.blank_separated)
            if isinstance(tenant_id, str):
                view.set(tenant_id, self._new(entry))
            return len(self.data["tenants"]) - 1
        tenant_id = change.tenant_id
        now = view.get(tenant_id)
        if now is None:
            raise UnknownTenant(f"no tenant {tenant_id!r} in {path}")
        if change.kind == "state":
            if now.state == change.state:
                return None
            seq, position = locate(self.data, tenant_id)
            write_state(seq, position, change.state)
            view.set(tenant_id, dataclasses.replace(now, state=change.state))
            return position
        if change.kind == "move":
            return self._move(change, now, view)
        if change.kind == "release":
            if change.target not in now.retained_on:
                kept = ", ".join(now.retained_on) or "none"
                raise EditError(
                    f"tenant {tenant_id!r} keeps no earlier copy on target {change.target!r} (retained_on: {kept})"
                )
            seq, position = locate(self.data, tenant_id)
            remove_retained(seq, position, change.target)
            retained = tuple(t for t in now.retained_on if t != change.target)
            view.set(tenant_id, dataclasses.replace(now, retained_on=retained))
            return position
        if now.state != "offboarded":
            raise EditError(
                f"tenant {tenant_id!r} is {now.state}; only an offboarded tenant is purged: offboard it first "
                f"(`tenantctl offboard {tenant_id}`) and deploy, then purge it"
            )
        if tenant_id not in view.by_id:
            raise EditError(f"tenant {tenant_id!r} is added by this same batch of edits; purge it in a later one")
        seq, position = locate(self.data, tenant_id)
        remove_entry(self.data, position)
        view.purge(tenant_id, now)
        return position

    def _new(self, entry: Mapping[str, object]) -> _Now:
        """A tenant entry just appended, as the edits after it read it (the fleet's defaults filled in)."""
        defaults = self.fleet.defaults
        target = entry.get("target", defaults.target)
        retained = entry.get("retained_on")
        return _Now(
            state=str(entry.get("state", DEFAULT_STATE)),
            target=None if target is None else str(target),
            shard=str(entry.get("shard", defaults.shard)),
            retained_on=tuple(str(t) for t in retained) if isinstance(retained, list) else (),
        )

    def _move(self, change: Edit, now: _Now, view: _View) -> int:
        """Point a tenant at another Docker target; its old target is remembered in ``retained_on``."""
        tenant_id, to = change.tenant_id, change.target
        targets = self.fleet.targets
        if to not in targets:
            raise EditError(f"no target {to!r} in {self.doc.path}; known: {', '.join(sorted(targets))}")
        source = targets.get(now.target or "")
        for role, name, target in (("is on", now.target, source), ("would move to", to, targets[to])):
            if isinstance(target, KubernetesTarget):
                raise EditError(
                    f"tenant {tenant_id!r} {role} Kubernetes target {name!r}: tenants move between Docker targets only"
                )
        if to == now.target:
            raise EditError(f"tenant {tenant_id!r} is on target {to!r} already")
        if to in now.retained_on:
            raise EditError(
                f"target {to!r} still holds an earlier copy of tenant {tenant_id!r}'s data (retained_on); "
                f"delete it first (`tenantctl purge {tenant_id} --from-target {to} --yes`), then move the tenant there"
            )
        seq, position = locate(self.data, tenant_id)
        write_key(seq, position, "target", to)
        shard = now.shard if change.shard is None else change.shard
        if shard != now.shard and shard is not None:
            write_key(seq, position, "shard", shard)
        retained = now.retained_on
        if now.target is not None and now.target not in retained:
            add_retained(seq, position, now.target)
            retained = (*retained, now.target)
        view.set(tenant_id, dataclasses.replace(now, target=to, shard=shard, retained_on=retained))
        return position

    def finish(self, on_written: Callable[[Fleet], None] | None = None) -> Fleet:
        """Write what was accepted (one atomic replace) and remember it; the fleet now on disk."""
        if self.text == self.doc.text:
            if not self.dirty:
                self.doc.keep()
            return self.fleet  # a refused attempt is forgotten: the next edit reads the file again
        if self.dirty:
            self.data = self.doc.load(self.text)
        self.doc.write(self.text, self.fleet, self.data)
        if on_written is not None:
            on_written(self.fleet)
        return self.fleet


def _id_of(change: Edit) -> str:
    if change.kind == "add":
        return str(change.fields.get("id"))
    return change.tenant_id


def _positions(exc: FleetError) -> set[int]:
    """The positions in the tenants list of the entries a refused fleet's problems are about."""
    return {
        p.path[1] for p in exc.problems if len(p.path) >= 2 and p.path[0] == "tenants" and isinstance(p.path[1], int)
    }


def _split(group: list[Numbered], blamed: set[int]) -> list[list[Numbered]]:
    """A refused group in order: each blamed edit alone and the runs between them; in halves when the
    problems blame none of its edits (a target over capacity, say)."""
    if not blamed:
        middle = len(group) // 2
        return [group[:middle], group[middle:]]
    parts: list[list[Numbered]] = []
    run: list[Numbered] = []
    for item in group:
        if item[0] in blamed:
            if run:
                parts.append(run)
                run = []
            parts.append([item])
        else:
            run.append(item)
    if run:
        parts.append(run)
    return parts
