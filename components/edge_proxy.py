"""EdgeProxy: the one nginx of a Docker target, routing `<id>.<domain>` to that tenant only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from tenants.docker_specs import EdgeSpec

from . import docker_resources


@dataclass(frozen=True)
class EdgeProxyArgs:
    spec: EdgeSpec
    docker_host: str
    image: pulumi.Input[str]
    # tenant network name → the Network output, so the proxy attaches after each network exists
    tenant_networks: Mapping[str, pulumi.Input[str]]


class EdgeProxy(pulumi.ComponentResource):
    address: pulumi.Output[str]
    routes: pulumi.Output[list[str]]

    def __init__(self, name: str, args: EdgeProxyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:EdgeProxy", name, None, opts)
        spec, child = args.spec, pulumi.ResourceOptions(parent=self)
        edge_net = docker_resources.network(f"{name}-network", spec.network, child)
        attached = {spec.network.name: edge_net.name, **args.tenant_networks}
        proxy = docker_resources.container(
            f"{name}-proxy",
            spec.container,
            image=args.image,
            secrets={},
            networks=[attached[n] for n in spec.container.networks],
            volumes={},
            opts=child,
        )
        docker_resources.pids_limit(f"{name}-pids-limit", spec.container, proxy, args.docker_host, child)
        port = spec.container.ports[0]
        self.address = pulumi.Output.from_input(f"{port.ip}:{port.external}")
        self.routes = pulumi.Output.from_input([r.host for r in spec.routes])
        self.register_outputs({"address": self.address, "routes": self.routes})
