"""The model gateway's image run by hand, as the tests and the benchmark need it: files put into a
created container, the fake upstream in a container of the same image, and a gateway container as
hardened as the one the program creates."""

from __future__ import annotations

import io
import tarfile
import time

import docker
from docker.models.containers import Container
from docker.models.networks import Network

from tenants.contract import MODEL_GATEWAY_CONFIG_DIR, MODEL_GATEWAY_DATA_DIR, MODEL_GATEWAY_UID

from .paths import ROOT

FAKE_UPSTREAM = ROOT / "harness" / "fake_upstream.py"
FAKE_UPSTREAM_PORT = 8080
DATA_DIR = MODEL_GATEWAY_DATA_DIR  # the gateway's volume; the fake upstream keeps its script there
CONFIG_DIR = MODEL_GATEWAY_CONFIG_DIR


def put_file(container: Container, directory: str, name: str, data: bytes, mode: int = 0o644) -> None:
    """Write one file into a container (created or running) through the Docker API."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    assert container.put_archive(directory, buffer.getvalue())


def address(container: Container) -> str:
    """The container's address on its one network."""
    container.reload()
    return str(next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"])


def only_on(network: Network, client: docker.DockerClient, container: Container, aliases: list[str]) -> None:
    """Move a created container from the default bridge onto ``network`` alone."""
    network.connect(container, aliases=aliases)
    client.networks.get("bridge").disconnect(container)


def fake_upstream(client: docker.DockerClient, image: str, name: str, labels: dict[str, str]) -> Container:
    """harness/fake_upstream.py in a created (not started) container of the gateway's image."""
    container = client.containers.create(
        image,
        ["python3", f"{DATA_DIR}/fake_upstream.py", "--port", str(FAKE_UPSTREAM_PORT)],
        name=name,
        labels=labels,
        detach=True,
    )
    put_file(container, DATA_DIR, "fake_upstream.py", FAKE_UPSTREAM.read_bytes())
    return container


def gateway(
    client: docker.DockerClient,
    image: str,
    name: str,
    *,
    environment: dict[str, str],
    volume: str,
    labels: dict[str, str],
) -> Container:
    """A created gateway container: the gateway's uid, no capabilities, no privilege gain, its ledger on ``volume``."""
    return client.containers.create(
        image,
        name=name,
        labels=labels,
        detach=True,
        environment=environment,
        user=f"{MODEL_GATEWAY_UID}:{MODEL_GATEWAY_UID}",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        tmpfs={"/tmp": "rw,nosuid,nodev,size=64m"},
        volumes={volume: {"bind": DATA_DIR, "mode": "rw"}},
    )
