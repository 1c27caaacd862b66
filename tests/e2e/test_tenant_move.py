"""`tenantctl move` between two Docker hosts, on the real engine.

Target `mva` is this machine's Docker engine; target `mvb` is a second dockerd of the test's own (its own data
root and socket, in a network namespace: harness/netns_lab.py). One stack deploys both, with a local restic
repository both hosts' backup agents share. A customer's workspace file written through the gateway's own
API on `mva` is there after `tenantctl move` on `mvb`, where the tenant answers through `mvb`'s edge with the
token it always had; `mva` keeps its old volume and disk until `tenantctl purge --from-target mva` deletes
them and releases the copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import docker
import pytest
from pulumi import automation as auto
from ruamel.yaml import YAML

from harness import netns_lab
from harness.deployment import Deployment, Fleetside
from harness.fleets import TEST_DISK_ROOT, fleet_yaml, local_fleet
from harness.gateway_client import gateway_cli_call, started, workspace_file
from harness.paths import ROOT
from harness.waiting import wait_until
from tenants import data_names
from tenants import docker_specs as ds
from tenants.load import load_fleet
from tenants.model import Fleet

from ..conftest import TIMINGS
from .conftest import BOOT_TIMEOUT_S, on_local_images, require_engine

MOVER = "mv-mover"
SOURCE, DESTINATION = "mva", "mvb"
SOURCE_PORT, DESTINATION_PORT = 18986, 18987
RUN = uuid.uuid4().hex[:10]
REPOSITORY = Path(f"/var/lib/openclaw-tenants/test-backups/move-{RUN}")
MARKER = f"# moved with its data {RUN}\n"


def fleet_text() -> str:
    """Two Docker targets in one shard: this machine's engine, and the lab's."""
    text = local_fleet(
        SOURCE,
        [{"id": MOVER}],
        {"port": SOURCE_PORT, "subnet": "10.255.241.0/24"},
        plans={"basic": {"storage_gib": 1, "backup": {"every": "off"}}},
        backups={"repository": str(REPOSITORY), "stop_timeout_s": 10},
    )
    doc: dict[str, Any] = YAML(typ="safe").load(text)
    second = dict(doc["targets"][SOURCE])
    second |= {
        "host": netns_lab.DOCKER_HOST,
        "edge": {"address": "127.0.0.1", "port": DESTINATION_PORT, "subnet": "10.255.240.0/24"},
        "address_pools": [netns_lab.ADDRESS_POOL],
    }
    doc["targets"][DESTINATION] = second
    return fleet_yaml(doc)


@pytest.fixture(scope="module")
def fleet(images: dict[str, str]) -> Fleet:
    return on_local_images(fleet_text(), "move fleet", images)


@pytest.fixture(scope="module")
def lab(images: dict[str, str], fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[netns_lab.NetnsLab]:
    lab = netns_lab.NetnsLab(tmp_path_factory.mktemp("move-lab"))
    try:
        lab.start()
        openclaw = f"{fleet.images.openclaw}:{fleet.channels['stable']}"
        lab.load_images(
            [
                openclaw,
                fleet.images.proxy,
                fleet.images.model_gateway,
                fleet.images.egress_filter,
                fleet.images.data_agent,
            ]
        )
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def lab_engine(lab: netns_lab.NetnsLab) -> Iterator[docker.DockerClient]:
    with lab.client() as client:
        yield client


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    fleet: Fleet,
    engine: docker.DockerClient,
    lab_engine: docker.DockerClient,
) -> Iterator[Deployment]:
    require_engine()
    deployment = Deployment(tmp_path_factory.mktemp("move-stack"), "move", TIMINGS)
    try:
        deployment.stack().set_config(
            "openclaw-tenants:backupPassword", auto.ConfigValue(value=f"move-{RUN}", secret=True)
        )
        deployment.apply(fleet, "move: up of one tenant on two Docker hosts")
        wait_until(partial(started, SOURCE_PORT, f"{MOVER}.localhost"), BOOT_TIMEOUT_S)
        yield deployment
    finally:
        try:
            deployment.teardown(Fleetside(engine), fleet, "move: destroy")
        finally:
            Fleetside(lab_engine).remove_fleet(fleet)
            shutil.rmtree(REPOSITORY, ignore_errors=True)


def tenantctl(stack: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tenantctl", *args, "--file", str(stack.fleet_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, **stack.env, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def started_in_lab(port: int, host: str) -> bool:
    """`started` run inside the lab's network namespace, where the lab's edge publishes its port."""
    code = f"from harness.gateway_client import started; raise SystemExit(0 if started({port}, {host!r}) else 1)"
    done = subprocess.run(
        [*netns_lab.enter(netns_lab.HOST_NS), sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


def test_a_move_carries_the_data_and_the_token_to_the_other_host(
    stack: Deployment, engine: docker.DockerClient, lab_engine: docker.DockerClient
) -> None:
    token = stack.tokens[MOVER]
    source_gateway = engine.containers.get(ds.container_name(MOVER))
    gateway_cli_call(source_gateway, "agents.files.set", {"agentId": "main", "name": "AGENTS.md", "content": MARKER})
    assert workspace_file(source_gateway) == MARKER

    moved = tenantctl(
        stack,
        "move",
        MOVER,
        "--to-target",
        DESTINATION,
        "--project-dir",
        str(stack.project),
        "--stack-of",
        f"default={stack.name}",
        "--yes",
    )
    print(moved.stdout)  # each step with its duration, and the downtime
    assert re.search(r"downtime[^0-9]*[0-9.]+\s*s", moved.stdout), moved.stdout

    entry = load_fleet(stack.fleet_file).tenant(MOVER)
    assert (entry.target, entry.retained_on, entry.state) == (DESTINATION, (SOURCE,), "active")
    wait_until(partial(started_in_lab, DESTINATION_PORT, f"{MOVER}.localhost"), BOOT_TIMEOUT_S)
    destination_gateway = lab_engine.containers.get(ds.container_name(MOVER))
    assert destination_gateway.status == "running"
    assert workspace_file(destination_gateway) == MARKER
    assert stack.stack().outputs()["tenantTokens"].value[MOVER] == token
    # Nothing of the tenant runs on the old host any more, but its data is still there.
    assert not engine.containers.list(all=True, filters={"name": f"^{ds.container_name(MOVER)}$"})
    assert engine.volumes.get(ds.volume_name(MOVER))
    assert Path(data_names.disk_image(TEST_DISK_ROOT, SOURCE, MOVER)).exists()


def test_purging_the_old_copy_deletes_it_and_releases_it(stack: Deployment, engine: docker.DockerClient) -> None:
    tenantctl(stack, "purge", MOVER, "--from-target", SOURCE, "--yes")
    assert load_fleet(stack.fleet_file).tenant(MOVER).retained_on == ()
    assert not [
        v for v in engine.volumes.list(filters={"name": ds.volume_name(MOVER)}) if v.name == ds.volume_name(MOVER)
    ]
    assert not Path(data_names.disk_image(TEST_DISK_ROOT, SOURCE, MOVER)).exists()
    assert Path(data_names.disk_image(TEST_DISK_ROOT, DESTINATION, MOVER)).exists()
