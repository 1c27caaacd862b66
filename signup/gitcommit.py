"""Optionally record each change of the fleet file as a git commit of that file alone."""

from __future__ import annotations

import logging
import subprocess
import threading
from pathlib import Path

log = logging.getLogger("signup.git")
_LOCK = threading.Lock()  # one git process at a time: git's index lock would refuse a second
AUTHOR = ("openclaw-signup", "signup@openclaw.invalid")


def commit_file(path: Path, message: str) -> str | None:
    """Commit ``path`` (only it) with ``message``; None on success or nothing to commit, else why not.

    Edits run concurrently, so a commit may carry the edits of requests that finished just after its
    own; the file in every commit is still a whole, validated fleet.
    """
    cwd = path.parent
    with _LOCK:
        try:
            name = _git(cwd, "config", "user.name").stdout.strip()
            email = _git(cwd, "config", "user.email").stdout.strip()
            ident = [] if name and email else ["-c", f"user.name={AUTHOR[0]}", "-c", f"user.email={AUTHOR[1]}"]
            added = _git(cwd, "add", "--", path.name)
            if added.returncode != 0:
                return _reason(added)
            status = _git(cwd, "diff", "--cached", "--quiet", "--", path.name)
            if status.returncode == 0:
                return None
            done = _git(cwd, *ident, "commit", "--quiet", "--no-verify", "-m", message, "--only", "--", path.name)
            return None if done.returncode == 0 else _reason(done)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"git could not run: {type(exc).__name__}"


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def _reason(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return f"git {' '.join(done.args[1:2])} failed: {lines[0] if lines else f'exit {done.returncode}'}"[:300]
