"""The program judged by the real Pulumi engine on the local Docker engine.

One stack lives through the whole module, in order: up, idempotence and refresh, a new tenant,
one tenant's edits, an egress change, destroy and up again, and the policy pack on preview. Every
step goes through the Automation API with the signup service's runner; gateways run the local
images, reaching only their model gateway (`egress: models`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi.automation import CommandError, ConfigValue
from typer.testing import CliRunner

from harness.deployment import POLICY_PACK, Deployment, Fleetside, with_tenant
from harness.gateway_client import http_get, started, ws_connect
from harness.waiting import wait_until
from signup.runner import UpdateError
from tenantctl.app import app
from tenants import docker_specs as ds
from tenants import model_gateway_names as gateway_names
from tenants.data_names import disk_image
from tenants.load import load_fleet
from tenants.model import DockerEgress, Fleet, Overrides

from ..conftest import TIMINGS
from ..e2e.conftest import require_engine

HERE = Path(__file__).parent
BOOT_TIMEOUT_S = 240.0
A, B, C = "eng-alpha", "eng-bravo", "eng-charlie"


@pytest.fixture(scope="module")
def fleet(images: dict[str, str]) -> Fleet:
    return load_fleet(HERE / "fleet.yaml")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet, side: Fleetside) -> Iterator[Deployment]:
    require_engine()
    deployment = Deployment(tmp_path_factory.mktemp("engine-stack"), "engine", TIMINGS)
    everyone = fleet.model_copy(update={"tenants": (*fleet.tenants, fleet.tenants[0].model_copy(update={"id": C}))})
    try:
        yield deployment
    finally:
        deployment.teardown(side, everyone, "engine: final destroy")


def edge_port(fleet: Fleet) -> int:
    return next(iter(fleet.targets.values())).edge.port  # type: ignore[union-attr]


def wait_started(fleet: Fleet, tenant_id: str) -> None:
    wait_until(lambda: started(edge_port(fleet), f"{tenant_id}.{fleet.domain}"), BOOT_TIMEOUT_S)


def resource_times(stack: Deployment) -> dict[str, str]:
    """Logical name → when the engine created that resource (a replacement gets a new time)."""
    resources = stack.stack().export_stack().deployment["resources"]
    return {r["urn"].rsplit("::", 1)[1]: r.get("created", "") for r in resources if "created" in r}


def write_marker(side: Fleetside, tenant_id: str, marker: str) -> None:
    container = side.client.containers.get(ds.container_name(tenant_id))
    code, output = container.exec_run(["sh", "-c", f"echo {marker} > /home/node/.openclaw/marker"])  # its own uid
    assert code == 0, output


def read_marker(side: Fleetside, tenant_id: str) -> str:
    container = side.client.containers.get(ds.container_name(tenant_id))
    code, output = container.exec_run(["cat", "/home/node/.openclaw/marker"])
    assert code == 0, output
    return str(output.decode().strip())


class TestLifecycle:
    def test_up_brings_every_tenant_to_ready_with_its_own_token(self, stack: Deployment, fleet: Fleet) -> None:
        result = stack.apply(fleet, "engine: first up (2 tenants)")
        assert set(result.tokens) == {A, B}
        assert result.urls[A] == f"http://{A}.localhost:18180"
        for tenant in (A, B):
            wait_started(fleet, tenant)
            other = B if tenant == A else A
            assert ws_connect(edge_port(fleet), f"{tenant}.localhost", result.tokens[tenant]).accepted
            foreign = ws_connect(edge_port(fleet), f"{tenant}.localhost", result.tokens[other])
            assert not foreign.accepted and "AUTH_TOKEN_MISMATCH" in foreign.detail

    def test_a_second_up_and_a_refresh_change_nothing(self, stack: Deployment, fleet: Fleet, side: Fleetside) -> None:
        before = side.container_ids(fleet)
        again = stack.apply(fleet, "engine: second up (no changes)")
        assert re.fullmatch(r"update succeeded: same \d+", again.summary), again.summary
        stack.preview("engine: preview --expect-no-changes", expect_no_changes=True)
        stack.refresh("engine: refresh")
        stack.preview("engine: preview after refresh", expect_no_changes=True)
        assert side.container_ids(fleet) == before

    def test_adding_a_tenant_touches_only_it_and_the_edge_routes(
        self, stack: Deployment, fleet: Fleet, side: Fleetside
    ) -> None:
        before = side.container_ids(fleet)
        started_at = {name: side.started_at(name) for name, found in before.items() if found}
        added = fleet.model_copy(update={"tenants": (*fleet.tenants, fleet.tenants[0].model_copy(update={"id": C}))})
        preview = stack.preview("engine: preview of one added tenant", fleet=added)
        # Its component, token, model key, disk and its claim, volume, its volume's owner, network, gateway and
        # pids limit, and the edge's and the model gateway's links to it; the edge's routes, the model gateway's
        # key registry and the host's egress rules update in place. Nothing else changes, nothing is replaced.
        changes = {str(getattr(op, "value", op)): n for op, n in preview.change_summary.items()}
        assert {op: n for op, n in changes.items() if op != "same"} == {
            "create": 12,
            "update": 3,
        }
        result = stack.apply(added, "engine: up adding one tenant")
        assert "replace" not in result.summary and "delete" not in result.summary
        assert side.container_ids(fleet) == before  # the edge proxy and the others: same containers
        assert {name: side.started_at(name) for name in started_at} == started_at  # and no restart
        wait_started(added, C)
        assert ws_connect(edge_port(fleet), f"{C}.localhost", result.tokens[C]).accepted
        stack.preview("engine: preview after the add", expect_no_changes=True)

    def test_one_tenants_edits_change_only_that_tenant(self, stack: Deployment, fleet: Fleet, side: Fleetside) -> None:
        current = load_fleet(stack.fleet_file)
        others = {ds.container_name(A), ds.container_name(C), ds.edge_name("eng"), gateway_names.docker_name("eng")}
        before = {n: side.container_id(n) for n in others}
        network = side.client.networks.get(ds.network_name(B)).id
        created = resource_times(stack)
        write_marker(side, B, "bravo-data")
        old_token = stack.tokens[B]
        edited = with_tenant(
            current, B, plan="pro", rotation=1, labels={"team": "blue"}, overrides=Overrides(memory_gib=3.0)
        )
        result = stack.apply(edited, "engine: up of one tenant's plan, override, labels and rotation")
        assert {n: side.container_id(n) for n in others} == before
        assert side.client.networks.get(ds.network_name(B)).id == network  # not replaced
        after = resource_times(stack)
        for kept in (f"{B}-state", f"{B}-network", f"{A}-gateway", f"{C}-gateway", "edge-eng-proxy"):
            assert after[kept] == created[kept], kept  # the engine neither replaced nor recreated it
        assert after[f"{B}-gateway"] != created[f"{B}-gateway"]
        gateway = side.client.containers.get(ds.container_name(B))
        assert gateway.attrs["HostConfig"]["Memory"] == 3 * 1024**3
        assert gateway.attrs["HostConfig"]["PidsLimit"] == 1024  # pro's limit, applied to the new container
        assert gateway.labels["team"] == "blue"
        wait_started(edited, B)
        assert read_marker(side, B) == "bravo-data"
        assert result.tokens[B] != old_token
        refused = ws_connect(edge_port(fleet), f"{B}.localhost", old_token)
        assert not refused.accepted and "AUTH_TOKEN_MISMATCH" in refused.detail
        assert ws_connect(edge_port(fleet), f"{B}.localhost", result.tokens[B]).accepted
        stack.preview("engine: preview after the edits", expect_no_changes=True)

    def test_changing_the_targets_egress_succeeds(self, stack: Deployment, side: Fleetside) -> None:
        current = load_fleet(stack.fleet_file)
        target = current.targets["eng"]
        wider = DockerEgress(mode="internet")
        opened = current.model_copy(update={"targets": {"eng": target.model_copy(update={"egress": wider})}})
        stack.apply(opened, "engine: up of an egress change (networks replaced)")
        assert side.client.networks.get(ds.network_name(A)).attrs["Internal"] is False
        for tenant in (A, B, C):
            wait_started(opened, tenant)
        closed = stack.apply(current, "engine: up of the egress change back")
        assert "replace" in closed.summary
        assert side.client.networks.get(ds.network_name(A)).attrs["Internal"] is True
        stack.preview("engine: preview after the egress changes", expect_no_changes=True)

    def test_suspend_resume_offboard_keep_data(self, stack: Deployment, side: Fleetside) -> None:
        current = load_fleet(stack.fleet_file)
        wait_started(current, A)
        write_marker(side, A, "alpha-data")
        port = edge_port(current)
        stack.apply(with_tenant(current, A, state="suspended"), "engine: up suspending one tenant")
        assert side.container_id(ds.container_name(A)) is None
        assert http_get(port, f"{A}.localhost", "/healthz").status == 404
        stack.apply(current, "engine: up resuming it")
        wait_started(current, A)
        assert read_marker(side, A) == "alpha-data"
        stack.apply(with_tenant(current, A, state="offboarded"), "engine: up offboarding it")
        assert not side.client.networks.list(names=[ds.network_name(A)])
        assert side.client.volumes.get(ds.volume_name(A))

    def test_destroy_keeps_every_disk_and_a_new_up_brings_the_data_back_once_adopted(
        self, stack: Deployment, side: Fleetside
    ) -> None:
        current = load_fleet(stack.fleet_file)
        stack.destroy("engine: destroy")
        for tenant in current.tenants:
            assert side.client.volumes.get(ds.volume_name(tenant.id))
            assert side.container_id(ds.container_name(tenant.id)) is None
            assert Path(disk_image(current.targets["eng"].storage.root, "eng", tenant.id)).exists()
        resumed = with_tenant(current, A, state="active")
        # A new stack made no claim on the old disks: it refuses to hand them to the tenants it creates ...
        with pytest.raises(UpdateError, match="already holds a disk of an earlier tenant"):
            stack.apply(resumed, "engine: up after destroy, refused")
        # ... until the operator says, tenant by tenant, that each disk is that same customer's.
        for tenant in current.tenants:
            adopted = CliRunner().invoke(app, ["adopt", tenant.id, "--yes", "--file", str(stack.fleet_file)])
            assert adopted.exit_code == 0, adopted.output
        stack.apply(resumed, "engine: up after destroy, disks adopted")
        wait_started(resumed, A)
        wait_started(resumed, B)
        assert read_marker(side, A) == "alpha-data"
        assert read_marker(side, B) == "bravo-data"

    def test_preview_runs_the_policy_pack_and_a_broken_policy_fails_it(self, stack: Deployment, fleet: Fleet) -> None:
        stack.preview("engine: preview with the policy pack", policy_packs=[str(POLICY_PACK)])
        # The model takes any tag but `latest` for the proxy; the policy wants an exact x.y.z.
        selected = stack.stack()
        selected.set_config("openclaw-tenants:proxyImage", ConfigValue("openclaw-local/nginx:1.22"))
        try:
            with pytest.raises(CommandError) as failure:
                stack.preview("engine: preview breaking a policy", policy_packs=[str(POLICY_PACK)])
        finally:
            selected.remove_config("openclaw-tenants:proxyImage")
        assert "pinned-images" in str(failure.value)
        assert "tag '1.22' is not an exact version" in str(failure.value)
