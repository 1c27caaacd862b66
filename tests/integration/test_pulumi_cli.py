"""The program under the real Pulumi CLI and engine: preview of the example fleet on a file backend."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("pulumi") is None, reason="the pulumi CLI is not installed on this machine"),
]


def pulumi(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_preview_of_the_example_fleet_creates_every_tenant(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{tmp_path}",
        "PULUMI_CONFIG_PASSPHRASE": "integration-test",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    stack = "integration"
    assert pulumi(["stack", "init", stack], env).returncode == 0
    try:
        # The Docker shard only: the example's Kubernetes tenants need a cluster's kubeconfig.
        for key, value in (("tenantsFile", "tenants.yaml"), ("domain", "localhost"), ("shard", "default")):
            assert pulumi(["config", "set", "--stack", stack, f"openclaw-tenants:{key}", value], env).returncode == 0
        # The example fleet keeps backups: the repository's password is a secret of the stack.
        secret = ["config", "set", "--secret", "--stack", stack, "openclaw-tenants:backupPassword", "integration-pw"]
        assert pulumi(secret, env).returncode == 0
        preview = pulumi(["preview", "--stack", stack, "--diff"], env)
        assert preview.returncode == 0, preview.stderr[-3000:]
        for name in (
            "acme-gateway",
            "globex-gateway",
            "initech-gateway",
            "umbrella-network",
            "edge-local-proxy",
            "acme-disk",
            "storage-local-agent",
            "backup-local-agent",
        ):
            assert name in preview.stdout
        assert "hooli" not in preview.stdout  # the Kubernetes shard is another stack
    finally:
        pulumi(["stack", "rm", "--yes", "--force", stack], env)
        (ROOT / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)
