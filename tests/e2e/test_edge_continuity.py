"""One tenant's open WebSocket survives every other tenant's change, on the real engine.

A stack of its own (edge on 127.0.0.1:18780, edge network 10.255.246.0/24) with tenants A and B. A
customer of A keeps one WebSocket open through the edge and exchanges a gateway RPC (`health`) on it
after each `up`: one adding tenant C, one suspending B, one resuming B on another plan. Each time the
same connection still answers, the edge container is the same one, never restarted, and the nginx
worker that held A's connection when the routes were reloaded is still serving it ("shutting down":
it takes no new connections and exits once its last one closes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.deployment import Deployment, Fleetside, with_tenant
from harness.fleets import local_fleet
from harness.gateway_client import GatewaySession, http_get, started, ws_connect
from harness.waiting import wait_until
from tenants import docker_specs as ds
from tenants.load import load_fleet
from tenants.model import Fleet

from ..conftest import TIMINGS
from .conftest import BOOT_TIMEOUT_S, on_local_images, require_engine

A, B, C = "cont-alpha", "cont-bravo", "cont-charlie"
TARGET = "cont"
PORT = 18780
EDGE = ds.edge_name(TARGET)
DRAIN_TIMEOUT_S = 30.0

FLEET_YAML = local_fleet(
    TARGET,
    [{"id": A}, {"id": B}],
    {"port": PORT, "subnet": "10.255.246.0/24"},
    plans={"pro": {"cpus": 1.5}},
)

# Every nginx process of the edge: pid and command line (the image has a shell, but no ps).
LIST_NGINX = 'for d in /proc/[0-9]*; do printf "%s %s\\n" "${d#/proc/}" "$(tr "\\0" " " < "$d/cmdline")"; done'


@pytest.fixture(scope="module")
def fleet(images: dict[str, str]) -> Fleet:
    return on_local_images(FLEET_YAML, "edge-continuity fleet", images)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet, side: Fleetside) -> Iterator[Deployment]:
    require_engine()
    deployment = Deployment(tmp_path_factory.mktemp("edge-continuity"), "continuity", TIMINGS)
    everyone = fleet.model_copy(update={"tenants": (*fleet.tenants, fleet.tenants[0].model_copy(update={"id": C}))})
    try:
        yield deployment
    finally:
        deployment.teardown(side, everyone, "edge continuity: destroy")


def wait_started(tenant_id: str) -> None:
    wait_until(lambda: started(PORT, f"{tenant_id}.localhost"), BOOT_TIMEOUT_S)


def nginx_workers(side: Fleetside) -> dict[int, str]:
    """pid → title of each nginx worker of the edge ("nginx: worker process[ is shutting down]")."""
    code, output = side.client.containers.get(EDGE).exec_run(["sh", "-c", LIST_NGINX])
    assert code == 0, output
    workers: dict[int, str] = {}
    assert isinstance(output, bytes)
    for line in output.decode().splitlines():
        pid, _, title = line.partition(" ")
        if title.startswith("nginx: worker process"):
            workers[int(pid)] = title.strip()
    return workers


@dataclass
class Customer:
    """Tenant A's customer with one connection open, and what must not change under it."""

    session: GatewaySession
    edge_id: str
    edge_started: str
    gateway_id: str | None
    workers: frozenset[int]  # the edge's workers when the connection opened: one of them holds it


@pytest.fixture(scope="module")
def customer(stack: Deployment, fleet: Fleet, side: Fleetside) -> Iterator[Customer]:
    stack.apply(fleet, "edge continuity: up of 2 tenants")
    for tenant in (A, B):
        wait_started(tenant)
    edge_id = side.container_id(EDGE)
    assert edge_id is not None
    with GatewaySession(PORT, f"{A}.localhost", stack.tokens[A]) as session:
        yield Customer(
            session,
            edge_id,
            side.started_at(EDGE),
            side.container_id(ds.container_name(A)),
            frozenset(nginx_workers(side)),
        )


def assert_uninterrupted(customer: Customer, side: Fleetside) -> None:
    """The same connection answers, on the same edge container, still served by a worker of its time."""
    assert customer.session.open
    reply = customer.session.call("health")
    assert reply.get("ok") is True and reply["payload"]["ok"] is True, reply
    assert side.container_id(EDGE) == customer.edge_id
    assert side.started_at(EDGE) == customer.edge_started
    assert side.container_id(ds.container_name(A)) == customer.gateway_id
    workers = nginx_workers(side)
    holding = {pid: title for pid, title in workers.items() if pid in customer.workers}
    # The routes were reloaded: new workers took over new connections, and an old one, draining,
    # still carries A's open connection.
    assert holding and all(title.endswith("is shutting down") for title in holding.values()), workers
    assert set(workers) - customer.workers, workers


class TestEdgeContinuity:
    def test_a_message_round_trips_on_the_open_connection(self, customer: Customer) -> None:
        reply = customer.session.call("health")
        assert reply.get("ok") is True, reply

    def test_adding_a_tenant_keeps_it(self, stack: Deployment, customer: Customer, side: Fleetside) -> None:
        current = load_fleet(stack.fleet_file)
        added = current.model_copy(
            update={"tenants": (*current.tenants, current.tenants[0].model_copy(update={"id": C}))}
        )
        result = stack.apply(added, "edge continuity: up adding a tenant")
        assert "replace" not in result.summary and "delete" not in result.summary, result.summary
        assert_uninterrupted(customer, side)
        wait_started(C)
        assert ws_connect(PORT, f"{C}.localhost", result.tokens[C]).accepted
        assert_uninterrupted(customer, side)

    def test_suspending_another_tenant_keeps_it(self, stack: Deployment, customer: Customer, side: Fleetside) -> None:
        stack.apply(
            with_tenant(load_fleet(stack.fleet_file), B, state="suspended"), "edge continuity: up suspending a tenant"
        )
        assert side.container_id(ds.container_name(B)) is None
        assert http_get(PORT, f"{B}.localhost", "/healthz").status == 404
        assert_uninterrupted(customer, side)

    def test_resuming_another_tenant_on_another_plan_keeps_it(
        self, stack: Deployment, customer: Customer, side: Fleetside
    ) -> None:
        resumed = with_tenant(load_fleet(stack.fleet_file), B, state="active", plan="pro")
        stack.apply(resumed, "edge continuity: up resuming a tenant on another plan")
        assert side.client.containers.get(ds.container_name(B)).labels["openclaw.io/plan"] == "pro"
        assert_uninterrupted(customer, side)
        wait_started(B)
        assert ws_connect(PORT, f"{B}.localhost", stack.tokens[B]).accepted
        assert_uninterrupted(customer, side)

    def test_the_draining_worker_exits_once_the_connection_closes(
        self, stack: Deployment, customer: Customer, side: Fleetside
    ) -> None:
        customer.session.close()
        wait_until(lambda: not set(nginx_workers(side)) & customer.workers, DRAIN_TIMEOUT_S)
        with GatewaySession(PORT, f"{A}.localhost", stack.tokens[A]) as again:  # and A is served on
            assert again.call("health").get("ok") is True
