"""An SFTP server of a test's own on 127.0.0.1: Debian's OpenSSH sshd with its own config, host key and
authorized key in a private directory, one system user whose only service is internal-sftp, a client key
pair, and the known_hosts line that pins the host key. Everything goes again on exit, also after a failure.

The directory is root's, mode 0755 (sshd reads the authorized keys as the user); it lies under the
world-writable /tmp, so StrictModes is off: every file in it is root's and not writable by anyone else.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without its privilege separation directory
LISTEN = "127.0.0.1"
COMMAND_S = 60.0  # ssh-keygen, useradd, userdel, sshd -t
START_S = 30.0
STOP_S = 10.0


class SftpServerError(RuntimeError):
    """The server could not be set up; the message says which step and why."""


@dataclass(frozen=True)
class SftpServer:
    user: str
    uid: int
    port: int
    directory: Path  # config, keys, log
    home: Path  # the user's own directory, mode 0700: where its repositories go
    client_key: str  # the private key's text, as a backup agent gets it
    known_hosts: str  # the line that pins this server's host key
    log: Path

    def url(self, path: Path) -> str:
        """restic's repository URL of `path` (absolute) on this server."""
        return f"sftp://{self.user}@{LISTEN}:{self.port}/{path}"

    def known_hosts_of(self, public_key: Path) -> str:
        """A known_hosts line naming this server with another key: a server that only claims the name."""
        return known_hosts_line(self.port, public_key)

    def messages(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _run(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SftpServerError(f"{command[0]}: {exc}") from None
    if done.returncode != 0:
        raise SftpServerError(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def keygen(path: Path, comment: str) -> Path:
    """An ed25519 key pair without passphrase at `path` and `path`.pub; the public key's path."""
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))
    return path.with_name(path.name + ".pub")


def known_hosts_line(port: int, public_key: Path) -> str:
    """As ssh-keyscan prints it for a port other than 22."""
    kind, key = public_key.read_text().split()[:2]
    return f"[{LISTEN}]:{port} {kind} {key}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LISTEN, 0))
        return int(probe.getsockname()[1])


def _config(directory: Path, user: str, port: int) -> str:
    return "\n".join(
        (
            f"Port {port}",
            f"ListenAddress {LISTEN}",
            f"HostKey {directory / 'host_key'}",
            f"PidFile {directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {directory / 'authorized_keys'}",
            f"AllowUsers {user}",
            "PermitRootLogin no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "Subsystem sftp internal-sftp",
            "ForceCommand internal-sftp",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "PermitTTY no",
            "LogLevel VERBOSE",
            "",
        )
    )


def _add_user(user: str, home: Path) -> int:
    account = ("--system", "--user-group", "--no-create-home", "--home-dir", str(home), "--shell", "/usr/sbin/nologin")
    # A password of "*": no password at all, but not a locked account ("!"), which sshd refuses without PAM.
    _run("useradd", *account, "--password", "*", user)
    return pwd.getpwnam(user).pw_uid


def _processes_of(uid: int) -> list[int]:
    """The user's processes: sftp sessions of this server that outlived its listener."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _remove_user(user: str, uid: int) -> None:
    for pid in _processes_of(uid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + STOP_S
    while _processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    _run("userdel", user)


def _remove_quietly(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        return


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(STOP_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_S)


def _listening(process: subprocess.Popen[bytes], log: Path, port: int) -> None:
    """Until sshd greets on its port; its own log when it exits or never does."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SftpServerError(f"sshd exited ({process.returncode}): {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection((LISTEN, port), timeout=2.0) as conn:
                if conn.recv(64).startswith(b"SSH-2.0-"):
                    return
        except OSError:
            time.sleep(0.2)
    raise SftpServerError(f"sshd did not answer on {LISTEN}:{port} within {START_S:.0f}s")


@contextmanager
def sftp_server(user: str) -> Iterator[SftpServer]:
    """A running server for `user` (a new system user of that name, at most 32 characters)."""
    if os.geteuid() != 0 or not SSHD.exists():
        raise SftpServerError(f"needs root and {SSHD} (openssh-server; scripts/ensure-data-tools.sh installs it)")
    with ExitStack() as cleanup:
        directory = Path(tempfile.mkdtemp(prefix=f"{user}-"))
        cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
        directory.chmod(0o755)
        if not PRIVSEP_DIR.exists():
            PRIVSEP_DIR.mkdir(mode=0o755)
            cleanup.callback(_remove_quietly, PRIVSEP_DIR)
        host_public = keygen(directory / "host_key", f"{user} host")
        client_public = keygen(directory / "client_key", f"{user} client")
        authorized = directory / "authorized_keys"
        authorized.write_text(f"restrict {client_public.read_text()}")
        authorized.chmod(0o644)

        home = directory / "home"
        uid = _add_user(user, home)
        cleanup.callback(_remove_user, user, uid)
        home.mkdir(mode=0o700)
        os.chown(home, uid, pwd.getpwnam(user).pw_gid)

        port = _free_port()
        config = directory / "sshd_config"
        config.write_text(_config(directory, user, port))
        _run(str(SSHD), "-t", "-f", str(config))
        log = directory / "sshd.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        cleanup.callback(_stop, process)
        _listening(process, log, port)
        yield SftpServer(
            user=user,
            uid=uid,
            port=port,
            directory=directory,
            home=home,
            client_key=(directory / "client_key").read_text(),
            known_hosts=known_hosts_line(port, host_public),
            log=log,
        )
