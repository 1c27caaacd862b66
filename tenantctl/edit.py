"""tenantctl add | suspend | resume | offboard: change tenants.yaml through the shared round-trip editor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tenants.contract import INTO_STATE, TRANSITIONS, StateAction
from tenants.edit import add_tenant, set_state
from tenants.edit_errors import taken_id
from tenants.model import Fleet
from tenants.placement import shard_for_new_tenant

from .console import fail, load_or_exit, or_exit, out

FileOpt = Annotated[Path, typer.Option("--file", "-f", help="Fleet file to edit.")]
IdArg = Annotated[str, typer.Argument(help="Tenant id.", show_default=False)]


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
    """Add a tenant to the fleet file (validated before it is written). An offboarded tenant's id is not
    free: its data still exists (resume or restore it, or purge it for a new customer)."""
    fields: dict[str, object] = {"id": tenant_id, "plan": plan, "model_provider": provider}
    if target is not None:
        fields["target"] = target
    if shard is not None:
        fields["shard"] = shard
    else:
        fleet = load_or_exit(file)
        _refuse_taken(fleet, tenant_id, file)  # before placing it: the id is the first problem
        chosen = or_exit(lambda: shard_for_new_tenant(fleet, target))
        if chosen != fleet.defaults.shard:  # the default shard is implied: leave it unwritten
            fields["shard"] = chosen
    t = or_exit(lambda: add_tenant(file, fields)).tenant
    out.print(
        f"added tenant {t.id} to {file} (plan {t.plan}, provider {t.model_provider}, target {t.target}, "
        f"shard {t.shard}); deploy shard {t.shard} to create it"
    )


def _refuse_taken(fleet: Fleet, tenant_id: str, file: Path) -> None:
    """Stop with the editor's own refusal when the file has ``tenant_id``, retired or live."""
    tenant = next((t for t in fleet.tenants if t.id == tenant_id), None)
    if tenant is not None:
        fail(str(taken_id(tenant.id, tenant.state, tenant.target, str(file))))


def suspend(tenant_id: IdArg, file: FileOpt = Path("tenants.yaml")) -> None:
    """Suspend a tenant: its gateway stops; its data and token stay."""
    _apply(file, tenant_id, "suspend")


def resume(tenant_id: IdArg, file: FileOpt = Path("tenants.yaml")) -> None:
    """Make a suspended or offboarded tenant active again (its data was kept)."""
    _apply(file, tenant_id, "resume")


def offboard(tenant_id: IdArg, file: FileOpt = Path("tenants.yaml")) -> None:
    """Offboard a tenant: everything goes except its data and token (resume brings it back)."""
    _apply(file, tenant_id, "offboard")


def _apply(file: Path, tenant_id: str, action: StateAction) -> None:
    transition = TRANSITIONS[action]
    result = or_exit(lambda: set_state(file, tenant_id, transition.state))
    if not result.changed:
        out.print(f"tenant {tenant_id} is already {transition.state}")
        return
    keeps = f" ({transition.keeps})" if transition.keeps else ""
    out.print(
        f"{INTO_STATE[transition.state].past} tenant {tenant_id} in {file}{keeps}; "
        f"deploy shard {result.tenant.shard} to apply"
    )
