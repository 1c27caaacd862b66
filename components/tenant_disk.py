"""TenantDisk: a tenant's own file system on its Docker host, made by the target's disk agent.

The disk outlives every edit of tenants.yaml: deleting the resource leaves it (and the data on it) for
`tenantctl purge`. Creating one where an image with the tenant's id already exists is refused, in preview
as in up, unless the image carries this resource's claim (a random id made with the tenant, written into
the disk outside the tenant's reach): a disk left by an earlier customer with the same id is never handed
to a new one. `tenantctl adopt` lifts the claim of a disk the operator has checked belongs to the customer.

Like docker_ops, the provider runs in the engine's dynamic-provider host: only the Docker SDK, the
standard library and docker_ops' client.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import pulumi
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)
from pulumi.runtime import rpc

from tenants.data_names import DATA_AGENT_COMMAND
from tenants.disk_specs import DiskSpec

from .docker_ops import RunningContainer, _client, _exec, _renewed, whole

KEYS = ("tenant", "target", "gib", "inodes", "uid", "claim")
EXISTS = 3  # `disks create`: an image with the id exists under another claim
MISSING = 4  # `disks show`: no image
IN_USE = "is in use"  # `disks grow` of a mounted disk the kernel will not grow online
GATEWAY_STOP_S = 30  # what a gateway gets to shut down cleanly


def reuse_message(tenant: str, target: str, shown: Mapping[str, Any]) -> str:
    used = int(shown.get("used_bytes") or 0) / 2**20
    return (
        f"tenant {tenant!r}: target {target!r} already holds a disk of an earlier tenant with this id "
        f"({shown.get('image')}, {used:.1f} MiB used), kept until it is purged. A new customer must not get "
        f"it: `tenantctl purge {tenant} --yes` deletes it (and its backups), or choose another id. If it is "
        f"the same customer's, `tenantctl adopt {tenant}` hands it to this tenant."
    )


def _agent(props: Mapping[str, Any], *args: str) -> tuple[int | None, str]:
    with _client(props) as client:
        container = client.containers.get(props["container"])
        code, output = _exec(container, [*DATA_AGENT_COMMAND, "disks", *args])
    return code, output.decode(errors="replace")


def _json(output: str) -> dict[str, Any]:
    """The agent's JSON document: the last line of its output that parses (stderr lines come first)."""
    for line in reversed(output.strip().splitlines()):
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return parsed
    start = output.find("{")
    return dict(json.loads(output[start:])) if start >= 0 else {}


def existing(props: Mapping[str, Any]) -> dict[str, Any] | None:
    """The disk the agent already has for the tenant; None when it has none, or when the agent is not yet
    there to ask (a first deployment: then `create` decides)."""
    if any(props.get(k) == rpc.UNKNOWN for k in ("host", "container", "tenant")):
        return None
    try:
        code, output = _agent(props, "show", str(props["tenant"]))
    except (NotFound, APIError):
        return None
    if code == MISSING:
        return None
    if code != 0:
        raise RuntimeError(f"disks show {props['tenant']} failed in {props['container']}: {output[-400:]}")
    return _json(output)


def plain_volume_message(props: Mapping[str, Any]) -> str | None:
    """Why the tenant must not get a new disk: its data is in the plain Docker volume of a stack deployed before
    per-tenant disks (its gateway would start empty while the data stays there); None when there is none."""
    with _client(props) as client:
        try:
            client.volumes.get(props["plain_volume"])
        except NotFound:
            return None
    return (
        f"tenant {props['tenant']!r}: its data is in the plain Docker volume {props['plain_volume']} on target "
        f"{props['target']!r}, from before per-tenant disks; a new disk would start it empty. Keep the target's "
        "plain volumes (`storage: {mode: volume}`), or carry the data onto a disk with `tenantctl move` to a "
        "target with disks (README, Tenant data)"
    )


def _claimed_by_another(shown: Mapping[str, Any], claim: object) -> bool:
    """An unclaimed disk may be adopted; a claimed one only by its own claim (a retried create)."""
    held = shown.get("claim")
    return bool(held) and (claim == rpc.UNKNOWN or held != claim)


def _grow(props: Mapping[str, Any]) -> None:
    """Grow the disk, online where the host's kernel allows it. Where it does not (a host that withholds
    CAP_SYS_RESOURCE), the agent grows only a disk nothing uses: the tenant's gateway is then stopped for the
    grow (seconds) and started again, always."""
    args = ("grow", str(props["tenant"]), "--gib", str(whole(props["gib"])))
    code, output = _agent(props, *args)
    if code != 0 and IN_USE in output:
        with _client(props) as client:
            try:
                gateway: Container | None = client.containers.get(props["gateway"])
            except NotFound:
                gateway = None
            stopped = gateway if gateway is not None and gateway.status == "running" else None
            if stopped is not None:
                stopped.stop(timeout=GATEWAY_STOP_S)
            try:
                code, output = _agent(props, *args)
            finally:
                if stopped is not None:
                    stopped.start()
    if code != 0:
        raise RuntimeError(f"could not grow the disk of tenant {props['tenant']!r}: {output[-400:]}")


class TenantDiskProvider(ResourceProvider):
    serialize_as_secret_always = False

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        if olds.get("tenant") is None:
            try:
                shown = existing(news)
            except RuntimeError as exc:
                shown, failures = None, [CheckFailure("tenant", str(exc))]
            if shown is not None and _claimed_by_another(shown, news.get("claim")):
                failures.append(CheckFailure("tenant", reuse_message(news["tenant"], news["target"], shown)))
            if shown is None and news.get("host") != rpc.UNKNOWN:
                plain = plain_volume_message(news)
                failures.extend([CheckFailure("tenant", plain)] if plain else [])
        elif isinstance(news.get("gib"), int | float) and news["gib"] < float(olds.get("gib", 0)):
            was, wanted = whole(olds["gib"]), whole(news["gib"])
            failures.append(
                CheckFailure(
                    "gib",
                    f"tenant {news['tenant']!r}: its disk cannot shrink from {was} GiB to {wanted} GiB in place; "
                    f"keep overrides.storage_gib: {was}, or move it to a new disk (README, Moving a tenant)",
                )
            )
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        plain = plain_volume_message(props) if existing(props) is None else None
        if plain:
            raise RuntimeError(plain)
        args = tuple(arg for key in ("gib", "inodes", "uid") for arg in (f"--{key}", str(whole(props[key]))))
        code, output = _agent(props, "create", str(props["tenant"]), *args, "--claim", str(props["claim"]))
        if code == EXISTS:
            shown = existing(props) or {}
            raise RuntimeError(reuse_message(props["tenant"], props["target"], shown))
        if code != 0:
            raise RuntimeError(f"could not create the disk of tenant {props['tenant']!r}: {output[-400:]}")
        # A new mark for each disk made: what depends on a fresh disk (its owner) runs again when it is remade.
        return CreateResult(f"{props['target']}/{props['tenant']}", outs={**props, "created": uuid.uuid4().hex})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("tenant", "target", "claim") if olds.get(k) != news.get(k)]
        # The agent is reached by its name: a recreated agent (a new container id) changes nothing here.
        changed = replaces or [k for k in (*KEYS, "container") if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(changed) or _renewed(olds, news), replaces=replaces, delete_before_replace=bool(replaces)
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if whole(news["gib"]) > whole(olds["gib"]):
            _grow(news)
        return UpdateResult(outs={**news, "created": olds.get("created", "")})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """A refresh finds a disk that is gone (a lost host disk, a purge) gone, so the next `up` makes an
        empty one for `tenantctl restore`; an agent that cannot be asked changes nothing."""
        try:
            code, _ = _agent(props, "show", str(props["tenant"]))
        except (NotFound, APIError):
            return ReadResult(id_, props)
        return ReadResult("" if code == MISSING else id_, props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """The disk stays: data is deleted only by `tenantctl purge`."""


class TenantDisk(Resource, module="openclaw", name="TenantDisk"):
    """The tenant's disk, created, grown and mounted by the disk agent ``on``."""

    created: pulumi.Output[str]  # new each time the disk is made

    def __init__(
        self,
        name: str,
        *,
        spec: DiskSpec,
        on: RunningContainer,
        claim: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            **on.props(),
            "tenant": spec.tenant_id,
            "target": spec.target,
            "gib": spec.gib,
            "inodes": spec.inodes,
            "uid": spec.uid,
            "claim": claim,
            "data": spec.data,
            "gateway": spec.gateway,
            "plain_volume": spec.plain_volume,
            "created": None,
        }
        super().__init__(TenantDiskProvider(), name, props, opts)
