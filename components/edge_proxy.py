"""EdgeProxy: the one nginx of a Docker target, routing `<id>.<domain>` to that tenant only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from tenants.docker_specs import EdgeSpec

from . import docker_resources
from .docker_ops import NetworkLink, NginxConfig


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
        proxy = docker_resources.container(
            f"{name}-proxy",
            spec.container,
            image=args.image,
            secrets={},
            networks=[edge_net.name],
            volumes={},
            opts=child,
        )
        docker_resources.pids_limit(f"{name}-pids-limit", spec.container, proxy, args.docker_host, child)
        on = docker_resources.running(proxy, args.docker_host)
        # One link per routed tenant, named after it: adding or removing a tenant touches only its own.
        links = [
            NetworkLink(f"{name}-link-{tenant_id}", on=on, network=args.tenant_networks[network], opts=child)
            for tenant_id, network in spec.links
        ]
        NginxConfig(
            f"{name}-routes",
            on=on,
            path=spec.config_path,
            content=spec.config,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=links)),
        )
        port = spec.container.ports[0]
        self.address = pulumi.Output.from_input(f"{port.ip}:{port.external}")
        self.routes = pulumi.Output.from_input([r.host for r in spec.routes])
        self.register_outputs({"address": self.address, "routes": self.routes})
