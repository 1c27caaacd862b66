"""tenantctl diff | cost: what a change to tenants.yaml does to customers, stacks and money.

Reports go to stdout as markdown (for a pull request) or JSON; errors go to stderr. Exit codes of
``diff``: 0 safe change, 2 destructive change, 1 invalid fleet or unknown ref.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from model_gateway.ledger import totals_by
from tenants import audit
from tenants.cost import cost_report
from tenants.cost import render_json as cost_json
from tenants.cost import render_markdown as cost_markdown
from tenants.diff import diff_fleets
from tenants.diff_report import render_json, render_markdown
from tenants.fleet_pair import FleetPairError, load_pair
from tenants.fleet_sources import SourceError, read_fleet_text

from .console import fail, load_or_exit, or_exit
from .usage import read_ledger, resolve_month

EXIT_DESTRUCTIVE = 2
PREFIX = "tenantctl diff: "
COST_PREFIX = "tenantctl cost: "


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
    the affected stacks. A line or retained_on entry the head's audit log shows `tenantctl purge` removed is
    not destructive. Exit 0 when safe, 2 when destructive (removed while live, an offboarded tenant's data
    forgotten, storage shrunk, moved between targets or shards, a Docker target's host or storage moved),
    1 when a fleet is invalid or a ref is unknown."""
    base_text, head_text = or_exit(lambda: (read_fleet_text(base, file), read_fleet_text(head, file)), prefix=PREFIX)
    old, new = or_exit(lambda: load_pair(base_text, head_text))
    purged = or_exit(lambda: head_purges(head, file), prefix=PREFIX, also=(ValueError,))
    result = diff_fleets(old, new, base_source=base_text.source, head_source=head_text.source, purged=purged)
    if format is Format.json:
        sys.stdout.write(render_json(result))
    else:
        sys.stdout.write(render_markdown(result, max_rows=max_rows or None))
    if result.is_destructive:
        raise typer.Exit(EXIT_DESTRUCTIVE)


def head_purges(head: str | None, file: str) -> frozenset[tuple[str, str | None]]:
    """What `tenantctl purge` deleted, from the audit log beside the head's fleet file (the working tree's, a
    file's, or the ref's copy): none when there is no log."""
    name = str(Path(file).parent / audit.LOG_NAME)
    if head is not None and Path(head).is_file():
        log = Path(head).parent / audit.LOG_NAME
        return audit.purges(audit.read(log))
    try:
        text = read_fleet_text(head, name)
    except (SourceError, FleetPairError):
        return frozenset()
    return audit.purges(audit.parse(text.text, text.source))


def cost(
    file: Annotated[Path, typer.Option("--file", "-f", help="Fleet file.")] = Path("tenants.yaml"),
    format: FormatOpt = Format.md,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            help="Add the metered model spend of the model gateway's ledger "
            "(sqlite:////abs/path.sqlite or postgresql://...).",
        ),
    ] = None,
    month: Annotated[
        str | None, typer.Option("--month", help="The metered month, YYYY-MM (UTC); the current one without it.")
    ] = None,
) -> None:
    """Monthly cost per tenant, per plan, per target and in total, from the plans' monthly_price.
    A tenant costs its plan's price while active; suspended and offboarded tenants cost 0.
    With --ledger, each tenant's metered model spend of the month is added to its plan price."""
    fleet = load_or_exit(file)
    if ledger is None:
        if month is not None:
            fail(f"{COST_PREFIX}--month needs --ledger (the month of metered model spend)")
        report = cost_report(fleet)
    else:
        chosen = resolve_month(month, COST_PREFIX)
        rows = read_ledger(ledger, COST_PREFIX, lambda led: led.usage(month=chosen))
        spend = {tenant: line.cost_usd for tenant, line in totals_by(rows, lambda r: r.tenant).items()}
        report = cost_report(fleet, spend, month=chosen)
    sys.stdout.write((cost_json if format is Format.json else cost_markdown)(report))
