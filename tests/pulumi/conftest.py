from __future__ import annotations

import pytest

from harness.paths import ROOT
from harness.program_run import ProgramRun, run_program


@pytest.fixture(scope="module")
def example() -> ProgramRun:
    """The whole example fleet (both shards): a fleet-wide Kimi key, a per-tenant key for globex."""
    return run_program(
        ROOT / "tenants.yaml",
        secrets={
            "kimiApiKey": "kimi-fleet-key-value",
            "apiKey-globex": "globex-own-minimax-key",
            "clusterEuKubeconfig": "apiVersion: v1\nkind: Config\n",
        },
    )
