"""Each tenant's own host uid, deployed by the real engine on the local Docker engine.

Two tenants on a stack of their own (edge on 18380, its own subnet): their gateway processes run as
two different host uids, as the host's kernel sees them; each answers through the edge with its own
token; every file of each state volume belongs to its tenant's uid; and a volume written as uid 1000
before the stack existed (a tenant deployed before per-tenant uids) keeps its data and changes owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container
from pulumi.automation import EngineEvent, OpType

from components.volume_owner import VolumeOwnerProvider
from harness.deployment import Deployment, Fleetside, with_tenant
from harness.fleets import local_fleet
from harness.gateway_client import http_get, started, ws_connect
from harness.waiting import wait_until
from signup.runner import UpdateError
from tenants import docker_specs as ds
from tenants import openclaw
from tenants.labels import fixed_labels
from tenants.load import load_fleet
from tenants.model import Fleet
from tenants.resolved import resolve

from ..conftest import TIMINGS
from .conftest import BOOT_TIMEOUT_S, require_engine

ALPHA, BRAVO = "uid-alpha", "uid-bravo"
EDGE_PORT = 18380
FLEET = local_fleet(
    "uid",
    [{"id": ALPHA}, {"id": BRAVO}],
    {"port": EDGE_PORT, "subnet": "10.255.250.0/24"},
    egress="none",
    # Plain volumes, as every stack had before per-tenant disks: one written by uid 1000 is re-owned.
    storage={"mode": "volume"},
)
RUN = {"openclaw-tenants.test/run": uuid.uuid4().hex[:12]}
NEW_UID = 2_000_000_777  # an override, as for a collision
LEGACY_MARKER = f"written-as-1000-{RUN['openclaw-tenants.test/run']}"


@pytest.fixture(scope="module")
def fleet(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    path = tmp_path_factory.mktemp("uid-fleet") / "fleet.yaml"
    path.write_text(FLEET)
    fleet = load_fleet(path)
    assert f"{fleet.images.openclaw}:{fleet.channels['stable']}" == images["openclaw"]
    return fleet


def uid_of(fleet: Fleet, tenant_id: str) -> int:
    return resolve(fleet, fleet.tenant(tenant_id)).uid


def image(fleet: Fleet) -> str:
    return f"{fleet.images.openclaw}:{fleet.channels['stable']}"


def in_volume(
    engine: docker.DockerClient, fleet: Fleet, tenant_id: str, script: str, user: str, *, writable: bool = False
) -> str:
    """``script`` in a throwaway, network-less container of the gateway image with the tenant's volume
    at the state directory (read-only unless ``writable``)."""
    output = engine.containers.run(
        image(fleet),
        ["-c", script],
        entrypoint=["sh"],
        user=user,
        network_mode="none",
        cap_drop=["ALL"],
        # root needs only to read every entry, whoever owns it (the listing below); never to write.
        cap_add=["DAC_READ_SEARCH"] if user.startswith("0:") else [],
        read_only=True,
        volumes={ds.volume_name(tenant_id, "volume"): {"bind": openclaw.STATE_DIR, "mode": "rw" if writable else "ro"}},
        labels=RUN,
        remove=True,
    )
    return output.decode(errors="replace")


def host_ids(container: Container) -> dict[str, list[str]]:
    """The host kernel's view of the container's init process: its real, effective, saved and fs ids."""
    status = Path(f"/proc/{container.attrs['State']['Pid']}/status").read_text()
    return {line.split(":")[0]: line.split()[1:] for line in status.splitlines() if line.startswith(("Uid", "Gid"))}


def owners(engine: docker.DockerClient, fleet: Fleet, tenant_id: str) -> dict[str, str]:
    """Path (relative to the state directory) → "uid:gid", for every entry of the tenant's volume."""
    listing = in_volume(engine, fleet, tenant_id, f"find {openclaw.STATE_DIR} -printf '%U:%G %P\\n'", "0:0")
    return {path: owner for owner, _, path in (line.partition(" ") for line in listing.splitlines())}


def write_legacy_volume(engine: docker.DockerClient, fleet: Fleet, tenant_id: str) -> None:
    """The volume of a tenant deployed before per-tenant uids: created as the image's uid 1000 made it."""
    name = ds.volume_name(tenant_id, "volume")
    for stale in engine.volumes.list(filters={"name": name}):
        if stale.name == name:
            stale.remove(force=True)
    engine.volumes.create(name, labels=fixed_labels(fleet.tenant(tenant_id)))
    state = openclaw.STATE_DIR
    script = f"mkdir -p {state}/legacy && echo {LEGACY_MARKER} > {state}/legacy/marker"
    in_volume(engine, fleet, tenant_id, script, f"{openclaw.IMAGE_UID}:{openclaw.IMAGE_UID}", writable=True)
    before = owners(engine, fleet, tenant_id)
    assert set(before.values()) == {"1000:1000"} and "legacy/marker" in before


@pytest.fixture(scope="module")
def stack(engine: docker.DockerClient, fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_engine()
    deployment = Deployment(Path(tmp_path_factory.mktemp("uid-stack")), "uid", TIMINGS)
    try:
        write_legacy_volume(engine, fleet, BRAVO)
        deployment.apply(fleet, "host uid: up of 2 tenants, one with a volume of uid 1000")
        for tenant_id in (ALPHA, BRAVO):
            wait_until(partial(started, EDGE_PORT, f"{tenant_id}.localhost"), BOOT_TIMEOUT_S)
        yield deployment
    finally:
        try:
            deployment.teardown(Fleetside(engine), fleet, "host uid: destroy")
        finally:
            for helper in engine.containers.list(all=True, filters={"label": "openclaw-tenants.test/run"}):
                if helper.labels.get("openclaw-tenants.test/run") == RUN["openclaw-tenants.test/run"]:
                    helper.remove(force=True)


def test_each_gateway_runs_as_its_own_host_uid(stack: Deployment, fleet: Fleet, engine: docker.DockerClient) -> None:
    seen = {}
    for tenant_id in (ALPHA, BRAVO):
        uid = uid_of(fleet, tenant_id)
        container = engine.containers.get(ds.container_name(tenant_id))
        assert container.attrs["Config"]["User"] == f"{uid}:{uid}"
        assert host_ids(container) == {"Uid": [str(uid)] * 4, "Gid": [str(uid)] * 4}
        # Every process of the container, as the host's ps lists it, the gateway's node among them.
        top = container.top(ps_args="-o pid,uid,gid,comm")
        rows = [dict(zip(top["Titles"], row, strict=True)) for row in top["Processes"]]
        assert {(row["UID"], row["GID"]) for row in rows} == {(str(uid), str(uid))}
        assert any(row["COMMAND"].startswith("node") for row in rows)  # comm of the gateway: node-MainThread
        seen[tenant_id] = uid
    assert seen[ALPHA] != seen[BRAVO]
    assert openclaw.IMAGE_UID not in seen.values()


def test_each_answers_through_the_edge_with_its_own_token_only(stack: Deployment) -> None:
    for tenant_id, other in ((ALPHA, BRAVO), (BRAVO, ALPHA)):
        host = f"{tenant_id}.localhost"
        reply = http_get(EDGE_PORT, host, openclaw.LIVENESS_PATH)
        assert reply.status == 200 and reply.json()["ok"] is True
        assert ws_connect(EDGE_PORT, host, stack.tokens[tenant_id]).accepted
        foreign = ws_connect(EDGE_PORT, host, stack.tokens[other])
        assert not foreign.accepted and "AUTH_TOKEN_MISMATCH" in foreign.detail


def test_every_file_of_each_volume_belongs_to_its_tenant(
    stack: Deployment, fleet: Fleet, engine: docker.DockerClient
) -> None:
    for tenant_id in (ALPHA, BRAVO):
        uid = uid_of(fleet, tenant_id)
        found = owners(engine, fleet, tenant_id)
        assert {"", "openclaw.json", "cache", "state"} <= set(found)  # the gateway wrote its state
        assert set(found.values()) == {f"{uid}:{uid}"}, {p: o for p, o in found.items() if o != f"{uid}:{uid}"}


def test_a_volume_from_before_keeps_its_data_under_the_new_uid(
    stack: Deployment, fleet: Fleet, engine: docker.DockerClient
) -> None:
    uid = uid_of(fleet, BRAVO)
    gateway = engine.containers.get(ds.container_name(BRAVO))
    code, output = gateway.exec_run(["cat", f"{openclaw.STATE_DIR}/legacy/marker"])  # as the gateway's uid
    assert isinstance(output, bytes) and (code, output.decode().strip()) == (0, LEGACY_MARKER)
    found = owners(engine, fleet, BRAVO)
    assert found["legacy"] == found["legacy/marker"] == found[""] == f"{uid}:{uid}"


def test_the_next_preview_leaves_the_owners_alone(stack: Deployment) -> None:
    events: list[EngineEvent] = []
    stack.preview("host uid: preview after up", on_event=events.append)
    steps = {
        e.resource_pre_event.metadata.urn.rsplit("::", 1)[1]: e.resource_pre_event.metadata.op
        for e in events
        if e.resource_pre_event is not None
    }
    assert {steps[f"{t}-state-owner"] for t in (ALPHA, BRAVO)} == {OpType.SAME}


def test_re_owning_a_volume_that_is_right_writes_nothing_and_stops_nothing(
    stack: Deployment, fleet: Fleet, engine: docker.DockerClient
) -> None:
    """What the engine does when the resource is created again (say after a destroy): a no-op."""
    deployment = stack.stack().export_stack().deployment
    assert deployment is not None
    resources = deployment["resources"]
    [state] = [r for r in resources if r["urn"].endswith(f"::{BRAVO}-state-owner")]
    gateway = engine.containers.get(ds.container_name(BRAVO))
    started_at = gateway.attrs["State"]["StartedAt"]
    # The change times of what the gateway never writes: a chown would set them.
    script = f"stat -c '%Z %u:%g %n' {openclaw.STATE_DIR}/legacy {openclaw.STATE_DIR}/legacy/marker"
    before = in_volume(engine, fleet, BRAVO, script, "0:0")
    VolumeOwnerProvider().create(dict(state["outputs"]))
    assert in_volume(engine, fleet, BRAVO, script, "0:0") == before
    gateway.reload()
    assert gateway.status == "running" and gateway.attrs["State"]["StartedAt"] == started_at
    helpers = engine.containers.list(all=True, filters={"label": "openclaw.io/role=volume-owner"})
    assert [c.name for c in helpers if c.labels.get("openclaw.io/tenant") in (ALPHA, BRAVO)] == []


def test_a_new_host_uid_re_owns_the_data_and_the_gateway_runs_as_it(
    stack: Deployment, fleet: Fleet, engine: docker.DockerClient
) -> None:
    """Setting `host_uid` (as for a collision) moves a running tenant: its old gateway is stopped, its
    files change owner, and the new gateway runs as the new uid with the data it had."""
    marker = f"alpha-{RUN['openclaw-tenants.test/run']}"
    old = engine.containers.get(ds.container_name(ALPHA))
    code, output = old.exec_run(["sh", "-c", f"echo {marker} > {openclaw.STATE_DIR}/marker"])
    assert code == 0, output
    moved = with_tenant(fleet, ALPHA, host_uid=NEW_UID)
    stack.apply(moved, "host uid: up with alpha's host_uid set")
    wait_until(partial(started, EDGE_PORT, f"{ALPHA}.localhost"), BOOT_TIMEOUT_S)
    new = engine.containers.get(ds.container_name(ALPHA))
    assert new.id != old.id and new.attrs["Config"]["User"] == f"{NEW_UID}:{NEW_UID}"
    assert host_ids(new) == {"Uid": [str(NEW_UID)] * 4, "Gid": [str(NEW_UID)] * 4}
    assert set(owners(engine, moved, ALPHA).values()) == {f"{NEW_UID}:{NEW_UID}"}
    code, output = new.exec_run(["cat", f"{openclaw.STATE_DIR}/marker"])
    assert isinstance(output, bytes) and (code, output.decode().strip()) == (0, marker)
    assert ws_connect(EDGE_PORT, f"{ALPHA}.localhost", stack.tokens[ALPHA]).accepted


def test_switching_the_target_to_disks_is_refused_while_the_plain_volumes_hold_data(
    stack: Deployment, fleet: Fleet, engine: docker.DockerClient
) -> None:
    """A stack deployed before per-tenant disks keeps its tenants' data in plain volumes: a new disk for
    them would start them empty, so the switch stops before any container is touched."""
    target = fleet.targets["uid"]
    disks = target.model_copy(update={"storage": target.storage.model_copy(update={"mode": "disk"})})
    switched = fleet.model_copy(update={"targets": {"uid": disks}})
    before = {t: engine.containers.get(ds.container_name(t)).id for t in (ALPHA, BRAVO)}
    with pytest.raises(UpdateError, match=r"its data is in the plain Docker volume openclaw-uid-\w+-state"):
        stack.apply(switched, "host uid: the target switched to disks, refused")
    assert {t: engine.containers.get(ds.container_name(t)).id for t in (ALPHA, BRAVO)} == before
