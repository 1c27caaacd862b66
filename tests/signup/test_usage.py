"""GET /v1/tenants/{id}/usage: a tenant's metered model usage from the model gateway's ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.fake_runner import FakeRunner
from harness.ledgers import record_calls
from harness.signup_service import AUTH, TOKEN
from model_gateway.ledger import utc_day
from signup.app import create_app
from signup.config import ConfigError, ServiceConfig
from signup.store import SqliteJobStore

from .conftest import ROOT, with_config


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    """A ledger with acme's calls in May 2021 (two models, two days), one in April, and globex's."""
    calls = [
        ("acme", "kimi-k2", "2021-05-01", 1000, 100, "0.0010"),
        ("acme", "kimi-k2", "2021-05-01", 2000, 200, "0.0020"),
        ("acme", "claude", "2021-05-09", 500, 50, "0.25"),
        ("acme", "kimi-k2", "2021-04-30", 7, 7, "7"),
        ("globex", "kimi-k2", "2021-05-01", 9, 9, "9"),
        ("acme", "kimi-k2", utc_day(), 1, 2, "0.5"),
    ]
    return record_calls(f"sqlite:///{tmp_path / 'ledger.sqlite'}", calls)


def serve(config: ServiceConfig, store: SqliteJobStore, runner: FakeRunner, url: str | None) -> Iterator[TestClient]:
    app = create_app(with_config(config, ledger_url=url), store, runner)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def metered(config: ServiceConfig, store: SqliteJobStore, runner: FakeRunner, ledger_url: str) -> Iterator[TestClient]:
    yield from serve(config, store, runner, ledger_url)


def error_code(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


def test_usage_per_model_and_day_with_totals(metered: TestClient) -> None:
    response = metered.get("/v1/tenants/acme/usage", params={"month": "2021-05"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "tenant_id": "acme",
        "month": "2021-05",
        "total": {"requests": 3, "input_tokens": 3500, "output_tokens": 350, "cost_usd": "0.2530000000"},
        "models": [
            {"model": "claude", "requests": 1, "input_tokens": 500, "output_tokens": 50, "cost_usd": "0.2500000000"},
            {"model": "kimi-k2", "requests": 2, "input_tokens": 3000, "output_tokens": 300, "cost_usd": "0.0030000000"},
        ],
        "days": [
            {
                "model": "claude",
                "day": "2021-05-09",
                "requests": 1,
                "input_tokens": 500,
                "output_tokens": 50,
                "cost_usd": "0.2500000000",
            },
            {
                "model": "kimi-k2",
                "day": "2021-05-01",
                "requests": 2,
                "input_tokens": 3000,
                "output_tokens": 300,
                "cost_usd": "0.0030000000",
            },
        ],
    }


def test_the_current_month_by_default_and_an_empty_month(metered: TestClient) -> None:
    now = metered.get("/v1/tenants/acme/usage").json()
    assert now["month"] == utc_day()[:7]
    assert now["total"]["cost_usd"] == "0.5000000000"
    empty = metered.get("/v1/tenants/initech/usage", params={"month": "2021-05"}).json()
    assert empty["total"] == {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": "0.0000000000"}
    assert empty["models"] == [] and empty["days"] == []


def test_unknown_tenant_bad_month_and_no_token(metered: TestClient) -> None:
    assert error_code(metered.get("/v1/tenants/nobody/usage"), 404) == "tenant_not_found"
    for month in ("2026-5", "2026-13", "May"):
        assert error_code(metered.get("/v1/tenants/acme/usage", params={"month": month}), 422) == "invalid_request"
    response = metered.get("/v1/tenants/acme/usage", headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert error_code(response, 401) == "unauthorized"


def test_503_without_a_ledger(config: ServiceConfig, store: SqliteJobStore, runner: FakeRunner) -> None:
    for client in serve(config, store, runner, None):
        response = client.get("/v1/tenants/acme/usage")
        assert error_code(response, 503) == "ledger_not_configured"
        assert "OPENCLAW_SIGNUP_LEDGER_URL" in response.json()["error"]["message"]
        assert error_code(client.get("/v1/tenants/nobody/usage"), 404) == "tenant_not_found"


def test_503_when_the_ledger_cannot_be_read(
    config: ServiceConfig, store: SqliteJobStore, runner: FakeRunner, tmp_path: Path
) -> None:
    missing = tmp_path / "not-yet" / "ledger.sqlite"
    for url in (f"sqlite:///{missing}", "postgresql://u:hunter2@127.0.0.1:1/ledger"):
        for client in serve(config, store, runner, url):
            response = client.get("/v1/tenants/acme/usage")
            assert error_code(response, 503) == "ledger_unavailable"
            assert "hunter2" not in response.text and str(missing) not in response.text
    assert not missing.parent.exists()  # reading never creates a ledger


def test_the_ledger_url_comes_from_the_environment() -> None:
    env = {"OPENCLAW_SIGNUP_TOKEN": TOKEN, "OPENCLAW_SIGNUP_PROJECT_DIR": str(ROOT)}
    assert ServiceConfig.from_env(env).ledger_url is None
    url = "postgresql://billing:pw@db.internal/ledger"
    config = ServiceConfig.from_env({**env, "OPENCLAW_SIGNUP_LEDGER_URL": url})
    assert config.ledger_url == url
    assert "pw@" not in repr(config)
    with pytest.raises(ConfigError, match="OPENCLAW_SIGNUP_LEDGER_URL"):
        ServiceConfig.from_env({**env, "OPENCLAW_SIGNUP_LEDGER_URL": "sqlite:///relative.sqlite"})
