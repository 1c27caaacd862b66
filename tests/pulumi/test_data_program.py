"""Tenant data on Docker targets under the mock runtime: disks, their claims, the agents and the schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest
from ruamel.yaml import YAML

from harness.fleets import fleet_yaml, local_fleet
from harness.paths import ROOT
from harness.program_run import ProgramRun, run_program
from tenants.host_uid import derived_uid
from tenants.load import parse_fleet
from tenants.shards import copy_only_targets, select_shard

DOCKER_SHARD = {"shard": "default"}


@pytest.fixture(scope="module")
def docker_run() -> ProgramRun:
    return run_program(ROOT / "tenants.yaml", config=DOCKER_SHARD)


def test_each_tenant_gets_a_disk_of_its_storage_claimed_by_a_random_id(docker_run: ProgramRun) -> None:
    disk = docker_run.named("acme-disk")
    uid = derived_uid("acme")
    assert {k: disk.inputs[k] for k in ("tenant", "target", "gib", "inodes", "uid", "container")} == {
        "tenant": "acme",
        "target": "local",
        "gib": 5,  # the basic plan's storage
        "inodes": 5 * 65536,
        "uid": uid,
        "container": "openclaw-storage-local",
    }
    assert disk.inputs["data"] == "/var/lib/openclaw-tenants/disks/local/mnt/acme/data"
    claim = docker_run.named("acme-disk-claim")
    assert claim.inputs["byteLength"] == 16
    assert disk.inputs["claim"] == "generated-id-for-acme-disk-claim"
    assert claim.urn in disk.dependencies


def test_the_volume_binds_the_disk_and_waits_for_it(docker_run: ProgramRun) -> None:
    volume = docker_run.named("acme-state")
    assert volume.inputs["name"] == "openclaw-acme-data"
    assert volume.inputs["driver"] == "local"
    assert volume.inputs["driverOpts"] == {
        "type": "none",
        "o": "bind",
        "device": "/var/lib/openclaw-tenants/disks/local/mnt/acme/data",
    }
    assert volume.retain_on_delete
    disk = docker_run.named("acme-disk").urn
    assert disk in volume.dependencies
    assert disk in docker_run.named("acme-gateway").dependencies


def test_the_disk_agent_makes_disks_before_any_tenant_uses_one(docker_run: ProgramRun) -> None:
    agent = docker_run.named("storage-local-agent")
    assert agent.inputs["name"] == "openclaw-storage-local"
    assert agent.inputs["entrypoints"] == ["python3", "-m", "data_agent"]
    assert agent.inputs["command"] == ["disks", "serve"]
    assert "OPENCLAW_DISK_ROOT=/var/lib/openclaw-tenants/disks/local" in agent.inputs["envs"]
    assert agent.urn in docker_run.named("acme-disk").dependencies


def test_the_backup_agent_gets_the_repository_and_its_password_as_a_secret(docker_run: ProgramRun) -> None:
    agent = docker_run.named("backup-local-agent")
    envs = agent.inputs["envs"]
    assert "RESTIC_REPOSITORY=/var/lib/openclaw-tenants/backups" in envs
    assert "RESTIC_PASSWORD=program-run-backup-password" in envs
    assert "envs" in agent.secret_inputs
    assert agent.inputs["command"] == ["backups", "serve"]
    assert agent.inputs["healthcheck"]["tests"] == ["CMD", "python3", "-m", "data_agent", "backups", "health"]
    state = docker_run.named("backup-local-state")
    assert state.inputs["name"] == "openclaw-backup-local-state" and state.retain_on_delete


def test_the_schedule_lists_every_tenant_of_the_target_with_its_plans_backup(docker_run: ProgramRun) -> None:
    schedule = docker_run.named("backup-local-schedule").inputs
    assert schedule["path"] == "/etc/openclaw-backup/schedule.json"
    document = json.loads(schedule["content"])
    assert document["version"] == 1 and document["target"] == "local"
    assert (document["stop_timeout_s"], document["max_stop_s"]) == (30, 900)
    assert sorted(document["tenants"]) == ["acme", "globex", "initech", "umbrella"]
    acme = document["tenants"]["acme"]
    assert acme == {
        "container": "openclaw-acme",
        "volume": "openclaw-acme-data",
        "every_s": 86400,
        "keep": {"last": 1, "daily": 7, "weekly": 4, "monthly": 0},
    }
    # The agent's own container starts with an empty schedule: a tenant edit never recreates it.
    upload = docker_run.named("backup-local-agent").inputs["uploads"][0]
    assert json.loads(upload["content"])["tenants"] == {}


def _fleet(tmp_path: Path, replace: tuple[str, str]) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text((ROOT / "tenants.yaml").read_text().replace(*replace))
    return path


def test_a_fleet_with_backups_needs_the_repository_password(tmp_path: Path) -> None:
    with pytest.raises(pulumi.RunError, match="openclaw-tenants:backupPassword"):
        run_program(ROOT / "tenants.yaml", config=DOCKER_SHARD, backup_password=None)


def test_without_backups_there_is_no_backup_agent(tmp_path: Path) -> None:
    path = _fleet(tmp_path, ("backups:\n  repository: /var/lib/openclaw-tenants/backups\n", ""))
    run = run_program(path, config=DOCKER_SHARD, backup_password=None)
    assert not [r for r in run.resources if r.name.startswith("backup-")]
    assert run.named("acme-disk")


def test_a_target_of_plain_volumes_has_no_disks_and_keeps_the_old_volume_names(tmp_path: Path) -> None:
    path = _fleet(
        tmp_path,
        ("    overcommit:\n      cpu: 2.0\n", "    storage: {mode: volume}\n    overcommit:\n      cpu: 2.0\n"),
    )
    run = run_program(path, config=DOCKER_SHARD)
    assert not [r for r in run.resources if r.name.endswith(("-disk", "-disk-claim")) or r.name.startswith("storage-")]
    volume = run.named("acme-state").inputs
    assert volume["name"] == "openclaw-acme-state"
    assert "driver" not in volume and "driverOpts" not in volume
    schedule = json.loads(run.named("backup-local-schedule").inputs["content"])
    assert schedule["tenants"]["acme"]["volume"] == "openclaw-acme-state"


def test_a_target_left_with_only_copies_keeps_its_disk_agent_and_nothing_else(tmp_path: Path) -> None:
    text = local_fleet(
        "here", [{"id": "mover", "retained_on": ["there"]}], {"port": 18999, "subnet": "10.255.239.0/24"}
    )
    doc = YAML(typ="safe").load(text)
    doc["targets"]["there"] = {**doc["targets"]["here"], "host": "unix:///run/elsewhere/docker.sock"}
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet_yaml(doc))
    run = run_program(path)
    there = [r.name for r in run.resources if "there" in r.name]
    assert sorted(there) == [
        "storage-there",
        "storage-there-agent",
        "storage-there-pids-limit",
        "there",
        "there-docker",
        "there-image-openclaw-local-data-agent-0.14.0-1",
    ]
    assert run.named("storage-there-agent").inputs["envs"] == [
        "OPENCLAW_DISK_ROOT=/var/lib/openclaw-tenants/test-disks/there"
    ]


def test_the_stack_of_the_lowest_shard_keeps_a_copy_only_target() -> None:
    text = local_fleet("here", [{"id": "mover"}], {"port": 18999, "subnet": "10.255.239.0/24"})
    doc = YAML(typ="safe").load(text)
    doc["targets"]["there"] = dict(doc["targets"]["here"])
    doc["targets"]["b-host"] = dict(doc["targets"]["here"])
    doc["tenants"] = [
        {"id": "mover", "retained_on": ["there"], "shard": "s2"},
        {"id": "other", "target": "b-host", "retained_on": ["there"], "shard": "s1"},
    ]
    fleet = parse_fleet(fleet_yaml(doc), "copies")
    assert copy_only_targets(fleet, select_shard(fleet, "s1")) == ("there",)
    assert copy_only_targets(fleet, select_shard(fleet, "s2")) == ()
    assert copy_only_targets(fleet, fleet.tenants) == ("there",)
