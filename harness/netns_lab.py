"""A Docker host of the tests' own, and the outside world it sees, in network namespaces.

The host is a network namespace running a second dockerd (its own data root, exec root and socket);
the world is another namespace joined to it by a veth pair, holding a fake metadata server, a fake
public server and a fake private service. The host routes everything to the world and nothing else,
so whatever a tenant reaches from inside its gateway is one of these, and no probe leaves the machine.
The daemon can be restarted without touching the machine's own Docker engine.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker

from .paths import ROOT
from .waiting import wait_until

HOST_NS = "octlab-host"
WORLD_NS = "octlab-world"
HOST_IF, WORLD_IF = "labhost0", "labworld0"
HOST_ADDRESS, WORLD_ADDRESS = "10.98.0.1", "10.98.0.2"
METADATA, PUBLIC, PRIVATE = "169.254.169.254", "203.0.113.10", "10.99.0.10"
HOST_LISTENER_PORT = 9100
ADDRESS_POOL = "10.97.0.0/16"
RUN_DIR = Path("/run/openclaw-lab")
DATA_ROOT = Path("/var/lib/openclaw-lab/docker")  # kept between runs: the loaded images stay
SOCKET = RUN_DIR / "docker.sock"
DOCKER_HOST = f"unix://{SOCKET}"
DAEMON_WAIT_S = 120.0
STOP_WAIT_S = 60.0
SERVER_WAIT_S = 30.0

# name → (address, port) of each server of the world; a probe's answer is the name it reached.
WORLD_SERVERS = {
    "metadata": (METADATA, 80),
    "public-443": (PUBLIC, 443),
    "public-25": (PUBLIC, 25),
    "private": (PRIVATE, 80),
}


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=check)


def enter(ns: str) -> list[str]:
    """The prefix that runs a command in namespace ``ns``'s network only: ``ip netns exec`` would also
    remount /sys, hiding the cgroup mounts dockerd needs."""
    return ["nsenter", f"--net=/run/netns/{ns}", "--"]


def _in(ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(*enter(ns), *argv, check=check)


def _stop(process: subprocess.Popen[bytes] | None, wait_s: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class NetnsLab:
    """``start`` builds it, ``stop`` removes everything but the daemon's data root."""

    log_dir: Path
    daemon: subprocess.Popen[bytes] | None = None
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> None:
        _kill_stale_daemon()
        self._remove_namespaces()
        _run("ip", "netns", "add", HOST_NS)
        _run("ip", "netns", "add", WORLD_NS)
        _run("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", WORLD_IF)
        _run("ip", "link", "set", HOST_IF, "netns", HOST_NS)
        _run("ip", "link", "set", WORLD_IF, "netns", WORLD_NS)
        for ns, interface, address in ((HOST_NS, HOST_IF, HOST_ADDRESS), (WORLD_NS, WORLD_IF, WORLD_ADDRESS)):
            _in(ns, "ip", "link", "set", "lo", "up")
            _in(ns, "ip", "address", "add", f"{address}/30", "dev", interface)
            _in(ns, "ip", "link", "set", interface, "up")
        for address in (METADATA, PUBLIC, PRIVATE):
            _in(WORLD_NS, "ip", "address", "add", f"{address}/32", "dev", "lo")
        _in(HOST_NS, "ip", "route", "add", "default", "via", WORLD_ADDRESS)
        _in(HOST_NS, "ip", "route", "add", f"{METADATA}/32", "via", WORLD_ADDRESS)
        world = [f"{name}={address}:{port}" for name, (address, port) in WORLD_SERVERS.items()]
        self.servers.append(self._serve(WORLD_NS, world))
        # A host service listening on every address, as sshd or an exporter does.
        self.servers.append(self._serve(HOST_NS, [f"host-listener=0.0.0.0:{HOST_LISTENER_PORT}"]))
        self.start_docker()

    def _serve(self, ns: str, specs: list[str]) -> subprocess.Popen[bytes]:
        argv = [*enter(ns), sys.executable, "-m", "harness.fake_hosts", *specs]
        server = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], SERVER_WAIT_S)
        if not ready or server.stdout.readline().strip() != b"ready":
            _stop(server, 5)
            raise RuntimeError(f"fake servers {specs} did not start in {ns}")
        return server

    def start_docker(self) -> None:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        DATA_ROOT.mkdir(parents=True, exist_ok=True)
        config = RUN_DIR / "daemon.json"
        config.write_text(json.dumps({"default-address-pools": [{"base": ADDRESS_POOL, "size": 28}], "bridge": "none"}))
        argv = [
            *enter(HOST_NS),
            *("dockerd", "--config-file", str(config)),
            *("--data-root", str(DATA_ROOT), "--exec-root", str(RUN_DIR / "exec")),
            *("--pidfile", str(RUN_DIR / "docker.pid"), "-H", DOCKER_HOST),
        ]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / "dockerd.log").open("ab") as log:
            self.daemon = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        wait_until(self._answers, DAEMON_WAIT_S)

    def _answers(self) -> bool:
        if self.daemon is not None and self.daemon.poll() is not None:
            raise RuntimeError(f"the lab's dockerd exited; see {self.log_dir / 'dockerd.log'}")
        try:
            client = docker.DockerClient(base_url=DOCKER_HOST, timeout=5)  # asks the daemon its API version
        except (docker.errors.DockerException, OSError):
            return False
        try:
            return bool(client.ping())
        except (docker.errors.DockerException, OSError):
            return False
        finally:
            client.close()

    def stop_docker(self) -> None:
        _stop(self.daemon, STOP_WAIT_S)
        self.daemon = None

    def restart_docker(self) -> None:
        """Stop and start the host's daemon: its containers stop and start again by their restart policy."""
        self.stop_docker()
        self.start_docker()

    @contextmanager
    def client(self) -> Iterator[docker.DockerClient]:
        client = docker.DockerClient(base_url=DOCKER_HOST, timeout=120)
        try:
            yield client
        finally:
            client.close()

    def load_images(self, tags: list[str]) -> None:
        """Copy the machine's local images into the lab's daemon (only those it lacks or has older)."""
        main = docker.from_env()
        try:
            with self.client() as lab:
                missing = [t for t in tags if _image_id(lab, t) != main.images.get(t).id]
        finally:
            main.close()
        if not missing:
            return
        env = {**os.environ, "DOCKER_HOST": DOCKER_HOST}
        save = subprocess.Popen(["docker", "save", *missing], stdout=subprocess.PIPE, env=os.environ)
        loaded = subprocess.run(
            ["docker", "load", "-q"], check=False, stdin=save.stdout, capture_output=True, env=env, timeout=900
        )
        save.wait(timeout=60)
        if save.returncode != 0 or loaded.returncode != 0:
            raise RuntimeError(f"loading {missing} into the lab failed: {loaded.stderr.decode()[-500:]}")

    def nft_tables(self) -> str:
        return _in(HOST_NS, "nft", "list", "tables").stdout

    def stop(self) -> None:
        try:
            self.stop_docker()
        finally:
            for server in self.servers:
                _stop(server, 10)
            self.servers.clear()
            self._remove_namespaces()

    def _remove_namespaces(self) -> None:
        for ns in (HOST_NS, WORLD_NS):
            _run("ip", "netns", "delete", ns, check=False)


def _image_id(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        return None


def _kill_stale_daemon() -> None:
    """A daemon a crashed run left behind holds the data root: stop it first."""
    pidfile = RUN_DIR / "docker.pid"
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), STOP_WAIT_S)
