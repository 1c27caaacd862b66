"""Why an edit of tenants.yaml was refused, for every part of the editor (lock, file, ids, entries)."""

from __future__ import annotations


class EditError(Exception):
    """A refused edit; ``str()`` is a one-line reason for users."""


class UnknownTenant(EditError):  # noqa: N818 - the API's name
    """The tenant to change is not in the file."""


class DuplicateTenant(EditError):  # noqa: N818 - the API's name
    """A tenant with the new tenant's id is already in the file."""


class RetiredTenant(DuplicateTenant):
    """The new tenant's id is an offboarded tenant's: its data still exists, so the id is not free."""


def taken_id(tenant_id: str, state: str, target: str | None, where: str = "") -> DuplicateTenant:
    """The refusal of a new tenant whose id is in the file: :class:`RetiredTenant` for an offboarded one
    (its line is the fleet's memory that its data still exists), :class:`DuplicateTenant` otherwise.
    ``where`` names the file ("" leaves it out)."""
    within = f" in {where}" if where else ""
    if state != "offboarded":
        return DuplicateTenant(f"tenant {tenant_id!r} already exists{within}")
    on = f" on target {target!r}" if target else ""
    return RetiredTenant(
        f"tenant {tenant_id!r}{within} was offboarded and its data still exists{on}, so the id is not free. "
        f"The same customer: bring it back with `tenantctl resume {tenant_id}` (its data kept), then "
        f"`tenantctl restore {tenant_id}` if it needs its last backup instead. A new customer: "
        f"`tenantctl purge {tenant_id} --yes` first deletes the old data and backups and frees the id"
    )
