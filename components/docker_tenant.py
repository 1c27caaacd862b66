"""A tenant's Docker specs → its disk, network, volume (owned by its uid), gateway container and pids limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_random as random

from tenants.docker_specs import TenantDockerSpec

from . import docker_resources, docker_runtime
from .docker_ops import DockerDaemon, RunningContainer
from .tenant_disk import TenantDisk
from .volume_owner import VolumeOwner


def build(
    spec: TenantDockerSpec,
    *,
    docker_host: DockerDaemon,
    image: pulumi.Input[str],
    secrets: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
    storage_agent: RunningContainer | None = None,
) -> pulumi.Output[str]:
    """Create the tenant's resources under ``parent``; returns its network's name ("" without one)."""
    child = pulumi.ResourceOptions(parent=parent)
    tid = spec.tenant_id
    disk = _disk(spec, storage_agent, child)
    volume = docker_resources.volume(
        f"{tid}-state", spec.volume, pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=disk))
    )
    if spec.network is None:
        return pulumi.Output.from_input("")
    network = docker_resources.network(f"{tid}-network", spec.network, child)
    if spec.container is not None:
        owner = spec.volume.owner
        # The state volume re-owned to the gateway's uid: the gateway is created only after it.
        owned = (
            []
            if owner is None
            else [
                VolumeOwner(
                    f"{tid}-state-owner",
                    daemon=docker_host,
                    volume=volume.name,
                    owner=owner,
                    image=image,
                    gateway=spec.container.name,
                    stop_timeout_s=spec.container.stop_grace_s,
                    labels=spec.volume.labels,
                    opts=child,
                    disk=disk[0].created if disk else None,
                )
            ]
        )
        # A runtime the host's daemon does not offer stops the update before the gateway is touched.
        checked = docker_runtime.required(
            f"{tid}-runtime", spec.container, tenant=tid, plan=spec.plan, daemon=docker_host, opts=child
        )
        gateway = docker_resources.container(
            f"{tid}-gateway",
            spec.container,
            image=image,
            secrets=secrets,
            networks=[network.name],
            volumes={spec.volume.name: volume.name},
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[*after, *disk, *owned, *checked])
            ),
        )
        docker_resources.pids_limit(f"{tid}-pids-limit", spec.container, gateway, docker_host, child)
    return network.name


def _disk(spec: TenantDockerSpec, agent: RunningContainer | None, opts: pulumi.ResourceOptions) -> list[TenantDisk]:
    """The tenant's disk, claimed by a random id made with the tenant (none on a target of plain volumes)."""
    if spec.disk is None:
        return []
    if agent is None:
        raise ValueError(f"tenant {spec.tenant_id!r} has a disk but its target has no disk agent")
    tid = spec.tenant_id
    claim = random.RandomId(f"{tid}-disk-claim", byte_length=16, opts=opts)
    return [TenantDisk(f"{tid}-disk", spec=spec.disk, on=agent, claim=claim.hex, opts=opts)]
