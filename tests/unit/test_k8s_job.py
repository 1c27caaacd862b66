"""The Kubernetes backup job (`python3 -m data_agent k8s-job`) for real: the real restic on a repository in
tmp_path, and a fake API server on 127.0.0.1 over TLS, its certificate signed by a throwaway CA made by openssl
and handed to the job as its service account's ca.crt, with the account's token checked on every request.

The fake keeps one Deployment and answers the three calls the job's Role allows (get and merge-patch the
Deployment, list pods); its gateway pod lingers for a few lists after the scale-down, as a stopping pod does.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from data_agent.k8s_job import REPLICAS_ANNOTATION

ROOT = Path(__file__).resolve().parents[2]
TENANT = "acme"
NAMESPACE = f"tenant-{TENANT}"
DEPLOYMENT = "openclaw"
SELECTOR = f"app.kubernetes.io/name=openclaw,openclaw.io/tenant={TENANT}"
TOKEN = "fake-service-account-token"
PASSWORD = "test-repository-password"
JOB_TIMEOUT_S = 180
WAIT_S = 60.0
HANDSHAKE_S = 10.0  # a client that connected and then went quiet holds up no other request


def ensure_restic() -> str:
    """restic on PATH, installed from Debian if missing; a skip says why it cannot be."""
    found = shutil.which("restic")
    if found:
        return found
    apt = ["apt-get", "install", "-y", "--no-install-recommends", "restic"]
    command = apt if os.geteuid() == 0 else ["sudo", "-n", *apt]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"restic is not installed and cannot be ({' '.join(command)}: {exc})")
    found = shutil.which("restic")
    if not found:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        pytest.skip(f"restic is not installed and `{' '.join(command)}` failed: {lines[-1]}")
    return found


@pytest.fixture(scope="module")
def restic_bin() -> str:
    return ensure_restic()


# --- a throwaway CA and the fake API server's certificate ------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


def make_pki(directory: Path, name: str = "ca") -> Pki:
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, capture_output=True, timeout=60, check=True)

    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", f"/CN=k8s-job test {name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", "/CN=kubernetes", "-keyout", "server.key", "-out", "server.csr",
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", f"{name}.pem", "-CAkey", f"{name}.key", "-CAcreateserial",
        "-days", "2", "-extfile", "server.ext", "-out", "server.pem",
    )  # fmt: skip
    return Pki(directory / f"{name}.pem", directory / "server.pem", directory / "server.key")


# --- the fake API server --------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies application/merge-patch+json."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass
class FakeCluster:
    replicas: int = 1
    annotations: dict[str, str] = field(default_factory=dict)
    linger: int = 2  # lists that still show the gateway pod after a scale-down
    never_gone: bool = False
    on_pods_list: Callable[[FakeCluster], None] | None = None
    on_patch: Callable[[FakeCluster], None] | None = None  # before the answer goes back
    generation: int = 1
    calls: list[tuple[str, str]] = field(default_factory=list)
    patches: list[dict[str, Any]] = field(default_factory=list)
    replica_history: list[int] = field(default_factory=list)
    pod_answers: list[int] = field(default_factory=list)  # how many live pods each list showed
    refused: list[str] = field(default_factory=list)  # requests without the account's token
    _left: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.replica_history.append(self.replicas)

    def deployment(self) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": DEPLOYMENT,
                "namespace": NAMESPACE,
                "generation": self.generation,
                "annotations": dict(self.annotations),
            },
            "spec": {"replicas": self.replicas},
        }

    def patch(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.on_patch is not None:
            self.on_patch(self)
        self.patches.append(copy.deepcopy(body))
        merged = merge_patch(self.deployment(), body)
        self.annotations = merged["metadata"].get("annotations") or {}
        replicas = int(merged["spec"]["replicas"])
        if replicas != self.replicas:
            self.set_replicas(replicas)
        return self.deployment()

    def set_replicas(self, replicas: int) -> None:
        """A spec change, by the job or by anyone else: the generation moves on."""
        if self.replicas > 0 and replicas == 0:
            self._left = self.linger
        self.replicas = replicas
        self.generation += 1
        self.replica_history.append(replicas)

    def pods(self) -> dict[str, Any]:
        if self.on_pods_list is not None:
            self.on_pods_list(self)
        live = self.replicas > 0 or self.never_gone or self._left > 0
        if self.replicas == 0 and self._left > 0:
            self._left -= 1
        items = [{"metadata": {"name": "openclaw-5d8f-old"}, "status": {"phase": "Succeeded"}}]
        if live:
            items.append({"metadata": {"name": "openclaw-5d8f-x1"}, "status": {"phase": "Running"}})
        self.pod_answers.append(int(live))
        return {"kind": "PodList", "items": items}


def handler_for(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    deployment_path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{DEPLOYMENT}"
    pods_path = f"/api/v1/namespaces/{NAMESPACE}/pods"

    class Handler(BaseHTTPRequestHandler):
        def setup(self) -> None:
            # The TLS handshake in this connection's own thread, bounded: done on accept, one client that
            # connected and went quiet (a job interrupted mid-handshake) would hold up every later request.
            self.request.settimeout(HANDSHAKE_S)
            self.request.do_handshake()
            super().setup()

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                return True
            cluster.refused.append(f"{self.command} {self.path}")
            self._answer(401, {"kind": "Status", "message": "Unauthorized"})
            return False

        def do_GET(self) -> None:
            if not self._authorized():
                return
            url = urllib.parse.urlsplit(self.path)
            with cluster.lock:
                cluster.calls.append(("GET", url.path))
                if url.path == deployment_path:
                    self._answer(200, cluster.deployment())
                elif url.path == pods_path and urllib.parse.parse_qs(url.query).get("labelSelector") == [SELECTOR]:
                    self._answer(200, cluster.pods())
                else:
                    self._answer(404, {"kind": "Status", "message": f"no {url.path}"})

        def do_PATCH(self) -> None:
            if not self._authorized():
                return
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            with cluster.lock:
                cluster.calls.append(("PATCH", self.path))
                if self.path != deployment_path:
                    self._answer(403, {"kind": "Status", "message": "forbidden"})
                elif self.headers.get("Content-Type") != "application/merge-patch+json":
                    self._answer(415, {"kind": "Status", "message": "unsupported patch type"})
                else:
                    self._answer(200, cluster.patch(body))

    return Handler


@dataclass
class Rig:
    cluster: FakeCluster
    port: int
    account: Path  # the service account directory: token, ca.crt, namespace
    repository: Path
    claim: Path
    restic: str

    def env(self, password: str = PASSWORD) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.claim.parent),
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.port),
            "RESTIC_REPOSITORY": str(self.repository),
            "RESTIC_PASSWORD": password,
        }

    def args(self, *extra: str, path: Path | None = None, keep_last: int = 3) -> list[str]:
        return [
            sys.executable, "-m", "data_agent", "k8s-job",
            "--tenant", TENANT, "--deployment", DEPLOYMENT, "--selector", SELECTOR,
            "--path", str(path or self.claim), "--stop-wait-s", "30", "--max-stop-s", "120",
            "--keep-last", str(keep_last), "--keep-daily", "7",
            "--service-account-dir", str(self.account), *extra,
        ]  # fmt: skip

    def job(self, *extra: str, password: str = PASSWORD, path: Path | None = None, keep_last: int = 3) -> JobRun:
        done = subprocess.run(
            self.args(*extra, path=path, keep_last=keep_last),
            cwd=ROOT,
            env=self.env(password),
            capture_output=True,
            text=True,
            timeout=JOB_TIMEOUT_S,
            check=False,
        )
        return JobRun(done.returncode, done.stdout, done.stderr)

    def snapshots(self) -> list[dict[str, Any]]:
        done = subprocess.run(
            [self.restic, "--no-cache", "snapshots", "--json", "--tag", f"tenant={TENANT}"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        found: list[dict[str, Any]] = json.loads(done.stdout) or []
        return found

    def init_repository(self, password: str) -> None:
        subprocess.run(
            [self.restic, "--no-cache", "init"], env=self.env(password), capture_output=True, timeout=120, check=True
        )


@dataclass(frozen=True)
class JobRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def outcome(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.stdout)
        return document


@contextmanager
def serve(cluster: FakeCluster, pki: Pki) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(cluster))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki.cert), str(pki.key))
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def rig(cluster: FakeCluster, pki: Pki, tmp_path: Path, restic_bin: str) -> Iterator[Rig]:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(TOKEN + "\n")
    (account / "namespace").write_text(NAMESPACE)
    shutil.copy(pki.ca, account / "ca.crt")
    claim = tmp_path / "claim"
    (claim / "agents" / "main").mkdir(parents=True)
    (claim / "openclaw.json").write_text('{"gateway": {"mode": "local"}}\n')
    (claim / "agents" / "main" / "memory.md").write_text("the tenant's memory\n")
    with serve(cluster, pki) as port:
        yield Rig(cluster, port, account, tmp_path / "repository", claim, restic_bin)


def scaled_down_then_back(cluster: FakeCluster, replicas: int = 1) -> bool:
    return cluster.replica_history == [replicas, 0, replicas]


# --- the job ---------------------------------------------------------------------------------------


def test_a_backup_stops_the_gateway_snapshots_the_claim_and_starts_it_again(rig: Rig) -> None:
    run = rig.job()
    assert run.returncode == 0, run.stderr
    outcome = run.outcome
    assert outcome["ok"] is True and outcome["error"] is None
    assert outcome["tenant"] == TENANT and outcome["replicas"] == 1
    assert outcome["bytes_added"] > 0
    (snapshot,) = rig.snapshots()
    assert outcome["snapshot"] in (snapshot["id"], snapshot["short_id"])  # restic 0.14 reports the short id
    assert snapshot["hostname"] == TENANT
    assert sorted(snapshot["tags"]) == ["openclaw-tenants", f"tenant={TENANT}"]
    assert snapshot["paths"] == [str(rig.claim)]
    listed = subprocess.run(
        [rig.restic, "--no-cache", "ls", "--json", outcome["snapshot"]],
        env=rig.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    paths = {json.loads(line).get("path") for line in listed.stdout.splitlines() if line.startswith("{")}
    assert str(rig.claim / "agents" / "main" / "memory.md") in paths
    # Stopped, waited for until its pod was gone (it lingered for two lists), started again.
    cluster = rig.cluster
    assert scaled_down_then_back(cluster)
    assert cluster.pod_answers[-3:] == [1, 1, 0]
    assert cluster.patches[0] == {"metadata": {"annotations": {REPLICAS_ANNOTATION: "1"}}, "spec": {"replicas": 0}}
    assert cluster.patches[-1] == {"metadata": {"annotations": {REPLICAS_ANNOTATION: None}}, "spec": {"replicas": 1}}
    assert cluster.annotations == {}
    assert cluster.refused == []


def test_retention_is_applied_after_each_backup(rig: Rig) -> None:
    for _ in range(3):
        run = rig.job(keep_last=2)
        assert run.returncode == 0, run.stderr
    kept = rig.snapshots()
    assert len(kept) == 2
    assert run.outcome["snapshot"] in {s["short_id"] for s in kept} | {s["id"] for s in kept}
    assert rig.cluster.replicas == 1 and rig.cluster.annotations == {}


def test_a_failing_backup_still_starts_the_gateway_and_exits_non_zero(rig: Rig, tmp_path: Path) -> None:
    rig.init_repository(PASSWORD)
    run = rig.job(path=tmp_path / "not-mounted")  # restic fails after the gateway was stopped
    assert run.returncode == 1
    outcome = run.outcome
    assert outcome["ok"] is False and outcome["snapshot"] is None
    assert outcome["error"]
    assert run.stderr.strip().splitlines()[-1] == f"k8s-job: {TENANT}: {outcome['error']}"
    assert scaled_down_then_back(rig.cluster)
    assert rig.cluster.annotations == {}
    assert rig.snapshots() == []


def test_a_wrong_password_never_stops_the_gateway(rig: Rig) -> None:
    rig.init_repository("the repository's real password")
    run = rig.job(password=PASSWORD)
    assert run.returncode == 1
    assert "wrong password" in run.outcome["error"]
    assert rig.cluster.patches == [] and rig.cluster.replica_history == [1]


def test_the_job_trusts_only_its_service_accounts_ca(rig: Rig, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other-pki", name="other")
    shutil.copy(other.ca, rig.account / "ca.crt")
    run = rig.job()
    assert run.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in run.outcome["error"]
    assert rig.cluster.calls == [] and rig.cluster.replica_history == [1]


def test_a_terminated_job_starts_the_gateway_again(rig: Rig) -> None:
    rig.cluster.never_gone = True  # the job waits for the pod to go when SIGTERM comes
    rig.init_repository(PASSWORD)
    with subprocess.Popen(
        rig.args(), cwd=ROOT, env=rig.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as job:
        try:
            deadline = time.monotonic() + WAIT_S
            while rig.cluster.replicas != 0 and job.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if rig.cluster.replicas != 0:
                job.kill()
                out, err = job.communicate(timeout=JOB_TIMEOUT_S)
                pytest.fail(
                    f"the job never scaled the gateway down (exit {job.returncode}): {out[-800:]} {err[-1500:]}"
                )
            job.send_signal(signal.SIGTERM)
            stdout, _ = job.communicate(timeout=JOB_TIMEOUT_S)
        finally:
            if job.poll() is None:
                job.kill()
    assert job.returncode == 1
    assert "terminated" in json.loads(stdout)["error"]
    assert scaled_down_then_back(rig.cluster)
    assert rig.cluster.annotations == {}


def test_a_sigterm_during_the_scale_down_starts_the_gateway_again(rig: Rig) -> None:
    rig.init_repository(PASSWORD)
    started = threading.Event()
    pids: list[int] = []

    def terminate_once(cluster: FakeCluster) -> None:
        # The scale-down has reached the API server; the job is still waiting for the answer.
        if not cluster.patches and started.wait(WAIT_S):
            os.kill(pids[0], signal.SIGTERM)

    rig.cluster.on_patch = terminate_once
    with subprocess.Popen(
        rig.args(), cwd=ROOT, env=rig.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as job:
        pids.append(job.pid)
        started.set()
        try:
            stdout, stderr = job.communicate(timeout=JOB_TIMEOUT_S)
        finally:
            if job.poll() is None:
                job.kill()
    assert job.returncode == 1, stderr
    assert "terminated" in json.loads(stdout)["error"]
    assert scaled_down_then_back(rig.cluster)
    assert rig.cluster.annotations == {}


def test_replicas_remembered_by_a_killed_job_are_restored(rig: Rig) -> None:
    rig.cluster.replicas, rig.cluster.replica_history = 0, [0]
    rig.cluster.annotations = {REPLICAS_ANNOTATION: "2"}  # an earlier job died with the gateway stopped
    run = rig.job()
    assert run.returncode == 0, run.stderr
    assert run.outcome["replicas"] == 2
    assert rig.cluster.replicas == 2 and rig.cluster.annotations == {}


def test_a_suspended_gateway_is_left_alone(rig: Rig) -> None:
    rig.cluster.replicas, rig.cluster.replica_history = 0, [0]
    run = rig.job()
    assert run.returncode == 0, run.stderr
    assert run.outcome["replicas"] == 0
    assert rig.cluster.patches == [] and rig.cluster.replica_history == [0]
    assert len(rig.snapshots()) == 1


def test_a_deployment_changed_during_the_backup_keeps_that_change(rig: Rig) -> None:
    def suspend_meanwhile(cluster: FakeCluster) -> None:
        if cluster.replicas == 0 and cluster.generation == 2:
            cluster.set_replicas(0)  # e.g. `pulumi up` suspending the tenant: a new generation, still 0

    rig.cluster.on_pods_list = suspend_meanwhile
    run = rig.job()
    assert run.returncode == 0, run.stderr
    assert "changed during the backup" in run.stderr
    assert rig.cluster.replicas == 0 and rig.cluster.annotations == {}
