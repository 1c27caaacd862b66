"""EdgeProxy: the one nginx of a Docker target, routing `<id>.<domain>` to that tenant only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from tenants.docker_specs import EdgeSpec

from . import docker_resources
from .docker_ops import NginxConfig


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
        proxy = docker_resources.platform_container(
            name,
            "proxy",
            spec.network,
            spec.container,
            image=args.image,
            secrets={},
            volumes={},
            docker_host=args.docker_host,
            links=spec.links,
            tenant_networks=args.tenant_networks,
            opts=child,
        )
        NginxConfig(
            f"{name}-routes",
            on=proxy.on,
            path=spec.config_path,
            content=spec.config,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=proxy.links)),
        )
        port = spec.container.ports[0]
        self.address = pulumi.Output.from_input(f"{port.ip}:{port.external}")
        self.routes = pulumi.Output.from_input([r.host for r in spec.routes])
        self.register_outputs({"address": self.address, "routes": self.routes})
