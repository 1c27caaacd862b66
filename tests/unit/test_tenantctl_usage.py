"""tenantctl usage and tenantctl cost --ledger: reports read from a real ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from harness.fleets import SMALL_FLEET, fleet_yaml
from harness.ledgers import record_calls
from model_gateway.ledger import LEDGER_URL_ENV, utc_day
from tenantctl import review
from tenantctl import usage as usage_cli
from tenantctl.app import app as tenantctl_app
from tests.unit.cli_apps import app_with


def _register(app: typer.Typer) -> None:
    usage_cli.register(app)
    review.register(app)


@pytest.fixture
def app() -> typer.Typer:
    return app_with(_register)


@pytest.fixture
def filled(ledger_url: str) -> str:
    """A ledger with two tenants, two models, two days of May 2026 and one call in April."""
    calls = [
        ("acme", "kimi-k2", "2026-05-01", 1000, 200, "0.0012"),
        ("acme", "kimi-k2", "2026-05-01", 3000, 100, "0.0024"),
        ("acme", "kimi-k2", "2026-05-02", 10, 5, "0.00001"),
        ("acme", "claude", "2026-05-02", 2_000_000, 1000, "6.015"),
        ("globex", "kimi-k2", "2026-05-31", 500, 50, "0.0005"),
        ("globex", "kimi-k2", "2026-04-30", 999, 99, "9.99"),
    ]
    return record_calls(ledger_url, calls)


def run(app: typer.Typer, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env or {LEDGER_URL_ENV: ""})
    return result.exit_code, result.stdout, result.stderr


def test_json_has_totals_per_tenant_model_and_day(app: typer.Typer, filled: str) -> None:
    code, out, err = run(app, "usage", "--ledger", filled, "--month", "2026-05", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["month"] == "2026-05"
    assert doc["total"] == {
        "requests": 5,
        "input_tokens": 2_004_510,
        "output_tokens": 1355,
        "cost_usd": "6.0191100000",
    }
    assert doc["tenants"] == [
        {"tenant": "acme", "requests": 4, "input_tokens": 2_004_010, "output_tokens": 1305, "cost_usd": "6.0186100000"},
        {"tenant": "globex", "requests": 1, "input_tokens": 500, "output_tokens": 50, "cost_usd": "0.0005000000"},
    ]
    assert [(m["tenant"], m["model"], m["requests"]) for m in doc["models"]] == [
        ("acme", "claude", 1),
        ("acme", "kimi-k2", 3),
        ("globex", "kimi-k2", 1),
    ]
    assert doc["days"][1] == {
        "tenant": "acme",
        "model": "kimi-k2",
        "day": "2026-05-01",
        "requests": 2,
        "input_tokens": 4000,
        "output_tokens": 300,
        "cost_usd": "0.0036000000",
    }


def test_csv_is_one_line_per_tenant_model_and_day(app: typer.Typer, filled: str) -> None:
    code, out, err = run(app, "usage", "--ledger", filled, "--month", "2026-05", "--format", "csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["tenant", "model", "day", "requests", "input_tokens", "output_tokens", "cost_usd"]
    assert rows[1:] == [
        ["acme", "claude", "2026-05-02", "1", "2000000", "1000", "6.0150000000"],
        ["acme", "kimi-k2", "2026-05-01", "2", "4000", "300", "0.0036000000"],
        ["acme", "kimi-k2", "2026-05-02", "1", "10", "5", "0.0000100000"],
        ["globex", "kimi-k2", "2026-05-31", "1", "500", "50", "0.0005000000"],
    ]


def test_markdown_for_people(app: typer.Typer, filled: str) -> None:
    code, out, err = run(app, "usage", "--ledger", filled, "--month", "2026-05")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "### Model usage, 2026-05 (UTC)"
    assert lines[2] == "**Total: $6.0191** for 5 requests, 2,004,510 input and 1,355 output tokens, 2 tenants"
    assert "| acme | 4 | 2,004,010 | 1,305 | 6.0186 |" in lines
    assert "| **total** | 5 | 2,004,510 | 1,355 | 6.0191 |" in lines
    assert "| acme | claude | 1 | 2,000,000 | 1,000 | 6.0150 |" in lines
    assert "| globex | kimi-k2 | 2026-05-31 | 1 | 500 | 50 | 0.0005 |" in lines


def test_one_tenant_and_the_ledger_from_the_environment(app: typer.Typer, filled: str) -> None:
    code, out, err = run(
        app, "usage", "--tenant", "globex", "--month", "2026-04", "--format", "json", env={LEDGER_URL_ENV: filled}
    )
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["tenant"], doc["total"]["cost_usd"], len(doc["days"])) == ("globex", "9.9900000000", 1)


def test_an_empty_month(app: typer.Typer, filled: str) -> None:
    code, out, _ = run(app, "usage", "--ledger", filled, "--month", "2025-01")
    assert code == 0
    assert "No model usage recorded." in out
    code, out, _ = run(app, "usage", "--ledger", filled, "--month", "2025-01", "--format", "csv")
    assert out == "tenant,model,day,requests,input_tokens,output_tokens,cost_usd\n"


def test_the_current_month_by_default(app: typer.Typer, tmp_path: Path) -> None:
    url = record_calls(f"sqlite:///{tmp_path / 'ledger.sqlite'}", [("acme", "kimi-k2", utc_day(), 1, 1, "0.5")])
    code, out, err = run(app, "usage", "--ledger", url, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["month"] == utc_day()[:7]
    assert json.loads(out)["total"]["cost_usd"] == "0.5000000000"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], f"tenantctl usage: no ledger given: pass --ledger URL or set {LEDGER_URL_ENV}\n"),
        (["--ledger", "mysql://root:pw@db/x"], "tenantctl usage: unsupported ledger URL (mysql): use sqlite:////abs"),
        (
            ["--ledger", "sqlite:////nonexistent/ledger.sqlite"],
            "tenantctl usage: no ledger at /nonexistent/ledger.sqlite\n",
        ),
        (
            ["--ledger", "postgresql://u:secret@127.0.0.1:1/db"],
            "tenantctl usage: cannot open the ledger postgresql://u:***@",
        ),
        (
            ["--ledger", "sqlite:////tmp/x.sqlite", "--month", "2026-5"],
            "tenantctl usage: month must be YYYY-MM, not '2026-5'\n",
        ),
    ],
)
def test_unusable_ledgers_are_one_line(app: typer.Typer, args: list[str], message: str) -> None:
    code, out, err = run(app, "usage", *args)
    assert code == 1
    assert out == ""
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert "secret" not in err and "pw@" not in err


def test_a_report_never_creates_a_ledger(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "typo.sqlite"
    code, _, _ = run(app, "usage", "--ledger", f"sqlite:///{path}")
    assert code == 1
    assert not path.exists()


def test_cost_adds_the_metered_spend(app: typer.Typer, filled: str, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(fleet_yaml(SMALL_FLEET))
    code, out, err = run(app, "cost", "-f", str(fleet), "--ledger", filled, "--month", "2026-05", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["metered"]["month"] == "2026-05"
    assert (doc["total"]["monthly"], doc["total"]["model_spend"], doc["total"]["total"]) == ("745.98", "6.02", "752.00")
    acme = next(t for t in doc["tenants"] if t["id"] == "acme")
    assert (acme["monthly"], acme["model_spend"], acme["total"]) == ("29.00", "6.02", "35.02")


def test_cost_without_a_ledger_is_unchanged(app: typer.Typer, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(fleet_yaml(SMALL_FLEET))
    code, out, _ = run(app, "cost", "-f", str(fleet), "--format", "json")
    assert code == 0
    assert "metered" not in json.loads(out)
    code, out, err = run(app, "cost", "-f", str(fleet), "--month", "2026-05")
    assert code == 1
    assert err == "tenantctl cost: --month needs --ledger (the month of metered model spend)\n"


def test_tenantctl_has_the_usage_command() -> None:
    result = CliRunner().invoke(tenantctl_app, ["usage", "--help"])
    assert result.exit_code == 0
    assert "--ledger" in result.stdout and LEDGER_URL_ENV in result.stdout
