"""`python3 -m data_agent disks|backups|k8s-job ...`: the image's entry point, one module per agent."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import cast

# Imported on demand: each agent loads only its own module.
AGENTS = {"disks": "data_agent.disks", "backups": "data_agent.backups", "k8s-job": "data_agent.k8s_job"}
USAGE = f"usage: python3 -m data_agent {{{','.join(AGENTS)}}} ..."


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in AGENTS:
        print(USAGE, file=sys.stderr)
        return 2
    agent_main = cast(Callable[[list[str]], int], importlib.import_module(AGENTS[argv[0]]).main)
    return agent_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
