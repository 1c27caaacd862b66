"""A tenant's Docker specs → its network, volume, gateway container and pids limit."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from tenants.docker_specs import TenantDockerSpec

from . import docker_resources


def build(
    spec: TenantDockerSpec,
    *,
    docker_host: str,
    image: pulumi.Input[str],
    secrets: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """Create the tenant's resources under ``parent``; returns its network's name ("" without one)."""
    child = pulumi.ResourceOptions(parent=parent)
    tid = spec.tenant_id
    volume = docker_resources.volume(f"{tid}-state", spec.volume, child)
    if spec.network is None:
        return pulumi.Output.from_input("")
    network = docker_resources.network(f"{tid}-network", spec.network, child)
    if spec.container is not None:
        gateway = docker_resources.container(
            f"{tid}-gateway",
            spec.container,
            image=image,
            secrets=secrets,
            networks=[network.name],
            volumes={spec.volume.name: volume.name},
            opts=child,
        )
        docker_resources.pids_limit(f"{tid}-pids-limit", spec.container, gateway, docker_host, child)
    return network.name
