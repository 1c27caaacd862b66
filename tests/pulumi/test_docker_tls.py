"""The program on a tcp:// Docker host: the client certificate reaches the provider and every dynamic
resource as secrets, and a socket host's resources carry exactly what they carried before."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from components.docker_ops import TLS_KEYS
from harness.program_run import ProgramRun, Registered, run_program

FLEET = """\
version: 1
domain: tenants.example.com
targets:
  local:
    type: docker
    capacity: {cpus: 8, memory_gib: 16, networks: 10, storage_gib: 1000}
  remote:
    type: docker
    host: tcp://docker-01.example.com:2376
    tls: remote
    edge: {port: 8081}
    capacity: {cpus: 8, memory_gib: 16, networks: 10, storage_gib: 1000}
tenants:
  - {id: acme, target: local, model_provider: kimi}
  - {id: globex, target: remote, model_provider: kimi, shard: remote}
"""
PEM = {"remoteDockerCa": "ca-pem-text", "remoteDockerCert": "cert-pem-text", "remoteDockerKey": "key-pem-text"}
MATERIAL = ("caMaterial", "certMaterial", "keyMaterial")
DYNAMIC = "pulumi-python:dynamic/openclaw:"


def run(tmp_path: Path, secrets: dict[str, str]) -> ProgramRun:
    (tmp_path / "tenants.yaml").write_text(FLEET)
    return run_program(tmp_path / "tenants.yaml", secrets={"kimiApiKey": "kimi-fleet-key", **secrets})


def dynamic_on(result: ProgramRun, host: str) -> list[Registered]:
    return [r for r in result.resources if r.type.startswith(DYNAMIC) and r.inputs.get("host") == host]


def test_the_client_certificate_is_secret_in_the_provider_and_every_dynamic_resource(tmp_path: Path) -> None:
    result = run(tmp_path, PEM)
    providers = {r.inputs["host"]: r for r in result.of_type("pulumi:providers:docker")}
    remote = providers["tcp://docker-01.example.com:2376"]
    assert [remote.inputs[k] for k in MATERIAL] == list(PEM.values())
    assert set(MATERIAL) <= remote.secret_inputs
    on_remote = dynamic_on(result, remote.inputs["host"])
    assert {"PidsLimit", "NetworkLink", "NginxConfig", "ContainerFile"} <= {r.type.split(":")[-1] for r in on_remote}
    for resource in on_remote:
        assert [resource.inputs[k] for k in TLS_KEYS] == list(PEM.values()), resource.name
        assert set(TLS_KEYS) <= resource.secret_inputs, resource.name


def test_a_socket_host_carries_no_tls_anywhere(tmp_path: Path) -> None:
    result = run(tmp_path, PEM)
    local = next(r for r in result.of_type("pulumi:providers:docker") if r.inputs["host"].startswith("unix://"))
    assert not set(MATERIAL) & set(local.inputs)
    on_local = dynamic_on(result, local.inputs["host"])
    assert on_local
    for resource in on_local:
        assert not set(TLS_KEYS) & set(resource.inputs), resource.name


def test_a_missing_key_stops_the_program_naming_it_and_its_target(tmp_path: Path) -> None:
    with pytest.raises(pulumi.RunError) as info:
        run(tmp_path, {k: v for k, v in PEM.items() if k != "remoteDockerKey"})
    text = str(info.value)
    assert "target 'remote' (tcp://docker-01.example.com:2376)" in text
    assert "openclaw-tenants:remoteDockerKey" in text
    assert "pulumi config set --secret remoteDockerKey < key.pem" in text
