"""EdgeProxy: the one nginx of a Docker target, routing `<id>.<domain>` to that tenant only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from tenants.docker_specs import EdgeSpec

from . import docker_resources
from .docker_ops import DockerDaemon, NginxCertificate, NginxConfig


def _joined(cert: str, key: str) -> str:
    return "".join(part if part.endswith("\n") else f"{part}\n" for part in (cert, key))


@dataclass(frozen=True)
class EdgeCertificate:
    """The operator's certificate for the edge (PEM, its chain after it) and its private key: secrets."""

    cert: pulumi.Input[str]
    key: pulumi.Input[str]

    def pem(self) -> pulumi.Output[str]:
        """The one file nginx reads both from: the chain, then the key."""
        return pulumi.Output.secret(pulumi.Output.all(self.cert, self.key).apply(lambda pair: _joined(*pair)))


@dataclass(frozen=True)
class EdgeProxyArgs:
    spec: EdgeSpec
    docker_host: DockerDaemon
    image: pulumi.Input[str]
    # tenant network name → the Network output, so the proxy attaches after each network exists
    tenant_networks: Mapping[str, pulumi.Input[str]]
    certificate: EdgeCertificate | None = None  # exactly when the spec has a certificate file


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
        before_routes: list[pulumi.Resource] = list(proxy.links)
        if spec.certificate is not None:
            if args.certificate is None:
                raise ValueError(f"{name} serves TLS: EdgeProxyArgs needs its certificate")
            file = spec.certificate
            # Its own resource: a rotation rewrites the file and reloads, and the routes that use it
            # are written only once it is in place.
            before_routes.append(
                NginxCertificate(
                    f"{name}-tls",
                    on=proxy.on,
                    path=file.path,
                    pem=args.certificate.pem(),
                    owner=file.owner,
                    group=file.group,
                    mode=file.mode,
                    opts=child,
                )
            )
        NginxConfig(
            f"{name}-routes",
            on=proxy.on,
            path=spec.config_path,
            content=spec.config,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=before_routes)),
        )
        port = spec.container.ports[0]
        self.address = pulumi.Output.from_input(f"{port.ip}:{port.external}")
        self.routes = pulumi.Output.from_input([r.host for r in spec.routes])
        self.register_outputs({"address": self.address, "routes": self.routes})
