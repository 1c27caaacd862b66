"""Real-engine fixtures: a Docker engine, the local images, and the fleet deployed by the Pulumi engine."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from pulumi import automation as auto

from harness import model_gateway_rig as gateway_rig
from harness.deployment import ENGINE_BIN, Deployment, Fleetside
from harness.gateway_client import started
from harness.local_images import ImageBuildError, local_images
from harness.waiting import wait_until
from tenants import model_gateway_names as gateway_names
from tenants.load import load_fleet, parse_fleet
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
    try:
        return local_images(timeout_s=1200)
    except ImageBuildError as exc:
        pytest.fail(str(exc))


def on_local_images(text: str, label: str, images: dict[str, str]) -> Fleet:
    """A real-engine test's own fleet (harness.fleets.local_fleet), checked to use the images just built."""
    fleet = parse_fleet(text, label)
    assert fleet.images.proxy == images["proxy"]
    return fleet


@pytest.fixture(scope="module")
def side(engine: docker.DockerClient) -> Fleetside:
    """The Docker side of a module's own stack: what its containers, networks and volumes are."""
    return Fleetside(engine)


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


# The providers' master keys of the e2e stack: made up per run, so a test can look for their values
# everywhere a tenant can read and know that finding none means none leaked.
MASTER_KEYS = {provider: f"sk-e2e-{provider}-{uuid.uuid4().hex}" for provider in ("kimi", "minimax")}


@pytest.fixture(scope="module")
def applied(engine: docker.DockerClient, fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    require_engine()
    deployment = Applied(tmp_path_factory.mktemp("e2e-stack"), engine)
    try:
        stack = deployment.stack()
        for provider, key in MASTER_KEYS.items():
            stack.set_config(f"openclaw-tenants:{provider}ApiKey", auto.ConfigValue(value=key, secret=True))
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


FAKE_UPSTREAM_NAME = "fake-upstream"  # what the e2e fleet's model_gateway.upstreams name


@dataclass
class FakeUpstream:
    """The stand-in for every model provider, on the model gateway's network only."""

    container: Container

    def _get(self, path: str) -> tuple[int, str]:
        script = (
            f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080{path}', timeout=5).read().decode())"
        )
        code, output = self.container.exec_run(["python3", "-c", script])
        return code, output.decode(errors="replace")

    def calls(self) -> list[dict[str, Any]]:
        code, output = self._get("/_calls")
        assert code == 0, output
        calls: list[dict[str, Any]] = json.loads(output)
        return calls

    def answers(self) -> bool:
        return self._get("/_health")[0] == 0


@pytest.fixture(scope="module")
def fake_upstream(applied: Applied, engine: docker.DockerClient, images: dict[str, str]) -> Iterator[FakeUpstream]:
    """harness/fake_upstream.py in a container of the gateway's image, on the gateway's network only."""
    name = f"e2e-fake-upstream-{applied.run_id}"
    container = gateway_rig.fake_upstream(engine, images["model_gateway"], name, applied.run_labels)
    try:
        gateway_rig.only_on(
            engine.networks.get(gateway_names.docker_name("e2e")), engine, container, [FAKE_UPSTREAM_NAME]
        )
        container.start()
        upstream = FakeUpstream(container)
        wait_until(upstream.answers, 60.0)
        yield upstream
    finally:
        container.remove(force=True)
