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
from .edit_errors import DuplicateTenant, EditError, UnknownTenant
from .errors import FleetError
from .model import Fleet
from .tenant_entries import append_entry, locate, new_entry, write_state
from .yaml_document import FleetDocument

EditKind = Literal["add", "state"]
EDIT_KINDS: tuple[EditKind, ...] = get_args(EditKind)


@dataclass(frozen=True)
class Edit:
    """One edit of a batch: ``Edit.add(fields)`` or ``Edit.set_state(id, state)``."""

    kind: EditKind
    fields: Mapping[str, object] = dataclasses.field(default_factory=dict)  # "add": the new tenant's keys
    tenant_id: str = ""  # "state": the tenant to change
    state: str = ""  # "state": its new state

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


Numbered = tuple[int, Edit]  # an edit and its position in the caller's list
Accepted = tuple[str, bool]  # (tenant id, changed) until the final fleet is known
Outcome = Accepted | EditError | FleetError


def precheck(change: Edit) -> EditError | None:
    """What refuses an edit whatever the file says (nothing read yet, no lock taken)."""
    try:
        if change.kind == "add":
            new_entry(change.fields)
        elif change.state not in TENANT_STATES:
            return EditError(f"unknown state {change.state!r}; one of: {', '.join(TENANT_STATES)}")
    except EditError as exc:
        return exc
    return None


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
        states = {tenant.id: str(tenant.state) for tenant in self.fleet.tenants}
        outcomes: dict[int, Outcome] = {}
        touched: dict[int, list[int]] = {}  # position in the tenants list -> the edits that changed it
        for index, change in group:
            if change.kind == "add":
                entry = new_entry(change.fields)
                tenant_id = entry.get("id")
                if isinstance(tenant_id, str) and tenant_id in states:
                    outcomes[index] = DuplicateTenant(f"tenant {tenant_id!r} already exists in {self.doc.path}")
                    continue
                append_entry(self.data, entry, self.doc.blank_separated)
                self.dirty = True
                touched.setdefault(len(self.data["tenants"]) - 1, []).append(index)
                if isinstance(tenant_id, str):
                    states[tenant_id] = str(entry.get("state", DEFAULT_STATE))
                outcomes[index] = (str(tenant_id), True)
                continue
            tenant_id = change.tenant_id
            current = states.get(tenant_id)
            if current is None:
                outcomes[index] = UnknownTenant(f"no tenant {tenant_id!r} in {self.doc.path}")
            elif current == change.state:
                outcomes[index] = (tenant_id, False)
            else:
                seq, position = locate(self.data, tenant_id)
                write_state(seq, position, change.state)
                self.dirty = True
                touched.setdefault(position, []).append(index)
                states[tenant_id] = change.state
                outcomes[index] = (tenant_id, True)
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
