"""StorageAgent and BackupAgent: the two containers that keep a Docker target's tenant data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from tenants.data_agent_specs import BackupAgentSpec
from tenants.docker_specs import ContainerSpec

from . import docker_resources
from .docker_ops import ContainerFile, DockerDaemon, RunningContainer


@dataclass(frozen=True)
class StorageAgentArgs:
    spec: ContainerSpec
    docker_host: DockerDaemon
    image: pulumi.Input[str]


class StorageAgent(pulumi.ComponentResource):
    """Tenant disks are made through ``on``; the agent remounts them when its host starts again."""

    on: RunningContainer

    def __init__(self, name: str, args: StorageAgentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:StorageAgent", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        created = docker_resources.container(
            f"{name}-agent", args.spec, image=args.image, secrets={}, networks=[], volumes={}, opts=child
        )
        docker_resources.pids_limit(f"{name}-pids-limit", args.spec, created, args.docker_host, child)
        self.on = docker_resources.running(created, args.docker_host)
        self.register_outputs({"container": created.name})


@dataclass(frozen=True)
class BackupAgentArgs:
    spec: BackupAgentSpec
    docker_host: DockerDaemon
    image: pulumi.Input[str]
    secrets: Mapping[str, pulumi.Input[str]]  # the repository's password and credentials


class BackupAgent(pulumi.ComponentResource):
    """The agent's container never changes with the fleet: its schedule is rewritten in place, and read
    again by the agent before each round."""

    on: RunningContainer

    def __init__(self, name: str, args: BackupAgentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:BackupAgent", name, None, opts)
        spec, child = args.spec, pulumi.ResourceOptions(parent=self)
        state = docker_resources.volume(f"{name}-state", spec.state, child)
        created = docker_resources.container(
            f"{name}-agent",
            spec.container,
            image=args.image,
            secrets=args.secrets,
            networks=[],
            volumes={spec.state.name: state.name},
            opts=child,
        )
        docker_resources.pids_limit(f"{name}-pids-limit", spec.container, created, args.docker_host, child)
        self.on = docker_resources.running(created, args.docker_host)
        ContainerFile(f"{name}-schedule", on=self.on, path=spec.schedule_path, content=spec.schedule, opts=child)
        self.register_outputs({"container": created.name})
