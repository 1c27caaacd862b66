"""A plan on gVisor (`runtime: {pro: runsc}`), deployed by the real engine on the local Docker engine.

Two tenants on a stack of their own (edge on 18280, its own subnet): the pro tenant's gateway runs in
gVisor's sandbox (the runsc scripts/ensure-docker.sh builds), under gVisor's kernel and network stack,
within its plan's limits, and answers through the edge with its own token; the basic tenant's runs on
runc as before. A plan mapped to a runtime the daemon does not offer fails `preview` and `up` with a
message saying how to register it, before any container is touched; moving the tenant to a runc plan
recreates its gateway on runc.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container
from pulumi.automation import CommandError, EngineEvent, OpType

from harness.deployment import Deployment, Fleetside, with_tenant
from harness.fleets import local_fleet
from harness.gateway_client import http_get, started, ws_connect
from harness.waiting import wait_until
from signup.runner import UpdateError
from tenants import docker_specs as ds
from tenants import openclaw
from tenants.load import parse_fleet
from tenants.model import Fleet, Overrides

from ..conftest import TIMINGS
from .conftest import BOOT_TIMEOUT_S, require_engine

GVISOR, RUNC = "rt-gvisor", "rt-runc"
EDGE_PORT = 18280
MISSING = "no-such-runtime"
FLEET = local_fleet(
    "rt",
    [{"id": GVISOR, "plan": "pro"}, {"id": RUNC, "plan": "basic"}],
    {"port": EDGE_PORT, "subnet": "10.255.251.0/24"},
    plans={"pro": {"cpus": 1.5}},
    egress="none",
    runtime={"pro": "runsc"},
)


@pytest.fixture(scope="module")
def fleet(images: dict[str, str]) -> Fleet:
    fleet = parse_fleet(FLEET)
    assert f"{fleet.images.openclaw}:{fleet.channels['stable']}" == images["openclaw"]
    return fleet


@pytest.fixture(scope="module")
def stack(engine: docker.DockerClient, fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_engine()
    offered = engine.info().get("Runtimes") or {}
    if "runsc" not in offered:
        pytest.fail(f"the daemon offers no runsc ({sorted(offered)}): run scripts/ensure-docker.sh as root")
    deployment = Deployment(Path(tmp_path_factory.mktemp("runtime-stack")), "runtime", TIMINGS)
    try:
        deployment.apply(fleet, "runtime: up of a gVisor and a runc tenant")
        for tenant_id in (GVISOR, RUNC):
            wait_until(partial(started, EDGE_PORT, f"{tenant_id}.localhost"), BOOT_TIMEOUT_S)
        yield deployment
    finally:
        deployment.teardown(Fleetside(engine), fleet, "runtime: destroy")


def gateway(engine: docker.DockerClient, tenant_id: str) -> Container:
    return engine.containers.get(ds.container_name(tenant_id))


def run(container: Container, *command: str) -> str:
    code, output = container.exec_run(list(command))
    assert isinstance(output, bytes)
    assert code == 0, output
    return output.decode().strip()


def kernel_release(container: Container) -> tuple[str, str]:
    """`uname -r`, and `os.release()` as the gateway's own node sees it."""
    return run(container, "uname", "-r"), run(container, "node", "-e", "console.log(require('os').release())")


def resource_names(stack: Deployment) -> set[str]:
    deployment = stack.stack().export_stack().deployment
    assert deployment is not None
    return {r["urn"].rsplit("::", 1)[1] for r in deployment["resources"]}


def test_the_gvisor_plan_runs_in_gvisors_sandbox_and_kernel(stack: Deployment, engine: docker.DockerClient) -> None:
    container = gateway(engine, GVISOR)
    assert container.attrs["HostConfig"]["Runtime"] == "runsc"
    uname, node = kernel_release(container)
    assert uname == node != platform.release()
    assert "Starting gVisor..." in run(container, "dmesg")
    # gVisor's own network stack: not handed over to the host kernel's (--network=host).
    assert "--network=host" not in (engine.info()["Runtimes"]["runsc"].get("runtimeArgs") or [])
    assert f"{GVISOR}-runtime" in resource_names(stack)


def test_the_gvisor_tenant_answers_through_the_edge_with_its_own_token(stack: Deployment) -> None:
    host = f"{GVISOR}.localhost"
    reply = http_get(EDGE_PORT, host, openclaw.LIVENESS_PATH)
    assert reply.status == 200 and reply.json() == {"ok": True, "status": "live"}
    own = ws_connect(EDGE_PORT, host, stack.tokens[GVISOR])
    assert own.accepted, own.detail
    foreign = ws_connect(EDGE_PORT, host, stack.tokens[RUNC])
    assert not foreign.accepted and "AUTH_TOKEN_MISMATCH" in foreign.detail


def test_the_sandbox_keeps_its_plans_limits(stack: Deployment, fleet: Fleet, engine: docker.DockerClient) -> None:
    plan = fleet.plans["pro"]
    host_config = gateway(engine, GVISOR).attrs["HostConfig"]
    assert host_config["PidsLimit"] == plan.pids_limit  # set through the runtime after creation
    assert host_config["Memory"] == int(plan.memory_gib * 1024**3)
    assert (host_config["CpuQuota"], host_config["CpuPeriod"]) == (int(plan.cpus * 100_000), 100_000)
    assert host_config["ReadonlyRootfs"] is True and host_config["CapDrop"] == ["ALL"]
    assert f"{GVISOR}-pids-limit" in resource_names(stack)


def test_the_runc_tenant_is_unchanged(stack: Deployment, fleet: Fleet, engine: docker.DockerClient) -> None:
    container = gateway(engine, RUNC)
    host_config = container.attrs["HostConfig"]
    assert host_config["Runtime"] == "runc"
    assert host_config["PidsLimit"] == fleet.plans["basic"].pids_limit
    assert not host_config.get("Ulimits")
    assert kernel_release(container) == (platform.release(), platform.release())
    names = resource_names(stack)
    assert f"{RUNC}-pids-limit" in names and f"{RUNC}-runtime" not in names
    assert ws_connect(EDGE_PORT, f"{RUNC}.localhost", stack.tokens[RUNC]).accepted


def test_a_preview_changes_nothing_and_a_refresh_reads_the_tenants_back_as_sent(stack: Deployment) -> None:
    stack.preview("runtime: preview --expect-no-changes", expect_no_changes=True)
    stack.refresh("runtime: refresh")
    events: list[EngineEvent] = []
    stack.preview("runtime: preview after refresh", on_event=events.append)
    steps = {
        e.resource_pre_event.metadata.urn.rsplit("::", 1)[1]: e.resource_pre_event.metadata.op
        for e in events
        if e.resource_pre_event is not None
    }
    tenants = {name: op for name, op in steps.items() if name.startswith((f"{GVISOR}-", f"{RUNC}-"))}
    assert {f"{GVISOR}-gateway", f"{GVISOR}-runtime", f"{RUNC}-gateway"} <= set(tenants)
    assert {name: op for name, op in tenants.items() if op != OpType.SAME} == {}


def test_an_unregistered_runtime_fails_preview_and_up_before_any_container_changes(
    stack: Deployment, fleet: Fleet, engine: docker.DockerClient
) -> None:
    before = {t: gateway(engine, t).id for t in (GVISOR, RUNC)}
    target = fleet.targets["rt"]
    broken_target = target.model_copy(update={"runtime": {"pro": MISSING}})
    broken = fleet.model_copy(update={"targets": {"rt": broken_target}})
    expected = f"tenant '{GVISOR}': plan 'pro' runs on Docker runtime '{MISSING}'"
    with pytest.raises(CommandError) as previewed:
        stack.preview("runtime: preview with an unregistered runtime", fleet=broken)
    text = str(previewed.value)
    assert expected in text
    assert "the daemon at unix:///var/run/docker.sock offers only " in text and "runsc" in text
    assert '/etc/docker/daemon.json under "runtimes"' in text and "kill -HUP" in text
    with pytest.raises(UpdateError, match=expected):
        stack.apply(broken, "runtime: up with an unregistered runtime")
    for tenant_id, container_id in before.items():
        container = gateway(engine, tenant_id)
        assert (container.id, container.status) == (container_id, "running")
    assert gateway(engine, GVISOR).attrs["HostConfig"]["Runtime"] == "runsc"


def test_moving_to_a_runc_plan_recreates_the_gateway_on_runc(
    stack: Deployment, fleet: Fleet, engine: docker.DockerClient
) -> None:
    old = gateway(engine, GVISOR)
    # Its disk keeps its size: a disk never shrinks in place (basic's own storage is smaller).
    kept = Overrides(storage_gib=fleet.limits(fleet.tenant(GVISOR)).storage_gib)
    moved = with_tenant(fleet, GVISOR, plan="basic", overrides=kept)
    stack.apply(moved, "runtime: up with the gVisor tenant on basic")
    wait_until(partial(started, EDGE_PORT, f"{GVISOR}.localhost"), BOOT_TIMEOUT_S)
    new = gateway(engine, GVISOR)
    assert new.id != old.id
    assert new.attrs["HostConfig"]["Runtime"] == "runc"
    assert new.attrs["HostConfig"]["PidsLimit"] == fleet.plans["basic"].pids_limit
    assert kernel_release(new)[0] == platform.release()
    names = resource_names(stack)
    assert f"{GVISOR}-runtime" not in names and f"{GVISOR}-pids-limit" in names
    assert ws_connect(EDGE_PORT, f"{GVISOR}.localhost", stack.tokens[GVISOR]).accepted
