"""Real-engine fixtures: a Docker engine, the local images, and the fleet deployed by the Pulumi engine."""

from __future__ import annotations

import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from harness.deployment import ENGINE_BIN, Deployment, Fleetside
from harness.gateway_client import started
from harness.waiting import wait_until
from tenants.load import load_fleet
from tenants.model import Fleet

from ..conftest import READY_TIMES, TIMINGS

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
FLEET_FILE = HERE / "fleet.yaml"
BOOT_TIMEOUT_S = 240.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def require_engine() -> None:
    """The engine `make test` builds; without it these tests cannot mean anything."""
    if not (ENGINE_BIN / "pulumi").exists():
        pytest.fail(f"no Pulumi engine at {ENGINE_BIN}: run `make pulumi-engine` (make test does)")


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine answers ({type(exc).__name__}); run scripts/ensure-docker.sh as root")
    return client


@pytest.fixture(scope="session")
def images(engine: docker.DockerClient) -> dict[str, str]:
    """Build (or reuse) the local images; the fleet file names the same tags."""
    result = subprocess.run(
        ["bash", str(HERE / "images" / "build.sh")], capture_output=True, text=True, timeout=1200, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"building the local images failed:\n{result.stderr[-3000:]}")
    return dict(line.split("=", 1) for line in result.stdout.split())


@pytest.fixture(scope="module")
def fleet(images: dict[str, str]) -> Fleet:
    fleet = load_fleet(FLEET_FILE)
    assert fleet.images.proxy == images["proxy"]
    assert f"{fleet.images.openclaw}:{fleet.channels['stable']}" == images["openclaw"]
    return fleet


class Applied(Deployment):
    """The e2e fleet's stack, with what the tests read from Docker and a label for helper containers."""

    def __init__(self, directory: Path, client: docker.DockerClient) -> None:
        super().__init__(directory, "e2e", TIMINGS)
        self.docker = Fleetside(client)
        self.run_id = uuid.uuid4().hex[:12]

    @property
    def run_labels(self) -> dict[str, str]:
        return {"openclaw-tenants.test/run": self.run_id}

    def seconds_since_start(self, name: str) -> float:
        return self.docker.seconds_since_start(name)


def wait_ready(applied: Applied, fleet: Fleet, tenant_id: str, label: str) -> float:
    """Seconds from the container's start to `/startupz` "started" through the edge proxy."""
    target = fleet.targets[fleet.tenant(tenant_id).target]
    host = f"{tenant_id}.{fleet.domain}"
    wait_until(lambda: started(target.edge.port, host), BOOT_TIMEOUT_S)
    seconds = applied.seconds_since_start(f"openclaw-{tenant_id}")
    READY_TIMES.record(label, seconds)
    return seconds


@pytest.fixture(scope="module")
def applied(engine: docker.DockerClient, fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    require_engine()
    deployment = Applied(tmp_path_factory.mktemp("e2e-stack"), engine)
    try:
        deployment.apply(fleet, "e2e: up of 3 tenants")
        for tenant in fleet.tenants:
            wait_ready(deployment, fleet, tenant.id, f"{tenant.id} ({tenant.plan}, 3 booting together)")
        yield deployment
    finally:
        deployment.teardown(deployment.docker, fleet, "e2e: destroy")


class HostListener:
    """A TCP listener on every host address: proof that tenants cannot reach host services."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("0.0.0.0", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted.append(peer)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def host_listener() -> Iterator[HostListener]:
    listener = HostListener()
    try:
        yield listener
    finally:
        listener.close()
