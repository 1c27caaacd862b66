"""Changes the Docker provider cannot make in place, made through the Docker API as dynamic resources.

pulumi-docker has no pids limit, and it can only attach networks or upload files when it creates a
container. Done here instead: a pids limit set on the running container (and read back on
refresh), a platform container (edge proxy, model gateway) attached to one more tenant network, and
a file rewritten in a running container (the edge's routing config, reloaded gracefully; the model
gateway's key registry, which it re-reads). None of these restarts a container.

The providers run inside the engine's Python dynamic-provider host, so they import only the
Docker SDK and the standard library, and talk to the daemon named by each resource's ``host``.
"""

from __future__ import annotations

import io
import tarfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import docker
import pulumi
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

RELOAD_ATTEMPTS = 40  # x 0.25 s: nginx in a container that has just started needs a moment
RELOAD_PAUSE_S = 0.25
NGINX = ("nginx", "-e", "stderr")  # as the container runs it: errors to stderr, not /var/log


@contextmanager
def _client(host: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=host, use_ssh_client=host.startswith("ssh://"))
    try:
        yield client
    finally:
        client.close()


@dataclass(frozen=True)
class RunningContainer:
    """The container a dynamic resource acts on: its daemon, its name, and its id (a new id = recreated)."""

    host: str
    name: pulumi.Input[str]
    id: pulumi.Input[str]

    def props(self) -> dict[str, Any]:
        return {"host": self.host, "container": self.name, "container_id": self.id}


CONTAINER_KEYS = ("host", "container", "container_id")


def _changed(olds: dict[str, Any], news: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [k for k in keys if olds.get(k) != news.get(k)]


class InPlaceProvider(ResourceProvider, ABC):
    """A setting applied to a running container: created and updated by ``_apply``, gone with it."""

    serialize_as_secret_always = False
    KEYS: tuple[str, ...] = ()

    @abstractmethod
    def _apply(self, props: dict[str, Any]) -> None:
        """Make the running container match ``props``."""

    def _id(self, props: dict[str, Any]) -> str:
        return str(props["container"])

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props)
        return CreateResult(self._id(props), outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=bool(_changed(olds, news, self.KEYS)))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """The setting goes with its container."""


class PidsLimitProvider(InPlaceProvider):
    KEYS = (*CONTAINER_KEYS, "limit")

    def _apply(self, props: dict[str, Any]) -> None:
        with _client(props["host"]) as client:
            # The SDK's update_container has no pids argument; the endpoint takes PidsLimit. Its request
            # helpers are private, and so absent from the SDK's type stubs.
            api: Any = client.api
            url = api._url("/containers/{0}/update", props["container"])
            api._raise_for_status(api._post_json(url, data={"PidsLimit": int(props["limit"])}))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The daemon's value, so a refresh shows a limit changed behind the program's back."""
        with _client(props["host"]) as client:
            try:
                attrs = client.api.inspect_container(props["container"])
            except NotFound:
                return ReadResult(id_, props)
        return ReadResult(id_, {**props, "container_id": attrs["Id"], "limit": attrs["HostConfig"].get("PidsLimit")})


class PidsLimit(Resource, module="openclaw", name="PidsLimit"):
    """The pids limit of one running container; re-applied whenever the container is recreated."""

    limit: pulumi.Output[int]

    def __init__(self, name: str, *, on: RunningContainer, limit: int, opts: pulumi.ResourceOptions) -> None:
        super().__init__(PidsLimitProvider(), name, {**on.props(), "limit": limit}, opts)


class NetworkLinkProvider(ResourceProvider):
    serialize_as_secret_always = False
    KEYS = (*CONTAINER_KEYS, "network")

    def create(self, props: dict[str, Any]) -> CreateResult:
        with _client(props["host"]) as client:
            try:
                client.api.connect_container_to_network(props["container"], props["network"])
            except APIError as exc:
                if "already exists" not in str(exc):
                    raise
        return CreateResult(f"{props['container']}/{props['network']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = _changed(olds, news, self.KEYS)
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with _client(props["host"]) as client:
            try:
                client.api.disconnect_container_from_network(props["container"], props["network"], force=True)
            except NotFound:
                pass  # the container or the network is already gone
            except APIError as exc:
                if "is not connected" not in str(exc):
                    raise


class NetworkLink(Resource, module="openclaw", name="NetworkLink"):
    """A running container attached to one more network, without recreating the container."""

    def __init__(
        self, name: str, *, on: RunningContainer, network: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> None:
        super().__init__(NetworkLinkProvider(), name, {**on.props(), "network": network}, opts)


def _tar_of(path: str, content: str) -> bytes:
    data = content.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(path.rsplit("/", 1)[-1])
        info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o444, 0, 0, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _exec(container: Container, command: list[str]) -> tuple[int | None, bytes]:
    """Run ``command`` in the container: its exit code and its whole output (not streamed)."""
    code, output = container.exec_run(command)
    return code, output if isinstance(output, bytes) else b"".join(output)


class ContainerFileProvider(InPlaceProvider):
    """A file of a running container, replaced in place; then each of ``commands`` must succeed
    (retried while the container settles), e.g. a config check and a graceful reload."""

    # The commands belong to the resource's kind, not to its state: a change of them alone is no diff.
    KEYS = (*CONTAINER_KEYS, "path", "content")

    def _id(self, props: dict[str, Any]) -> str:
        return f"{props['container']}:{props['path']}"

    def _apply(self, props: dict[str, Any]) -> None:
        path = props["path"]
        with _client(props["host"]) as client:
            container = client.containers.get(props["container"])
            if not container.put_archive(path.rsplit("/", 1)[0] or "/", _tar_of(path, props["content"])):
                raise RuntimeError(f"could not write {path} into {props['container']}")
            for command in props.get("commands") or []:
                output = b""
                for _ in range(RELOAD_ATTEMPTS):
                    code, output = _exec(container, list(command))
                    if code == 0:
                        break
                    time.sleep(RELOAD_PAUSE_S)
                else:
                    raise RuntimeError(f"{' '.join(command)} failed in {props['container']}: {output.decode()[-400:]}")


def _file_props(
    on: RunningContainer, path: str, content: pulumi.Input[str], commands: list[list[str]]
) -> dict[str, Any]:
    return {**on.props(), "path": path, "content": content, "commands": commands}


class NginxConfig(Resource, module="openclaw", name="NginxConfig"):
    """A running nginx's config file, replaced, checked with ``nginx -t`` and reloaded gracefully:
    old workers finish their requests."""

    def __init__(
        self, name: str, *, on: RunningContainer, path: str, content: str, opts: pulumi.ResourceOptions
    ) -> None:
        commands = [[*NGINX, "-t", "-q"], [*NGINX, "-s", "reload"]]
        super().__init__(ContainerFileProvider(), name, _file_props(on, path, content, commands), opts)


class ContainerFile(Resource, module="openclaw", name="ContainerFile"):
    """A file of a running container that its program re-reads when it changes (no command, no restart)."""

    def __init__(
        self, name: str, *, on: RunningContainer, path: str, content: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> None:
        super().__init__(ContainerFileProvider(), name, _file_props(on, path, content, []), opts)
