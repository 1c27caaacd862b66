"""Edit tenants.yaml in place: add a tenant, change its state, move or purge it, keeping the file as
people wrote it.

Every edit holds an exclusive lock on ``<file>.lock`` (:mod:`tenants.file_lock`), reads the file with
ruamel.yaml's round-trip loader (comments, key order, quotes, blank lines and indentation survive,
:mod:`tenants.yaml_document`), changes only what the edit is about, validates the whole new text with
:func:`tenants.load.parse_fleet`, and only then replaces the file atomically. A refused edit leaves the
file byte for byte as it was: :class:`tenants.errors.FleetError` when the new fleet would be invalid,
:class:`EditError` (or a subclass) for everything else.

:func:`apply_edits` applies a batch of edits (group commit, :mod:`tenants.edit_batch`): one lock, one
read, every edit applied to the tree in order, one validation and one write when the result is valid;
only the edits that make the fleet invalid are refused.

An offboarded tenant's line is the fleet's memory that its id still has data: adding that id again is
refused (:class:`RetiredTenant`), and only :func:`purge_tenant` removes the line.

Used by ``tenantctl add|suspend|resume|offboard|move|purge`` and by the signup service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .contract import TenantState
from .edit_batch import Accepted, Batch, Edit, precheck
from .edit_errors import DuplicateTenant, EditError, RetiredTenant, UnknownTenant
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
    "RetiredTenant",
    "UnknownTenant",
    "add_tenant",
    "apply_edits",
    "move_tenant",
    "purge_tenant",
    "release_copy",
    "set_state",
]


@dataclass(frozen=True)
class EditResult:
    fleet: Fleet  # the validated fleet now on disk
    tenant: Tenant  # the tenant as it is now (purged: as it was then, no longer in ``fleet``)
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
    edit alone would have raised from its single-edit function (:func:`add_tenant`, :func:`set_state`,
    ...) on top of the accepted edits before it. Refused edits never reach the file; the others do, in one
    atomic replace.

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
        now = {tenant.id: tenant for tenant in fleet.tenants}
        # A tenant purged by the batch is gone from the fleet: its edits show it as it was when purged.
        purged = {o.tenant_id: o.removed for o in batch.outcomes.values() if isinstance(o, Accepted) and o.removed}
        for index, outcome in batch.outcomes.items():
            if isinstance(outcome, Accepted):
                tenant = outcome.removed or now.get(outcome.tenant_id) or purged[outcome.tenant_id]
                outcomes[index] = EditResult(fleet, tenant, changed=outcome.changed)
            else:
                outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def add_tenant(path: Path, fields: Mapping[str, object], *, lock_timeout_s: float = 30.0) -> EditResult:
    """Append a tenant entry built from ``fields`` (tenant keys as in tenants.yaml).

    A ``None`` value means "not given" (the fleet's defaults apply). Raises :class:`DuplicateTenant` when
    the id exists (:class:`RetiredTenant`, a subclass, when it is an offboarded tenant's, whose data is
    kept), :class:`tenants.errors.FleetError` when the fleet with the new tenant is invalid.
    """
    return _one(apply_edits(path, [Edit.add(fields)], lock_timeout_s=lock_timeout_s))


def set_state(path: Path, tenant_id: str, state: TenantState, *, lock_timeout_s: float = 30.0) -> EditResult:
    """Set a tenant's state; ``active`` removes the ``state`` key (it is the default).

    Raises :class:`UnknownTenant` for an id not in the file. When the tenant is already in ``state`` the
    file is not touched and ``changed`` is False.
    """
    return _one(apply_edits(path, [Edit.set_state(tenant_id, state)], lock_timeout_s=lock_timeout_s))


def move_tenant(
    path: Path, tenant_id: str, target: str, shard: str | None = None, *, lock_timeout_s: float = 30.0
) -> EditResult:
    """Point a tenant at another Docker target (and ``shard``, when given); its old target is appended to
    its ``retained_on``, since its data stays there until ``tenantctl purge ID --from-target T``.

    Only the file changes: copying the data is the caller's (``tenantctl move``). Refused
    (:class:`EditError`) when either target is a Kubernetes one, when the tenant is on ``target``
    already, or when ``target`` still holds an earlier copy of it; :class:`UnknownTenant` for an id not
    in the file.
    """
    edit = Edit.move(tenant_id, target, shard)
    return _one(apply_edits(path, [edit], lock_timeout_s=lock_timeout_s))


def purge_tenant(path: Path, tenant_id: str, *, lock_timeout_s: float = 30.0) -> EditResult:
    """Remove an offboarded tenant's line: the fleet forgets the id, which is free again.

    The only way a line leaves the file, for ``tenantctl purge`` once it has deleted the tenant's data and
    backups; the copies ``retained_on`` lists are forgotten with the line. The result's ``tenant`` is the
    tenant as it was. Refused (:class:`EditError`) for a tenant that is not offboarded.
    """
    return _one(apply_edits(path, [Edit.purge(tenant_id)], lock_timeout_s=lock_timeout_s))


def release_copy(path: Path, tenant_id: str, target: str, *, lock_timeout_s: float = 30.0) -> EditResult:
    """Remove ``target`` from a tenant's ``retained_on``, once the earlier copy there is deleted.

    Refused (:class:`EditError`) when ``retained_on`` does not list ``target``.
    """
    return _one(apply_edits(path, [Edit.release(tenant_id, target)], lock_timeout_s=lock_timeout_s))


def _one(outcomes: list[EditOutcome]) -> EditResult:
    (outcome,) = outcomes
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
