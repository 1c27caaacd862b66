"""tenantctl's way into a Docker target: a Docker SDK client of the target's ``host`` and calls to the data
agents running there (``openclaw-backup-<target>``, ``openclaw-storage-<target>``).

An agent is called with ``exec_run`` of its own command line in its container; it answers with JSON on
stdout and a one-line message on stderr, non-zero on failure, so tenantctl needs nothing on the host but
the daemon's API. A ``tcp://`` host is reached only over mutual TLS, with the client certificate where
Docker's own tools look for it (``DOCKER_CERT_PATH``: ``ca.pem``, ``cert.pem``, ``key.pem``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tenants.data_names import DATA_AGENT_COMMAND, backup_agent_name, storage_agent_name

CERT_PATH_ENV = "DOCKER_CERT_PATH"
CERT_FILES = ("ca.pem", "cert.pem", "key.pem")
# A backup keeps a gateway stopped for at most the fleet's max_stop_s, but copying a large volume to a
# remote repository may take long: an agent silent for this long is given up on.
AGENT_TIMEOUT_S = 3600


AgentKind = Literal["backups", "disks"]
AGENT_NAMES: Mapping[AgentKind, Callable[[str], str]] = {"backups": backup_agent_name, "disks": storage_agent_name}
AGENT_ROLES: Mapping[AgentKind, str] = {"backups": "backup agent", "disks": "disk agent"}

if TYPE_CHECKING:
    import docker
    import docker.tls


def unreachable() -> tuple[type[Exception], ...]:
    """What a daemon that is down, refuses, or answers slowly raises through the SDK (loaded only when a
    command reaches a target, so the other commands start without it)."""
    import docker.errors
    import requests

    return (docker.errors.DockerException, requests.exceptions.RequestException)


def _not_found() -> type[Exception]:
    import docker.errors

    return docker.errors.NotFound


class AccessError(Exception):
    """A target's daemon or agent cannot be used; the message is one line naming the target and the fix."""


@dataclass(frozen=True)
class AgentReply:
    """What one agent command printed, and how it exited."""

    command: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def message(self) -> str:
        """The agent's one-line explanation: the last line of its stderr."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"`{' '.join(self.command)}` exited with {self.exit_code}"

    def document(self) -> Any:
        """stdout as one JSON document."""
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AccessError(f"`{' '.join(self.command)}` printed no JSON: {self.message}") from None

    def lines(self) -> list[Any]:
        """stdout as one JSON document per line (``backups run``)."""
        try:
            return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]
        except ValueError:
            raise AccessError(f"`{' '.join(self.command)}` printed lines that are not JSON: {self.message}") from None


def client_for(host: str, environ: Mapping[str, str] | None = None) -> docker.DockerClient:
    """A client of the daemon at ``host`` (unix://, ssh:// through the ssh command, tcp:// over mutual TLS)."""
    import docker

    env = os.environ if environ is None else environ
    if host.startswith("tcp://"):
        return _tls_client(host, _client_certificate(host, env))
    if host.startswith(("unix://", "ssh://")):
        return docker.DockerClient(base_url=host, use_ssh_client=host.startswith("ssh://"), timeout=AGENT_TIMEOUT_S)
    raise AccessError(f"host {host!r}: tenantctl reaches Docker hosts at unix://, ssh:// or tcp:// addresses only")


def _client_certificate(host: str, env: Mapping[str, str]) -> docker.tls.TLSConfig:
    import docker.tls

    directory = Path(env.get(CERT_PATH_ENV) or Path.home() / ".docker")
    missing = [name for name in CERT_FILES if not (directory / name).is_file()]
    if missing:
        raise AccessError(
            f"host {host}: a tcp:// daemon is reached only over mutual TLS, and {directory} lacks "
            f"{', '.join(missing)}; set {CERT_PATH_ENV} to the directory of the daemon's CA (ca.pem) and this "
            "machine's client certificate (cert.pem, key.pem)"
        )
    ca, cert, key = (str(directory / name) for name in CERT_FILES)
    return docker.tls.TLSConfig(client_cert=(cert, key), ca_cert=ca, verify=True)


def _tls_client(host: str, tls: docker.tls.TLSConfig) -> docker.DockerClient:
    """requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replace a session's CA, and the SDK asks for the
    API version while it builds a client: the version is asked by a session that ignores the environment,
    so the daemon's CA alone decides whom the client trusts."""
    import docker
    from docker.constants import MINIMUM_DOCKER_API_VERSION

    probe = docker.APIClient(base_url=host, tls=tls, version=MINIMUM_DOCKER_API_VERSION)
    probe.trust_env = False
    try:
        version = str(probe.version(api_version=False)["ApiVersion"])
    finally:
        probe.close()
    client = docker.DockerClient(base_url=host, tls=tls, version=version, timeout=AGENT_TIMEOUT_S)
    client.api.trust_env = False
    return client


@dataclass
class TargetDocker:
    """One Docker target's daemon: its data agents and its volumes."""

    name: str  # the target's name in tenants.yaml
    host: str
    client: docker.DockerClient

    def agent(self, kind: AgentKind, *args: str) -> AgentReply:
        """``python3 -m data_agent <kind> <args>`` in the target's agent of that kind."""
        container_name = AGENT_NAMES[kind](self.name)
        role = f"the {AGENT_ROLES[kind]} {container_name} on target {self.name} ({self.host})"
        command = (*DATA_AGENT_COMMAND, kind, *args)
        try:
            container = self.client.containers.get(container_name)
            if container.status != "running":
                raise AccessError(f"{role} is {container.status}: deploy the target's shard to start it")
            result = container.exec_run(list(command), demux=True)
        except _not_found():
            raise AccessError(f"{role} does not exist: deploy the target's shard to create it") from None
        except unreachable() as exc:
            raise AccessError(f"{role} cannot be reached: {_one_line(exc)}") from None
        output: Any = result.output  # with demux: (stdout, stderr), each bytes or None
        stdout, stderr = output if isinstance(output, tuple) else (output, None)
        return AgentReply(command, int(result.exit_code or 0), _text(stdout), _text(stderr))

    def backups(self, *args: str) -> AgentReply:
        return self.agent("backups", *args)

    def disks(self, *args: str) -> AgentReply:
        return self.agent("disks", *args)

    def remove_volume(self, name: str) -> bool:
        """Delete volume ``name``; False when there is none."""
        try:
            self.client.volumes.get(name).remove()
        except _not_found():
            return False
        except unreachable() as exc:
            raise AccessError(
                f"volume {name} on target {self.name} ({self.host}) cannot be removed: {_one_line(exc)}"
            ) from None
        return True


@contextmanager
def open_target(name: str, host: str) -> Iterator[TargetDocker]:
    """The target's daemon for the length of the block; an unreachable daemon is an ``AccessError``."""
    try:
        client = client_for(host)
    except unreachable() as exc:
        raise AccessError(f"target {name}: the Docker daemon at {host} cannot be reached: {_one_line(exc)}") from None
    try:
        yield TargetDocker(name, host, client)
    finally:
        client.close()


def _text(data: object) -> str:
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else ""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
