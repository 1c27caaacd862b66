"""tenantctl: check and inspect a fleet without Pulumi."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .docker_specs import fleet_specs
from .edit_cli import register as register_edits
from .errors import FleetError
from .k8s_specs import render_manifests
from .load import load_fleet
from .model import Fleet, Tenant
from .review_cli import register as register_review
from .stack import ALL_SHARDS, select_shard

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Manage an OpenClaw tenant fleet.")
render_app = typer.Typer(no_args_is_help=True, help="Print what each tenant gets.")
app.add_typer(render_app, name="render")
register_edits(app)
register_review(app)

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

FileArg = Annotated[Path, typer.Argument(help="Fleet file.")]
TenantsOpt = Annotated[Path, typer.Option("--tenants", "-f", help="Fleet file.")]


def _load(path: Path) -> Fleet:
    try:
        return load_fleet(path)
    except FleetError as exc:
        err.print(exc.render(), markup=False)
        raise typer.Exit(1) from None


def _load_shard(path: Path, shard: str) -> tuple[Fleet, tuple[Tenant, ...]]:
    fleet = _load(path)
    try:
        return fleet, select_shard(fleet, shard)
    except ValueError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(1) from None


@app.command()
def validate(file: FileArg = Path("tenants.yaml")) -> None:
    """Check a fleet file; list every problem with its line and exit 1 if there is any."""
    fleet = _load(file)
    counts = {s: sum(t.state == s for t in fleet.tenants) for s in ("active", "suspended", "offboarded")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    out.print(f"{file}: valid ({len(fleet.tenants)} tenants: {summary})")


@render_app.command("docker")
def render_docker(
    tenants: TenantsOpt = Path("tenants.yaml"),
    shard: Annotated[str, typer.Option(help="Only this shard's tenants.")] = ALL_SHARDS,
) -> None:
    """Print, as JSON, the Docker specs of every tenant and edge proxy (no secret values)."""
    fleet, selected = _load_shard(tenants, shard)
    print(json.dumps(fleet_specs(fleet, selected), indent=2, sort_keys=True))


@render_app.command("kubernetes")
def render_kubernetes(
    tenants: TenantsOpt = Path("tenants.yaml"),
    out: Annotated[Path | None, typer.Option(help="Write <tenant id>.yaml files here instead of stdout.")] = None,
    shard: Annotated[str, typer.Option(help="Only this shard's tenants.")] = ALL_SHARDS,
) -> None:
    """Write every manifest of every Kubernetes tenant as YAML, secret values redacted."""
    fleet, selected = _load_shard(tenants, shard)
    rendered = render_manifests(fleet, selected)
    if out is None:
        sys.stdout.write("".join(rendered.values()))
        return
    out.mkdir(parents=True, exist_ok=True)
    for tenant_id, text in rendered.items():
        (out / f"{tenant_id}.yaml").write_text(text)
    err.print(f"wrote {len(rendered)} tenant files to {out}", markup=False)


if __name__ == "__main__":
    app()
