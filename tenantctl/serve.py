"""tenantctl serve: run the signup API (its modules load only when it runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from .console import fail

EXIT_CONFIG = 2


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the signup API (settings from OPENCLAW_SIGNUP_* variables; OpenAPI at /docs)."""
    import logging
    import shutil

    import uvicorn

    from signup.app import create_app
    from signup.config import ConfigError, ServiceConfig
    from signup.runner import AutomationRunner
    from signup.store import SqliteJobStore

    try:
        config = ServiceConfig.from_env()
    except ConfigError as exc:
        fail(f"tenantctl serve: {exc}", EXIT_CONFIG)
    if shutil.which("pulumi") is None:
        fail(
            "tenantctl serve: the pulumi CLI is missing (every update runs through it); install it: "
            "https://www.pulumi.com/docs/iac/download-install/",
            EXIT_CONFIG,
        )
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = SqliteJobStore(config.db_path)
    runner = AutomationRunner(
        config.project_dir,
        fleet_file=config.fleet_file,
        shards={stack: shard for shard, stack in config.stacks.items()},
    )
    try:
        uvicorn.run(create_app(config, store, runner), host=host, port=port, log_level=log_level)
    finally:
        store.close()
