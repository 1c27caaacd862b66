"""Where tenantctl prints, and the one way a command stops on a problem it can explain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, Protocol, TypeVar, runtime_checkable

import typer
from rich.console import Console

from tenants.edit import EditError
from tenants.errors import FleetError
from tenants.fleet_pair import FleetPairError
from tenants.fleet_sources import SourceError
from tenants.load import load_fleet
from tenants.model import Fleet

T = TypeVar("T")

# Plain text: no markup, emoji codes, highlighting or wrapping, so what a command says is what it wrote.
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

EXIT_PROBLEM = 1


@runtime_checkable
class Renders(Protocol):
    """An error that formats all of its problems itself (every problem of a fleet file, with lines)."""

    def render(self) -> str: ...


# Refusals a user can act on: their message is the whole story, so no traceback.
EXPLAINED: tuple[type[Exception], ...] = (FleetError, FleetPairError, EditError, SourceError)


def fail(message: str, code: int = EXIT_PROBLEM) -> NoReturn:
    err.print(message)
    raise typer.Exit(code)


def or_exit(action: Callable[[], T], *, prefix: str = "", also: tuple[type[Exception], ...] = ()) -> T:
    """``action()``; a refusal it explains (``EXPLAINED``, or ``also``) is printed on stderr after ``prefix``
    and the command exits 1."""
    try:
        return action()
    except (*EXPLAINED, *also) as exc:
        fail(exc.render() if isinstance(exc, Renders) else f"{prefix}{exc}")


def load_or_exit(path: Path) -> Fleet:
    """The validated fleet, or every problem of the file on stderr and exit 1."""
    return or_exit(lambda: load_fleet(path))
