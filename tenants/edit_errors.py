"""Why an edit of tenants.yaml was refused, for every part of the editor (lock, file, ids, entries)."""

from __future__ import annotations


class EditError(Exception):
    """A refused edit; ``str()`` is a one-line reason for users."""


class UnknownTenant(EditError):  # noqa: N818 - the API's name
    """The tenant to change is not in the file."""


class DuplicateTenant(EditError):  # noqa: N818 - the API's name
    """A tenant with the new tenant's id is already in the file."""
