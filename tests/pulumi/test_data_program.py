"""Tenant data on Docker targets under the mock runtime: disks, their claims, the agents and the schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from harness.paths import ROOT
from harness.program_run import ProgramRun, run_program
from tenants.host_uid import derived_uid

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
