"""tenantctl diff|cost: what a change to tenants.yaml does to customers, stacks and money.

``register(app)`` adds both commands to a typer app (tenants/cli.py calls it). Reports go to stdout as
markdown (for a pull request) or JSON; errors go to stderr. Exit codes of ``diff``: 0 safe change,
2 destructive change, 1 invalid fleet or unknown ref.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from . import cost as cost_report
from . import diff as fleet_diff
from .errors import FleetError
from .load import load_fleet

err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_DESTRUCTIVE = 2


class Format(StrEnum):
    md = "md"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", help="md (for a pull request) or json.")]


def register(app: typer.Typer) -> None:
    """Add ``diff`` and ``cost`` to ``app``."""
    app.command("diff")(diff)
    app.command("cost")(cost)


def diff(
    base: Annotated[
        str,
        typer.Option(
            help="The fleet before the change: a file, or a git ref (reads <ref>:<--file>).", show_default=False
        ),
    ],
    head: Annotated[
        str | None,
        typer.Option(help="The fleet after the change: a file or a git ref; the working-tree file without it."),
    ] = None,
    file: Annotated[
        str, typer.Option("--file", help="The fleet file's path from the repository root, in refs and the work tree.")
    ] = "tenants.yaml",
    format: FormatOpt = Format.md,
    max_rows: Annotated[int, typer.Option(help="Rows of the markdown table at most; 0 for all.", min=0)] = 300,
) -> None:
    """Which tenants a change adds, removes, suspends, resumes, offboards or changes; the monthly cost delta;
    the affected stacks. Exit 0 when safe, 2 when destructive (removed while live, storage shrunk, moved
    between targets or shards), 1 when a fleet is invalid or a ref is unknown."""
    try:
        base_text = fleet_diff.read_fleet_text(base, file)
        head_text = fleet_diff.read_fleet_text(head, file)
        old, new = fleet_diff.load_pair(base_text, head_text)
    except fleet_diff.SourceError as exc:
        err.print(f"tenantctl diff: {exc}", markup=False)
        raise typer.Exit(1) from None
    except fleet_diff.FleetPairError as exc:
        err.print(exc.render(), markup=False)
        raise typer.Exit(1) from None
    result = fleet_diff.diff_fleets(old, new, base_source=base_text.source, head_source=head_text.source)
    if format is Format.json:
        sys.stdout.write(fleet_diff.render_json(result))
    else:
        sys.stdout.write(fleet_diff.render_markdown(result, max_rows=max_rows or None))
    if result.is_destructive:
        raise typer.Exit(EXIT_DESTRUCTIVE)


def cost(
    file: Annotated[Path, typer.Option("--file", "-f", help="Fleet file.")] = Path("tenants.yaml"),
    format: FormatOpt = Format.md,
) -> None:
    """Monthly cost per tenant, per plan, per target and in total, from the plans' monthly_price.
    A tenant costs its plan's price while active; suspended and offboarded tenants cost 0."""
    try:
        fleet = load_fleet(file)
    except FleetError as exc:
        err.print(exc.render(), markup=False)
        raise typer.Exit(1) from None
    report = cost_report.cost_report(fleet)
    render = cost_report.render_json if format is Format.json else cost_report.render_markdown
    sys.stdout.write(render(report))
