"""EgressFilter: a Docker target's nftables egress rules, held by a host-network container."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from tenants.egress_filter_specs import APPLY, EgressFilterSpec

from . import docker_resources
from .docker_ops import DockerDaemon, NftRuleset


@dataclass(frozen=True)
class EgressFilterArgs:
    spec: EgressFilterSpec
    docker_host: DockerDaemon
    image: pulumi.Input[str]


class EgressFilter(pulumi.ComponentResource):
    """Tenant containers depend on ``rules``: none starts before its bridge is guarded."""

    rules: NftRuleset

    def __init__(self, name: str, args: EgressFilterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:EgressFilter", name, None, opts)
        spec, child = args.spec, pulumi.ResourceOptions(parent=self)
        created = docker_resources.container(
            f"{name}-filter", spec.container, image=args.image, secrets={}, networks=[], volumes={}, opts=child
        )
        on = docker_resources.running(created, args.docker_host)
        docker_resources.pids_limit(f"{name}-pids-limit", spec.container, created, args.docker_host, child)
        self.rules = NftRuleset(
            f"{name}-rules",
            on=on,
            path=spec.rules_path,
            content=spec.rules,
            apply=list(APPLY),
            remove=list(spec.remove),
            opts=child,
        )
        self.register_outputs({"bridges": [b.bridge for b in spec.bridges]})
