"""TenantStack: everything one customer gets, as one component."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from tenants.docker_specs import TenantDockerSpec

from . import docker_container


@dataclass(frozen=True)
class TenantStackArgs:
    spec: TenantDockerSpec
    rotation: int
    docker_host: str
    image: pulumi.Input[str]
    provider_key: pulumi.Input[str] | None = None


class TenantStack(pulumi.ComponentResource):
    """One tenant's gateway and the things it owns. Logical names are ``<tenant id>-<role>``."""

    endpoint: pulumi.Output[str]
    state: pulumi.Output[str]
    plan: pulumi.Output[str]
    shard: pulumi.Output[str]
    gateway_token: pulumi.Output[str]
    network: pulumi.Output[str]

    def __init__(self, name: str, args: TenantStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:TenantStack", name, None, opts)
        spec, child = args.spec, pulumi.ResourceOptions(parent=self)
        tid = spec.tenant_id

        # Bumping `rotation` replaces the password, which replaces the container that uses it.
        token = random.RandomPassword(
            f"{tid}-token", length=48, special=False, keepers={"rotation": str(args.rotation)}, opts=child
        )
        # Data is never deleted by editing tenants.yaml; purging a volume is a separate, explicit act.
        volume = docker.Volume(
            f"{tid}-state",
            name=spec.volume.name,
            labels=docker_container.labels(docker.VolumeLabelArgs, spec.volume.labels),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        network = None
        if spec.network is not None:
            network = docker.Network(
                f"{tid}-network",
                name=spec.network.name,
                driver="bridge",
                internal=spec.network.internal,
                options=dict(spec.network.options),
                ipam_configs=[docker.NetworkIpamConfigArgs(subnet=spec.network.subnet)]
                if spec.network.subnet
                else None,
                labels=docker_container.labels(docker.NetworkLabelArgs, spec.network.labels),
                opts=child,
            )
        if spec.container is not None and network is not None:
            secrets: dict[str, pulumi.Input[str]] = {"gateway_token": token.result}
            if args.provider_key is not None:
                secrets["provider_key"] = args.provider_key
            gateway = docker_container.container(
                f"{tid}-gateway",
                spec.container,
                image=args.image,
                secrets=secrets,
                networks=[network.name],
                volumes={spec.volume.name: volume.name},
                opts=child,
            )
            docker_container.pids_limit(f"{tid}-pids-limit", spec.container, gateway, args.docker_host, child)

        self.endpoint = pulumi.Output.from_input(spec.url)
        self.state = pulumi.Output.from_input(spec.state)
        self.plan = pulumi.Output.from_input(spec.plan)
        self.shard = pulumi.Output.from_input(spec.shard)
        self.gateway_token = pulumi.Output.secret(token.result)
        # The network's name once it exists; unknown for tenants without a network.
        self.network = network.name if network is not None else pulumi.Output.from_input("")
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "state": self.state,
                "plan": self.plan,
                "shard": self.shard,
                "gatewayToken": self.gateway_token,
            }
        )
