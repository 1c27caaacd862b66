"""Names of the pieces that keep tenants' data: each Docker target's disk and backup agents, their paths,
the restic tags of a tenant's snapshots, and a Kubernetes tenant's backup job. One place, read by the
spec builders, the components, the agents in their image and tenantctl."""

from __future__ import annotations

from typing import Final

DATA_AGENT_COMMAND: Final = ("python3", "-m", "data_agent")  # the agents' entry point in their image

# --- per-tenant disks on a Docker host (data_agent.disks) -----------------------------------------

DISK_ROOT_ENV: Final = "OPENCLAW_DISK_ROOT"  # the host directory of one target's disk images and mounts
DISK_DATA_DIR: Final = "data"  # inside a mounted disk: what the tenant's volume binds (a tenant sees nothing else)
DISK_IMAGE_SUFFIX: Final = ".img"
DISK_MOUNTS_DIR: Final = "mnt"


def storage_agent_name(target_name: str) -> str:
    """The container that creates, grows, mounts and removes a Docker target's tenant disks."""
    return f"openclaw-storage-{target_name}"


def disk_root(root: str, target_name: str) -> str:
    """One target's directory under the host's disk root: two targets on one host never share a disk."""
    return f"{root.rstrip('/')}/{target_name}"


def disk_image(root: str, target_name: str, tenant_id: str) -> str:
    return f"{disk_root(root, target_name)}/{tenant_id}{DISK_IMAGE_SUFFIX}"


def disk_mount(root: str, target_name: str, tenant_id: str) -> str:
    return f"{disk_root(root, target_name)}/{DISK_MOUNTS_DIR}/{tenant_id}"


def disk_data(root: str, target_name: str, tenant_id: str) -> str:
    """What a tenant's Docker volume binds: missing until its disk is mounted, so a gateway never starts
    on the host's own file system."""
    return f"{disk_mount(root, target_name, tenant_id)}/{DISK_DATA_DIR}"


# --- backups (data_agent.backups, data_agent.k8s_job) --------------------------------------------

SCHEDULE_DIR: Final = "/etc/openclaw-backup"
SCHEDULE_PATH: Final = f"{SCHEDULE_DIR}/schedule.json"  # rewritten in place; the agent rereads it
SCHEDULE_VERSION: Final = 1
BACKUP_STATE_DIR: Final = "/var/lib/openclaw-backup"  # the agent's status file, on a volume of its own
BACKUP_STATUS_PATH: Final = f"{BACKUP_STATE_DIR}/status.json"
AGENT_IMAGE_ENV: Final = "OPENCLAW_DATA_AGENT_IMAGE"  # the backup agent's own image: its restic workers run it
SSH_KEY_ENV: Final = "OPENCLAW_BACKUP_SSH_KEY"  # an SFTP repository's private key, PEM text
KNOWN_HOSTS_ENV: Final = "OPENCLAW_BACKUP_KNOWN_HOSTS"
SNAPSHOT_TAG: Final = "openclaw-tenants"  # on every snapshot this product takes
TENANT_TAG_PREFIX: Final = "tenant="  # restic tag `tenant=<id>`; the snapshot's host is the tenant id too


def backup_agent_name(target_name: str) -> str:
    """The container that runs a Docker target's scheduled and on-demand backups and restores."""
    return f"openclaw-backup-{target_name}"


def backup_state_volume(target_name: str) -> str:
    return f"{backup_agent_name(target_name)}-state"


def tenant_tag(tenant_id: str) -> str:
    return f"{TENANT_TAG_PREFIX}{tenant_id}"


K8S_BACKUP_JOB: Final = "openclaw-backup"  # a tenant namespace's CronJob, ServiceAccount, Role and Secret
