"""The GitHub workflows: actionlint clean, the structure that matters, and their embedded scripts run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tenants.load import load_fleet

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("preview", "deploy", "drift")
FLEET_STACKS = list(load_fleet(ROOT / "tenants.yaml").shards())


def load(name: str) -> dict[str, Any]:
    # YAML 1.2 (ruamel), so the `on:` key stays a string instead of becoming True.
    data: dict[str, Any] = YAML(typ="safe", pure=True).load((WORKFLOWS / f"{name}.yml").read_text())
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job["steps"]
    return found


def all_steps(name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_name, job in load(name)["jobs"].items():
        for step in steps(job):
            yield job_name, step


def step(job: dict[str, Any], *, uses: str | None = None, step_id: str | None = None) -> dict[str, Any]:
    (found,) = [
        s for s in steps(job) if (uses and s.get("uses", "").startswith(uses)) or (step_id and s.get("id") == step_id)
    ]
    return found


def named_run(job: dict[str, Any], prefix: str) -> str:
    (found,) = [s["run"] for s in steps(job) if s.get("name", "").startswith(prefix)]
    script: str = found
    return script


def actionlint_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("actionlint")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("actionlint")


# --- actionlint ---------------------------------------------------------------------------------


def test_actionlint_passes() -> None:
    binary = actionlint_binary()
    if binary is None:
        pytest.skip("actionlint is not installed (it comes with the dev dependencies: pip install -e '.[dev]')")
    files = sorted(str(p.relative_to(ROOT)) for p in (*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")))
    assert {f".github/workflows/{n}.yml" for n in NAMES} <= set(files)
    result = subprocess.run(
        [binary, "-no-color", "-config-file", ".github/actionlint.yaml", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- structure ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_the_expected_majors(name: str) -> None:
    expected = {
        "actions/checkout": "v6",
        "actions/setup-python": "v6",
        "actions/github-script": "v8",
        "pulumi/actions": "v7",
    }
    for _, s in all_steps(name):
        if "uses" in s:
            action, _, ref = s["uses"].partition("@")
            assert expected.get(action) == ref, s["uses"]
            if action == "actions/checkout":
                assert s["with"]["fetch-depth"] == 0
            if action == "actions/setup-python":
                assert s["with"]["python-version"] == "3.11"


@pytest.mark.parametrize("name", NAMES)
def test_every_pulumi_job_has_the_backend_and_one_stack(name: str) -> None:
    jobs = [
        job for job in load(name)["jobs"].values() if any("pulumi/actions" in s.get("uses", "") for s in steps(job))
    ]
    assert jobs
    for job in jobs:
        assert job["strategy"]["fail-fast"] is False
        assert job["strategy"]["matrix"]["stack"].startswith("${{ fromJSON(needs.")
        assert job["if"].startswith("needs.")  # an empty matrix is an error, so an empty list skips the job
        env = job["env"]
        assert env["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL || secrets.PULUMI_BACKEND_URL }}"
        assert env["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
        assert env["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
        pulumi = step(job, uses="pulumi/actions")["with"]
        assert pulumi["stack-name"] == "${{ matrix.stack }}"
        assert pulumi["cloud-url"] == "${{ env.PULUMI_BACKEND_URL }}"
        assert "upsert" not in pulumi  # CI never creates a stack (docs/ci.md, "Adding a shard")


def test_preview_runs_tests_diff_gate_and_policy_checked_previews() -> None:
    workflow = load("preview")
    trigger = workflow["on"]["pull_request"]
    assert {"labeled", "unlabeled", "synchronize"} <= set(trigger["types"])
    jobs = workflow["jobs"]
    assert named_run(jobs["test"], "Lint") == "make test"
    affected = step(jobs["plan"], step_id="affected")
    assert 'tenantctl diff --base "$BASE" --head HEAD --format json' in affected["run"]
    assert affected["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"
    assert jobs["plan"]["outputs"]["stacks"] == "${{ steps.affected.outputs.stacks }}"
    assert "tenant-diff.md" in step(jobs["plan"], uses="actions/github-script")["with"]["script"]

    gate = jobs["destructive-gate"]
    check = gate["steps"][0]
    assert check["env"]["ALLOWED"] == "${{ contains(github.event.pull_request.labels.*.name, 'allow-destructive') }}"
    assert check["env"]["DESTRUCTIVE"] == "${{ needs.plan.outputs.destructive }}"
    assert "exit 1" in check["run"]

    pulumi = step(jobs["preview"], uses="pulumi/actions")["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["diff"] is True
    assert pulumi["comment-on-pr"] is True
    assert pulumi["policyPacks"] == "policy"
    assert "policy/requirements.txt" in named_run(jobs["preview"], "Install")
    # Previews never join a deploy's group (GitHub replaces a pending job of the same group).
    assert not workflow["concurrency"]["group"].startswith("pulumi-")


def test_deploy_updates_affected_stacks_one_group_per_stack_never_cancelled() -> None:
    workflow = load("deploy")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert "concurrency" not in workflow
    jobs = workflow["jobs"]
    affected = step(jobs["plan"], step_id="affected")
    assert affected["env"]["BASE"] == "${{ github.event.before }}"
    assert 'tenantctl diff --base "$BASE" --head HEAD --format json' in affected["run"]
    deploy = jobs["deploy"]
    assert deploy["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}
    assert "timeout-minutes" not in deploy  # a timeout would cancel an update mid-run
    # Jobs of one stack may run out of push order: each deploys the newest main, never older code.
    assert step(deploy, uses="actions/checkout")["with"]["ref"] == "main"
    pulumi = step(deploy, uses="pulumi/actions")["with"]
    assert pulumi["command"] == "up"
    assert pulumi["policyPacks"] == "policy"


def test_drift_previews_every_stack_nightly_with_refresh_and_no_changes_expected() -> None:
    workflow = load("drift")
    assert "workflow_dispatch" in workflow["on"]
    (schedule,) = workflow["on"]["schedule"]
    minute, hour, *rest = schedule["cron"].split()
    assert rest == ["*", "*", "*"] and minute.isdigit() and hour.isdigit()
    drift = workflow["jobs"]["drift"]
    assert not drift["concurrency"]["group"].startswith("pulumi-")
    pulumi = step(drift, uses="pulumi/actions")["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["refresh"] is True
    assert pulumi["expect-no-changes"] is True


def test_preview_and_deploy_share_the_affected_stacks_script() -> None:
    preview = step(load("preview")["jobs"]["plan"], step_id="affected")["run"]
    deploy = step(load("deploy")["jobs"]["plan"], step_id="affected")["run"]
    assert preview == deploy


def test_every_pulumi_job_checks_its_stack_with_the_same_script() -> None:
    scripts = {
        (name, job_name): s["run"]
        for name in NAMES
        for job_name, s in all_steps(name)
        if s.get("name", "").startswith("Check the backend")
    }
    assert set(scripts) == {("preview", "preview"), ("deploy", "deploy"), ("drift", "drift")}
    assert len(set(scripts.values())) == 1


def test_docs_name_every_secret_and_variable_the_workflows_read() -> None:
    docs = (ROOT / "docs" / "ci.md").read_text()
    texts = "".join((WORKFLOWS / f"{n}.yml").read_text() for n in NAMES)
    used = set(re.findall(r"\b(?:secrets|vars)\.([A-Z_]+)", texts))
    assert {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "AWS_ACCESS_KEY_ID"} <= used
    assert sorted(n for n in used if f"`{n}`" not in docs) == []
    for phrase in ("allow-destructive", "pulumi preview --policy-pack policy", "Pulumi.<shard>.yaml"):
        assert phrase in docs


# --- the embedded scripts, run ------------------------------------------------------------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def executable(path: Path, text: str) -> None:
    write(path, text)
    path.chmod(0o755)


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


class Runner:
    """A checkout with two commits, a fake tenantctl, and the files GitHub gives a step."""

    def __init__(self, tmp_path: Path) -> None:
        self.repo = tmp_path / "repo"
        self.bin = tmp_path / "bin"
        self.temp = tmp_path / "runner-temp"
        self.temp.mkdir()
        write(self.repo / "tenants.yaml", (ROOT / "tenants.yaml").read_text())
        for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.k8s-example.yaml", "README.md"):
            write(self.repo / name, (ROOT / name).read_text())
        write(self.repo / "components" / "tenant_stack.py", "# v1\n")
        git(self.repo, "init", "-q")
        git(self.repo, "add", ".")
        git(self.repo, "commit", "-qm", "base")
        self.base = git(self.repo, "rev-parse", "HEAD")
        # `python` is this interpreter, which has the project (tenants) installed.
        executable(self.bin / "python", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')

    def change(self, *paths: str) -> None:
        for path in paths:
            target = self.repo / path
            if target.exists():
                target.write_text(target.read_text() + "# changed\n")
            else:
                write(target, "config: {}\n")
        git(self.repo, "add", ".")
        git(self.repo, "commit", "-qm", "head")

    def tenantctl(self, output: dict[str, Any], exit_code: int = 0) -> None:
        record = self.temp / "tenantctl-args"
        body = json.dumps(output)
        executable(
            self.bin / "tenantctl",
            f"#!/bin/sh\necho \"$@\" > '{record}'\ncat <<'EOF'\n{body}\nEOF\nexit {exit_code}\n",
        )

    def tenantctl_args(self) -> str | None:
        record = self.temp / "tenantctl-args"
        return record.read_text().strip() if record.exists() else None

    def run(self, script: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str], str]:
        output, summary = self.temp / "output", self.temp / "summary"
        output.write_text("")
        summary.write_text("")
        full_env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "RUNNER_TEMP": str(self.temp),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            **env,
        }
        done = subprocess.run(
            ["bash", "-e", "-c", script], cwd=self.repo, env=full_env, capture_output=True, text=True, check=False
        )
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        return done, outputs, summary.read_text()


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    return Runner(tmp_path)


AFFECTED = step(load("preview")["jobs"]["plan"], step_id="affected")["run"]


def test_affected_stacks_come_from_the_tenant_diff(runner: Runner) -> None:
    runner.change("tenants.yaml")
    runner.tenantctl({"affected_shards": ["default"], "destructive": []})
    done, outputs, summary = runner.run(AFFECTED, BASE=runner.base)
    assert done.returncode == 0, done.stdout + done.stderr
    assert runner.tenantctl_args() == f"diff --base {runner.base} --head HEAD --format json"
    assert outputs == {"stacks": '["default"]', "destructive": "false"}
    assert "Affected stacks: `default`" in summary
    assert (runner.temp / "tenant-diff.md").read_text().startswith("<!-- openclaw-tenants:tenant-diff -->")


def test_a_program_change_affects_every_stack(runner: Runner) -> None:
    runner.change("components/tenant_stack.py")
    runner.tenantctl({"affected_shards": [], "destructive": []})
    _, outputs, _ = runner.run(AFFECTED, BASE=runner.base)
    assert json.loads(outputs["stacks"]) == FLEET_STACKS == ["default", "k8s-example"]


def test_a_stack_file_affects_its_stack_but_never_dev(runner: Runner) -> None:
    runner.change("Pulumi.k8s-example.yaml", "Pulumi.dev.yaml", "docs/ci.md")
    runner.tenantctl({"affected_shards": [], "destructive": []})
    _, outputs, _ = runner.run(AFFECTED, BASE=runner.base)
    assert outputs["stacks"] == '["k8s-example"]'


def test_documentation_changes_affect_nothing(runner: Runner) -> None:
    runner.change("README.md", "tests/unit/test_x.py")
    runner.tenantctl({"affected_shards": [], "destructive": []})
    _, outputs, summary = runner.run(AFFECTED, BASE=runner.base)
    assert outputs == {"stacks": "[]", "destructive": "false"}
    assert "Affected stacks: none" in summary


def test_a_destructive_diff_is_flagged_and_listed(runner: Runner) -> None:
    runner.change("tenants.yaml")
    finding = {"tenant": "acme", "change": "removed"}
    runner.tenantctl({"affected_shards": ["default"], "destructive": ["globex: plan downgrade", finding]}, 2)
    done, outputs, summary = runner.run(AFFECTED, BASE=runner.base)
    assert done.returncode == 0, done.stderr
    assert outputs["destructive"] == "true"
    assert "- globex: plan downgrade" in summary
    assert '- {"change": "removed", "tenant": "acme"}' in summary
    assert "`allow-destructive`" in summary


def test_an_invalid_fleet_fails_the_step(runner: Runner) -> None:
    runner.change("tenants.yaml")
    runner.tenantctl({"affected_shards": [], "destructive": []}, 1)
    done, outputs, _ = runner.run(AFFECTED, BASE=runner.base)
    assert done.returncode == 1
    assert "::error::tenantctl diff failed (exit 1)" in done.stdout
    assert outputs == {}


@pytest.mark.parametrize("base", ["0" * 40, "", "1234567890abcdef1234567890abcdef12345678"])
def test_an_unknown_base_affects_every_stack_and_counts_as_destructive(runner: Runner, base: str) -> None:
    runner.change("README.md")
    runner.tenantctl({"affected_shards": [], "destructive": []})
    done, outputs, _ = runner.run(AFFECTED, BASE=base)
    assert done.returncode == 0, done.stderr
    assert runner.tenantctl_args() is None
    assert json.loads(outputs["stacks"]) == FLEET_STACKS
    assert outputs["destructive"] == "true"
    assert "::warning::" in done.stdout


REQUESTED = named_run(load("deploy")["jobs"]["plan"], "Requested stacks")


@pytest.mark.parametrize(
    ("requested", "stacks"),
    [("", FLEET_STACKS), ("k8s-example", ["k8s-example"]), ("default k8s-example default", FLEET_STACKS)],
)
def test_manual_deploy_takes_the_requested_stacks(runner: Runner, requested: str, stacks: list[str]) -> None:
    done, outputs, _ = runner.run(REQUESTED, REQUESTED=requested)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(outputs["stacks"]) == stacks


def test_manual_deploy_refuses_unknown_stacks(runner: Runner) -> None:
    done, outputs, _ = runner.run(REQUESTED, REQUESTED="default prod")
    assert done.returncode == 1
    assert "::error::not stacks of this fleet: prod" in done.stdout
    assert outputs == {}


def test_drift_lists_one_stack_per_shard(runner: Runner) -> None:
    done, outputs, _ = runner.run(named_run(load("drift")["jobs"]["stacks"], "One stack per shard"))
    assert done.returncode == 0, done.stderr
    assert json.loads(outputs["stacks"]) == FLEET_STACKS


PREFLIGHT = named_run(load("deploy")["jobs"]["deploy"], "Check the backend")
BACKEND = {"PULUMI_BACKEND_URL": "s3://state-bucket", "PULUMI_ACCESS_TOKEN": ""}


@pytest.fixture
def checkout(runner: Runner) -> Runner:
    (runner.repo / ".venv" / "bin").mkdir(parents=True)
    (runner.repo / ".venv" / "bin" / "python").symlink_to(sys.executable)
    return runner


def test_preflight_accepts_a_stack_configured_for_its_shard(checkout: Runner) -> None:
    done, _, _ = checkout.run(PREFLIGHT, STACK="k8s-example", **BACKEND)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stack k8s-example: Pulumi.k8s-example.yaml deploys shard 'k8s-example'" in done.stdout
    token_only = {"PULUMI_BACKEND_URL": "", "PULUMI_ACCESS_TOKEN": "pul-token"}
    assert checkout.run(PREFLIGHT, STACK="k8s-example", **token_only)[0].returncode == 0


@pytest.mark.parametrize(
    ("stack", "env", "error"),
    [
        ("k8s-example", {"PULUMI_BACKEND_URL": "", "PULUMI_ACCESS_TOKEN": ""}, "No state backend"),
        ("default", BACKEND, "Pulumi.default.yaml is missing"),
        ("dev", BACKEND, "stack 'dev' is the local Docker stack"),
    ],
)
def test_preflight_refuses_a_stack_ci_must_not_run(
    checkout: Runner, stack: str, env: dict[str, str], error: str
) -> None:
    done, _, _ = checkout.run(PREFLIGHT, STACK=stack, **env)
    assert done.returncode == 1
    assert f"::error::{error}" in done.stdout


def test_preflight_refuses_a_stack_deploying_another_shard(checkout: Runner) -> None:
    write(checkout.repo / "Pulumi.eu.yaml", "config:\n  openclaw-tenants:shard: default\n")
    done, _, _ = checkout.run(PREFLIGHT, STACK="eu", **BACKEND)
    assert done.returncode == 1
    assert "::error::Pulumi.eu.yaml sets openclaw-tenants:shard to 'default'; it must be 'eu'" in done.stdout
