"""The signup service on the real Automation API: the project's program, a file state backend, real stacks.

The first test needs only the pulumi CLI: a signup whose update cannot reach its Docker host fails
with a one-line summary and leaves the fleet file valid. The second deploys for real and needs a
Docker engine and the local images of tests/e2e/images/build.sh.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.deployment import remove_disks
from signup.app import create_app
from signup.config import ServiceConfig
from signup.runner import AutomationRunner
from signup.store import SqliteJobStore
from tenants.docker_specs import volume_name
from tenants.load import load_fleet
from tenants.model_gateway_names import docker_volume_name

ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGES = ROOT / "tests" / "e2e" / "images" / "build.sh"
TOKEN = "integration-operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("pulumi") is None, reason="the pulumi CLI is not installed on this machine"),
]

FLEET = """\
# A one-host fleet of the signup integration test.
version: 1
domain: localhost
images:
  openclaw: {openclaw}
  proxy: {proxy}
defaults:
  target: {target}
  model_provider: kimi
targets:
  {target}:
    type: docker
    host: {host}
    egress: none
    edge: {{address: 127.0.0.1, port: {port}, subnet: 10.255.253.0/24}}
    address_pools: [172.30.0.0/16]
    capacity: {{cpus: 2, memory_gib: 24, networks: 30, storage_gib: 1000}}
    overcommit: {{cpu: 4}}
    storage: {{root: /var/lib/openclaw-tenants/test-disks}}
tenants:
  - id: {seed}
    plan: basic
    shard: {shard}
"""


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file state backend of this test alone; the passphrase encrypts the stack's secrets."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{state}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "signup-integration-test")
    monkeypatch.setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
    return state


@pytest.fixture
def shard() -> Iterator[str]:
    """A fresh shard name, also the stack's; its Pulumi.<stack>.yaml is removed afterwards."""
    name = f"signup-it-{secrets.token_hex(3)}"
    yield name
    subprocess.run(
        ["pulumi", "stack", "rm", "--yes", "--force", "--non-interactive", "--stack", name],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        check=False,
    )
    (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)


def config_for(tmp_path: Path, fleet_file: Path) -> ServiceConfig:
    return ServiceConfig(
        tokens={"operator": TOKEN},
        project_dir=ROOT,
        fleet_file=fleet_file,
        db_path=tmp_path / "jobs.sqlite3",
        batch_window_s=0.1,
        busy_backoff_s=1.0,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(config: ServiceConfig, shard: str) -> tuple[TestClient, SqliteJobStore]:
    store = SqliteJobStore(config.db_path)
    runner = AutomationRunner(ROOT, fleet_file=config.fleet_file, shards={shard: shard})
    return TestClient(create_app(config, store, runner), headers=AUTH), store


def finished(client: TestClient, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if body["state"] in ("succeeded", "failed"):
            return body
        time.sleep(1)
    raise AssertionError(f"job {job_id} unfinished after {timeout} s")


def test_a_failed_real_update_is_reported_and_the_file_stays_valid(tmp_path: Path, backend: Path, shard: str) -> None:
    fleet_file = tmp_path / "tenants.yaml"
    fleet_file.write_text(
        FLEET.format(
            openclaw="ghcr.io/openclaw/openclaw",
            proxy="docker.io/library/nginx:1.27.5",
            target="nowhere",
            host="unix:///run/openclaw-signup-it-nowhere.sock",  # nothing listens: the Docker provider cannot connect
            port=free_port(),
            seed=f"seed-{shard[-6:]}",
            shard=shard,
        )
    )
    client, store = serve(config_for(tmp_path, fleet_file), shard)
    with client:
        response = client.post("/v1/tenants", json={"plan": "basic", "model_provider": "kimi"})
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["shard"] == shard and job["stack"] == shard
        done = finished(client, job["id"], timeout=600)
    store.close()
    assert done["state"] == "failed"
    message = done["error"]["message"]
    assert message and "\n" not in message and "Traceback" not in message and len(message) <= 400
    assert job["tenant_id"] in {t.id for t in load_fleet(fleet_file).tenants}
    config = (ROOT / f"Pulumi.{shard}.yaml").read_text()
    assert f"openclaw-tenants:shard: {shard}" in config
    assert str(fleet_file) in config


def docker_engine() -> str | None:
    """Why the real deployment cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed on this machine"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60, check=False).returncode != 0:
        return "no Docker engine answers (run scripts/ensure-docker.sh as root)"
    return None


def test_a_signup_is_deployed_and_its_token_returned_once(tmp_path: Path, backend: Path, shard: str) -> None:
    missing = docker_engine()
    if missing is not None:
        pytest.skip(missing)
    built = subprocess.run(["bash", str(BUILD_IMAGES)], capture_output=True, text=True, timeout=1800, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    images = dict(line.split("=", 1) for line in built.stdout.split())
    openclaw, _, version = images["openclaw"].rpartition(":")
    assert version == "2026.9.6", "the stable channel pins 2026.9.6"
    port = free_port()
    fleet_file = tmp_path / "tenants.yaml"
    seed = f"seed-{shard[-6:]}"
    fleet_file.write_text(
        FLEET.format(
            openclaw=openclaw,
            proxy=images["proxy"],
            target=shard,
            host="unix:///var/run/docker.sock",
            port=port,
            seed=seed,
            shard=shard,
        )
    )
    client, store = serve(config_for(tmp_path, fleet_file), shard)
    new_id = f"new-{shard[-6:]}"
    try:
        with client:
            response = client.post("/v1/tenants", json={"id": new_id, "plan": "basic", "model_provider": "kimi"})
            assert response.status_code == 202, response.text
            done = finished(client, response.json()["id"], timeout=1200)
            assert done["state"] == "succeeded", done
            assert done["url"] == f"http://{new_id}.localhost:{port}"
            token = done["gateway_token"]
            assert isinstance(token, str) and len(token) == 48
            assert client.get(f"/v1/jobs/{done['id']}").json()["gateway_token"] is None
            tenant = client.get(f"/v1/tenants/{new_id}").json()
            assert tenant["state"] == "active" and tenant["deployment"]["state"] == "succeeded"

            suspended = client.post(f"/v1/tenants/{new_id}/suspend").json()
            assert finished(client, suspended["id"], timeout=600)["state"] == "succeeded"
    finally:
        store.close()
        env = {**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}
        subprocess.run(
            ["pulumi", "destroy", "--yes", "--non-interactive", "--stack", shard],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=900,
            check=False,
        )
        kept = [volume_name(tenant_id) for tenant_id in (seed, new_id)] + [docker_volume_name(shard)]
        subprocess.run(["docker", "volume", "rm", "-f", *kept], capture_output=True, check=False)
        remove_disks(load_fleet(fleet_file))
