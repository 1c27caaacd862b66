"""The program with a TLS edge: the certificate reaches only its own resource, as a secret, before the
routes that use it; the outputs carry https URLs; a missing key stops the program before anything exists."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from harness.program_run import ProgramRun, run_program
from tenants import docker_specs as ds

FLEET = """\
version: 1
domain: tenants.example.com
targets:
  local:
    type: docker
    edge: {address: 203.0.113.7, port: 443, http_port: 80, tls: certificate}
    capacity: {cpus: 8, memory_gib: 16, networks: 10, storage_gib: 1000}
tenants:
  - {id: acme, model_provider: kimi, target: local}
  - {id: globex, model_provider: kimi, target: local}
"""
PEM = {"edgeTlsCert": "cert-chain-text", "edgeTlsKey": "private-key-text"}
CERTIFICATE = "pulumi-python:dynamic/openclaw:NginxCertificate"


def run(tmp_path: Path, secrets: dict[str, str]) -> ProgramRun:
    (tmp_path / "tenants.yaml").write_text(FLEET)
    return run_program(tmp_path / "tenants.yaml", secrets={"kimiApiKey": "kimi-fleet-key", **secrets})


def test_the_certificate_is_one_secret_file_written_before_the_routes(tmp_path: Path) -> None:
    result = run(tmp_path, PEM)
    (certificate,) = result.of_type(CERTIFICATE)
    assert certificate.name == "edge-local-tls"
    assert certificate.inputs["content"] == "cert-chain-text\nprivate-key-text\n"
    assert "content" in certificate.secret_inputs
    assert (certificate.inputs["path"], certificate.inputs["mode"]) == (ds.EDGE_TLS_PATH, "0400")
    assert (certificate.inputs["owner"], certificate.inputs["group"]) == (65534, 65534)
    routes = result.named("edge-local-routes")
    assert certificate.urn in routes.dependencies
    assert "ssl_certificate /etc/nginx/edge-tls.pem;" in routes.inputs["content"]
    # The material is in no other resource and no output.
    for resource in result.resources:
        if resource.urn != certificate.urn:
            assert "private-key-text" not in str(resource.inputs), resource.name
    assert "private-key-text" not in str(result.exports)


def test_urls_are_https_and_both_ports_are_published(tmp_path: Path) -> None:
    result = run(tmp_path, PEM)
    assert {t: v["url"] for t, v in result.exports["tenants"].items()} == {
        "acme": "https://acme.tenants.example.com",
        "globex": "https://globex.tenants.example.com",
    }
    ports = result.named("edge-local-proxy").inputs["ports"]
    assert [(p["internal"], p["external"], p["ip"]) for p in ports] == [
        (8080, 443, "203.0.113.7"),
        (8081, 80, "203.0.113.7"),
    ]


def test_a_missing_key_stops_the_program_naming_it(tmp_path: Path) -> None:
    with pytest.raises(pulumi.RunError, match=r"target 'local': its edge serves TLS .* openclaw-tenants:edgeTlsKey"):
        run(tmp_path, {"edgeTlsCert": PEM["edgeTlsCert"]})
