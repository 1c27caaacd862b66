"""DockerHost: one Docker target's provider and the images its containers run."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from .docker_ops import DaemonTls, DockerDaemon


@dataclass(frozen=True)
class DockerHostArgs:
    host: str
    images: Sequence[str]
    tls: DaemonTls | None = None  # the client certificate of a tcp:// host


def image_slug(image: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", image.lower())


class DockerHost(pulumi.ComponentResource):
    """Containers take their image from ``images`` so the engine has the image before creating them; the
    dynamic resources on this host reach it through ``daemon``, with the provider's TLS material."""

    provider: docker.Provider
    images: dict[str, pulumi.Output[str]]
    daemon: DockerDaemon

    def __init__(self, name: str, args: DockerHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:DockerHost", name, None, opts)
        tls = args.tls
        self.provider = docker.Provider(
            f"{name}-docker",
            host=args.host,
            ca_material=pulumi.Output.secret(tls.ca) if tls else None,
            cert_material=pulumi.Output.secret(tls.cert) if tls else None,
            key_material=pulumi.Output.secret(tls.key) if tls else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.daemon = DockerDaemon(args.host, tls)
        on_host = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.images = {
            image: docker.RemoteImage(
                f"{name}-image-{image_slug(image)}", name=image, keep_locally=True, opts=on_host
            ).name
            for image in sorted(set(args.images))
        }
        self.register_outputs({"images": sorted(self.images)})
