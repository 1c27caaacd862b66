"""The signup API never hands out an offboarded tenant's id: its data still exists until it is purged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from harness.signup_service import write_example_fleet
from signup.errors import refusal
from signup.store import SqliteJobStore
from tenants import tenant_ids
from tenants.edit import RetiredTenant, add_tenant, purge_tenant, set_state
from tenants.load import load_fleet
from tests.signup.conftest import poll_job

BASIC = {"plan": "basic", "model_provider": "kimi"}
RETIRED = "t-retired0"  # an id of the generator's own form, offboarded


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    """The example fleet with two offboarded tenants: umbrella, and one whose id the generator could draw."""
    path = write_example_fleet(tmp_path / "fleet" / "tenants.yaml")
    add_tenant(path, {"id": RETIRED, **BASIC})
    set_state(path, RETIRED, "offboarded")
    set_state(path, "umbrella", "offboarded")
    return path


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The random suffixes the id generator draws, in order (then its own again)."""
    planned: list[str] = []
    real = tenant_ids._random_suffix
    monkeypatch.setattr(tenant_ids, "_random_suffix", lambda: planned.pop(0) if planned else real())
    yield planned


def test_an_explicit_offboarded_id_gets_409_tenant_retired(
    client: TestClient, fleet_file: Path, store: SqliteJobStore
) -> None:
    before = fleet_file.read_bytes()
    response = client.post("/v1/tenants", json={**BASIC, "id": "umbrella"})
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "tenant_retired"
    message = error["message"]
    assert message.startswith("tenant 'umbrella' was offboarded and its data still exists on target 'local'")
    assert "`tenantctl resume umbrella`" in message and "`tenantctl restore umbrella`" in message
    assert "`tenantctl purge umbrella --yes`" in message
    assert str(fleet_file) not in message
    assert fleet_file.read_bytes() == before
    assert store.unfinished() == []


def test_a_live_id_keeps_tenant_exists(client: TestClient, fleet_file: Path) -> None:
    response = client.post("/v1/tenants", json={**BASIC, "id": "acme"})
    assert response.status_code == 409, response.text
    assert response.json()["error"] == {"code": "tenant_exists", "message": "tenant 'acme' already exists"}


def test_a_refusal_from_the_editor_maps_to_tenant_retired_too() -> None:
    """What the edit batch raises when the id was offboarded after the service read the fleet."""
    error = refusal(RetiredTenant("tenant 'x' in tenants.yaml was offboarded and its data still exists"))
    assert error is not None and (error.status, error.code) == (409, "tenant_retired")


def test_generated_ids_skip_offboarded_ids(client: TestClient, fleet_file: Path, draws: list[str]) -> None:
    draws.extend(["retired0", "fresh000"])
    response = client.post("/v1/tenants", json=BASIC)
    assert response.status_code == 202, response.text
    job = poll_job(client, response.json()["id"])
    assert (job["state"], job["tenant_id"]) == ("succeeded", "t-fresh000")
    assert draws == []  # the offboarded id was drawn, and passed over
    fleet = load_fleet(fleet_file)
    assert fleet.tenant(RETIRED).state == "offboarded"
    assert fleet.tenant("t-fresh000").state == "active"


def test_a_purged_id_can_be_signed_up_again(client: TestClient, fleet_file: Path) -> None:
    purge_tenant(fleet_file, "umbrella")
    response = client.post("/v1/tenants", json={**BASIC, "id": "umbrella"})
    assert response.status_code == 202, response.text
    job = poll_job(client, response.json()["id"])
    assert job["state"] == "succeeded"
    assert load_fleet(fleet_file).tenant("umbrella").state == "active"
