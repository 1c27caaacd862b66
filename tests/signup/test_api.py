"""Authentication, request validation and error bodies of the HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from harness.signup_service import AUTH, TOKEN
from signup.store import SqliteJobStore

BASIC = {"plan": "basic", "model_provider": "kimi"}


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    found: dict[str, Any] = body["error"]
    return found


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "not-bearer", "longer", "shorter", "empty"],
)
def test_requests_without_a_valid_token_get_401(app: FastAPI, fleet_file: Path, headers: dict[str, str]) -> None:
    before = fleet_file.read_bytes()
    with TestClient(app, headers=headers) as client:
        for method, path, body in (
            ("POST", "/v1/tenants", BASIC),
            ("GET", "/v1/tenants/acme", None),
            ("POST", "/v1/tenants/acme/suspend", None),
            ("DELETE", "/v1/tenants/acme", None),
            ("GET", "/v1/jobs/j-1", None),
        ):
            response = client.request(method, path, json=body)
            err = error(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert TOKEN not in err["message"]
    assert fleet_file.read_bytes() == before


def test_openapi_and_docs_need_no_token(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert client.get("/docs").status_code == 200
        schema = client.get("/openapi.json").json()
    assert {"/v1/tenants", "/v1/tenants/{tenant_id}", "/v1/jobs/{job_id}", "/v1/tenants/{tenant_id}/suspend"} <= set(
        schema["paths"]
    )
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    error(client.get("/v1/nothing"), 404, "not_found")
    error(client.put("/v1/tenants"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({**BASIC, "plan": "platinum"}, "plan: unknown plan 'platinum'; known: basic, enterprise, pro"),
        ({**BASIC, "id": "Bad_Id"}, "id: 'Bad_Id' is not a DNS label"),
        ({**BASIC, "id": "ab"}, "id: 'ab' must be 3 to 40 characters long"),
        ({**BASIC, "id": "admin"}, "id: 'admin' is reserved"),
        ({**BASIC, "colour": "red"}, "colour: unknown field 'colour'"),
        ({"plan": "basic"}, "model_provider: required field is missing"),
        ({**BASIC, "model_provider": "skynet"}, "model_provider: Input should be 'kimi'"),
        ({**BASIC, "target": "mars"}, "target: unknown target 'mars'; known: cluster-eu, local"),
        ({**BASIC, "overrides": {"memory_gib": 64}}, "overrides.memory_gib: 64.0 is above plan 'basic' max 4.0"),
        ({**BASIC, "overrides": {"gpus": 1}}, "overrides.gpus: unknown field 'gpus'"),
        ({**BASIC, "labels": {"openclaw.io/x": "y"}}, "reserved prefix"),
        ({**BASIC, "plan": 3}, "plan: Input should be a valid string"),
        ([BASIC], "Input should be a valid dictionary"),
    ],
    ids=[
        "unknown-plan",
        "bad-id",
        "short-id",
        "reserved-id",
        "extra-field",
        "missing-provider",
        "unknown-provider",
        "unknown-target",
        "above-plan-max",
        "unknown-override",
        "reserved-label",
        "plan-not-a-string",
        "not-an-object",
    ],
)
def test_bad_bodies_get_422_with_the_fleet_message(
    client: TestClient, store: SqliteJobStore, fleet_file: Path, body: Any, expected: str
) -> None:
    before = fleet_file.read_bytes()
    err = error(client.post("/v1/tenants", json=body), 422, err_code(expected))
    assert expected in err["message"], err
    assert any(expected in line for line in err["details"])
    assert "Traceback" not in err["message"] and "pydantic" not in err["message"]
    assert fleet_file.read_bytes() == before
    assert store.unfinished() == []


def err_code(expected: str) -> str:
    """Fleet-dependent checks come from validating the new fleet; the rest from the body model."""
    fleet_checks = ("unknown plan", "unknown target", "is above plan")
    return "invalid_tenant" if any(check in expected for check in fleet_checks) else "invalid_request"


def test_a_body_that_is_not_json_gets_422(client: TestClient) -> None:
    response = client.post("/v1/tenants", content=b"{plan: basic", headers={"Content-Type": "application/json"})
    assert "body: not valid JSON" in error(response, 422, "invalid_request")["message"]


def test_an_existing_id_gets_409_and_changes_nothing(client: TestClient, fleet_file: Path) -> None:
    before = fleet_file.read_bytes()
    err = error(client.post("/v1/tenants", json={**BASIC, "id": "acme"}), 409, "tenant_exists")
    assert "acme" in err["message"]
    assert fleet_file.read_bytes() == before


def test_unknown_tenants_get_404(client: TestClient, fleet_file: Path) -> None:
    before = fleet_file.read_bytes()
    error(client.get("/v1/tenants/nobody"), 404, "tenant_not_found")
    for response in (
        client.post("/v1/tenants/nobody/suspend"),
        client.post("/v1/tenants/nobody/resume"),
        client.delete("/v1/tenants/nobody"),
    ):
        error(response, 404, "tenant_not_found")
    error(client.get("/v1/jobs/j-nothing"), 404, "job_not_found")
    assert fleet_file.read_bytes() == before


def test_an_invalid_fleet_file_gets_503_without_its_contents(client: TestClient, fleet_file: Path) -> None:
    fleet_file.write_text(fleet_file.read_text() + "\nsurprise: key-from-a-bad-merge\n")
    err = error(client.post("/v1/tenants", json=BASIC), 503, "fleet_invalid")
    assert "surprise" not in err["message"]
    error(client.get("/v1/tenants/acme"), 503, "fleet_invalid")


def test_an_unexpected_error_is_a_500_without_its_text(client: TestClient, app: FastAPI) -> None:
    def explode(tenant_id: str) -> None:
        raise RuntimeError("database password is hunter2")

    app.state.service.tenant = explode
    response = client.get("/v1/tenants/acme")
    err = error(response, 500, "internal_error")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert "reference" in err["message"]


def test_idempotency_key_header_is_bounded(client: TestClient) -> None:
    response = client.post("/v1/tenants", json=BASIC, headers={**AUTH, "Idempotency-Key": "k" * 201})
    assert "Idempotency-Key" in error(response, 422, "invalid_request")["message"]


def test_healthz_is_public(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
