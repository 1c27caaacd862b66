"""The ``tenantctl`` command: every command module registers its commands on one app."""

from __future__ import annotations

import typer

from . import data, edit, fleet, review, serve, usage

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Manage an OpenClaw tenant fleet.")
for commands in (fleet, edit, data, review, serve, usage):
    commands.register(app)

if __name__ == "__main__":
    app()
