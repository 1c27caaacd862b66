"""restic, run as a subprocess on the fleet's one repository (local path, SFTP or S3) from the environment.

For SFTP, restic's own ssh is replaced by one that trusts only the configured host key and uses only the
configured private key (`-o sftp.command=...`): both are written to files of mode 0600 in a private temporary
directory for the one command and removed after it. restic loses what its ssh says when the session never
starts, so ssh writes its messages to a file there too, and a failure says why (a host key that is not the
pinned one, a refused key, a server that does not answer).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tenants.data_names import KNOWN_HOSTS_ENV, SNAPSHOT_TAG, SSH_KEY_ENV, tenant_tag

from .schedule import Retention

RepositoryKind = Literal["local", "sftp", "s3"]
SFTP_URL = re.compile(
    r"^sftp://(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:(?P<port>\d{1,5}))?/(?P<path>/\S+)$"
)
SFTP_SHORT = re.compile(r"^sftp:(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>/\S+)$")
REPOSITORY_ENV = "RESTIC_REPOSITORY"
PASSWORD_ENV = "RESTIC_PASSWORD"
S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

QUICK_S = 300.0  # listing, tagging, init: small reads and writes of the repository
PRUNE_S = 3600.0  # forget --prune rewrites packs
LOCK_ATTEMPTS = 6  # another agent's prune holds the repository's exclusive lock for a while
LOCK_RETRY_S = 10.0
MISSING_REPOSITORY = ("Is there a repository at the following location?", "unable to open config file")
SFTP_NOT_STARTED = ("unable to start the sftp session", "ssh command exited")  # restic: its ssh failed
HOST_KEY_FAILED = "Host key verification failed."
STRICT_SUFFIX = " and you have requested strict checking."


class ResticError(RuntimeError):
    """A restic command failed; the message is its one-line reason."""

    def __init__(self, message: str, stderr: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.stderr = stderr
        self.returncode = returncode


class RepositoryConfigError(ValueError):
    """The environment does not name a repository this agent can use."""


@dataclass(frozen=True)
class SftpEndpoint:
    user: str
    host: str
    port: int
    path: str


def parse_sftp(url: str) -> SftpEndpoint:
    """Both of restic's SFTP forms: `sftp://USER@HOST[:PORT]//PATH` and `sftp:USER@HOST:/PATH`."""
    match = SFTP_URL.match(url) or SFTP_SHORT.match(url)
    if match is None:
        raise RepositoryConfigError(f"{url!r} is not an sftp repository (sftp://USER@HOST[:PORT]//PATH)")
    port = int(match.groupdict().get("port") or 22)
    if not 1 <= port <= 65535:
        raise RepositoryConfigError(f"{url!r}: port {port} is out of range")
    return SftpEndpoint(match["user"], match["host"].strip("[]"), port, match["path"])


def sftp_command(endpoint: SftpEndpoint, key_file: str, known_hosts_file: str, log_file: str) -> str:
    """restic's `sftp.command`: only this key, only this server's known host key, never a prompt, ssh's own
    messages to `log_file`."""
    return (
        f"ssh -i {key_file} -o UserKnownHostsFile={known_hosts_file} -o StrictHostKeyChecking=yes "
        f"-o IdentitiesOnly=yes -o BatchMode=yes -E {log_file} "
        f"-p {endpoint.port} {endpoint.user}@{endpoint.host} -s sftp"
    )


def ssh_reason(log: str) -> str | None:
    """Why ssh could not open the session, from its messages: one line, or None when it said nothing."""
    lines = [line.strip() for line in log.splitlines() if line.strip() and not line.startswith("@")]
    if not lines:
        return None
    if HOST_KEY_FAILED in lines:
        detail = next((line for line in lines if line.endswith(STRICT_SUFFIX)), "").removesuffix(STRICT_SUFFIX)
        sent = next((line.rstrip(".") for line in lines if line.startswith("SHA256:")), None)
        return (
            f"ssh: host key verification failed: the sftp server's host key is not in known_hosts "
            f"({KNOWN_HOSTS_ENV})" + (f": {detail}" if detail else "") + (f" (it sent {sent})" if sent else "")
        )
    refused = next((line for line in lines if "Permission denied" in line), None)
    if refused is not None:
        return f"ssh: the sftp server does not accept the key in {SSH_KEY_ENV}: {refused}"
    last = lines[-1]
    return last if last.startswith("ssh:") else f"ssh: {last}"


def repository_kind(url: str) -> RepositoryKind:
    if url.startswith("/"):
        return "local"
    if url.startswith("sftp:"):
        return "sftp"
    if url.startswith("s3:"):
        return "s3"
    raise RepositoryConfigError(f"{url!r} is not a local path, an sftp: or an s3: repository")


@dataclass(frozen=True)
class Repository:
    url: str
    password: str
    kind: RepositoryKind
    credentials: Mapping[str, str] = field(default_factory=dict)  # S3 keys, SFTP key and known hosts

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Repository:
        url, password = environ.get(REPOSITORY_ENV, ""), environ.get(PASSWORD_ENV, "")
        if not url or not password:
            raise RepositoryConfigError(f"{REPOSITORY_ENV} and {PASSWORD_ENV} must both be set")
        kind = repository_kind(url)
        needed = {"local": (), "sftp": (SSH_KEY_ENV, KNOWN_HOSTS_ENV), "s3": S3_ENV}[kind]
        missing = [name for name in needed if not environ.get(name)]
        if missing:
            raise RepositoryConfigError(f"a {kind} repository needs {', '.join(missing)}")
        if kind == "sftp":
            parse_sftp(url)
        return cls(url, password, kind, {name: environ[name] for name in needed})

    @property
    def local_path(self) -> str | None:
        return self.url if self.kind == "local" else None

    def env(self) -> dict[str, str]:
        """What a worker container gets to reach the repository."""
        return {REPOSITORY_ENV: self.url, PASSWORD_ENV: self.password, **self.credentials}


def _write_private(path: Path, text: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text if text.endswith("\n") else text + "\n")
    return str(path)


@dataclass(frozen=True)
class Connection:
    """restic's global options for reaching the repository and, for SFTP, the file its ssh writes to."""

    options: list[str]
    ssh_log: Path | None = None

    def reset(self) -> None:
        """Before each attempt: ssh appends, and an earlier attempt's messages are not this one's."""
        if self.ssh_log is not None:
            self.ssh_log.unlink(missing_ok=True)

    def explain(self, restic_reason: str) -> str:
        """restic's reason, led by ssh's own when restic's ssh failed."""
        if self.ssh_log is None or not any(marker in restic_reason for marker in SFTP_NOT_STARTED):
            return restic_reason
        try:
            why = ssh_reason(self.ssh_log.read_text(errors="replace"))
        except OSError:
            return restic_reason
        return f"{why} ({restic_reason})"[:1000] if why else restic_reason


@contextmanager
def connection_options(repository: Repository) -> Iterator[Connection]:
    """How restic reaches the repository; for SFTP the key files exist only inside."""
    if repository.kind != "sftp":
        yield Connection([])
        return
    private = Path(tempfile.mkdtemp(prefix="restic-ssh-"))  # mode 0700, this process's own
    try:
        key = _write_private(private / "id", repository.credentials[SSH_KEY_ENV])
        known_hosts = _write_private(private / "known_hosts", repository.credentials[KNOWN_HOSTS_ENV])
        log = private / "ssh.log"
        command = sftp_command(parse_sftp(repository.url), key, known_hosts, str(log))
        yield Connection(["-o", f"sftp.command={command}"], log)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def reason(stderr: str) -> str:
    """The line of restic's error output that says why: its `Fatal:` line, else the last one."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith("Fatal:")]
    line = (fatal or lines or ["restic failed without a message"])[-1]
    return line.removeprefix("Fatal: ")[:500]


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class Restic:
    repository: Repository
    cache_dir: str | None = None  # None: --no-cache (a worker's file system is thrown away)
    binary: str = "restic"
    runner: Runner = subprocess.run
    sleep: Callable[[float], None] = time.sleep

    def _env(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", DEFAULT_PATH), "HOME": os.environ.get("HOME", "/root")}
        env.update({k: v for k, v in self.repository.env().items() if k not in (SSH_KEY_ENV, KNOWN_HOSTS_ENV)})
        return env

    def run(self, args: Sequence[str], timeout_s: float | None) -> str:
        """restic's stdout; ResticError with its reason otherwise. Waits out another process's lock, bounded."""
        cache = ["--cache-dir", self.cache_dir] if self.cache_dir else ["--no-cache"]
        with connection_options(self.repository) as connection:
            command = [self.binary, *connection.options, *cache, *args]
            for attempt in range(LOCK_ATTEMPTS):
                connection.reset()
                try:
                    done = self.runner(
                        command, env=self._env(), capture_output=True, text=True, timeout=timeout_s, check=False
                    )
                except subprocess.TimeoutExpired:
                    raise ResticError(f"restic {args[0]} did not finish within {timeout_s:.0f}s") from None
                except OSError as exc:
                    raise ResticError(f"cannot run {self.binary}: {exc.strerror or exc}") from None
                if done.returncode == 0:
                    return done.stdout
                if "already locked" not in done.stderr or attempt == LOCK_ATTEMPTS - 1:
                    raise ResticError(connection.explain(reason(done.stderr)), done.stderr, done.returncode)
                self.sleep(LOCK_RETRY_S)
        raise AssertionError("unreachable")

    def exists(self) -> bool:
        """Whether the repository has been initialized; a wrong password or an unreachable server raises."""
        try:
            self.run(["cat", "config"], QUICK_S)
        except ResticError as exc:
            if any(marker in exc.stderr for marker in MISSING_REPOSITORY):
                return False
            raise
        return True

    def ensure_repository(self) -> bool:
        """`restic init` if there is none yet; True when this call created it. Another agent (of this host, or
        of another host sharing the repository) may initialise it first: its repository is then this one's."""
        if self.exists():
            return False
        try:
            self.run(["init"], QUICK_S)
        except ResticError:
            if self.exists():
                return False
            raise
        return True

    def snapshots(self, tenant_id: str) -> list[dict[str, Any]]:
        """A tenant's snapshots (by its tag, wherever they were taken), oldest first."""
        found = json.loads(self.run(["snapshots", "--json", "--tag", tenant_tag(tenant_id)], QUICK_S) or "[]")
        return sorted(found or [], key=lambda s: str(s["time"]))

    def backup(self, path: str, tenant_id: str, timeout_s: float | None) -> tuple[str, int]:
        """Snapshot `path` as the tenant's; its id and the bytes it added to the repository."""
        out = self.run(
            ["backup", "--json", "--host", tenant_id, "--tag", SNAPSHOT_TAG, "--tag", tenant_tag(tenant_id), path],
            timeout_s,
        )
        for line in reversed(out.splitlines()):
            if line.startswith("{"):
                message = json.loads(line)
                if message.get("message_type") == "summary":
                    return str(message["snapshot_id"]), int(message.get("data_added", 0))
        raise ResticError("restic backup reported no snapshot")

    def restore(self, snapshot_id: str, target: str, timeout_s: float | None) -> None:
        self.run(["restore", snapshot_id, "--target", target], timeout_s)

    def apply_retention(self, tenant_id: str, keep: Retention) -> None:
        """Forget what `keep` does not keep, over all of the tenant's snapshots as one group, and prune."""
        tag = tenant_tag(tenant_id)
        self.run(["forget", "--tag", tag, "--group-by", "", *keep.forget_args(), "--prune"], PRUNE_S)

    def forget_snapshots(self, snapshot_ids: Sequence[str]) -> None:
        if snapshot_ids:
            self.run(["forget", "--prune", *snapshot_ids], PRUNE_S)

    def retag(self, tenant_id: str, tag: str) -> None:
        """Move the tenant's snapshots off its tag: nothing selects them as this tenant's any more."""
        old = tenant_tag(tenant_id)
        self.run(["tag", "--tag", old, "--remove", old, "--add", tag], QUICK_S)

    def unlock(self) -> None:
        """Remove stale locks (of a worker killed at its deadline); live ones stay."""
        self.run(["unlock"], QUICK_S)
