"""A remote Docker host over tcp:// with mutual TLS, for real: a second dockerd of this test's own.

The daemon listens on 127.0.0.1 only, with --tlsverify, its own data root, exec root, pid file and
socket, and no networking of its own (no iptables, no bridge), so the main daemon is never touched.
Certificates come from openssl in a temporary directory. Against it: the client factory of the
program's dynamic resources, clients that must be refused, and the real Pulumi engine with the
docker provider and the dynamic resources configured with the same material.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import stat
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
import pulumi
import pulumi_docker
import pytest
import requests
from pulumi import automation as auto

from components.docker_host import DockerHost, DockerHostArgs
from components.docker_ops import (
    TLS_KEYS,
    ContainerFile,
    ContainerFileProvider,
    DaemonTls,
    PidsLimit,
    PidsLimitProvider,
    docker_client,
)
from components.docker_resources import running
from harness.deployment import ENGINE_BIN, engine_env
from harness.paths import ROOT
from harness.waiting import wait_until

from .conftest import require_engine

DAEMON_READY_S = 90.0
DAEMON_STOP_S = 30.0
OPENSSL_S = 30.0
PROBE_IMAGE = "openclaw-tls-probe:1"
PROJECT = "openclaw-tls-probe"


@dataclass(frozen=True)
class Pki:
    """A CA, the daemon's certificate (for 127.0.0.1), a client certificate it signed, and one it did not."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    def material(self, name: str) -> dict[str, str]:
        """The CA and client certificate ``name``, keyed like a dynamic resource's props."""
        names = ("ca.pem", f"{name}.pem", f"{name}-key.pem")
        return {k: self.path(n).read_text() for k, n in zip(TLS_KEYS, names, strict=True)}

    def client(self) -> dict[str, str]:
        return self.material("client")

    def renewed(self) -> dict[str, str]:
        """A second client certificate of the same CA: what a rotation installs."""
        return self.material("renewed")

    def stranger(self) -> dict[str, str]:
        """The right CA, but a client certificate of a CA the daemon does not trust."""
        return self.material("stranger")


def openssl(directory: Path, *args: str) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=directory, capture_output=True, text=True, timeout=OPENSSL_S, check=False
    )
    assert result.returncode == 0, result.stderr


EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def self_signed_ca(directory: Path, name: str) -> None:
    openssl(
        directory,
        "req",
        "-x509",
        *EC_KEY,
        "-keyout",
        f"{name}-key.pem",
        "-out",
        f"{name}.pem",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )


def signed(directory: Path, name: str, ca: str, extensions: str) -> None:
    openssl(directory, "req", *EC_KEY, "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    (directory / f"{name}.ext").write_text(extensions)
    openssl(
        directory,
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        f"{ca}.pem",
        "-CAkey",
        f"{ca}-key.pem",
        "-set_serial",
        f"0x{uuid.uuid4().hex}",
        "-days",
        "2",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.pem",
    )


def make_pki(directory: Path) -> Pki:
    directory.mkdir(mode=0o700)
    self_signed_ca(directory, "ca")
    signed(directory, "server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    signed(directory, "client", "ca", "extendedKeyUsage=clientAuth\n")
    signed(directory, "renewed", "ca", "extendedKeyUsage=clientAuth\n")
    self_signed_ca(directory, "rogue")
    signed(directory, "stranger", "rogue", "extendedKeyUsage=clientAuth\n")
    return Pki(directory)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RemoteDaemon:
    host: str  # tcp://127.0.0.1:<port>
    port: int
    pki: Pki
    data_root: Path

    def client(self) -> Any:
        return docker_client(self.host, self.pki.client())


def answers(daemon: RemoteDaemon, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the second dockerd exited ({process.returncode}):\n{log.read_text()[-3000:]}")
    try:
        with daemon.client() as client:
            return bool(client.ping())
    except (docker.errors.DockerException, requests.RequestException):
        return False


def stop(process: subprocess.Popen[bytes], exec_root: Path) -> None:
    """SIGTERM (dockerd stops its own containerd), SIGKILL after a bounded wait; then any containerd of
    this exec root that outlived it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=DAEMON_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=DAEMON_STOP_S)
    pid_file = exec_root / "containerd" / "containerd.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().strip() or 0)
        cmdline = Path(f"/proc/{pid}/cmdline")
        if pid and cmdline.exists() and str(exec_root).encode() in cmdline.read_bytes():
            os.kill(pid, 9)


def unmount_under(base: Path) -> None:
    """Whatever the daemon left mounted below ``base`` (nothing, normally), deepest first."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(f"{base}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)


@pytest.fixture(scope="module")
def remote() -> Iterator[RemoteDaemon]:
    if shutil.which("dockerd") is None or shutil.which("openssl") is None:
        pytest.skip("needs dockerd and openssl (scripts/ensure-docker.sh installs Debian's docker.io)")
    if os.geteuid() != 0:
        pytest.skip("a second dockerd needs root")
    # Short: the daemon's and its containerd's unix sockets live below it (108 bytes at most).
    base = Path(tempfile.mkdtemp(prefix="octls-"))
    pki = make_pki(base / "pki")
    port = free_port()
    exec_root, data_root, log = base / "exec", base / "data", base / "dockerd.log"
    (base / "daemon.json").write_text("{}")  # not /etc/docker/daemon.json: none of the main daemon's settings
    command = [
        "dockerd",
        f"--config-file={base / 'daemon.json'}",
        f"--data-root={data_root}",
        f"--exec-root={exec_root}",
        f"--pidfile={base / 'dockerd.pid'}",
        f"--host=unix://{base / 'docker.sock'}",
        f"--host=tcp://127.0.0.1:{port}",
        "--tlsverify",
        f"--tlscacert={pki.path('ca.pem')}",
        f"--tlscert={pki.path('server.pem')}",
        f"--tlskey={pki.path('server-key.pem')}",
        "--iptables=false",
        "--ip-masq=false",
        "--ip-forward=false",
        "--bridge=none",
        "--containerd-namespace=openclaw-tls-test",
        "--containerd-plugins-namespace=openclaw-tls-test-plugins",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    daemon = RemoteDaemon(f"tcp://127.0.0.1:{port}", port, pki, data_root)
    try:
        try:
            wait_until(lambda: answers(daemon, process, log), DAEMON_READY_S)
        except TimeoutError:
            pytest.fail(f"the second dockerd did not answer within {DAEMON_READY_S:.0f}s:\n{log.read_text()[-3000:]}")
        yield daemon
    finally:
        stop(process, exec_root)
        unmount_under(base)
        shutil.rmtree(base, ignore_errors=True)


def probe_image(client: docker.DockerClient) -> str:
    """An image made here from a two-entry root filesystem (nothing is pulled); its id."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        etc = tarfile.TarInfo("etc")
        etc.type, etc.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(etc)
        probe = tarfile.TarInfo("probe")
        probe.mode = 0o755
        tar.addfile(probe, io.BytesIO(b""))
    repository, tag = PROBE_IMAGE.split(":")
    client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=tag)
    return str(client.images.get(PROBE_IMAGE).id)


def read_file(client: docker.DockerClient, container: str, path: str) -> str:
    chunks, _ = client.api.get_archive(container, path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.extractfile(path.rsplit("/", 1)[-1])
        assert member is not None
        return member.read().decode()


# --- (a) the client factory of the dynamic resources ---------------------------------------------


def test_the_client_factory_reaches_the_daemon_over_mutual_tls(
    remote: RemoteDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with remote.client() as client:
        (private,) = list(scratch.iterdir())
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert {stat.S_IMODE(f.stat().st_mode) for f in private.iterdir()} == {0o600}
        assert client.info()["DockerRootDir"] == str(remote.data_root)  # the second daemon, not the main one
        volume = client.volumes.create(name=f"openclaw-tls-{uuid.uuid4().hex[:8]}")
        assert volume.name in {v.name for v in client.volumes.list()}
        volume.remove()
    assert list(scratch.iterdir()) == []  # the material is gone with the client


def test_the_dynamic_providers_act_on_the_daemon_over_tls(remote: RemoteDaemon) -> None:
    name = f"openclaw-tls-probe-{uuid.uuid4().hex[:8]}"
    with remote.client() as client:
        image = probe_image(client)
        created = client.api.create_container(
            image, command=["/probe"], name=name, host_config=client.api.create_host_config(network_mode="none")
        )
    props = {"host": remote.host, "container": name, "container_id": created["Id"], **remote.pki.client()}
    try:
        PidsLimitProvider().create({**props, "limit": 64})
        read = PidsLimitProvider().read(name, {**props, "limit": 0}).outs
        assert read is not None and read["limit"] == 64
        file_props = {**props, "path": "/etc/probe.conf", "content": "over tls\n", "commands": []}
        ContainerFileProvider().create(file_props)
        with remote.client() as client:
            assert read_file(client, name, "/etc/probe.conf") == "over tls\n"
    finally:
        with remote.client() as client:
            client.api.remove_container(name, force=True)


# --- (b) what the daemon refuses -------------------------------------------------------------------

REFUSED = (docker.errors.DockerException, requests.RequestException)


def test_a_client_without_a_certificate_is_refused(remote: RemoteDaemon) -> None:
    tls = docker.tls.TLSConfig(ca_cert=str(remote.pki.path("ca.pem")), verify=True)
    client = docker.DockerClient(base_url=remote.host, tls=tls, version="1.41", timeout=30)
    with pytest.raises(REFUSED):
        client.ping()
    client.close()


def test_a_certificate_of_another_ca_is_refused(remote: RemoteDaemon) -> None:
    with pytest.raises(REFUSED), docker_client(remote.host, remote.pki.stranger()) as client:
        client.ping()


def test_plain_http_is_refused(remote: RemoteDaemon) -> None:
    client = docker.DockerClient(base_url=remote.host, version="1.41", timeout=30)
    with pytest.raises(REFUSED):
        client.ping()
    client.close()


# --- (c) the real engine ---------------------------------------------------------------------------


def tls_program(host: str, run: str, image: str) -> Any:
    """The program's own DockerHost (provider with the material) and dynamic resources on one container."""

    def program() -> None:
        config = pulumi.Config()
        tls = DaemonTls(
            ca=config.require_secret("ca"), cert=config.require_secret("cert"), key=config.require_secret("key")
        )
        docker_host = DockerHost("remote", DockerHostArgs(host=host, images=[], tls=tls))
        on_host = pulumi.ResourceOptions(provider=docker_host.provider)
        volume = pulumi_docker.Volume("probe-volume", name=f"openclaw-tls-{run}", opts=on_host)
        container = pulumi_docker.Container(
            "probe",
            name=f"openclaw-tls-{run}",
            image=image,
            command=["/probe"],
            network_mode="none",
            start=False,
            must_run=False,
            opts=on_host,
        )
        on = running(container, docker_host.daemon)
        PidsLimit("probe-pids-limit", on=on, limit=96, opts=on_host)
        ContainerFile("probe-file", on=on, path="/etc/probe.conf", content="from the engine\n", opts=on_host)
        pulumi.export("volume", volume.name)

    return program


def stored_deployment(state: Path, stack: str) -> dict[str, Any]:
    """The stack's state as the backend keeps it (`stack export` would decrypt the secrets)."""
    (found,) = state.glob(f".pulumi/stacks/{PROJECT}/{stack}.json")
    deployment: dict[str, Any] = json.loads(found.read_text())["checkpoint"]["latest"]
    return deployment


def plain_leaks(deployment: Mapping[str, Any], pem: dict[str, str]) -> list[str]:
    """The material that appears in the state as plain text (a line of each PEM body is looked for)."""
    text = json.dumps(deployment)
    return [k for k, v in pem.items() if v.strip().splitlines()[1] in text]


def set_material(stack: auto.Stack, pem: dict[str, str]) -> None:
    for key, config_key in zip(TLS_KEYS, ("ca", "cert", "key"), strict=True):
        stack.set_config(config_key, auto.ConfigValue(value=pem[key], secret=True))


def test_the_engine_deploys_and_destroys_on_the_tls_host(remote: RemoteDaemon, tmp_path: Path) -> None:
    require_engine()
    run = uuid.uuid4().hex[:8]
    with remote.client() as client:
        image = probe_image(client)
    state = tmp_path / "state"
    state.mkdir()
    env = {**engine_env(state), "PULUMI_RUNTIME_VIRTUALENV": str(ROOT / ".venv")}
    options = auto.LocalWorkspaceOptions(
        work_dir=str(tmp_path),
        env_vars=env,
        pulumi_command=auto.PulumiCommand(root=str(ENGINE_BIN.parent)),
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python"),
    )
    stack = auto.create_stack(f"tls-{run}", PROJECT, tls_program(remote.host, run, image), opts=options)
    pem = remote.pki.client()
    set_material(stack, pem)
    name = f"openclaw-tls-{run}"
    try:
        up = stack.up(color="never")
        assert up.outputs["volume"].value == name
        with remote.client() as client:
            assert client.volumes.get(name).name == name
            assert client.api.inspect_container(name)["HostConfig"]["PidsLimit"] == 96
            assert read_file(client, name, "/etc/probe.conf") == "from the engine\n"
        # A refresh reads the pids limit back through the material kept, encrypted, in the state.
        stack.refresh(color="never")
        deployment = stored_deployment(state, stack.name)
        assert plain_leaks(deployment, pem) == []
        dynamic = [r for r in deployment["resources"] if r["type"].startswith("pulumi-python:dynamic")]
        assert len(dynamic) == 2
        for resource in dynamic:
            for part in ("inputs", "outputs"):
                assert all("ciphertext" in resource[part][k] for k in TLS_KEYS), (resource["urn"], part)
        # A new client certificate is an ordinary update: the provider and everything on it stay.
        with remote.client() as client:
            container_id = client.api.inspect_container(name)["Id"]
        renewed = remote.pki.renewed()
        set_material(stack, renewed)
        rotated = stack.up(color="never")
        changes = rotated.summary.resource_changes or {}
        assert not {"create", "delete", "replace", "create-replacement", "delete-replaced"} & set(changes), changes
        assert changes.get("update", 0) >= 2, changes  # the dynamic resources keep the new material
        with remote.client() as client:
            assert client.api.inspect_container(name)["Id"] == container_id
        assert plain_leaks(stored_deployment(state, stack.name), renewed) == []
        stack.destroy(color="never")
        with remote.client() as client:
            assert not [v for v in client.volumes.list() if v.name == name]
            assert not client.containers.list(all=True, filters={"name": f"^{name}$"})
    finally:
        with remote.client() as client:
            for container in client.containers.list(all=True, filters={"name": f"^{name}$"}):
                container.remove(force=True)
            for volume in client.volumes.list():
                if volume.name == name:
                    volume.remove(force=True)
        stack.workspace.remove_stack(stack.name, force=True)
