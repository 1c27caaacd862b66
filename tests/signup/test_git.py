"""Optional git commits of each change of the fleet file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from harness.fake_runner import FakeRunner
from harness.signup_service import AUTH
from signup.app import create_app
from signup.config import ServiceConfig
from signup.store import SqliteJobStore

from .conftest import poll_job, with_config


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_each_change_is_committed_alone(
    config: ServiceConfig, store: SqliteJobStore, fleet_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No identity configured anywhere: the service commits as itself.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = fleet_file.parent
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "tenants.yaml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "fleet")
    (repo / "notes.txt").write_text("someone's unrelated work in progress\n")
    git(repo, "add", "notes.txt")

    app = create_app(with_config(config, git_commit=True), store, FakeRunner(fleet_file))
    with TestClient(app, headers=AUTH) as client:
        job = client.post("/v1/tenants", json={"id": "gitco", "plan": "basic", "model_provider": "kimi"}).json()
        client.post("/v1/tenants/acme/suspend")
        assert poll_job(client, job["id"])["state"] == "succeeded"

    log = git(repo, "log", "--format=%s|%an", "-3").splitlines()
    assert log == [
        "signup: suspend tenant acme|openclaw-signup",
        "signup: create tenant gitco|openclaw-signup",
        "fleet|t",
    ]
    body = git(repo, "log", "-1", "--skip=1", "--format=%b")
    assert f"Job: {job['id']}" in body and "Requested-by: operator" in body
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["tenants.yaml"]
    status = git(repo, "status", "--porcelain").splitlines()
    assert "A  notes.txt" in status  # someone's staged work is left staged, not committed
    assert not [line for line in status if line.endswith(" tenants.yaml")]  # every change committed


def test_a_failed_commit_is_audited_and_the_change_still_accepted(
    config: ServiceConfig, store: SqliteJobStore, fleet_file: Path
) -> None:
    app = create_app(with_config(config, git_commit=True), store, FakeRunner(fleet_file))
    with TestClient(app, headers=AUTH) as client:
        response = client.post("/v1/tenants", json={"id": "nogit", "plan": "basic", "model_provider": "kimi"})
        assert response.status_code == 202
        assert poll_job(client, response.json()["id"])["state"] == "succeeded"
    failed = [e for e in store.audit_log(tenant_id="nogit") if e.action == "git commit"]
    assert len(failed) == 1 and failed[0].result == "failed" and failed[0].detail.startswith("git ")
