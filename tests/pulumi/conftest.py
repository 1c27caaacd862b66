from __future__ import annotations

import pytest

from harness.paths import ROOT
from harness.program_run import ProgramRun, run_program


@pytest.fixture(scope="module")
def example() -> ProgramRun:
    """The whole example fleet (both shards), with the fleet's Kimi and MiniMax master keys."""
    return run_program(
        ROOT / "tenants.yaml",
        secrets={
            "kimiApiKey": "kimi-fleet-key-value",
            "minimaxApiKey": "minimax-fleet-key-value",
            "clusterEuKubeconfig": "apiVersion: v1\nkind: Config\n",
        },
    )
