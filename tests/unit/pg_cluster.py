"""A throwaway PostgreSQL server of Debian's binaries: its own data directory in a temp dir, on
127.0.0.1 and a free port, trust auth, stopped and removed afterwards. Root cannot run postgres, so
as root the server runs as the ``postgres`` user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 60
INSTALL_HINT = "PostgreSQL server binaries missing: run scripts/ensure-postgres.sh"


def server_bin() -> Path | None:
    """The newest installed /usr/lib/postgresql/<major>/bin holding initdb, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a fresh server and yield its URL (database ``postgres``, user ``ledger``)."""
    bindir = server_bin()
    if bindir is None:
        raise RuntimeError(INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="openclaw-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=START_TIMEOUT_S)

    started = False
    try:
        run("mkdir", "-m", "700", str(sockets))
        run(str(bindir / "initdb"), "-D", str(data), "-U", "ledger", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=on -c synchronous_commit=on"
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-o",
            options,
            "start",
        )
        started = True
        yield f"postgresql://ledger@127.0.0.1:{port}/postgres"
    finally:
        if started:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", str(START_TIMEOUT_S), "stop")
        shutil.rmtree(root, ignore_errors=True)
