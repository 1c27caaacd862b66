"""A Docker tenant's own disk: an ext4 image of exactly its storage, so its data is bounded in bytes and
inodes and never shares a file system with another tenant or with the daemon's data root."""

from __future__ import annotations

from dataclasses import dataclass

from .data_names import disk_data, disk_image, disk_mount, storage_agent_name
from .resolved import DockerTenant


@dataclass(frozen=True)
class DiskSpec:
    tenant_id: str
    target: str
    agent: str  # the container that creates, grows and mounts it
    gib: int
    inodes: int
    uid: int  # owner of its data directory: the gateway's host uid
    image: str
    mount: str
    data: str  # what the tenant's volume binds
    gateway: str  # the container that uses it (stopped for a grow where the host's kernel cannot grow it online)
    plain_volume: str  # where a stack deployed before disks kept its data: a new disk is refused while it exists


def disk_spec(tenant: DockerTenant, gateway: str, plain_volume: str) -> DiskSpec | None:
    """The tenant's disk, used by its ``gateway`` container (its data's earlier home: ``plain_volume``); None on
    a target that keeps plain volumes (storage mode volume)."""
    storage = tenant.target.storage
    if storage.mode != "disk":
        return None
    target, gib = tenant.tenant.target, tenant.limits.storage_gib
    root = storage.root
    return DiskSpec(
        tenant_id=tenant.id,
        target=target,
        agent=storage_agent_name(target),
        gib=gib,
        inodes=gib * storage.inodes_per_gib,
        uid=tenant.uid,
        image=disk_image(root, target, tenant.id),
        mount=disk_mount(root, target, tenant.id),
        data=disk_data(root, target, tenant.id),
        gateway=gateway,
        plain_volume=plain_volume,
    )
