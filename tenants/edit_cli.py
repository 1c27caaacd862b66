"""tenantctl add|suspend|resume|offboard: change tenants.yaml through the shared round-trip editor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from .contract import TenantState
from .edit import EditError, add_tenant, set_state, shard_for_new_tenant
from .errors import FleetError
from .load import load_fleet
from .model import Fleet

FileOpt = Annotated[Path, typer.Option("--file", "-f", help="Fleet file to edit.")]
IdArg = Annotated[str, typer.Argument(help="Tenant id.", show_default=False)]

T = TypeVar("T")

DONE: dict[str, str] = {"active": "resumed", "suspended": "suspended", "offboarded": "offboarded"}
AFTERWARDS: dict[str, str] = {
    "active": "",
    "suspended": " (its gateway stops; its data and token are kept)",
    "offboarded": " (only its data and token are kept)",
}


def register(app: typer.Typer) -> None:
    """Add the editing commands to ``app``."""
    app.command("add")(add)
    app.command("suspend")(suspend)
    app.command("resume")(resume)
    app.command("offboard")(offboard)


def add(
    tenant_id: IdArg,
    *,
    plan: Annotated[str, typer.Option(help="Plan name.", show_default=False)],
    provider: Annotated[str, typer.Option(help="Model provider (kimi, minimax, anthropic, ...).", show_default=False)],
    target: Annotated[str | None, typer.Option(help="Target name; the fleet's default without it.")] = None,
    shard: Annotated[
        str | None, typer.Option(help="Shard (Pulumi stack); the least loaded one its target allows without it.")
    ] = None,
    file: FileOpt = Path("tenants.yaml"),
) -> None:
    """Add a tenant to the fleet file (validated before it is written)."""
    fields: dict[str, object] = {"id": tenant_id, "plan": plan, "model_provider": provider}
    if target is not None:
        fields["target"] = target
    chosen = shard if shard is not None else _run(lambda: placement(load_fleet(file), target))
    if chosen is not None:
        fields["shard"] = chosen
    result = _run(lambda: add_tenant(file, fields))
    t = result.tenant
    typer.echo(
        f"added tenant {t.id} to {file} (plan {t.plan}, provider {t.model_provider}, target {t.target}, "
        f"shard {t.shard}); deploy shard {t.shard} to create it"
    )


def suspend(tenant_id: IdArg, file: FileOpt = Path("tenants.yaml")) -> None:
    """Suspend a tenant: its gateway stops; its data and token stay."""
    _set(file, tenant_id, "suspended")


def resume(tenant_id: IdArg, file: FileOpt = Path("tenants.yaml")) -> None:
    """Make a suspended or offboarded tenant active again (its data was kept)."""
    _set(file, tenant_id, "active")


def offboard(tenant_id: IdArg, file: FileOpt = Path("tenants.yaml")) -> None:
    """Offboard a tenant: everything goes except its data and token (resume brings it back)."""
    _set(file, tenant_id, "offboarded")


def placement(fleet: Fleet, target: str | None) -> str | None:
    """The shard for a new tenant when none is given; None (the default shard) is left unwritten."""
    chosen = shard_for_new_tenant(fleet, target)
    return None if chosen == fleet.defaults.shard else chosen


def _set(file: Path, tenant_id: str, state: TenantState) -> None:
    result = _run(lambda: set_state(file, tenant_id, state))
    if not result.changed:
        typer.echo(f"tenant {tenant_id} is already {state}")
        return
    typer.echo(
        f"{DONE[state]} tenant {tenant_id} in {file}{AFTERWARDS[state]}; deploy shard {result.tenant.shard} to apply"
    )


def _run(action: Callable[[], T]) -> T:
    """``action()``; a refused edit or an invalid fleet prints its reason on stderr and exits 1."""
    try:
        return action()
    except FleetError as exc:
        typer.echo(exc.render(), err=True)
    except EditError as exc:
        typer.echo(str(exc), err=True)
    raise typer.Exit(1)
