"""``tenantctl serve`` as registered by ``tenantctl.serve.register``."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tenantctl.serve import register

ROOT = Path(__file__).resolve().parents[2]


def app() -> typer.Typer:
    cli = typer.Typer()
    register(cli)

    @cli.command()
    def other() -> None:  # a second command keeps typer from collapsing the app into `serve`
        """Placeholder."""

    return cli


def test_serve_is_registered_with_its_options() -> None:
    result = CliRunner().invoke(app(), ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output and "/docs" in result.output


def test_serve_without_a_token_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENCLAW_SIGNUP_TOKEN", raising=False)
    result = CliRunner().invoke(app(), ["serve"])
    assert result.exit_code == 2
    assert "OPENCLAW_SIGNUP_TOKEN is required" in result.output


def test_serve_without_the_pulumi_cli_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCLAW_SIGNUP_TOKEN", "t" * 32)
    monkeypatch.setenv("OPENCLAW_SIGNUP_PROJECT_DIR", str(ROOT))
    monkeypatch.setenv("PATH", "/nonexistent")
    result = CliRunner().invoke(app(), ["serve"])
    assert result.exit_code == 2
    assert "the pulumi CLI is missing" in result.output
