"""A bare typer app with one command group registered, for testing a CLI module on its own."""

from __future__ import annotations

from collections.abc import Callable

import typer


def app_with(register: Callable[[typer.Typer], None]) -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app
