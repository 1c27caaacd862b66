"""The two agents that keep a Docker target's tenant data, as container specs.

The disk agent (`openclaw-storage-<target>`) creates, grows and mounts each tenant's disk image; it
shares the host's process namespace and may mount (CAP_SYS_ADMIN), enter the daemon's mount namespace
(CAP_SYS_PTRACE, CAP_SYS_CHROOT) and use loop devices (a device cgroup rule), because only a mount in the daemon's mount
namespace is visible to its volume binds. It is not privileged: it gets no other capability or device.
The backup agent (`openclaw-backup-<target>`) takes
consistent snapshots with restic on each plan's schedule: it drives the daemon through its socket (it stops
a gateway for the snapshot and runs short-lived restic workers) and runs on the host network, so a
repository on the host's loopback is as reachable as a remote one. Both containers never change with the
fleet: the schedule is a file rewritten in place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .contract import BACKUP_PASSWORD, BACKUP_S3_ACCESS_KEY, BACKUP_S3_SECRET_KEY, BACKUP_SSH_KEY, SecretRef
from .data_names import (
    AGENT_IMAGE_ENV,
    BACKUP_STATE_DIR,
    DATA_AGENT_COMMAND,
    DISK_ROOT_ENV,
    KNOWN_HOSTS_ENV,
    SCHEDULE_PATH,
    SCHEDULE_VERSION,
    SSH_KEY_ENV,
    backup_agent_name,
    backup_state_volume,
    disk_root,
    storage_agent_name,
)
from .docker_specs import Bind, ContainerSpec, Healthcheck, Mount, Upload, VolumeSpec, container_name, volume_spec
from .labels import BACKUP_COMPONENT, STORAGE_COMPONENT, platform_labels
from .model import Backups, DockerTarget, Fleet
from .resolved import DockerTenant

# As the daemon reports them (a refresh shows no diff): mount and unmount (SYS_ADMIN), enter the daemon's mount
# namespace (SYS_PTRACE, SYS_CHROOT), and own a new disk's data directory to its tenant (CHOWN, FOWNER,
# DAC_OVERRIDE: the directory is the tenant's, mode 0700).
STORAGE_CAPABILITIES = (
    "CAP_SYS_ADMIN",
    "CAP_SYS_PTRACE",
    "CAP_SYS_CHROOT",
    "CAP_CHOWN",
    "CAP_FOWNER",
    "CAP_DAC_OVERRIDE",
)
LOOP_DEVICES = ("b 7:* rwm", "c 10:237 rwm")  # loop block devices, and /dev/loop-control
DOCKER_SOCKET = "/var/run/docker.sock"  # where the agent finds its daemon, and a remote host's own socket


@dataclass(frozen=True)
class BackupAgentSpec:
    target: str
    container: ContainerSpec
    state: VolumeSpec  # its status (last success, failures) outlives the container
    schedule: str  # JSON, written to SCHEDULE_PATH in place
    schedule_path: str = SCHEDULE_PATH


def storage_agent_spec(fleet: Fleet, target_name: str) -> ContainerSpec | None:
    """The disk agent of a target whose tenants get disks; None on a target of plain volumes."""
    target = fleet.target_as(target_name, DockerTarget)
    if target.storage.mode != "disk":
        return None
    root = disk_root(target.storage.root, target_name)
    return ContainerSpec(
        name=storage_agent_name(target_name),
        image=fleet.images.data_agent,
        command=("disks", "serve"),
        entrypoint=DATA_AGENT_COMMAND,
        working_dir=None,
        user="0:0",
        env={DISK_ROOT_ENV: root},
        secret_env={},
        cpus=0.5,
        memory_mib=128,
        pids_limit=64,
        read_only=True,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=16m"},
        networks=(),
        mounts=(),
        uploads=(),
        ports=(),
        healthcheck=_health("disks", "list"),
        labels=platform_labels(STORAGE_COMPONENT, target_name),
        stop_grace_s=10,
        network_mode="none",
        cap_add=STORAGE_CAPABILITIES,
        # A host's AppArmor profile for containers denies mount; seccomp's default allows it with CAP_SYS_ADMIN.
        # The daemon adds label=disable to a container in the host's process namespace: said here too, so a
        # refresh reads back what the program sends.
        security_opts=("apparmor=unconfined", "label=disable", "no-new-privileges:true"),
        binds=(Bind(root, root),),
        pid_mode="host",
        device_cgroup_rules=LOOP_DEVICES,
    )


def backup_agent_spec(fleet: Fleet, target_name: str, tenants: Sequence[DockerTenant]) -> BackupAgentSpec | None:
    """The backup agent of a target, with the schedule of its tenants; None when the fleet has no repository."""
    backups = fleet.backups
    if backups is None:
        return None
    target = fleet.target_as(target_name, DockerTarget)
    name = backup_agent_name(target_name)
    labels = platform_labels(BACKUP_COMPONENT, target_name)
    local = (Bind(backups.repository, backups.repository),) if backups.kind == "local" else ()
    container = ContainerSpec(
        name=name,
        image=fleet.images.data_agent,
        command=("backups", "serve"),
        entrypoint=DATA_AGENT_COMMAND,
        working_dir=None,
        user="0:0",
        env=_repository_env(fleet, backups),
        secret_env=_repository_secrets(backups),
        cpus=1.0,
        memory_mib=512,
        pids_limit=128,
        # The schedule arrives as an upload and is rewritten in place: a writable root.
        read_only=False,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=64m"},
        networks=(),
        mounts=(Mount(backup_state_volume(target_name), BACKUP_STATE_DIR),),
        uploads=(Upload(SCHEDULE_PATH, render_schedule(fleet, target_name, ()), owner=0, group=0, mode="0444"),),
        ports=(),
        healthcheck=_health("backups", "health"),
        labels=labels,
        stop_grace_s=30,
        network_mode="host",
        binds=(Bind(_socket(target), DOCKER_SOCKET), *local),
    )
    return BackupAgentSpec(
        target=target_name,
        container=container,
        state=VolumeSpec(backup_state_volume(target_name), labels=labels),
        schedule=render_schedule(fleet, target_name, tenants),
    )


def render_schedule(fleet: Fleet, target_name: str, tenants: Sequence[DockerTenant]) -> str:
    """What the backup agent of a target backs up, how often, and what it keeps, as its JSON file.

    Every tenant with data is listed, so `tenantctl backup` and `restore` work in any state; offboarded
    tenants are not backed up on a schedule (their data no longer changes)."""
    backups = fleet.backups
    assert backups is not None
    listed: dict[str, object] = {}
    for tenant in sorted((t for t in tenants if t.tenant.target == target_name), key=lambda t: t.id):
        plan = tenant.plan.backup
        keep = plan.keep
        listed[tenant.id] = {
            "container": container_name(tenant.id),
            "volume": volume_spec(tenant).name,
            "every_s": plan.every_s if tenant.tenant.live else None,
            "keep": {"last": keep.last, "daily": keep.daily, "weekly": keep.weekly, "monthly": keep.monthly},
        }
    document = {
        "version": SCHEDULE_VERSION,
        "target": target_name,
        "stop_timeout_s": backups.stop_timeout_s,
        "max_stop_s": backups.max_stop_s,
        "tenants": listed,
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _repository_env(fleet: Fleet, backups: Backups) -> dict[str, str]:
    env = {"RESTIC_REPOSITORY": backups.repository, AGENT_IMAGE_ENV: fleet.images.data_agent}
    if backups.known_hosts is not None:
        env[KNOWN_HOSTS_ENV] = backups.known_hosts
    return env


def _repository_secrets(backups: Backups) -> Mapping[str, SecretRef]:
    extra: dict[str, dict[str, SecretRef]] = {
        "local": {},
        "sftp": {SSH_KEY_ENV: BACKUP_SSH_KEY},
        "s3": {"AWS_ACCESS_KEY_ID": BACKUP_S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": BACKUP_S3_SECRET_KEY},
    }
    return {"RESTIC_PASSWORD": BACKUP_PASSWORD, **extra[backups.kind]}


def _socket(target: DockerTarget) -> str:
    """The daemon's socket on its own host: the path of a unix:// target, the usual path on a remote one."""
    return target.host.removeprefix("unix://") if target.host.startswith("unix://") else DOCKER_SOCKET


def _health(*command: str) -> Healthcheck:
    return Healthcheck(
        test=("CMD", *DATA_AGENT_COMMAND, *command),
        interval_s=60,
        timeout_s=30,
        retries=1,
        start_period_s=30,
        start_interval_s=0,
    )
