"""A plan's Docker runtime (gVisor's runsc): validation, the container spec, and the host check's message."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from components import docker_runtime
from components.docker_ops import DockerDaemon
from tenants import docker_specs as ds
from tenants.errors import FleetError
from tenants.load import parse_fleet
from tenants.model import Fleet
from tenants.resolved import DockerTenant, resolve

from .fleets import BASE

HOST = "unix:///var/run/docker.sock"


def with_runtime(mapping: str, text: str = BASE) -> str:
    """BASE with ``runtime: <mapping>`` on its Docker target."""
    return text.replace("    type: docker\n", f"    type: docker\n    runtime: {mapping}\n", 1)


def on_docker(fleet: Fleet, tenant_id: str) -> DockerTenant:
    resolved = resolve(fleet, fleet.tenant(tenant_id))
    assert isinstance(resolved, DockerTenant)
    return resolved


# --- validation ------------------------------------------------------------------------------------


def test_a_plan_may_name_a_runtime_of_its_host() -> None:
    fleet = parse_fleet(with_runtime("{pro: runsc, basic: io.containerd.runc.v2}"))
    assert fleet.targets["local"].runtime == {"pro": "runsc", "basic": "io.containerd.runc.v2"}  # type: ignore[union-attr]


def test_an_unknown_plan_is_refused_with_its_path() -> None:
    with pytest.raises(FleetError, match=r"targets\.local\.runtime\.platinum: unknown plan 'platinum'; known: "):
        parse_fleet(with_runtime("{platinum: runsc}"))


@pytest.mark.parametrize("name", ["run sc", "-runsc", "runsc;rm", "", "r" * 129])
def test_a_malformed_runtime_name_is_refused(name: str) -> None:
    with pytest.raises(FleetError, match=r"targets\.local\.runtime: .*is not a Docker runtime name"):
        parse_fleet(with_runtime(f"{{pro: {name!r}}}"))


def test_a_runtime_name_must_be_a_string() -> None:
    with pytest.raises(FleetError, match=r"targets\.local\.runtime\.pro"):
        parse_fleet(with_runtime("{pro: 7}"))


# --- the container spec ----------------------------------------------------------------------------


def test_a_target_without_runtimes_leaves_every_container_on_the_daemons_default() -> None:
    fleet = parse_fleet(BASE)
    for tenant in fleet.tenants:
        spec = ds.container_spec(on_docker(fleet, tenant.id))
        assert spec.runtime is None


def test_the_mapped_plan_gets_its_runtime_and_the_others_runc() -> None:
    fleet = parse_fleet(with_runtime("{pro: runsc}"))
    runtimes = {t.id: ds.container_spec(on_docker(fleet, t.id)).runtime for t in fleet.tenants}
    # acme is on the default plan (basic), globex on pro: runc is named so a tenant leaving pro is recreated.
    assert runtimes == {"acme": "runc", "globex": "runsc", "initech": "runc"}


def test_only_the_runtime_changes_with_it() -> None:
    """The same hardening, limits and command in the sandbox as on runc."""
    plain, mapped = parse_fleet(BASE), parse_fleet(with_runtime("{pro: runsc}"))
    before, after = (ds.container_spec(on_docker(f, "globex")) for f in (plain, mapped))
    assert dataclasses.replace(after, runtime=None) == before


def test_the_runtime_is_part_of_what_tenantctl_renders() -> None:
    fleet = parse_fleet(with_runtime("{pro: runsc}"))
    assert ds.to_data(ds.tenant_spec(on_docker(fleet, "globex")))["container"]["runtime"] == "runsc"
    assert ds.to_data(ds.tenant_spec(on_docker(parse_fleet(BASE), "globex")))["container"]["runtime"] is None


# --- the host check --------------------------------------------------------------------------------


def test_an_offered_runtime_has_no_problem() -> None:
    assert docker_runtime.missing_runtime("globex", "pro", "runsc", HOST, ["runc", "runsc"]) is None


def test_the_message_names_the_tenant_plan_runtime_host_offer_and_the_fix() -> None:
    message = docker_runtime.missing_runtime("globex", "pro", "runsc", HOST, ["runc", "io.containerd.runc.v2"])
    assert message is not None
    assert message.startswith("tenant 'globex': plan 'pro' runs on Docker runtime 'runsc'")
    assert f"the daemon at {HOST} offers only io.containerd.runc.v2, runc." in message
    assert '/etc/docker/daemon.json under "runtimes"' in message
    assert '"runsc": {"path": "/usr/local/lib/openclaw-tenants/runsc"}' in message
    assert "kill -HUP $(pidof dockerd)" in message
    assert "scripts/ensure-docker.sh" in message


class FakeDaemon:
    def __init__(self, runtimes: dict[str, Any] | Exception) -> None:
        self.runtimes = runtimes
        self.asked: list[str] = []

    @contextmanager
    def client(self, props: dict[str, Any]) -> Iterator[FakeDaemon]:
        self.asked.append(props["host"])
        yield self

    def info(self) -> dict[str, Any]:
        if isinstance(self.runtimes, Exception):
            raise self.runtimes
        return {"Runtimes": self.runtimes}


def props(runtime: str = "runsc") -> dict[str, Any]:
    return {"host": HOST, "tenant": "globex", "plan": "pro", "runtime": runtime}


def checked(monkeypatch: pytest.MonkeyPatch, daemon: FakeDaemon, news: dict[str, Any]) -> list[str]:
    monkeypatch.setattr(docker_runtime, "_client", daemon.client)
    result = docker_runtime.RuntimeCheckProvider().check({}, news)
    assert result.inputs == news
    return [f.reason for f in result.failures]


def test_the_check_passes_when_the_daemon_offers_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    daemon = FakeDaemon({"runc": {"path": "runc"}, "runsc": {"path": "/usr/bin/runsc"}})
    assert checked(monkeypatch, daemon, props()) == []
    assert daemon.asked == [HOST]


def test_the_check_fails_with_the_message_when_it_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    daemon = FakeDaemon({"runc": {"path": "runc"}})
    failures = checked(monkeypatch, daemon, props("kata"))
    assert failures == [docker_runtime.missing_runtime("globex", "pro", "kata", HOST, ["runc"])]


def test_an_unreachable_daemon_is_a_problem_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    daemon = FakeDaemon(ConnectionError("connection refused"))
    assert checked(monkeypatch, daemon, props()) == [
        f"cannot ask the Docker daemon at {HOST} which runtimes it offers: connection refused"
    ]


def test_unknown_inputs_wait_for_up(monkeypatch: pytest.MonkeyPatch) -> None:
    daemon = FakeDaemon({})
    news = props() | {"host": rpc.UNKNOWN}
    assert checked(monkeypatch, daemon, news) == []
    assert daemon.asked == []


def test_a_container_on_runc_or_the_default_waits_for_no_check() -> None:
    fleet = parse_fleet(with_runtime("{pro: runsc}"))
    runc = ds.container_spec(on_docker(fleet, "acme"))
    daemon, opts = DockerDaemon(HOST), pulumi.ResourceOptions()
    assert docker_runtime.required("acme-runtime", runc, tenant="acme", plan="basic", daemon=daemon, opts=opts) == []
    default = ds.container_spec(on_docker(parse_fleet(BASE), "acme"))
    assert docker_runtime.required("acme-runtime", default, tenant="acme", plan="basic", daemon=daemon, opts=opts) == []


def test_a_check_changes_with_its_runtime_only() -> None:
    provider = docker_runtime.RuntimeCheckProvider()
    assert provider.diff("id", props(), props()).changes is False
    assert provider.diff("id", props(), props("kata")).changes is True
