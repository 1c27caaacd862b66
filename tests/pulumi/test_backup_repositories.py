"""The backup agent's repository credentials under the mock runtime: an SFTP fleet's private key and an S3
fleet's access keys come from Pulumi secret config and reach the agent as secrets, the SFTP server's pinned
host key comes from the fleet file as plain environment, and a missing key stops the program naming it."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from harness.paths import ROOT
from harness.program_run import ProgramRun, run_program
from tenants.contract import BACKUP_PASSWORD, BACKUP_SSH_KEY
from tenants.data_agent_specs import backup_agent_spec
from tenants.data_names import KNOWN_HOSTS_ENV, SSH_KEY_ENV
from tenants.load import load_fleet

DOCKER_SHARD = {"shard": "default"}
LOCAL_BACKUPS = "backups:\n  repository: /var/lib/openclaw-tenants/backups\n"
SFTP_URL = "sftp://restic@nas.example.net:2222//srv/restic/fleet"
KNOWN_HOSTS = "[nas.example.net]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq7zKnGz0bE2YQ4r5p3o3bq0m1eKxJm0p4v0cJ7wHs9"
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
S3_URL = "s3:https://s3.example.net/openclaw-backups/fleet"


def fleet_with(tmp_path: Path, backups: str) -> Path:
    source = (ROOT / "tenants.yaml").read_text()
    assert LOCAL_BACKUPS in source
    path = tmp_path / "tenants.yaml"
    path.write_text(source.replace(LOCAL_BACKUPS, backups))
    return path


def sftp_backups(ssh_key_line: str = "") -> str:
    return f'backups:\n  repository: "{SFTP_URL}"\n  known_hosts: "{KNOWN_HOSTS}"\n{ssh_key_line}'


def agent_envs(run: ProgramRun) -> list[str]:
    agent = run.named("backup-local-agent")
    assert "envs" in agent.secret_inputs
    envs: list[str] = agent.inputs["envs"]
    return envs


def host_paths(run: ProgramRun) -> list[str]:
    return [v["hostPath"] for v in run.named("backup-local-agent").inputs["volumes"] if v.get("hostPath")]


@pytest.fixture(scope="module")
def sftp_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fleet_with(tmp_path_factory.mktemp("sftp"), sftp_backups())


def test_an_sftp_fleet_gives_the_agent_its_key_as_a_secret_and_the_known_hosts_plain(sftp_fleet: Path) -> None:
    run = run_program(sftp_fleet, config=DOCKER_SHARD, secrets={"backupSshKey": SSH_KEY})
    envs = agent_envs(run)
    assert f"RESTIC_REPOSITORY={SFTP_URL}" in envs
    assert f"{SSH_KEY_ENV}={SSH_KEY}" in envs
    assert f"{KNOWN_HOSTS_ENV}={KNOWN_HOSTS}" in envs
    assert "RESTIC_PASSWORD=program-run-backup-password" in envs
    assert not [e for e in envs if e.startswith("AWS_")]
    assert host_paths(run) == ["/var/run/docker.sock"]  # nothing of the repository is on the host

    # The key is wired from secret config, the known hosts are the fleet file's own text.
    spec = backup_agent_spec(load_fleet(sftp_fleet), "local", ())
    assert spec is not None
    container = spec.container
    assert dict(container.secret_env) == {"RESTIC_PASSWORD": BACKUP_PASSWORD, SSH_KEY_ENV: BACKUP_SSH_KEY}
    assert container.env[KNOWN_HOSTS_ENV] == KNOWN_HOSTS


def test_an_sftp_fleet_reads_the_key_from_the_config_key_it_names(tmp_path: Path) -> None:
    path = fleet_with(tmp_path, sftp_backups("  ssh_key: nasSshKey\n"))
    run = run_program(path, config=DOCKER_SHARD, secrets={"nasSshKey": SSH_KEY})
    assert f"{SSH_KEY_ENV}={SSH_KEY}" in agent_envs(run)


def test_an_sftp_fleet_without_its_key_fails_naming_it(sftp_fleet: Path) -> None:
    with pytest.raises(pulumi.RunError, match=r"need the secret config key openclaw-tenants:backupSshKey: "):
        run_program(sftp_fleet, config=DOCKER_SHARD)


def test_an_s3_fleet_gives_the_agent_its_access_keys_as_secrets(tmp_path: Path) -> None:
    path = fleet_with(tmp_path, f'backups:\n  repository: "{S3_URL}"\n')
    keys = {"backupS3AccessKey": "AKIAEXAMPLEACCESS", "backupS3SecretKey": "s3-secret-key-value"}
    envs = agent_envs(run_program(path, config=DOCKER_SHARD, secrets=keys))
    assert f"RESTIC_REPOSITORY={S3_URL}" in envs
    assert "AWS_ACCESS_KEY_ID=AKIAEXAMPLEACCESS" in envs
    assert "AWS_SECRET_ACCESS_KEY=s3-secret-key-value" in envs
    assert not [e for e in envs if e.startswith((SSH_KEY_ENV, KNOWN_HOSTS_ENV))]

    with pytest.raises(pulumi.RunError, match=r"openclaw-tenants:backupS3SecretKey: ") as missing:
        run_program(path, config=DOCKER_SHARD, secrets={"backupS3AccessKey": "AKIAEXAMPLEACCESS"})
    assert "backupS3AccessKey" not in str(missing.value)
    with pytest.raises(pulumi.RunError, match=r"keys openclaw-tenants:backupS3AccessKey, openclaw-tenants:backupS3Se"):
        run_program(path, config=DOCKER_SHARD)
