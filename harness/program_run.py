"""Run the real Pulumi program (__main__.py) under Pulumi's mock runtime and record what it registers."""

from __future__ import annotations

import asyncio
import os
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs

from tenants.model import Backups

from .paths import ROOT

PROJECT = "openclaw-tenants"
BACKUP_PASSWORD_KEY: str = Backups.model_fields["password"].default
SECRET_SIG = rpc._special_sig_key


@dataclass
class Registered:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str
    inputs: dict[str, Any]
    secret_inputs: frozenset[str]
    retain_on_delete: bool
    delete_before_replace: bool
    replace_on_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()  # the URNs it waits for (depends_on and input outputs)


@dataclass
class ProgramRun:
    resources: list[Registered] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    secret_exports: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registered:
        (found,) = [r for r in self.resources if r.name == name]
        return found

    def urns(self) -> set[str]:
        """Every URN the program registered (the root stack is the runtime's, not the program's)."""
        return {r.urn for r in self.resources if r.type != "pulumi:pulumi:Stack"}


def _unwrap(value: Any) -> tuple[Any, bool]:
    """Strip secret markers; report whether any were present."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == rpc._special_secret_sig:
            inner, _ = _unwrap(value.get("value"))
            return inner, True
        out, secret = {}, False
        for k, v in value.items():
            out[k], s = _unwrap(v)
            secret |= s
        return out, secret
    if isinstance(value, list):
        items = [_unwrap(v) for v in value]
        return [i for i, _ in items], any(s for _, s in items)
    return value, False


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"generated-token-for-{args.name}"
        if args.typ == "random:index/randomId:RandomId":
            state["hex"] = f"generated-id-for-{args.name}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, run: ProgramRun) -> None:
        super().__init__(mocks)
        self.run = run

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the monitor's gRPC method
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # pulumi leaves it untyped
        raw = rpc.deserialize_properties(request.object, keep_unknowns=True, keep_internal=True)
        inputs, secret = {}, set()
        for key, value in raw.items():
            inputs[key], is_secret = _unwrap(value)
            if is_secret:
                secret.add(key)
        self.run.resources.append(
            Registered(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=bool(request.custom),
                provider=request.provider,
                inputs=inputs,
                secret_inputs=frozenset(secret),
                retain_on_delete=bool(request.retainOnDelete),
                delete_before_replace=bool(request.deleteBeforeReplace),
                replace_on_changes=tuple(request.replaceOnChanges),
                dependencies=tuple(request.dependencies),
            )
        )
        return response


def run_program(
    tenants_file: Path,
    config: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    program: Path = ROOT / "__main__.py",
    backup_password: str | None = "program-run-backup-password",
) -> ProgramRun:
    """Evaluate a program (the project's own by default) once against a fleet file; returns every
    registration and the exports."""
    run = ProgramRun()
    # The mock runtime uses the thread's current event loop; a test that ran asyncio.run() before
    # in this process leaves none behind.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = _Mocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="test", preview=False, monitor=_RecordingMonitor(mocks, run))
    values = {
        f"{PROJECT}:tenantsFile": str(tenants_file),
        **{f"{PROJECT}:{k}": v for k, v in (config or {}).items()},
    }
    # A fleet with backups needs its repository's password; a test of its absence passes backup_password=None.
    secrets = {**({BACKUP_PASSWORD_KEY: backup_password} if backup_password else {}), **(secrets or {})}
    values |= {f"{PROJECT}:{k}": v for k, v in secrets.items()}
    pulumi.runtime.set_all_config(values, [f"{PROJECT}:{k}" for k in secrets])

    exported: dict[str, Any] = {}
    real_export = pulumi.export

    def capture(name: str, value: Any) -> None:
        exported[name] = value
        real_export(name, value)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]  # pulumi leaves it untyped
    def evaluate() -> pulumi.Output[Any]:
        pulumi.export = capture
        cwd = os.getcwd()
        try:
            os.chdir(ROOT)
            runpy.run_path(str(program), run_name="__main__")
        finally:
            os.chdir(cwd)
            pulumi.export = real_export
        names = list(exported)
        outputs = [pulumi.Output.from_input(exported[n]) for n in names]

        def record(values: list[Any]) -> None:
            run.exports.update(zip(names, values, strict=True))

        async def secrets_of() -> None:
            for n, o in zip(names, outputs, strict=True):
                if await o.is_secret():
                    run.secret_exports.add(n)

        secrets_read: pulumi.Output[None] = pulumi.Output.from_input(secrets_of())
        return pulumi.Output.all(secrets_read, pulumi.Output.all(*outputs).apply(record))

    evaluate()
    return run
