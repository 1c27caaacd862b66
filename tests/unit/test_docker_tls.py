"""Remote Docker hosts: a tcp:// host needs mutual TLS from three secret config keys, and nothing else does."""

from __future__ import annotations

import asyncio

import pulumi
import pytest
from pulumi.dynamic import ResourceProvider

from components.docker_ops import (
    TLS_KEYS,
    ContainerFileProvider,
    DaemonTls,
    NetworkLinkProvider,
    PidsLimitProvider,
    RunningContainer,
)
from components.stack_config import docker_tls
from tenants.errors import FleetError, Problem
from tenants.load import parse_fleet
from tenants.model import DockerHostTls, DockerTarget

from .stack_config_fixtures import config, set_secrets

FLEET = """\
version: 1
domain: tenants.example.com
targets:
  remote:
    type: docker
    host: {host}
{tls}    capacity: {{cpus: 4, memory_gib: 8, networks: 4, storage_gib: 1000}}
tenants:
  - {{id: acme, target: remote, model_provider: kimi}}
"""
SECRET_HINT = "pulumi config set --secret"


def fleet_text(host: str, tls: str | None = None) -> str:
    return FLEET.format(host=host, tls=f"    tls: {tls}\n" if tls is not None else "")


def problems(host: str, tls: str | None = None) -> list[Problem]:
    with pytest.raises(FleetError) as info:
        parse_fleet(fleet_text(host, tls), "fleet.yaml")
    return list(info.value.problems)


def target(host: str, tls: str | None = None) -> DockerTarget:
    found = parse_fleet(fleet_text(host, tls)).targets["remote"]
    assert isinstance(found, DockerTarget)
    return found


# --- validation ---------------------------------------------------------------------------------


def test_plain_tcp_is_refused_with_how_to_add_tls() -> None:
    (problem,) = problems("tcp://10.0.0.5:2376")
    assert problem.path == ("targets", "remote")
    assert problem.line == 4
    for fragment in ("tcp://10.0.0.5:2376 needs tls", "root on its host", "--tlsverify", SECRET_HINT, "tls: NAME"):
        assert fragment in problem.message


def test_the_shorthand_names_three_keys_after_its_prefix() -> None:
    tls = target("tcp://10.0.0.5:2376", "remote").tls
    assert tls == DockerHostTls(ca="remoteDockerCa", cert="remoteDockerCert", key="remoteDockerKey")


def test_explicit_keys_are_kept() -> None:
    tls = target("tcp://docker-01.example.com:2376", "{ca: fleetCa, cert: opsCert, key: opsKey}").tls
    assert tls is not None and tls.config_keys() == ("fleetCa", "opsCert", "opsKey")


def test_a_tcp_host_without_a_port_is_accepted_with_tls() -> None:
    assert target("tcp://docker-01.example.com", "remote").host == "tcp://docker-01.example.com"


@pytest.mark.parametrize("host", ["unix:///var/run/docker.sock", "ssh://ops@docker-01.example.com"])
def test_tls_on_a_socket_or_ssh_host_is_refused(host: str) -> None:
    (problem,) = problems(host, "remote")
    assert problem.path == ("targets", "remote")
    assert problem.message == (
        f"tls is for tcp:// hosts only; {host} is guarded by file permissions or SSH keys: remove tls"
    )


def test_the_plain_docker_port_is_refused_even_with_tls() -> None:
    (problem,) = problems("tcp://10.0.0.5:2375", "remote")
    assert "port 2375 is Docker's unencrypted port" in problem.message
    assert "tcp://HOST:2376" in problem.message


def test_a_port_that_is_not_a_number_is_refused() -> None:
    (problem,) = problems("tcp://10.0.0.5:docker", "remote")
    assert problem.path == ("targets", "remote", "host")
    assert problem.message == "must be tcp://HOST:PORT with a port number, not 'tcp://10.0.0.5:docker'"


def test_keys_must_be_config_key_names_and_distinct() -> None:
    (bad_name,) = problems("tcp://10.0.0.5:2376", "{ca: 'a b', cert: c, key: k}")
    assert bad_name.path == ("targets", "remote", "tls", "ca")
    assert "is not a Pulumi config key name" in bad_name.message
    (same,) = problems("tcp://10.0.0.5:2376", "{ca: one, cert: one, key: two}")
    assert same.message == "ca, cert and key must be three different config keys, not ('one', 'one', 'two')"


def test_every_key_is_required_in_the_long_form() -> None:
    (missing,) = problems("tcp://10.0.0.5:2376", "{ca: fleetCa, cert: opsCert}")
    assert missing.path == ("targets", "remote", "tls", "key")
    assert missing.message == "required key is missing"


# --- the stack's config -------------------------------------------------------------------------

__all__ = ["config"]  # the fixture, used by name


def test_missing_keys_are_named_with_their_target(config: pulumi.Config) -> None:
    set_secrets({"remoteDockerCa": "-----BEGIN CERTIFICATE-----"})
    with pytest.raises(pulumi.RunError) as info:
        docker_tls(config, "remote", target("tcp://10.0.0.5:2376", "remote"))
    assert str(info.value) == (
        "target 'remote' (tcp://10.0.0.5:2376) needs its Docker client certificate in the secret config keys "
        "openclaw-tenants:remoteDockerCert, openclaw-tenants:remoteDockerKey: "
        "pulumi config set --secret remoteDockerCert < cert.pem; pulumi config set --secret remoteDockerKey < key.pem"
    )


def test_present_keys_become_secret_material(config: pulumi.Config) -> None:
    set_secrets({"remoteDockerCa": "ca-pem", "remoteDockerCert": "cert-pem", "remoteDockerKey": "key-pem"})
    tls = docker_tls(config, "remote", target("tcp://10.0.0.5:2376", "remote"))
    assert tls is not None
    loop = asyncio.get_event_loop()
    for output, value in ((tls.ca, "ca-pem"), (tls.cert, "cert-pem"), (tls.key, "key-pem")):
        assert isinstance(output, pulumi.Output)
        assert loop.run_until_complete(output.is_secret())
        assert loop.run_until_complete(output.future()) == value


def test_socket_and_ssh_targets_need_no_config(config: pulumi.Config) -> None:
    set_secrets({})
    for host in ("unix:///var/run/docker.sock", "ssh://ops@docker-01.example.com"):
        assert docker_tls(config, "remote", target(host)) is None


# --- what the dynamic resources carry -----------------------------------------------------------


def test_a_socket_container_carries_exactly_the_props_it_always_had() -> None:
    on = RunningContainer(host="unix:///var/run/docker.sock", name="n", id="i")
    assert on.props() == {"host": "unix:///var/run/docker.sock", "container": "n", "container_id": "i"}


def test_a_tls_container_carries_the_material_as_secrets(config: pulumi.Config) -> None:
    on = RunningContainer(host="tcp://10.0.0.5:2376", name="n", id="i", tls=DaemonTls("ca", "cert", "key"))
    props = on.props()
    assert set(props) == {"host", "container", "container_id", *TLS_KEYS}
    loop = asyncio.get_event_loop()
    for key in TLS_KEYS:
        assert loop.run_until_complete(props[key].is_secret())


SOCKET = {"host": "unix:///var/run/docker.sock", "container": "edge", "container_id": "c1", "network": "tenant-acme"}
REMOTE = {**SOCKET, "host": "tcp://10.0.0.5:2376", "tls_ca": "ca1", "tls_cert": "cert1", "tls_key": "key1"}


@pytest.mark.parametrize("provider", [PidsLimitProvider(), NetworkLinkProvider(), ContainerFileProvider()])
def test_state_without_tls_props_shows_no_diff(provider: ResourceProvider) -> None:
    result = provider.diff("id", dict(SOCKET), dict(SOCKET))
    assert not result.changes and not result.replaces


def test_a_renewed_certificate_updates_links_in_place() -> None:
    renewed = {**REMOTE, "tls_cert": "cert2", "tls_key": "key2"}
    result = NetworkLinkProvider().diff("id", REMOTE, renewed)
    assert result.changes and result.replaces == []
    assert NetworkLinkProvider().update("id", REMOTE, renewed).outs == renewed
    assert PidsLimitProvider().diff("id", REMOTE, renewed).changes
