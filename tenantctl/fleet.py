"""tenantctl validate | render docker | render kubernetes: check a fleet and show what each tenant gets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tenants.contract import TENANT_STATES
from tenants.fleet_warnings import fleet_warnings
from tenants.rendering import fleet_specs, render_manifests
from tenants.shards import ALL_SHARDS, select_shard

from .console import err, load_or_exit, or_exit, out

FileArg = Annotated[Path, typer.Argument(help="Fleet file.")]
TenantsOpt = Annotated[Path, typer.Option("--tenants", "-f", help="Fleet file.")]
ShardOpt = Annotated[str, typer.Option(help="Only this shard's tenants.")]


def register(app: typer.Typer) -> None:
    """Add ``validate`` and the ``render`` group to ``app``."""
    app.command()(validate)
    render = typer.Typer(no_args_is_help=True, help="Print what each tenant gets.")
    render.command("docker")(render_docker)
    render.command("kubernetes")(render_kubernetes)
    app.add_typer(render, name="render")


def validate(file: FileArg = Path("tenants.yaml")) -> None:
    """Check a fleet file; list every problem with its line and exit 1 if there is any."""
    fleet = load_or_exit(file)
    counts = {s: sum(t.state == s for t in fleet.tenants) for s in TENANT_STATES}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    out.print(f"{file}: valid ({len(fleet.tenants)} tenants: {summary})")
    for warning in fleet_warnings(fleet):
        err.print(f"warning: {warning}")


def render_docker(tenants: TenantsOpt = Path("tenants.yaml"), shard: ShardOpt = ALL_SHARDS) -> None:
    """Print, as JSON, the Docker specs of every tenant and edge proxy (no secret values)."""
    fleet = load_or_exit(tenants)
    selected = or_exit(lambda: select_shard(fleet, shard), also=(ValueError,))
    print(json.dumps(fleet_specs(fleet, selected), indent=2, sort_keys=True))


def render_kubernetes(
    tenants: TenantsOpt = Path("tenants.yaml"),
    out: Annotated[Path | None, typer.Option(help="Write <tenant id>.yaml files here instead of stdout.")] = None,
    shard: ShardOpt = ALL_SHARDS,
) -> None:
    """Write every manifest of every Kubernetes tenant as YAML, secret values redacted."""
    fleet = load_or_exit(tenants)
    selected = or_exit(lambda: select_shard(fleet, shard), also=(ValueError,))
    rendered = render_manifests(fleet, selected)
    if out is None:
        sys.stdout.write("".join(rendered.values()))
        return
    out.mkdir(parents=True, exist_ok=True)
    for tenant_id, text in rendered.items():
        (out / f"{tenant_id}.yaml").write_text(text)
    err.print(f"wrote {len(rendered)} tenant files to {out}")
