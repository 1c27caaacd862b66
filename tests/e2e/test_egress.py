"""Egress modes hold against a tenant with a shell, on a Docker host of the test's own.

The host is a network namespace with its own dockerd (harness/netns_lab.py), routed to a fake
world: a metadata server at 169.254.169.254, a public server at 203.0.113.10 (ports 443 and 25),
a private service at 10.99.0.10, and a listener on all of the host's own addresses. One tenant
per mode is deployed through the real engine; from inside each gateway container, Node's fetch
and raw TCP connects show what it reaches, before and after the host's daemon restarts. The
`direct-unfiltered` tenant reaching everything shows the probes and the world work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest
from typer.testing import CliRunner

from harness.deployment import Deployment, Fleetside
from harness.egress_probe import Probe, reached
from harness.fleets import TEST_DISK_ROOT, fleet_yaml
from harness.netns_lab import (
    DOCKER_HOST,
    HOST_ADDRESS,
    HOST_LISTENER_PORT,
    METADATA,
    PRIVATE,
    PUBLIC,
    WORLD_SERVERS,
    NetnsLab,
)
from harness.waiting import wait_until
from signup.runner import UpdateError
from tenantctl.app import app
from tenants import docker_specs as ds
from tenants import model_gateway_names as gateway_names
from tenants.catalog import BUILTIN_PLANS
from tenants.egress_rules import bridge_name, table_name
from tenants.load import parse_fleet
from tenants.model import Fleet

from ..conftest import TIMINGS
from .conftest import require_engine

TARGET = "lab"
MODES = {"egr-none": "none", "egr-models": "models", "egr-internet": "internet", "egr-direct": "direct-unfiltered"}
BOOT_TIMEOUT_S = 300.0
MODEL_GATEWAY = gateway_names.docker_name(TARGET)
TABLE = table_name(TARGET)

EVERYTHING = {
    "metadata-fetch",
    "metadata-tcp",
    "public-443-fetch",
    "public-443-tcp",
    "public-25-tcp",
    "private-fetch",
    "private-tcp",
    "host-bridge-address",
    "host-address",
    "model-gateway",
}
# What each mode may reach, by probe name; everything else must stay out of reach.
ALLOWED = {
    "none": set(),
    "models": {"model-gateway"},
    "internet": {"public-443-fetch", "public-443-tcp", "model-gateway"},
    "direct-unfiltered": EVERYTHING,
}


def lab_fleet(images: dict[str, str]) -> Fleet:
    plans: dict[str, Any] = {f"egress-{mode}": {**BUILTIN_PLANS["basic"], "egress": mode} for mode in MODES.values()}
    doc = {
        "version": 1,
        "domain": "localhost",
        "images": {
            "openclaw": images["openclaw"].rsplit(":", 1)[0],
            "proxy": images["proxy"],
            "model_gateway": images["model_gateway"],
            "egress_filter": images["egress_filter"],
        },
        "channels": {"stable": images["openclaw"].rsplit(":", 1)[1]},
        "defaults": {"target": TARGET, "model_provider": "minimax"},
        "plans": plans,
        "targets": {
            TARGET: {
                "type": "docker",
                "host": DOCKER_HOST,
                "egress": {"mode": "models", "ports": [443]},
                "model_gateway": {"egress": "none"},
                "edge": {"address": "127.0.0.1", "port": 18480},
                "address_pools": ["10.97.0.0/16"],
                "capacity": {"cpus": 2, "memory_gib": 24, "networks": 100, "storage_gib": 1000},
                "overcommit": {"cpu": 8},
                "storage": {"root": TEST_DISK_ROOT},
            }
        },
        "tenants": [{"id": tid, "plan": f"egress-{mode}"} for tid, mode in MODES.items()],
    }
    return parse_fleet(fleet_yaml(doc), "egress lab fleet")


@pytest.fixture(scope="module")
def lab(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsLab]:
    require_engine()
    lab = NetnsLab(tmp_path_factory.mktemp("netns-lab"))
    try:
        lab.start()
        lab.load_images(sorted(images.values()))
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def fleet(images: dict[str, str]) -> Fleet:
    return lab_fleet(images)


@pytest.fixture(scope="module")
def deployed(lab: NetnsLab, fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    stack = Deployment(tmp_path_factory.mktemp("egress-stack"), "egress", TIMINGS)
    with lab.client() as client:
        try:
            stack.apply(fleet, "egress: up")
            wait_running(client)
            yield stack
        finally:
            stack.teardown(Fleetside(client), fleet, "egress: destroy")


def wait_running(client: docker.DockerClient) -> None:
    """Every gateway running, and the model gateway healthy (listening), so a probe's refusal means the rules."""

    def all_up() -> bool:
        tenants_up = all(_status(client, ds.container_name(t)) == "running" for t in MODES)
        return tenants_up and _health(client, MODEL_GATEWAY) == "healthy"

    wait_until(all_up, BOOT_TIMEOUT_S, interval_s=1.0)


def _status(client: docker.DockerClient, name: str) -> str:
    try:
        return str(client.containers.get(name).status)
    except docker.errors.NotFound:
        return "absent"


def _health(client: docker.DockerClient, name: str) -> str:
    try:
        return str(client.containers.get(name).attrs["State"].get("Health", {}).get("Status", "none"))
    except docker.errors.NotFound:
        return "absent"


def probes_for(client: docker.DockerClient, tenant_id: str) -> list[Probe]:
    network = client.networks.get(ds.network_name(tenant_id))
    gateway = network.attrs["IPAM"]["Config"][0].get("Gateway") or "10.97.0.1"
    expect = {name: name for name in WORLD_SERVERS}
    return [
        Probe("metadata-fetch", url=f"http://{METADATA}/", expect=expect["metadata"]),
        Probe("metadata-tcp", host=METADATA, port=80),
        Probe("public-443-fetch", url=f"http://{PUBLIC}:443/", expect=expect["public-443"]),
        Probe("public-443-tcp", host=PUBLIC, port=443),
        Probe("public-25-tcp", host=PUBLIC, port=25),  # fetch refuses port 25 itself
        Probe("private-fetch", url=f"http://{PRIVATE}/", expect=expect["private"]),
        Probe("private-tcp", host=PRIVATE, port=80),
        Probe("host-bridge-address", url=f"http://{gateway}:{HOST_LISTENER_PORT}/", expect="host-listener"),
        Probe("host-address", url=f"http://{HOST_ADDRESS}:{HOST_LISTENER_PORT}/", expect="host-listener"),
        Probe("model-gateway", host=MODEL_GATEWAY, port=4000),
    ]


def reach_of_every_tenant(lab: NetnsLab) -> dict[str, set[str]]:
    with lab.client() as client:
        return {
            mode: reached(client.containers.get(ds.container_name(tid)), probes_for(client, tid))
            for tid, mode in MODES.items()
        }


def test_each_mode_reaches_exactly_what_it_allows(lab: NetnsLab, deployed: Deployment) -> None:
    assert reach_of_every_tenant(lab) == ALLOWED


def test_guarded_networks_use_the_filtered_bridges(lab: NetnsLab, deployed: Deployment) -> None:
    with lab.client() as client:
        for tid, mode in MODES.items():
            options = client.networks.get(ds.network_name(tid)).attrs["Options"]
            named = options.get(ds.BRIDGE_NAME_OPTION)
            assert named == (None if mode == "direct-unfiltered" else bridge_name(TARGET, ds.network_name(tid)))
    assert TABLE in lab.nft_tables()


def test_the_rules_hold_after_a_daemon_restart(lab: NetnsLab, deployed: Deployment) -> None:
    lab.restart_docker()
    with lab.client() as client:
        wait_running(client)
    assert TABLE in lab.nft_tables()
    assert reach_of_every_tenant(lab) == ALLOWED


def test_destroy_removes_the_rules(lab: NetnsLab, fleet: Fleet, deployed: Deployment) -> None:
    deployed.destroy("egress: destroy")
    assert TABLE not in lab.nft_tables()
    with lab.client() as client:
        assert _status(client, "openclaw-egress-" + TARGET) == "absent"
    # The disks outlive the destroy: the next stack refuses them, and takes them once they are adopted.
    with pytest.raises(UpdateError, match="already holds a disk of an earlier tenant"):
        deployed.apply(fleet, "egress: up again, refused")
    for tenant in fleet.tenants:
        adopted = CliRunner().invoke(app, ["adopt", tenant.id, "--yes", "--file", str(deployed.fleet_file)])
        assert adopted.exit_code == 0, adopted.output
    deployed.apply(fleet, "egress: up again")
    assert TABLE in lab.nft_tables()
