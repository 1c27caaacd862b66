"""Tenant data on the real engine: disks, backups, restores, and an id that is never handed on silently.

A stack of its own (edge on 127.0.0.1:18980, edge network 10.255.243.0/24) with two tenants on 1 GiB
disks, a local restic repository under a directory of this run, and a plan that backs up every minute:

- one tenant writing past its disk gets ENOSPC (bytes, then inodes) while its neighbour keeps writing, and
  the file never lands on the host's own file system;
- what a customer wrote through the gateway's own API (a workspace file, a session) survives a snapshot,
  the loss of the whole disk (gateway, volume and disk removed; `refresh` and `up` make an empty one) and
  `tenantctl restore`, and the gateway is healthy after it;
- the schedule takes a backup of a tenant nobody backed up by hand;
- an offboarded id is refused by `tenantctl add`, a re-added line over its disk stops the deployment, and
  after `tenantctl purge` the id is accepted and starts empty.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, cast

import docker
import pytest
from docker.models.containers import Container
from pulumi import automation as auto

from harness.deployment import Deployment, Fleetside, with_tenant, write_fleet
from harness.fleets import TEST_DISK_ROOT, local_fleet
from harness.gateway_client import GatewaySession, gateway_cli_call, http_get, started, workspace_file
from harness.paths import ROOT
from harness.waiting import wait_until
from signup.runner import UpdateError
from tenants import data_names, openclaw
from tenants import docker_specs as ds
from tenants.load import load_fleet, parse_fleet
from tenants.model import Fleet

from ..conftest import TIMINGS
from .conftest import BOOT_TIMEOUT_S, on_local_images, require_engine

ALPHA, BRAVO = "data-alpha", "data-bravo"
TARGET = "datat"
PORT = 18980
RUN = uuid.uuid4().hex[:10]
REPOSITORY = Path(f"/var/lib/openclaw-tenants/test-backups/{RUN}")
PASSWORD = f"backup-password-{RUN}"
SCHEDULED_WAIT_S = 300.0
MARKER = f"# written through the gateway {RUN}\n"


def fleet_text(every: str) -> str:
    """The stack's fleet, its plan backing up ``every`` (off until the schedule's own test)."""
    return local_fleet(
        TARGET,
        [{"id": ALPHA}, {"id": BRAVO}],
        {"port": PORT, "subnet": "10.255.243.0/24"},
        plans={"basic": {"storage_gib": 1, "backup": {"every": every, "keep": {"last": 3, "daily": 1, "weekly": 0}}}},
        backups={"repository": str(REPOSITORY), "stop_timeout_s": 10},
    )


FLEET_YAML = fleet_text("off")


@pytest.fixture(scope="module")
def fleet(images: dict[str, str]) -> Fleet:
    return on_local_images(FLEET_YAML, "tenant-data fleet", images)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet, side: Fleetside) -> Iterator[Deployment]:
    require_engine()
    deployment = Deployment(tmp_path_factory.mktemp("data-stack"), "data", TIMINGS)
    try:
        deployment.stack().set_config("openclaw-tenants:backupPassword", auto.ConfigValue(value=PASSWORD, secret=True))
        deployment.apply(fleet, "tenant data: up of 2 tenants on 1 GiB disks with backups")
        for tenant_id in (ALPHA, BRAVO):
            wait_until(partial(started, PORT, f"{tenant_id}.localhost"), BOOT_TIMEOUT_S)
        yield deployment
    finally:
        try:
            deployment.teardown(side, fleet, "tenant data: destroy")
        finally:
            shutil.rmtree(REPOSITORY, ignore_errors=True)


def tenantctl(fleet_file: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The real command line, as an operator runs it against the stack's fleet file."""
    done = subprocess.run(
        [sys.executable, "-m", "tenantctl", *args, "--file", str(fleet_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def gateway(engine: docker.DockerClient, tenant_id: str) -> Container:
    return engine.containers.get(ds.container_name(tenant_id))


def run_as_tenant(engine: docker.DockerClient, tenant_id: str, script: str) -> tuple[int, str]:
    """``script`` inside the tenant's own gateway, as its own uid: what any user of the tenant can run."""
    code, output = gateway(engine, tenant_id).exec_run(["sh", "-c", script])
    return int(code or 0), output.decode(errors="replace") if isinstance(output, bytes) else ""


def healthy(tenant_id: str) -> bool:
    reply = http_get(PORT, f"{tenant_id}.localhost", openclaw.LIVENESS_PATH)
    return reply.status == 200 and bool(reply.json().get("ok"))


def agent_json(engine: docker.DockerClient, *args: str) -> Any:
    container = engine.containers.get(data_names.backup_agent_name(TARGET))
    code, output = container.exec_run([*data_names.DATA_AGENT_COMMAND, "backups", *args], demux=True)
    stdout, stderr = cast(tuple[bytes | None, bytes | None], output)
    assert code == 0, (stderr or b"").decode()[-1000:]
    return json.loads((stdout or b"").decode())


STATE = openclaw.STATE_DIR


def test_a_tenant_past_its_disk_gets_enospc_while_its_neighbour_writes(
    stack: Deployment, engine: docker.DockerClient
) -> None:
    code, df = run_as_tenant(engine, ALPHA, f"df -k {STATE} | tail -1")
    assert code == 0
    size_kib = int(df.split()[1])
    assert 900_000 < size_kib <= 1024 * 1024  # its own 1 GiB file system, not the host's
    image = Path(data_names.disk_image(TEST_DISK_ROOT, TARGET, ALPHA))
    host_before = os.statvfs("/")
    code, output = run_as_tenant(engine, ALPHA, f"dd if=/dev/zero of={STATE}/fill bs=1M count=1400 2>&1")
    assert code != 0 and "No space left on device" in output
    # The neighbour keeps writing, and so does the host.
    code, output = run_as_tenant(engine, BRAVO, f"dd if=/dev/zero of={STATE}/neighbour bs=1M count=64 2>&1")
    assert code == 0, output
    # What alpha wrote is in its image (sparse: it takes what was written), never elsewhere on the host.
    allocated = image.stat().st_blocks * 512
    assert allocated <= 1.05 * 2**30
    assert (host_before.f_bavail - os.statvfs("/").f_bavail) * host_before.f_frsize <= 1.2 * 2**30
    # Where the daemon shows the volume is the disk's own file system, not its data root's.
    shown = Path("/var/lib/docker/volumes") / ds.volume_name(ALPHA) / "_data"
    disk = Path(data_names.disk_data(TEST_DISK_ROOT, TARGET, ALPHA))
    assert shown.stat().st_dev == disk.stat().st_dev != Path("/var/lib/docker").stat().st_dev
    # Inodes are bounded too: 65,536 per GiB.
    run_as_tenant(engine, ALPHA, f"rm -f {STATE}/fill {STATE}/neighbour")
    many = (
        "node -e \"const fs=require('fs');fs.mkdirSync(process.argv[1],{recursive:true});"
        "let i=0;try{for(;i<200000;i++)fs.writeFileSync(process.argv[1]+'/'+i,'')}catch(e){console.log(e.code,i)}\" "
        f"{STATE}/many"
    )
    code, output = run_as_tenant(engine, ALPHA, many)
    words = output.split()
    assert words[0] == "ENOSPC" and 60_000 < int(words[1]) < 65_536
    run_as_tenant(engine, ALPHA, f"rm -rf {STATE}/many")
    code, output = run_as_tenant(engine, BRAVO, f"echo still-writing > {STATE}/neighbour && cat {STATE}/neighbour")
    assert (code, output.strip()) == (0, "still-writing")
    run_as_tenant(engine, BRAVO, f"rm -f {STATE}/neighbour")


def test_what_a_customer_wrote_survives_the_loss_of_its_disk(
    stack: Deployment, fleet: Fleet, engine: docker.DockerClient
) -> None:
    gateway_cli_call(
        gateway(engine, ALPHA), "agents.files.set", {"agentId": "main", "name": "AGENTS.md", "content": MARKER}
    )
    gateway_cli_call(gateway(engine, ALPHA), "sessions.create", {"label": f"kept-{RUN}"})
    assert workspace_file(gateway(engine, ALPHA)) == MARKER
    backup = tenantctl(stack.fleet_file, "backup", ALPHA)
    snapshots = agent_json(engine, "snapshots", ALPHA)
    assert snapshots and snapshots[-1]["short_id"] in backup.stdout
    # The whole disk is lost: gateway, volume and the disk itself.
    gateway(engine, ALPHA).remove(force=True)
    engine.volumes.get(ds.volume_name(ALPHA)).remove(force=True)
    storage = engine.containers.get(data_names.storage_agent_name(TARGET))
    code, _ = storage.exec_run([*data_names.DATA_AGENT_COMMAND, "disks", "remove", ALPHA])
    assert code == 0
    stack.refresh("tenant data: refresh after the disk is lost")
    stack.apply(fleet, "tenant data: up makes an empty disk")
    wait_until(partial(started, PORT, f"{ALPHA}.localhost"), BOOT_TIMEOUT_S)
    assert workspace_file(gateway(engine, ALPHA)) != MARKER  # a fresh gateway's own bootstrap file, or none
    restored = tenantctl(stack.fleet_file, "restore", ALPHA)
    assert snapshots[-1]["short_id"] in restored.stdout
    wait_until(partial(started, PORT, f"{ALPHA}.localhost"), BOOT_TIMEOUT_S)
    assert healthy(ALPHA)
    assert workspace_file(gateway(engine, ALPHA)) == MARKER
    assert f"kept-{RUN}" in json.dumps(gateway_cli_call(gateway(engine, ALPHA), "sessions.list", {}))
    # The customer reaches it through the edge with the token it always had.
    with GatewaySession(PORT, f"{ALPHA}.localhost", stack.tokens[ALPHA]) as customer:
        assert customer.call("health").get("ok") is True


def test_a_retired_id_is_refused_until_it_is_purged(
    stack: Deployment, fleet: Fleet, engine: docker.DockerClient, tmp_path: Path
) -> None:
    run_as_tenant(engine, BRAVO, f"echo old-customer > {STATE}/old-customer")
    offboarded = with_tenant(fleet, BRAVO, state="offboarded")
    stack.apply(offboarded, "tenant data: offboard bravo")
    refused = tenantctl(stack.fleet_file, "add", BRAVO, "--plan", "basic", "--provider", "minimax", check=False)
    assert refused.returncode != 0
    assert "purge" in refused.stdout + refused.stderr and "restore" in refused.stdout + refused.stderr
    # The line removed by hand, then the id added again: the disk of the earlier customer stops it.
    forgotten = offboarded.model_copy(update={"tenants": tuple(t for t in offboarded.tenants if t.id != BRAVO)})
    stack.apply(forgotten, "tenant data: bravo's line removed by hand")
    readded = fleet
    with pytest.raises(UpdateError, match="already holds a disk of an earlier tenant"):
        stack.apply(readded, "tenant data: bravo added again over its old disk")
    assert not engine.containers.list(all=True, filters={"name": f"^{ds.container_name(BRAVO)}$"})
    # The operator purges the old customer's data; then the id is free and starts empty.
    write_fleet(offboarded, stack.fleet_file)
    purged = tenantctl(stack.fleet_file, "purge", BRAVO, "--yes")
    assert BRAVO not in {t.id for t in load_fleet(stack.fleet_file).tenants}
    assert not Path(data_names.disk_image(TEST_DISK_ROOT, TARGET, BRAVO)).exists()
    assert agent_json(engine, "snapshots", BRAVO) == []
    audit = [json.loads(line) for line in (stack.fleet_file.parent / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["tenant"] == BRAVO and purged.returncode == 0
    stack.apply(fleet, "tenant data: bravo, a new customer")
    wait_until(partial(started, PORT, f"{BRAVO}.localhost"), BOOT_TIMEOUT_S)
    code, _ = run_as_tenant(engine, BRAVO, f"test -e {STATE}/old-customer")
    assert code != 0


def test_the_schedule_backs_up_a_tenant_nobody_backed_up(stack: Deployment, engine: docker.DockerClient) -> None:
    agent = engine.containers.get(data_names.backup_agent_name(TARGET)).id
    stack.apply(parse_fleet(fleet_text("1m"), "every minute"), "tenant data: the plan backs up every minute")
    assert engine.containers.get(data_names.backup_agent_name(TARGET)).id == agent  # rewritten in place

    def scheduled() -> bool:
        return bool(agent_json(engine, "status", BRAVO).get(BRAVO, {}).get("last_success"))

    wait_until(scheduled, SCHEDULED_WAIT_S, interval_s=5)
    assert agent_json(engine, "snapshots", BRAVO)
    listed = tenantctl(stack.fleet_file, "backups")
    assert BRAVO in listed.stdout and ALPHA in listed.stdout
    assert engine.containers.get(data_names.backup_agent_name(TARGET)).attrs["State"]["Health"]["Status"] in (
        "healthy",
        "starting",
    )
