"""Inside a worker container (data_agent.jobs): back the mounted volume up, or empty it and restore into it.
One JSON document on stdout; a one-line reason on stderr and exit 1 on failure."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from .restic import Repository, RepositoryConfigError, Restic, ResticError


def empty(directory: Path) -> int:
    """Remove everything inside `directory` (not the directory: it is the volume's mount point)."""
    removed = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
    return removed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m data_agent.worker")
    commands = parser.add_subparsers(dest="command", required=True)
    backup = commands.add_parser("backup")
    backup.add_argument("--tenant", required=True)
    backup.add_argument("--path", required=True)
    backup.add_argument("--timeout-s", type=float, required=True)
    restore = commands.add_parser("restore")
    restore.add_argument("--snapshot", required=True)
    restore.add_argument("--root", required=True)
    restore.add_argument("--path", required=True)
    restore.add_argument("--timeout-s", type=float, required=True)
    args = parser.parse_args(argv)
    try:
        restic = Restic(Repository.from_env(os.environ))
        if args.command == "backup":
            snapshot, added = restic.backup(args.path, args.tenant, args.timeout_s)
            print(json.dumps({"snapshot": snapshot, "bytes_added": added}))
        else:
            removed = empty(Path(args.root + args.path))
            restic.restore(args.snapshot, args.root, args.timeout_s)
            print(json.dumps({"snapshot": args.snapshot, "removed_entries": removed}))
    except (ResticError, RepositoryConfigError, OSError) as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
