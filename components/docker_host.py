"""DockerHost: one Docker target's provider and the images its containers run."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker


@dataclass(frozen=True)
class DockerHostArgs:
    host: str
    images: Sequence[str]


def image_slug(image: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", image.lower())


class DockerHost(pulumi.ComponentResource):
    """Containers take their image from ``images`` so the engine has the image before creating them."""

    provider: docker.Provider
    images: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: DockerHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:DockerHost", name, None, opts)
        self.provider = docker.Provider(f"{name}-docker", host=args.host, opts=pulumi.ResourceOptions(parent=self))
        on_host = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.images = {
            image: docker.RemoteImage(
                f"{name}-image-{image_slug(image)}", name=image, keep_locally=True, opts=on_host
            ).name
            for image in sorted(set(args.images))
        }
        self.register_outputs({"images": sorted(self.images)})
