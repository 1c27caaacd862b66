"""Running ``pulumi up`` for one stack: the ``StackRunner`` interface and its Automation API implementation.

A runner raises ``UpdateError`` (a one-line summary, safe to show a client) when an update fails, and
lets ``pulumi.automation.ConcurrentUpdateError`` through when another update holds the stack: the
worker retries that one with backoff.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tenants.contract import OUTPUT_TENANTS, OUTPUT_TOKENS, TENANT_URL

log = logging.getLogger("signup.runner")

SHARD_KEY = "openclaw-tenants:shard"
FLEET_KEY = "openclaw-tenants:tenantsFile"
SUMMARY_LIMIT = 400


class UpdateError(Exception):
    """``pulumi up`` failed; ``summary`` is one line without secrets or stack traces, for API clients.

    ``detail`` is the CLI's whole output (secrets masked by the engine), for the operator's log only.
    """

    def __init__(self, summary: str, detail: str = "") -> None:
        self.summary = summary
        self.detail = detail
        super().__init__(summary)


@dataclass(frozen=True)
class UpResult:
    """A finished update: its outcome in one line, and what the stack outputs say about each tenant."""

    stack: str
    summary: str
    urls: Mapping[str, str] = field(default_factory=dict)  # tenant id → its URL
    tokens: Mapping[str, str] = field(default_factory=dict, repr=False)  # tenant id → gateway token
    duration_s: float = 0.0


class StackRunner(Protocol):
    def up(self, stack: str) -> UpResult:
        """Bring a stack to what tenants.yaml declares for its shard."""
        ...

    def tenant_token(self, stack: str, tenant_id: str) -> str | None:
        """A tenant's gateway token from the stack's outputs (after a restart lost the in-memory copy)."""
        ...


StackFactory = Callable[[str], Any]


class AutomationRunner:
    """``pulumi up`` through the Automation API: one LocalWorkspace per stack on the project directory.

    Before the first update of a stack it makes sure the stack deploys the shard and the fleet file the
    service edits: a missing ``shard`` or ``tenantsFile`` is set, a different one is refused (a stack
    without a shard would deploy every tenant of the fleet).
    """

    def __init__(
        self,
        project_dir: Path,
        *,
        fleet_file: Path,
        shards: Mapping[str, str],
        stack_factory: StackFactory | None = None,
        env: Mapping[str, str] | None = None,
        pulumi_root: Path | None = None,
    ) -> None:
        self.project_dir = project_dir.resolve()
        # Extra environment of every CLI run (backend, passphrase, PULUMI_HOME), and the installation
        # whose bin/pulumi runs them; by default the process's own environment and `pulumi` on PATH.
        self.env = dict(env or {})
        self.pulumi_root = pulumi_root
        self.fleet_file = fleet_file.resolve()
        self.shards = dict(shards)  # stack → shard
        self._factory = stack_factory or self._select
        self._stacks: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _select(self, name: str) -> Any:
        from pulumi import automation as auto

        command = auto.PulumiCommand(root=str(self.pulumi_root)) if self.pulumi_root is not None else None
        options = auto.LocalWorkspaceOptions(env_vars=self.env, pulumi_command=command)
        return auto.create_or_select_stack(stack_name=name, work_dir=str(self.project_dir), opts=options)

    def _stack(self, name: str) -> tuple[Any, threading.Lock]:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._stacks:
                stack = self._factory(name)
                self._prepare(stack, name)
                self._stacks[name] = stack
        return self._stacks[name], lock

    def _prepare(self, stack: Any, name: str) -> None:
        from pulumi.automation import ConfigValue

        config = _explicit_config(stack, name)
        shard = self.shards.get(name, name)
        if SHARD_KEY not in config or config[SHARD_KEY] == "":
            stack.set_config(SHARD_KEY, ConfigValue(value=shard))
        elif config[SHARD_KEY] != shard:
            raise UpdateError(f"stack {name!r} deploys shard {config[SHARD_KEY]!r}, not {shard!r}; fix its config")
        wanted = _relative(self.fleet_file, self.project_dir)
        current = config.get(FLEET_KEY)
        if current is None:
            if wanted != "tenants.yaml":
                stack.set_config(FLEET_KEY, ConfigValue(value=wanted))
        elif (self.project_dir / current).resolve() != self.fleet_file:
            raise UpdateError(f"stack {name!r} deploys {current}, but this service edits {wanted}; fix its config")

    def select(self, stack: str) -> Any:
        """The stack, prepared as for an update (shard and fleet file checked), for preview or refresh."""
        return self._stack(stack)[0]

    def up(self, stack: str) -> UpResult:
        from pulumi.automation import CommandError, ConcurrentUpdateError

        started = time.monotonic()
        try:
            selected, lock = self._stack(stack)
        except CommandError as exc:
            raise UpdateError(summarize(str(exc), f"cannot select stack {stack!r}")) from None
        except FileNotFoundError:
            raise UpdateError("the pulumi CLI is not installed where the signup service runs") from None
        with lock:  # never two updates of one stack from this process
            try:
                result = selected.up(
                    color="never",
                    message="openclaw signup service",
                    suppress_outputs=True,
                    on_output=lambda line: log.info("%s: %s", stack, line.rstrip()),
                )
            except ConcurrentUpdateError:
                raise
            except CommandError as exc:
                log.warning("%s: pulumi up failed:\n%s", stack, exc)
                raise UpdateError(summarize(str(exc), "pulumi up failed"), detail=str(exc)) from None
        outputs = result.outputs
        return UpResult(
            stack=stack,
            summary=_changes(result.summary.resource_changes or {}),
            urls=_urls(outputs),
            tokens=_tokens(outputs),
            duration_s=time.monotonic() - started,
        )

    def tenant_token(self, stack: str, tenant_id: str) -> str | None:
        selected, _ = self._stack(stack)
        return _tokens(selected.outputs()).get(tenant_id)


def _explicit_config(stack: Any, name: str) -> dict[str, Any]:
    """What the stack's own settings file sets: the CLI's config listing also has Pulumi.yaml's defaults,
    which would make every new stack look as if it had chosen ``tenants.yaml``."""
    settings = stack.workspace.stack_settings(name)
    return {key: getattr(value, "value", value) for key, value in (settings.config or {}).items()}


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _changes(changes: Mapping[Any, int]) -> str:
    parts = [f"{getattr(op, 'value', op)} {count}" for op, count in sorted(changes.items(), key=str) if count]
    return "update succeeded" + (f": {', '.join(parts)}" if parts else "")


def _value(outputs: Mapping[str, Any], key: str) -> Any:
    output = outputs.get(key)
    return getattr(output, "value", None)


def _urls(outputs: Mapping[str, Any]) -> dict[str, str]:
    tenants = _value(outputs, OUTPUT_TENANTS)
    if not isinstance(tenants, Mapping):
        return {}
    return {
        str(tid): str(info[TENANT_URL])
        for tid, info in tenants.items()
        if isinstance(info, Mapping) and TENANT_URL in info
    }


def _tokens(outputs: Mapping[str, Any]) -> dict[str, str]:
    tokens = _value(outputs, OUTPUT_TOKENS)
    if not isinstance(tokens, Mapping):
        return {}
    return {str(tid): token for tid, token in tokens.items() if isinstance(token, str) and token}


# CommandError's text is " code: N\n stdout: ...\n stderr: ...": a stream's first line carries its label.
_ERROR_LINE = re.compile(r"^\s*(?:std(?:out|err):\s*)?(error|Error):\s*(.+)$")
_EXCEPTION_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Failure):\s*(.+)$")


def summarize(text: str, fallback: str) -> str:
    """The ``error:`` lines of a CLI failure, on one line; never a traceback. A provider's traceback
    (``error: Traceback ...``) counts as its last exception line: the message a provider raised."""
    lines: list[str] = []
    raised: str | None = None  # the last exception line of the traceback being read
    in_traceback = False
    for line in text.splitlines():
        error = _ERROR_LINE.match(line)
        if in_traceback and (error or not line.strip()):
            lines.extend([raised] if raised else [])
            in_traceback, raised = False, None
        if error:
            message = error.group(2).strip()
            in_traceback = message.startswith("Traceback")
            lines.extend([] if in_traceback or not message else [message])
        elif in_traceback and (exception := _EXCEPTION_LINE.match(line)):
            raised = exception.group(1).strip()
    lines.extend([raised] if in_traceback and raised else [])
    summary = "; ".join(dict.fromkeys(lines)) or fallback
    summary = " ".join(summary.split())
    return summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 1] + "…"
