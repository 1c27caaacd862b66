"""`tenantctl diff` and the audit log: a line or a copy `tenantctl purge` removed forgets no data."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantctl.review import register
from tenants import audit
from tenants.diff import diff_fleets
from tests.unit.cli_apps import app_with
from tests.unit.test_fleet_memory import FLEET, fleets, swap

GLOBEX = "  - id: globex\n    plan: pro\n    state: offboarded   # left in May\n\n"
COPY = (
    "  - id: acme\n    plan: basic\n",
    "  - id: acme\n    plan: basic\n    target: host-b\n    retained_on: [host-a]\n",
)


def purge_entry(tenant: str, scope: str, *targets: str, complete: bool = True) -> dict[str, object]:
    deleted = [{"target": t, "volume": f"openclaw-{tenant}-data"} for t in targets]
    return {"action": "purge", "tenant": tenant, "scope": scope, "deleted": deleted, "complete": complete}


def test_the_audit_log_names_complete_purges_only() -> None:
    entries = [
        purge_entry("globex", "tenant", "host-a"),
        purge_entry("acme", "copy", "host-a"),
        purge_entry("initech", "tenant", "host-a", complete=False),
        {"action": "adopt", "tenant": "hooli", "target": "host-a"},
    ]
    assert audit.purges(entries) == {("globex", None), ("acme", "host-a")}


def test_a_purged_tenants_removed_line_is_not_destructive() -> None:
    old, new = fleets(swap(FLEET, GLOBEX, ""))
    assert [f.reason for f in diff_fleets(old, new).destructive] == ["data-forgotten"]
    assert diff_fleets(old, new, purged={("globex", None)}).destructive == ()
    # A purge of another tenant, or of only a copy, does not cover it.
    assert diff_fleets(old, new, purged={("acme", None), ("globex", "host-a")}).destructive


def test_a_purged_copys_released_entry_is_not_destructive() -> None:
    base = swap(FLEET, *COPY)
    old, new = fleets(swap(base, "    retained_on: [host-a]\n", ""), base)
    assert [f.reason for f in diff_fleets(old, new).destructive] == ["data-forgotten"]
    assert diff_fleets(old, new, purged={("acme", "host-a")}).destructive == ()


def test_tenantctl_diff_reads_the_audit_log_beside_the_head_file(tmp_path: Path) -> None:
    base, head = tmp_path / "base" / "tenants.yaml", tmp_path / "head" / "tenants.yaml"
    for path, text in ((base, FLEET), (head, swap(FLEET, GLOBEX, ""))):
        path.parent.mkdir()
        path.write_text(text)
    runner, app = CliRunner(), app_with(register)
    assert runner.invoke(app, ["diff", "--base", str(base), "--head", str(head)]).exit_code == 2
    audit.append(head.parent / audit.LOG_NAME, purge_entry("globex", "tenant", "host-a"))
    done = runner.invoke(app, ["diff", "--base", str(base), "--head", str(head), "--format", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["destructive"] == []


def test_tenantctl_diff_reads_the_audit_log_of_a_git_ref(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "ops@example.com")
    git("config", "user.name", "ops")
    (tmp_path / "tenants.yaml").write_text(FLEET)
    git("add", ".")
    git("commit", "-qm", "base")
    (tmp_path / "tenants.yaml").write_text(swap(FLEET, GLOBEX, ""))
    audit.append(tmp_path / audit.LOG_NAME, purge_entry("globex", "tenant", "host-a"))
    git("add", ".")
    git("commit", "-qm", "purge globex")
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app_with(register), ["diff", "--base", "HEAD~1", "--head", "HEAD"])
    assert done.exit_code == 0, done.output
