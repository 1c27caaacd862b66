"""tenantctl cost: exact monthly costs per tenant, plan, target and in total; markdown and JSON."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from harness.fleets import SMALL_FLEET, SMALL_FLEET_COST, fleet_yaml, generate_fleet
from tenantctl.review import register
from tenants.cost import COST_RULE, CostLine, cost_report, render_json, render_markdown, tenant_cost
from tenants.load import parse_fleet
from tenants.model import Fleet
from tests.unit.cli_apps import app_with

Doc = dict[str, Any]
BASE, BASE_COST = SMALL_FLEET, SMALL_FLEET_COST


def load(doc: Doc) -> Fleet:
    return parse_fleet(fleet_yaml(doc), "test.yaml")


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load(BASE)


def test_a_tenant_costs_its_plan_price_only_while_active(fleet: Fleet) -> None:
    costs = {t.id: tenant_cost(fleet, t) for t in fleet.tenants}
    assert costs == {
        "acme": Decimal("29.00"),
        "globex": Decimal("99.00"),
        "initech": Decimal("499.00"),
        "umbrella": Decimal(0),  # suspended
        "hooli": Decimal("99.00"),
        "vandelay": Decimal(0),  # offboarded
        "stark": Decimal("9.99"),
        "wayne": Decimal("9.99"),
    }
    assert all(isinstance(c, Decimal) for c in costs.values())
    assert "while it is active; suspended and offboarded tenants cost 0" in COST_RULE


def test_report_per_tenant_plan_target_and_total(fleet: Fleet) -> None:
    report = cost_report(fleet)
    assert [(t.id, t.state, t.monthly) for t in report.tenants][:4] == [
        ("acme", "active", Decimal("29.00")),
        ("globex", "active", Decimal("99.00")),
        ("initech", "active", Decimal("499.00")),
        ("umbrella", "suspended", Decimal(0)),
    ]
    assert report.plans == (
        CostLine("basic", 2, 1, Decimal("29.00"), Decimal("29.00")),
        CostLine("enterprise", 1, 1, Decimal("499.00"), Decimal("499.00")),
        CostLine("pro", 2, 2, Decimal("198.00"), Decimal("99.00")),
        CostLine("starter", 3, 2, Decimal("19.98"), Decimal("9.99")),
    )
    assert report.targets == (
        CostLine("cluster", 1, 1, Decimal("99.00")),
        CostLine("host-a", 2, 2, Decimal("128.00")),
        CostLine("host-b", 1, 1, Decimal("499.00")),
        CostLine("host-c", 4, 2, Decimal("19.98")),
    )
    assert report.total == CostLine("total", 8, 6, BASE_COST)
    assert sum((line.monthly for line in report.plans), Decimal(0)) == report.total.monthly
    assert sum((line.monthly for line in report.targets), Decimal(0)) == report.total.monthly


def test_unused_plans_and_targets_have_a_zero_line() -> None:
    doc = copy.deepcopy(BASE)
    doc["tenants"] = [x for x in doc["tenants"] if x["target"] != "host-b"]
    report = cost_report(load(doc))
    assert report.plans[1] == CostLine("enterprise", 0, 0, Decimal(0), Decimal("499.00"))
    assert report.targets[2] == CostLine("host-b", 0, 0, Decimal(0))


def test_sums_are_exact() -> None:
    doc = copy.deepcopy(BASE)
    doc["tenants"] = [{"id": f"small-{i:03d}", "plan": "starter", "target": "host-c", "shard": "us"} for i in range(30)]
    doc["targets"]["host-c"]["capacity"]["networks"] = 100
    report = cost_report(load(doc))
    assert report.total.monthly == Decimal("299.70")  # sum of thirty 9.99 as floats: 299.70000000000005
    assert json.loads(render_json(report))["total"]["monthly"] == "299.70"


def test_a_generated_fleet_adds_up() -> None:
    fleet = parse_fleet(fleet_yaml(generate_fleet(2_000, seed=5)))
    report = cost_report(fleet)
    prices = {name: plan.monthly_price for name, plan in fleet.plans.items()}
    expected = sum((prices[t.plan] for t in fleet.tenants if t.state == "active"), Decimal(0))
    assert report.total.monthly == expected
    assert report.total.tenants == 2_000 and len(report.targets) == 10
    for line in report.plans:
        active = sum(t.plan == line.name and t.state == "active" for t in fleet.tenants)
        assert line.monthly == prices[line.name] * active


def test_json(fleet: Fleet) -> None:
    doc = json.loads(render_json(cost_report(fleet)))
    assert list(doc) == ["rule", "total", "plans", "targets", "tenants"]
    assert doc["rule"] == COST_RULE
    assert doc["total"] == {"name": "total", "tenants": 8, "active": 6, "monthly": "745.98"}
    assert doc["plans"][3] == {"name": "starter", "tenants": 3, "active": 2, "price": "9.99", "monthly": "19.98"}
    assert doc["targets"][1] == {"name": "host-a", "tenants": 2, "active": 2, "monthly": "128.00"}
    assert doc["tenants"][3] == {
        "id": "umbrella",
        "plan": "basic",
        "target": "host-c",
        "shard": "us",
        "state": "suspended",
        "monthly": "0.00",
    }


def test_markdown(fleet: Fleet) -> None:
    lines = render_markdown(cost_report(fleet)).splitlines()
    assert lines[0] == "### Monthly cost"
    assert lines[2] == "**Total: 745.98** per month for 8 tenants (6 active)[^rule]"
    assert lines[4:10] == [
        "| plan | price / month | tenants | active | cost / month |",
        "|---|--:|--:|--:|--:|",
        "| basic | 29.00 | 2 | 1 | 29.00 |",
        "| enterprise | 499.00 | 1 | 1 | 499.00 |",
        "| pro | 99.00 | 2 | 2 | 198.00 |",
        "| starter | 9.99 | 3 | 2 | 19.98 |",
    ]
    assert "| host-c | 4 | 2 | 19.98 |" in lines
    assert "| vandelay | starter | host-c | offboarded | 0.00 |" in lines
    assert lines[-1] == f"[^rule]: {COST_RULE}"


def test_markdown_separates_thousands() -> None:
    doc = copy.deepcopy(BASE)
    doc["plans"]["enterprise"] = {"monthly_price": "12499.50"}
    assert "**Total: 12,746.48** per month" in render_markdown(cost_report(load(doc)))


@pytest.fixture
def app() -> typer.Typer:
    return app_with(register)


def test_cli(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet_yaml(BASE))
    runner = CliRunner()
    result = runner.invoke(app, ["cost", "--file", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"]["monthly"] == "745.98"
    result = runner.invoke(app, ["cost", "-f", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("### Monthly cost\n\n**Total: 745.98** per month")


def test_cli_invalid_file_exits_1(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet_yaml(BASE).replace("plan: basic", "plan: platinum", 1))
    result = CliRunner().invoke(app, ["cost", "--file", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{path}: 1 problem found\n  {path}:")
    assert "tenants[0].plan: unknown plan 'platinum'" in result.stderr


# --- metered model spend ------------------------------------------------------------------------


METERED = {"acme": Decimal("1.2345"), "umbrella": Decimal("0.50"), "gone": Decimal("3")}


def test_metered_spend_is_added_to_the_plan_price(fleet: Fleet) -> None:
    report = cost_report(fleet, METERED, month="2026-05")
    by_id = {t.id: t for t in report.tenants}
    assert (by_id["acme"].monthly, by_id["acme"].model_spend, by_id["acme"].total) == (
        Decimal("29.00"),
        Decimal("1.2345"),
        Decimal("30.2345"),
    )
    assert by_id["umbrella"].total == Decimal("0.50")  # suspended now, but it used the models
    assert by_id["globex"].model_spend == Decimal(0)
    assert report.metered is not None
    assert (report.metered.model_spend, report.metered.unlisted) == (Decimal("4.7345"), Decimal("3"))
    assert report.grand_total == Decimal("745.98") + Decimal("4.7345")
    assert report.total.monthly == Decimal("745.98")


def test_metered_json(fleet: Fleet) -> None:
    doc = json.loads(render_json(cost_report(fleet, METERED, month="2026-05")))
    assert list(doc) == ["rule", "metered", "total", "plans", "targets", "tenants"]
    assert doc["metered"]["month"] == "2026-05"
    assert doc["total"] == {
        "name": "total",
        "tenants": 8,
        "active": 6,
        "monthly": "745.98",
        "model_spend": "4.73",
        "unlisted_model_spend": "3.00",
        "total": "750.71",
    }
    assert doc["tenants"][0] == {
        "id": "acme",
        "plan": "basic",
        "target": "host-a",
        "shard": "eu",
        "state": "active",
        "monthly": "29.00",
        "model_spend": "1.23",
        "total": "30.23",
    }


def test_metered_markdown(fleet: Fleet) -> None:
    lines = render_markdown(cost_report(fleet, METERED, month="2026-05")).splitlines()
    assert lines[2] == "**With model spend of 2026-05: 750.71** (plans 745.98 + models 4.73)[^metered]"
    assert lines[4] == "**Total: 745.98** per month for 8 tenants (6 active)[^rule]"
    assert "| tenant | plan | target | state | plan price | model spend | total |" in lines
    assert "| acme | basic | host-a | active | 29.00 | 1.23 | 30.23 |" in lines
    assert "| (not in the fleet file) | | | | | 3.00 | 3.00 |" in lines
    assert "| **total** | | | | 745.98 | 4.73 | 750.71 |" in lines
    assert lines[-1].startswith("[^metered]: Model spend is what the model gateway metered")


def test_metered_spend_needs_its_month(fleet: Fleet) -> None:
    with pytest.raises(ValueError, match="month"):
        cost_report(fleet, METERED)
