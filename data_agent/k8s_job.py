"""`python3 -m data_agent k8s-job`: one scheduled backup of a Kubernetes tenant, run by the CronJob of its
namespace (tenants/k8s_backup_specs.py) as the tenant's uid, with the tenant's claim mounted read-only.

The gateway is stopped for a consistent snapshot: its Deployment is scaled to 0, the job waits (bounded) until
no gateway pod is left, restic backs the claim up, and the Deployment is scaled back in a `finally` (SIGTERM,
which the Job's deadline sends, included); only then does `forget --prune` apply the plan's retention, so pruning
never keeps a gateway down. The replica count is remembered on the Deployment itself (an annotation written in the
same patch as the scale-down): a job killed outright leaves it there, and the next job brings the gateway back to
it. A Deployment changed by someone else meanwhile (its generation moved on) is left as they made it.

The API server is reached as the pod's service account, over HTTPS with the mounted CA: its token (reread for
every request: the kubelet rotates a projected token), CA and namespace come from the service-account directory,
the address from KUBERNETES_SERVICE_HOST/PORT. One JSON document on stdout; on failure also a one-line reason on
stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from .restic import Repository, RepositoryConfigError, Restic, ResticError
from .schedule import Retention

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
REPLICAS_ANNOTATION = "openclaw.io/backup-replicas"  # the gateway's replicas while a backup has it stopped
API_TIMEOUT_S = 30.0
POLL_S = 1.0  # between looks at the gateway's pods
SCALE_BACK_ATTEMPTS = 10  # the gateway must come back: transient API errors are retried
SCALE_BACK_RETRY_S = 3.0
RESTIC_GRACE_S = 20.0  # a terminated restic removes its repository lock before it exits; then it is killed
GONE_PHASES = ("Succeeded", "Failed")


class JobError(RuntimeError):
    """The backup failed; the message is its one-line reason."""


class ApiError(JobError):
    """The API server refused a request or could not be reached."""


class Terminated(JobError):  # noqa: N818 (the event's name: SIGTERM arrived)
    """SIGTERM: the Job's deadline passed, or the pod is being deleted."""


class Sigterm:
    """SIGTERM as Terminated, raised once; inside `shielded()` (scaling the gateway) only when the block ends, so
    a Deployment is never left half-way between a scale-down and the record of it, or short of its scale-back."""

    def __init__(self) -> None:
        self.fired = self.pending = False
        self.depth = 0

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        if self.fired:
            return
        if self.depth:
            self.pending = True
            return
        self._fire()

    def _fire(self) -> None:
        self.fired = True
        raise Terminated("terminated (the job's deadline passed, or its pod was deleted)")

    @contextmanager
    def shielded(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if self.pending and not self.depth and not self.fired:
            self._fire()


@dataclass(frozen=True)
class Api:
    """The few calls this job makes, in its own namespace only."""

    base_url: str
    namespace: str
    token_file: Path
    context: ssl.SSLContext

    @classmethod
    def in_cluster(cls, account_dir: Path, environ: Mapping[str, str]) -> Api:
        host, port = environ.get("KUBERNETES_SERVICE_HOST", ""), environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise ApiError("KUBERNETES_SERVICE_HOST is not set: not running in a pod")
        try:
            context = ssl.create_default_context(cafile=str(account_dir / "ca.crt"))
            namespace = (account_dir / "namespace").read_text().strip()
        except (OSError, ssl.SSLError) as exc:
            raise ApiError(f"cannot read the service account in {account_dir}: {exc}") from None
        address = f"[{host}]" if ":" in host else host
        return cls(f"https://{address}:{port}", namespace, account_dir / "token", context)

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise ApiError(f"cannot read the service account token: {exc.strerror or exc}") from None
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/merge-patch+json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=API_TIMEOUT_S) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{method} {path}: HTTP {exc.code} {_status_message(exc)}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ApiError(f"{method} {path}: {getattr(exc, 'reason', None) or exc}") from None

    def deployment_path(self, name: str) -> str:
        return f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}"

    def deployment(self, name: str) -> dict[str, Any]:
        return self.call("GET", self.deployment_path(name))

    def patch_deployment(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("PATCH", self.deployment_path(name), patch)

    def live_pods(self, selector: str) -> list[str]:
        query = urllib.parse.urlencode({"labelSelector": selector})
        pods = self.call("GET", f"/api/v1/namespaces/{self.namespace}/pods?{query}").get("items") or []
        return [
            str(p.get("metadata", {}).get("name")) for p in pods if p.get("status", {}).get("phase") not in GONE_PHASES
        ]


def _status_message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("message") or exc.reason)
    except (ValueError, OSError, AttributeError):
        return str(exc.reason)


def graceful_runner(deadline: Callable[[], float | None]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """subprocess.run for restic that never outlives ``deadline()`` (a monotonic time, or None) and, when this
    process is terminated, lets restic remove its repository lock before it goes."""

    def run(
        command: list[str], *, env: Mapping[str, str], timeout: float | None, **_: Any
    ) -> subprocess.CompletedProcess[str]:
        until = deadline()
        if until is not None:
            left = until - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(command, 0)
            timeout = left if timeout is None else min(timeout, left)
        child = subprocess.Popen(
            command, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except BaseException:
            child.terminate()
            try:
                child.communicate(timeout=RESTIC_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
            raise
        return subprocess.CompletedProcess(command, child.returncode, stdout, stderr)

    return run


@dataclass
class Stop:
    """What this job did to the gateway's Deployment, to undo it."""

    replicas: int
    generation: int | None  # the Deployment's generation right after the scale-down
    stopped_at: float


class Gateway:
    """The tenant's gateway Deployment and its pods."""

    def __init__(self, api: Api, name: str, selector: str) -> None:
        self.api, self.name, self.selector = api, name, selector

    def stop(self) -> Stop:
        """Scale to 0, remembering the replicas on the Deployment (a remembered count of an earlier job that
        was killed wins: the current 0 is that job's doing)."""
        deployment = self.api.deployment(self.name)
        remembered = deployment.get("metadata", {}).get("annotations", {}).get(REPLICAS_ANNOTATION)
        replicas = int(remembered) if str(remembered).isdigit() else int(deployment.get("spec", {}).get("replicas", 1))
        now = time.monotonic()
        if replicas == 0 and remembered is None:
            return Stop(0, None, now)  # a suspended tenant: nothing runs, nothing to undo
        patch = {"metadata": {"annotations": {REPLICAS_ANNOTATION: str(replicas)}}, "spec": {"replicas": 0}}
        patched = self.api.patch_deployment(self.name, patch)
        return Stop(replicas, patched.get("metadata", {}).get("generation"), now)

    def wait_gone(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while True:
            left = self.api.live_pods(self.selector)
            if not left:
                return
            if time.monotonic() >= deadline:
                raise JobError(
                    f"gateway pod(s) {', '.join(sorted(left))} still there {wait_s:.0f}s after the scale-down"
                )
            time.sleep(POLL_S)

    def start(self, stop: Stop) -> bool:
        """Undo ``stop``; False when someone else changed the Deployment meanwhile (their change stands)."""
        if stop.generation is None and stop.replicas == 0:
            return True
        for attempt in range(SCALE_BACK_ATTEMPTS):
            try:
                current = self.api.deployment(self.name)
                generation = current.get("metadata", {}).get("generation")
                ours = stop.generation is None or generation == stop.generation
                patch: dict[str, Any] = {"metadata": {"annotations": {REPLICAS_ANNOTATION: None}}}
                if ours:
                    patch["spec"] = {"replicas": stop.replicas}
                self.api.patch_deployment(self.name, patch)
                return ours
            except ApiError:
                if attempt == SCALE_BACK_ATTEMPTS - 1:
                    raise
                time.sleep(SCALE_BACK_RETRY_S)
        raise AssertionError("unreachable")


@dataclass
class Outcome:
    tenant: str
    ok: bool = False
    snapshot: str | None = None
    seconds: float = 0.0
    unavailable_s: float = 0.0
    bytes_added: int = 0
    error: str | None = None
    replicas: int | None = None  # the gateway's replicas, restored after the snapshot

    def document(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "ok": self.ok,
            "snapshot": self.snapshot,
            "seconds": round(self.seconds, 3),
            "unavailable_s": round(self.unavailable_s, 3),
            "bytes_added": self.bytes_added,
            "error": self.error,
            "replicas": self.replicas,
        }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m data_agent k8s-job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--deployment", required=True, help="the gateway's Deployment")
    parser.add_argument("--selector", required=True, help="the label selector of the gateway's pods")
    parser.add_argument("--path", required=True, help="where the tenant's claim is mounted")
    parser.add_argument("--stop-wait-s", type=float, required=True, help="how long the gateway's pods may take to go")
    parser.add_argument("--max-stop-s", type=float, required=True, help="the most the gateway stays stopped")
    for kind in ("last", "daily", "weekly", "monthly"):
        parser.add_argument(f"--keep-{kind}", type=int, default=0)
    parser.add_argument("--service-account-dir", type=Path, default=Path(SERVICE_ACCOUNT_DIR))
    return parser.parse_args(argv)


def _start_again(gateway: Gateway, stop: Stop, tenant: str, outcome: Outcome, sigterm: Sigterm) -> None:
    try:
        with sigterm.shielded():
            ours = gateway.start(stop)
        if not ours:
            print(f"k8s-job: {tenant}: the Deployment changed during the backup; left as it is", file=sys.stderr)
    finally:
        outcome.unavailable_s = time.monotonic() - stop.stopped_at


def run(args: argparse.Namespace, environ: Mapping[str, str], outcome: Outcome, sigterm: Sigterm) -> None:
    stop_deadline: list[float] = []  # set once the gateway is stopped: restic must finish by then
    restic = Restic(
        Repository.from_env(environ), runner=graceful_runner(lambda: stop_deadline[0] if stop_deadline else None)
    )
    api = Api.in_cluster(args.service_account_dir, environ)
    gateway = Gateway(api, args.deployment, args.selector)
    # Checked before the gateway stops: a wrong password or an unreachable repository costs no downtime.
    restic.ensure_repository()
    stop: Stop | None = None
    try:
        # A SIGTERM during the scale-down fires as the shield ends, once `stop` is known: inside this `try`,
        # so the gateway is started again.
        with sigterm.shielded():
            stop = gateway.stop()
        outcome.replicas = stop.replicas
        stop_deadline.append(stop.stopped_at + args.max_stop_s)
        gateway.wait_gone(min(args.stop_wait_s, args.max_stop_s))
        outcome.snapshot, outcome.bytes_added = restic.backup(args.path, args.tenant, args.max_stop_s)
    finally:
        stop_deadline.clear()
        if stop is not None:
            _start_again(gateway, stop, args.tenant, outcome, sigterm)
    keep = Retention(args.keep_last, args.keep_daily, args.keep_weekly, args.keep_monthly)
    restic.apply_retention(args.tenant, keep)
    outcome.ok = True


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    outcome = Outcome(args.tenant)
    sigterm = Sigterm()
    sigterm.install()
    try:
        run(args, os.environ, outcome, sigterm)
    except (JobError, ResticError, RepositoryConfigError) as exc:
        outcome.error = str(exc)
    sigterm.fired = True  # from here on a SIGTERM changes nothing: the outcome is printed
    outcome.seconds = time.monotonic() - started
    print(json.dumps(outcome.document(), sort_keys=True))
    if not outcome.ok:
        print(f"k8s-job: {args.tenant}: {outcome.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
