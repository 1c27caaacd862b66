"""Edit tenants.yaml in place: add a tenant or change its state, keeping the file as people wrote it.

Every edit holds an exclusive lock on ``<file>.lock`` (:mod:`tenants.file_lock`), reads the file with
ruamel.yaml's round-trip loader (comments, key order, quotes, blank lines and indentation survive,
:mod:`tenants.yaml_document`), changes only what the edit is about, validates the whole new text with
:func:`tenants.load.parse_fleet`, and only then replaces the file atomically. A refused edit leaves the
file byte for byte as it was: :class:`tenants.errors.FleetError` when the new fleet would be invalid,
:class:`EditError` (or a subclass) for everything else.

:func:`apply_edits` applies a batch of edits (group commit, :mod:`tenants.edit_batch`): one lock, one
read, every edit applied to the tree in order, one validation and one write when the result is valid;
only the edits that make the fleet invalid are refused.

Used by ``tenantctl add|suspend|resume|offboard`` and by the signup service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .contract import TenantState
from .edit_batch import Batch, Edit, precheck
from .edit_errors import DuplicateTenant, EditError, UnknownTenant
from .errors import FleetError
from .file_lock import locked
from .model import Fleet, Tenant
from .yaml_document import FleetDocument

__all__ = [
    "DuplicateTenant",
    "Edit",
    "EditError",
    "EditOutcome",
    "EditResult",
    "UnknownTenant",
    "add_tenant",
    "apply_edits",
    "set_state",
]


@dataclass(frozen=True)
class EditResult:
    fleet: Fleet  # the validated fleet now on disk
    tenant: Tenant  # the tenant as it is now
    changed: bool  # False when the edit was already in effect (idempotent)


EditOutcome = EditResult | EditError | FleetError


def apply_edits(
    path: Path,
    edits: Sequence[Edit],
    *,
    lock_timeout_s: float = 30.0,
    on_written: Callable[[Fleet], None] | None = None,
) -> list[EditOutcome]:
    """Apply ``edits`` in order under one lock, with one validation and one write when all are valid.

    Returns one outcome per edit, in input order: an :class:`EditResult` (every result carries the fleet
    written at the end of the batch), or the :class:`EditError` / :class:`tenants.errors.FleetError` that
    edit alone would have raised from :func:`add_tenant` or :func:`set_state` on top of the accepted edits
    before it. Refused edits never reach the file; the others do, in one atomic replace.

    Raises (and changes nothing) when no edit could be tried: :class:`EditError` when the lock is not
    free within ``lock_timeout_s`` or the file is unreadable, :class:`tenants.errors.FleetError` when the
    file as it is is invalid; an ``OSError`` while writing leaves the file as it was.

    ``on_written`` is called with the fleet just written, while the file is still locked (so what it
    sees of the file, its ``stat`` say, is that fleet's); not at all when nothing was written. It must
    not raise: the file is already replaced.
    """
    path = Path(path)
    outcomes: list[EditOutcome | None] = [None] * len(edits)
    todo: list[tuple[int, Edit]] = []
    for index, change in enumerate(edits):
        refusal = precheck(change)
        if refusal is None:
            todo.append((index, change))
        else:
            outcomes[index] = refusal
    if todo:
        with locked(path, lock_timeout_s):
            batch = Batch(FleetDocument.read(path))
            batch.run(todo)
            fleet = batch.finish(on_written)
        for index, outcome in batch.outcomes.items():
            if isinstance(outcome, tuple):
                tenant_id, changed = outcome
                outcomes[index] = EditResult(fleet, fleet.tenant(tenant_id), changed=changed)
            else:
                outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def add_tenant(path: Path, fields: Mapping[str, object], *, lock_timeout_s: float = 30.0) -> EditResult:
    """Append a tenant entry built from ``fields`` (tenant keys as in tenants.yaml).

    A ``None`` value means "not given" (the fleet's defaults apply). Raises :class:`DuplicateTenant` when
    the id exists, :class:`tenants.errors.FleetError` when the fleet with the new tenant is invalid.
    """
    return _one(apply_edits(path, [Edit.add(fields)], lock_timeout_s=lock_timeout_s))


def set_state(path: Path, tenant_id: str, state: TenantState, *, lock_timeout_s: float = 30.0) -> EditResult:
    """Set a tenant's state; ``active`` removes the ``state`` key (it is the default).

    Raises :class:`UnknownTenant` for an id not in the file. When the tenant is already in ``state`` the
    file is not touched and ``changed`` is False.
    """
    return _one(apply_edits(path, [Edit.set_state(tenant_id, state)], lock_timeout_s=lock_timeout_s))


def _one(outcomes: list[EditOutcome]) -> EditResult:
    (outcome,) = outcomes
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
