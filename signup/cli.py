"""``tenantctl``: the fleet commands plus ``serve``, which runs the signup API."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    ) -> None:
        """Run the signup API (settings from OPENCLAW_SIGNUP_* variables; OpenAPI at /docs)."""
        import logging
        import shutil

        import uvicorn

        from .app import create_app
        from .runner import AutomationRunner
        from .settings import Settings, SettingsError
        from .store import SqliteJobStore

        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            typer.echo(f"tenantctl serve: {exc}", err=True)
            raise typer.Exit(2) from None
        if shutil.which("pulumi") is None:
            typer.echo(
                "tenantctl serve: the pulumi CLI is missing (every update runs through it); install it: "
                "https://www.pulumi.com/docs/iac/download-install/",
                err=True,
            )
            raise typer.Exit(2)
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        store = SqliteJobStore(settings.db_path)
        runner = AutomationRunner(
            settings.project_dir,
            fleet_file=settings.fleet_file,
            shards={stack: shard for shard, stack in settings.stacks.items()},
        )
        try:
            uvicorn.run(create_app(settings, store, runner), host=host, port=port, log_level=log_level)
        finally:
            store.close()


# `tenantctl`: the fleet commands of tenants.cli plus `serve` (tenants/ itself never imports the service).
from tenants.cli import app  # noqa: E402

register(app)
