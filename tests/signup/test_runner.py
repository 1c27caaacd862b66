"""The Automation API runner against a stand-in Stack object: config checks, outputs, error summaries."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi.automation import (
    CommandError,
    CommandResult,
    ConcurrentUpdateError,
    ConfigValue,
    OpType,
    OutputValue,
    UpdateSummary,
    UpResult,
)

from signup.runner import AutomationRunner, UpdateError, summarize
from tenants.contract import OUTPUT_TENANTS, OUTPUT_TOKENS, TENANT_URL

ROOT = Path(__file__).resolve().parents[2]


class StubStack:
    def __init__(self, config: dict[str, str], outcome: BaseException | None = None) -> None:
        self.config = {key: ConfigValue(value=value) for key, value in config.items()}
        self.outcome = outcome
        self.set_calls: list[tuple[str, str]] = []
        self.up_calls: list[dict[str, Any]] = []

    @property
    def workspace(self) -> StubStack:
        return self

    def stack_settings(self, name: str) -> SimpleNamespace:
        """Only what the stack sets itself (the CLI's full listing adds Pulumi.yaml's defaults)."""
        return SimpleNamespace(config={key: value.value for key, value in self.config.items()})

    def set_config(self, key: str, value: ConfigValue) -> None:
        self.set_calls.append((key, value.value))
        self.config[key] = value

    def outputs(self) -> dict[str, OutputValue]:
        return {OUTPUT_TOKENS: OutputValue({"acme": "tok-acme"}, secret=True)}

    def up(self, **kwargs: Any) -> UpResult:
        self.up_calls.append(kwargs)
        if self.outcome is not None:
            raise self.outcome
        summary = UpdateSummary(
            kind="update",
            start_time=None,  # type: ignore[arg-type]
            message="",
            environment={},
            config={},
            result="succeeded",
            resource_changes={OpType.CREATE: 3, OpType.SAME: 10, OpType.UPDATE: 0},
        )
        outputs = {
            OUTPUT_TENANTS: OutputValue({"acme": {TENANT_URL: "http://acme.localhost:8080", "state": "active"}}, False),
            OUTPUT_TOKENS: OutputValue({"acme": "tok-acme", "globex": "tok-globex"}, secret=True),
        }
        return UpResult(stdout="", stderr="", summary=summary, outputs=outputs)


def runner_for(stack: StubStack, fleet_file: Path = ROOT / "tenants.yaml") -> AutomationRunner:
    return AutomationRunner(ROOT, fleet_file=fleet_file, shards={"dev": "default"}, stack_factory=lambda name: stack)


def test_an_update_reports_changes_urls_and_tokens() -> None:
    stack = StubStack({"openclaw-tenants:shard": "default", "openclaw-tenants:tenantsFile": "tenants.yaml"})
    result = runner_for(stack).up("dev")
    assert result.summary == "update succeeded: create 3, same 10"
    assert result.urls == {"acme": "http://acme.localhost:8080"}
    assert result.tokens == {"acme": "tok-acme", "globex": "tok-globex"}
    assert "tok-acme" not in repr(result)
    assert stack.up_calls[0]["suppress_outputs"] is True and stack.up_calls[0]["color"] == "never"
    assert runner_for(stack).tenant_token("dev", "acme") == "tok-acme"


def test_a_new_stack_gets_its_shard_and_fleet_file(tmp_path: Path) -> None:
    stack = StubStack({})
    runner_for(stack).up("dev")
    assert stack.set_calls == [("openclaw-tenants:shard", "default")]
    other = StubStack({})
    fleet = ROOT / "fleets" / "prod.yaml"
    runner_for(other, fleet).up("dev")
    assert other.set_calls == [
        ("openclaw-tenants:shard", "default"),
        ("openclaw-tenants:tenantsFile", "fleets/prod.yaml"),
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"openclaw-tenants:shard": "k8s-example"}, "stack 'dev' deploys shard 'k8s-example', not 'default'"),
        (
            {"openclaw-tenants:shard": "default", "openclaw-tenants:tenantsFile": "other.yaml"},
            "stack 'dev' deploys other.yaml, but this service edits tenants.yaml",
        ),
    ],
)
def test_a_stack_deploying_something_else_is_refused(config: dict[str, str], message: str) -> None:
    stack = StubStack(config)
    with pytest.raises(UpdateError) as caught:
        runner_for(stack).up("dev")
    assert caught.value.summary.startswith(message)
    assert stack.up_calls == []


def test_a_failed_update_is_one_line_of_its_errors(caplog: pytest.LogCaptureFixture) -> None:
    stderr = (
        "Traceback (most recent call last):\n  File x\n"
        "error: Program failed with an unhandled exception:\n"
        "error: tenants.yaml: 1 problem found\n"
        "    error: tenants.yaml: 1 problem found\n"
    )
    stack = StubStack({"openclaw-tenants:shard": "default"}, CommandError(CommandResult("", stderr, 1)))
    with pytest.raises(UpdateError) as caught:
        runner_for(stack).up("dev")
    assert caught.value.summary == "Program failed with an unhandled exception:; tenants.yaml: 1 problem found"
    # The whole output stays with the operator: in the error's detail and in the service's log.
    assert "Traceback (most recent call last):\n  File x" in caught.value.detail
    assert any(
        "Traceback (most recent call last)" in r.getMessage() for r in caplog.records if r.levelname == "WARNING"
    )


def test_a_providers_traceback_counts_as_the_message_it_raised() -> None:
    # As the engine prints a dynamic provider's failure (both tracebacks chained).
    stdout = (
        " +  pulumi-python:dynamic/openclaw:TenantDisk acme-disk **creating failed** error: Traceback (most\n"
        "Diagnostics:\n"
        "  pulumi:pulumi:Stack (openclaw-tenants-dev):\n"
        "    error: update failed\n"
        "\n"
        "  pulumi-python:dynamic/openclaw:TenantDisk (acme-disk):\n"
        "    error: Traceback (most recent call last):\n"
        '      File "/x/pulumi/dynamic/__main__.py", line 170, in Create\n'
        "        result = provider.create(props)\n"
        "    ValueError: not this one\n"
        "    During handling of the above exception, another exception occurred:\n"
        '      File "/x/components/tenant_disk.py", line 181, in create\n'
        "    RuntimeError: could not create the disk of tenant 'acme': mkfs.ext4 failed\n"
        "\n"
        "Resources:\n"
    )
    summary = summarize(str(CommandError(CommandResult(stdout, "", 1))), "f")
    assert summary == "update failed; could not create the disk of tenant 'acme': mkfs.ext4 failed"
    assert summarize("error: Traceback (most recent call last):\n  File x", "f") == "f"


def test_a_concurrent_update_is_left_to_the_worker() -> None:
    busy = ConcurrentUpdateError(
        CommandResult("", "error: [409] Conflict: Another update is currently in progress.", 255)
    )
    stack = StubStack({"openclaw-tenants:shard": "default"}, busy)
    with pytest.raises(ConcurrentUpdateError):
        runner_for(stack).up("dev")


def test_the_first_line_of_a_stream_counts_too() -> None:
    error = CommandError(CommandResult("", "error: could not find stack\nmore", 255))
    assert summarize(str(error), "f") == "could not find stack"


def test_summaries_are_bounded_and_have_a_fallback() -> None:
    assert summarize("no marked lines here", "pulumi up failed") == "pulumi up failed"
    long = summarize("error: " + "x" * 1000, "f")
    assert len(long) == 400 and long.endswith("…")


def test_a_missing_cli_is_one_line() -> None:
    def no_cli(name: str) -> Any:
        raise FileNotFoundError(2, "No such file or directory", "pulumi")

    runner = AutomationRunner(ROOT, fleet_file=ROOT / "tenants.yaml", shards={}, stack_factory=no_cli)
    with pytest.raises(UpdateError, match=r"^the pulumi CLI is not installed where the signup service runs$"):
        runner.up("dev")
