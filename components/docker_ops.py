"""Changes the Docker provider cannot make in place, made through the Docker API as dynamic resources.

pulumi-docker has no pids limit, and it can only attach networks or upload files when it creates a
container. Done here instead: a pids limit set on the running container (and read back on
refresh), a platform container (edge proxy, model gateway) attached to one more tenant network, and
a file rewritten in a running container (the edge's routing config and certificate, reloaded
gracefully; the model gateway's key registry, which it re-reads; the egress filter's ruleset, applied
atomically). None of these restarts a container.

The providers run inside the engine's Python dynamic-provider host, so they import only the
Docker SDK and the standard library, and talk to the daemon named by each resource's ``host``; a
tcp:// daemon with the client certificate in ``tls_ca``/``tls_cert``/``tls_key``, props that are
Pulumi secrets and absent for unix:// and ssh:// daemons.
"""

from __future__ import annotations

import io
import os
import ssl
import tarfile
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import docker
import docker.constants
import docker.tls
import pulumi
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

RELOAD_ATTEMPTS = 40  # x 0.25 s: nginx in a container that has just started needs a moment
RELOAD_PAUSE_S = 0.25
# x 2 s: how long an in-place change waits for a gateway stopped for a consistent snapshot (backups.max_stop_s
# bounds the stop itself; most snapshots take seconds).
STOPPED_ATTEMPTS, STOPPED_PAUSE_S = 450, 2.0
NGINX = ("nginx", "-e", "stderr")  # as the container runs it: errors to stderr, not /var/log


# The props of a client certificate, in the order ca, cert, key; absent for unix:// and ssh:// daemons.
TLS_KEYS = ("tls_ca", "tls_cert", "tls_key")


@dataclass(frozen=True)
class DaemonTls:
    """A client certificate for a daemon started with --tlsverify, as PEM text."""

    ca: pulumi.Input[str]
    cert: pulumi.Input[str]
    key: pulumi.Input[str]

    def props(self) -> dict[str, Any]:
        """Secrets whatever the caller passed, so the material is never plain in the state."""
        return {k: pulumi.Output.secret(v) for k, v in zip(TLS_KEYS, (self.ca, self.cert, self.key), strict=True)}


@dataclass(frozen=True)
class DockerDaemon:
    """How to reach one Docker host: its address, and for tcp:// the client certificate."""

    host: str
    tls: DaemonTls | None = None


def _write_private(path: str, text: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text if text.endswith("\n") else f"{text}\n")
    return path


def _tls_client(host: str, tls: docker.tls.TLSConfig) -> docker.DockerClient:
    """requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replace a session's CA, and the SDK asks for the
    API version while it builds the client: so the version is asked for first, by a session that ignores
    the environment (its proxies too), and the daemon's CA alone decides."""
    probe = docker.APIClient(base_url=host, tls=tls, version=docker.constants.MINIMUM_DOCKER_API_VERSION)
    probe.trust_env = False
    try:
        version = str(probe.version(api_version=False)["ApiVersion"])
    finally:
        probe.close()
    client = docker.DockerClient(base_url=host, tls=tls, version=version)
    client.api.trust_env = False
    return client


@contextmanager
def docker_client(host: str, pem: Mapping[str, str] | None = None) -> Iterator[docker.DockerClient]:
    """A client of the daemon at ``host``; with ``pem`` (TLS_KEYS → PEM text) over mutual TLS. The SDK reads
    certificates only from files, so they live in a private directory (0700, files 0600) for the client's
    life and are removed with it."""
    with ExitStack() as stack:
        if pem:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="openclaw-docker-tls-"))
            ca, cert, key = (_write_private(os.path.join(directory, f"{k}.pem"), pem[k]) for k in TLS_KEYS)
            client = _tls_client(host, docker.tls.TLSConfig(client_cert=(cert, key), ca_cert=ca, verify=True))
        else:
            client = docker.DockerClient(base_url=host, use_ssh_client=host.startswith("ssh://"))
        try:
            yield client
        finally:
            client.close()


def _client(props: Mapping[str, Any]) -> AbstractContextManager[docker.DockerClient]:
    """The client of the daemon a resource's props name."""
    return docker_client(props["host"], {k: props[k] for k in TLS_KEYS if k in props} or None)


@dataclass(frozen=True)
class RunningContainer:
    """The container a dynamic resource acts on: its daemon, its name, and its id (a new id = recreated)."""

    host: str
    name: pulumi.Input[str]
    id: pulumi.Input[str]
    tls: DaemonTls | None = None

    def props(self) -> dict[str, Any]:
        props = {"host": self.host, "container": self.name, "container_id": self.id}
        return (props | self.tls.props()) if self.tls else props


CONTAINER_KEYS = ("host", "container", "container_id")


def _changed(olds: dict[str, Any], news: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [k for k in keys if olds.get(k) != news.get(k)]


def _renewed(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """A new client certificate is an update, never a replacement: the state must hold the material the
    next read or delete connects with."""
    return bool(_changed(olds, news, TLS_KEYS))


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
        return DiffResult(changes=bool(_changed(olds, news, self.KEYS)) or _renewed(olds, news))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """The setting goes with its container."""


class PidsLimitProvider(InPlaceProvider):
    KEYS = (*CONTAINER_KEYS, "limit")

    def _apply(self, props: dict[str, Any]) -> None:
        """The daemon updates only a running container: one its backup agent has stopped for a snapshot
        is waited for (bounded), as it is started again in every case."""
        with _client(props) as client:
            # The SDK's update_container has no pids argument; the endpoint takes PidsLimit. Its request
            # helpers are private, and so absent from the SDK's type stubs.
            api: Any = client.api
            url = api._url("/containers/{0}/update", props["container"])
            for _ in range(STOPPED_ATTEMPTS):
                response = api._post_json(url, data={"PidsLimit": whole(props["limit"])})
                if response.status_code != 500 or "stopped container" not in response.text:
                    break
                time.sleep(STOPPED_PAUSE_S)
            api._raise_for_status(response)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The daemon's value, so a refresh shows a limit changed behind the program's back."""
        with _client(props) as client:
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
        with _client(props) as client:
            try:
                client.api.connect_container_to_network(props["container"], props["network"])
            except APIError as exc:
                if "already exists" not in str(exc):
                    raise
        return CreateResult(f"{props['container']}/{props['network']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = _changed(olds, news, self.KEYS)
        return DiffResult(changes=bool(changed) or _renewed(olds, news), replaces=changed, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Only the client certificate changed (anything else replaces): the link stands as it is."""
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with _client(props) as client:
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


def whole(value: object) -> int:
    """A whole number as the engine hands it to a provider: protobuf numbers arrive as floats (2.0)."""
    return int(float(str(value)))


def _tar_of(path: str, content: str, mode: int = 0o444, owner: int = 0, group: int = 0) -> bytes:
    data = content.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(path.rsplit("/", 1)[-1])
        info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, owner, group, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _ownership(props: Mapping[str, Any]) -> tuple[int, int, int]:
    """A file's mode, owner and group from its props: root's and world-readable unless given."""
    return int(str(props.get("mode", "0444")), 8), whole(props.get("owner", 0)), whole(props.get("group", 0))


def _exec(container: Container, command: list[str], user: str = "") -> tuple[int | None, bytes]:
    """Run ``command`` in the container (as its own user unless ``user``): its exit code and its whole
    output (not streamed)."""
    code, output = container.exec_run(command, user=user)
    return code, output if isinstance(output, bytes) else b"".join(output)


class ContainerFileProvider(InPlaceProvider):
    """A file of a running container, replaced in place; then each of ``commands`` must succeed
    (retried while the container settles), e.g. a config check and a graceful reload."""

    # The commands belong to the resource's kind, not to its state: a change of them alone is no diff.
    KEYS: tuple[str, ...] = (*CONTAINER_KEYS, "path", "content")

    def _id(self, props: dict[str, Any]) -> str:
        return f"{props['container']}:{props['path']}"

    def _apply(self, props: dict[str, Any]) -> None:
        path = props["path"]
        with _client(props) as client:
            container = client.containers.get(props["container"])
            archive = _tar_of(path, props["content"], *_ownership(props))
            if not container.put_archive(path.rsplit("/", 1)[0] or "/", archive):
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

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Runs the resource's ``remove`` command (as ``remove_user``) in its container, if it has one;
        output containing one of ``remove_ok`` means already done. A container that is gone or stopped
        takes the file with it."""
        remove = list(props.get("remove") or [])
        if not remove:
            return
        with _client(props) as client:
            try:
                container = client.containers.get(props["container"])
                code, output = _exec(container, remove, user=str(props.get("remove_user") or ""))
            except NotFound:
                return
            except APIError as exc:
                if "is not running" in str(exc):
                    return
                raise
        if code != 0 and not any(ok.encode() in output for ok in props.get("remove_ok") or []):
            raise RuntimeError(f"{' '.join(remove)} failed in {props['container']}: {output.decode()[-400:]}")


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


def certificate_problem(pem: object) -> str | None:
    """Why ``pem`` (a certificate chain and its private key) cannot serve TLS; None when it can, or while
    it is unknown (a preview before its inputs exist)."""
    if not isinstance(pem, str):
        return None
    with tempfile.TemporaryDirectory(prefix="openclaw-edge-tls-") as directory:
        path = _write_private(os.path.join(directory, "edge.pem"), pem)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(path)
        except ssl.SSLError as exc:
            return (
                f"the edge certificate does not load with its key ({exc.reason or exc}): the certificate "
                "config key needs the PEM certificate (then its chain), the key config key that "
                "certificate's PEM private key, unencrypted"
            )
    return None


class NginxCertificateProvider(ContainerFileProvider):
    """A running nginx's certificate and key, one file readable by its user alone: refused before it
    replaces the file unless the two belong together, then ``nginx -t`` and a graceful reload. Deleting
    the resource deletes the file (its ``remove`` command)."""

    KEYS = (*ContainerFileProvider.KEYS, "owner", "group", "mode")

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        problem = certificate_problem(news.get("content"))
        return CheckResult(news, [CheckFailure("content", problem)] if problem else [])

    def _apply(self, props: dict[str, Any]) -> None:
        problem = certificate_problem(props["content"])
        if problem:
            raise RuntimeError(problem)
        super()._apply(props)


class NginxCertificate(Resource, module="openclaw", name="NginxCertificate"):
    """The certificate chain and key of a running nginx (a Pulumi secret), written as ``owner``:``group``
    with ``mode``; a new certificate is an update and a graceful reload, never a new container."""

    def __init__(
        self,
        name: str,
        *,
        on: RunningContainer,
        path: str,
        pem: pulumi.Input[str],
        owner: int,
        group: int,
        mode: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        commands = [[*NGINX, "-t", "-q"], [*NGINX, "-s", "reload"]]
        props = {**_file_props(on, path, pulumi.Output.secret(pem), commands), "owner": owner, "group": group}
        # As root, who owns the directory: nginx's user may read the file, not unlink it.
        removal = {"remove": ["rm", "-f", path], "remove_user": "0"}
        super().__init__(NginxCertificateProvider(), name, {**props, "mode": mode, **removal}, opts)


class ContainerFile(Resource, module="openclaw", name="ContainerFile"):
    """A file of a running container that its program re-reads when it changes (no command, no restart)."""

    def __init__(
        self, name: str, *, on: RunningContainer, path: str, content: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> None:
        super().__init__(ContainerFileProvider(), name, _file_props(on, path, content, []), opts)


class NftRuleset(Resource, module="openclaw", name="NftRuleset"):
    """A host's nftables table, owned by a host-network container that has CAP_NET_ADMIN."""

    def __init__(
        self,
        name: str,
        *,
        on: RunningContainer,
        path: str,
        content: str,
        apply: list[str],
        remove: list[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        # Deleting the resource deletes the table from the host's kernel (it outlives the container otherwise).
        props = {
            **_file_props(on, path, content, [apply]),
            "remove": remove,
            "remove_ok": ["No such file or directory"],
        }
        super().__init__(ContainerFileProvider(), name, props, opts)
