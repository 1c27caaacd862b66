"""TLS at a Docker target's edge: where plain HTTP is allowed, the https URLs and origins that follow
from TLS, the nginx lines of a certificate, and the certificate as a secret of the stack's config."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pulumi
import pytest

from components.docker_ops import NginxCertificateProvider, certificate_problem
from components.stack_config import edge_certificate
from tenants import docker_specs as ds
from tenants.edge_config import HSTS, TLS_CIPHERS, TlsListener, render_edge_config
from tenants.errors import FleetError, Problem
from tenants.load import parse_fleet
from tenants.model import DockerTarget, Edge, Fleet
from tenants.resolved import DockerTenant, resolve_all
from tenants.stack_overrides import StackOverrides, apply_overrides
from tenants.tenant_info import tenant_info

from .stack_config_fixtures import config, set_secrets

FLEET = """\
version: 1
domain: tenants.example.com
targets:
  edge:
    type: docker
    edge:
{edge}    capacity: {{cpus: 4, memory_gib: 8, networks: 4, storage_gib: 1000}}
tenants:
  - {{id: acme, target: edge, model_provider: kimi}}
  - {{id: globex, target: edge, model_provider: kimi}}
"""
CERTIFICATE = "      address: 203.0.113.7\n      port: 443\n      http_port: 80\n      tls: certificate\n"


def fleet_of(edge: str) -> Fleet:
    return parse_fleet(FLEET.format(edge=edge), "fleet.yaml")


def problems(edge: str) -> list[Problem]:
    with pytest.raises(FleetError) as info:
        fleet_of(edge)
    return list(info.value.problems)


def tenants(fleet: Fleet) -> tuple[DockerTenant, ...]:
    return resolve_all(fleet, fleet.tenants, DockerTenant)


def edge_of(fleet: Fleet) -> ds.EdgeSpec:
    return ds.edge_spec(fleet, "edge", tenants(fleet))


# --- where plain HTTP is allowed ------------------------------------------------------------------


def test_plain_http_on_a_public_address_is_refused_with_both_ways_out() -> None:
    (problem,) = problems("      address: 203.0.113.7\n")
    assert problem.path == ("targets", "edge", "edge")
    assert problem.line == 6
    assert problem.message == (
        "the edge on 203.0.113.7 (not a loopback address) would serve tenants in plain HTTP: their tokens "
        "would cross the network unencrypted, and the openclaw CLI refuses ws:// to it. Set tls: certificate "
        "(a certificate for *.<domain> in the secret config keys edgeTlsCert and edgeTlsKey), or, behind "
        "your own TLS load balancer, public_url: https://{id}.<domain>"
    )


@pytest.mark.parametrize(
    "edge",
    [
        "      address: 127.0.0.1\n",
        "      address: '::1'\n",
        "      address: 10.0.0.5\n      public_url: https://{id}.tenants.example.com\n",
        "      address: 10.0.0.5\n      tls: certificate\n",
    ],
    ids=["loopback", "ipv6-loopback", "behind-tls-balancer", "certificate"],
)
def test_plain_http_is_allowed_on_loopback_or_behind_tls(edge: str) -> None:
    assert isinstance(fleet_of(edge).targets["edge"], DockerTarget)


@pytest.mark.parametrize(
    ("edge", "message"),
    [
        (
            "      public_url: https://tenants.example.com\n",
            "'https://tenants.example.com' is not a tenant URL pattern like https://{id}.tenants.example.com: "
            "a scheme, {id} (each tenant's id) as the first label of the host, the rest of its DNS name, an "
            "optional :PORT, no path",
        ),
        (
            "      public_url: https://{id}.tenants.example.com/app\n",
            "'https://{id}.tenants.example.com/app' is not a tenant URL pattern",
        ),
        ("      public_url: https://{id}.Tenants.example.com\n", "'Tenants.example.com' is not a lowercase DNS name"),
        ("      public_url: https://{id}.x.example.com:70000\n", "port 70000 is not between 1 and 65535"),
        (
            "      tls: certificate\n      public_url: http://{id}.tenants.example.com\n",
            "public_url http://{id}.tenants.example.com is http, but the edge serves TLS: use https://",
        ),
        (
            "      http_port: 8081\n",
            "http_port answers plain HTTP with a redirect to https, which needs tls: certificate",
        ),
        (
            "      tls: certificate\n      port: 8443\n      http_port: 8443\n",
            "http_port and port are both 8443; the redirect needs a port of its own",
        ),
        ("      tls: {mode: none, cert: myCert}\n", "cert and key name the config keys of mode certificate"),
        (
            "      tls: {mode: certificate, cert: one, key: one}\n",
            "cert and key must be two different config keys, not 'one' twice",
        ),
        ("      tls: {mode: acme}\n", "Input should be 'none' or 'certificate'"),
    ],
    ids=[
        "url-without-id",
        "url-with-path",
        "url-domain",
        "url-port",
        "http-url-with-certificate",
        "redirect-without-tls",
        "redirect-on-the-tls-port",
        "keys-without-certificate",
        "one-key-twice",
        "unknown-mode",
    ],
)
def test_edge_tls_settings_are_checked(edge: str, message: str) -> None:
    found = [p.message for p in problems(edge)]
    assert any(message in m for m in found), found


def test_a_stack_override_to_a_public_address_is_checked_like_the_file() -> None:
    fleet = fleet_of("      address: 127.0.0.1\n")
    overrides = StackOverrides(tenants_file="fleet.yaml", shard="", edge_address="203.0.113.7")
    with pytest.raises(ValueError, match=r"^openclaw-tenants:edgeAddress: the edge on 203\.0\.113\.7 \(not a loop"):
        apply_overrides(fleet, overrides)


def test_the_short_form_names_the_default_keys() -> None:
    assert Edge.model_validate({"tls": "certificate"}).tls.config_keys() == ("edgeTlsCert", "edgeTlsKey")
    assert Edge().tls.mode == "none"


# --- URLs, origins, outputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edge", "url"),
    [
        ("      port: 8080\n", "http://acme.tenants.example.com:8080"),
        ("      port: 80\n", "http://acme.tenants.example.com"),
        (CERTIFICATE, "https://acme.tenants.example.com"),
        ("      tls: certificate\n      port: 18580\n", "https://acme.tenants.example.com:18580"),
        ("      address: 10.0.0.5\n      public_url: https://{id}.eu.example.com\n", "https://acme.eu.example.com"),
        (
            "      tls: certificate\n      port: 8443\n      public_url: https://{id}.tenants.example.com:9443\n",
            "https://acme.tenants.example.com:9443",
        ),
        ("      public_url: http://{id}.lan.example.com:8000\n", "http://acme.lan.example.com:8000"),
    ],
    ids=["plain", "plain-80", "certificate-443", "certificate-port", "balancer", "balancer-port", "local-balancer"],
)
def test_tenant_urls_and_origins_follow_the_edge(edge: str, url: str) -> None:
    fleet = fleet_of(edge)
    acme = next(t for t in tenants(fleet) if t.id == "acme")
    assert acme.url == url
    assert fleet.url(fleet.tenant("acme")) == url
    assert tenant_info(acme).url == url
    assert ds.tenant_spec(acme).url == url
    config = json.loads(acme.gateway_config_text)
    assert config["gateway"]["controlUi"]["allowedOrigins"] == [url]
    # The edge routes the host the URL names.
    host = url.split("://")[1].split(":", maxsplit=1)[0]
    assert acme.host == host
    assert f"server_name {host};" in edge_of(fleet).config


# --- the nginx configuration -------------------------------------------------------------------------


def test_a_certificate_makes_every_listener_tls_with_modern_settings_only() -> None:
    conf = edge_of(fleet_of(CERTIFICATE)).config
    # Whatever address the listeners bind, their ports and parameters:
    listens = re.findall(r"^\s+listen (?:\S+:)?(\d.*);$", conf, flags=re.M)
    assert listens.count("8080 ssl http2 default_server") == 1
    assert listens.count("8080 ssl http2") == 2  # acme and globex
    assert set(listens) == {"8080 ssl http2 default_server", "8080 ssl http2", "8081 default_server", "8081"}
    for line in (
        "    ssl_certificate /etc/nginx/edge-tls.pem;",
        "    ssl_certificate_key /etc/nginx/edge-tls.pem;",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    ssl_prefer_server_ciphers off;",
        "    ssl_session_tickets off;",
        f"    ssl_ciphers {TLS_CIPHERS};",
        '    add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;',
        "    proxy_hide_header Strict-Transport-Security;",
        "        ssl_reject_handshake on;",
    ):
        assert line in conf.splitlines(), line
    assert HSTS == "max-age=63072000; includeSubDomains"
    # Mozilla intermediate's ECDHE suites: AEAD only, forward secrecy only.
    suites = TLS_CIPHERS.split(":")
    assert suites and all(s.startswith("ECDHE-") and ("GCM" in s or "CHACHA20" in s) for s in suites)
    assert not re.search(r"TLSv1(\.[01])?[ ;]|SSLv", conf)


def test_plain_http_on_the_redirect_port_answers_308_for_known_hosts_only() -> None:
    conf = edge_of(fleet_of(CERTIFICATE)).config
    redirect = re.search(r"    server \{\n        listen (?:\S+:)?8081;\n(.*?)\n    \}", conf, flags=re.S)
    assert redirect is not None
    assert redirect.group(1).splitlines() == [
        "        server_name acme.tenants.example.com globex.tenants.example.com;",
        "        return 308 https://$host$request_uri;",
    ]
    # Unknown hosts on either port reach the default server's 404, never a tenant.
    default = re.search(
        r"    server \{\n        listen (?:\S+:)?8080 ssl http2 default_server;\n(.*?)\n    \}", conf, re.S
    )
    assert default is not None
    assert re.search(r"^        listen (\S+:)?8081 default_server;$", default.group(1), flags=re.M)
    assert "return 404" in default.group(1)


def test_the_redirect_names_a_port_that_is_not_443() -> None:
    routes = edge_of(fleet_of(CERTIFICATE)).routes
    conf = render_edge_config(routes, ds.EDGE_PORT, TlsListener(ds.EDGE_TLS_PATH, 18580, ds.EDGE_HTTP_PORT))
    assert "        return 308 https://$host:18580$request_uri;" in conf.splitlines()
    # Without a redirect port nothing listens on plain HTTP.
    alone = render_edge_config(routes, ds.EDGE_PORT, TlsListener(ds.EDGE_TLS_PATH, 443))
    assert "8081" not in alone and "return 308" not in alone


def test_behind_a_proxy_protocol_balancer_both_ports_expect_its_header() -> None:
    edge = CERTIFICATE + "      trusted_proxies: [10.255.255.10/32]\n      proxy_protocol: true\n"
    listens = re.findall(r"^\s+listen (?:\S+:)?(\d.*);$", edge_of(fleet_of(edge)).config, flags=re.M)
    assert set(listens) == {
        "8080 ssl http2 proxy_protocol default_server",
        "8080 ssl http2 proxy_protocol",
        "8081 proxy_protocol default_server",
        "8081 proxy_protocol",
    }


def test_without_a_certificate_nothing_of_tls_is_rendered() -> None:
    for edge in ("      port: 8080\n", "      address: 10.0.0.5\n      public_url: https://{id}.tenants.example.com\n"):
        conf = edge_of(fleet_of(edge)).config
        assert "ssl" not in conf and "Strict-Transport-Security" not in conf and "return 308" not in conf


def test_gateways_are_told_the_scheme_clients_used() -> None:
    behind = edge_of(fleet_of("      address: 10.0.0.5\n      public_url: https://{id}.tenants.example.com\n"))
    assert "    proxy_set_header X-Forwarded-Proto https;" in behind.config.splitlines()
    for edge in ("      port: 8080\n", CERTIFICATE):
        assert "    proxy_set_header X-Forwarded-Proto $scheme;" in edge_of(fleet_of(edge)).config.splitlines()


# --- the edge container and its certificate file --------------------------------------------------


def test_the_redirect_port_is_published_on_the_edge_address() -> None:
    spec = edge_of(fleet_of(CERTIFICATE))
    assert spec.container.ports == (
        ds.Port(internal=ds.EDGE_PORT, external=443, ip="203.0.113.7"),
        ds.Port(internal=ds.EDGE_HTTP_PORT, external=80, ip="203.0.113.7"),
    )
    assert spec.certificate == ds.CertificateFile(("edgeTlsCert", "edgeTlsKey"))
    assert (spec.certificate.owner, spec.certificate.group, spec.certificate.mode) == (65534, 65534, "0400")
    assert spec.certificate.path == ds.EDGE_TLS_PATH == "/etc/nginx/edge-tls.pem"


def test_the_certificate_never_touches_the_container() -> None:
    """The container starts with the route-less plain config; a rotation is the file's own update."""
    plain, tls = edge_of(fleet_of("      port: 443\n")), edge_of(fleet_of("      port: 443\n      tls: certificate\n"))
    assert plain.container == tls.container
    assert plain.certificate is None
    assert "ssl" not in tls.container.uploads[0].content


def test_named_keys_are_kept() -> None:
    spec = edge_of(fleet_of("      tls: {mode: certificate, cert: euCert, key: euKey}\n"))
    assert spec.certificate is not None and spec.certificate.config_keys == ("euCert", "euKey")


# --- the stack's config -------------------------------------------------------------------------------

__all__ = ["config"]  # the fixture, used by name


def edge_target(edge: str) -> DockerTarget:
    target = fleet_of(edge).targets["edge"]
    assert isinstance(target, DockerTarget)
    return target


def test_missing_certificate_keys_are_named_with_their_target(config: pulumi.Config) -> None:
    set_secrets({"edgeTlsCert": "-----BEGIN CERTIFICATE-----"})
    with pytest.raises(pulumi.RunError) as info:
        edge_certificate(config, "edge", edge_target(CERTIFICATE))
    assert str(info.value) == (
        "target 'edge': its edge serves TLS (edge.tls: certificate) and needs the certificate for *.<domain> "
        "and its key in the secret config key openclaw-tenants:edgeTlsKey: "
        "pulumi config set --secret edgeTlsKey < privkey.pem"
    )
    set_secrets({})
    with pytest.raises(pulumi.RunError, match=r"config keys openclaw-tenants:edgeTlsCert, openclaw-tenants:edgeTlsKey"):
        edge_certificate(config, "edge", edge_target(CERTIFICATE))


def test_the_certificate_becomes_one_secret_pem(config: pulumi.Config) -> None:
    set_secrets({"edgeTlsCert": "CHAIN", "edgeTlsKey": "KEY\n"})
    found = edge_certificate(config, "edge", edge_target(CERTIFICATE))
    assert found is not None
    pem = found.pem()
    loop = asyncio.get_event_loop()
    assert loop.run_until_complete(pem.is_secret())
    assert loop.run_until_complete(pem.future()) == "CHAIN\nKEY\n"


def test_an_edge_without_tls_reads_no_config(config: pulumi.Config) -> None:
    set_secrets({})
    assert edge_certificate(config, "edge", edge_target("      port: 8080\n")) is None


# --- the certificate's own resource -------------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A self-signed wildcard certificate, its key, and a key of another pair."""
    work = tmp_path_factory.mktemp("edge-pki")
    for name in ("edge", "other"):
        openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=*.tenants.example.com", "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=work,
        )  # fmt: skip
    return {p.stem + p.suffix.replace(".", "_"): p.read_text() for p in work.iterdir()}


def test_a_certificate_with_its_own_key_loads(pems: dict[str, str]) -> None:
    assert certificate_problem(pems["edge_pem"] + pems["edge_key"]) is None
    assert certificate_problem(None) is None  # unknown during a preview


def test_a_key_of_another_certificate_or_no_key_is_refused_before_it_is_written(pems: dict[str, str]) -> None:
    for pem in (pems["edge_pem"] + pems["other_key"], pems["edge_pem"], "not a certificate"):
        problem = certificate_problem(pem)
        assert problem is not None and problem.startswith("the edge certificate does not load with its key (")
    props = {"host": "unix:///nowhere.sock", "container": "edge", "container_id": "c1", "path": ds.EDGE_TLS_PATH}
    mismatched = {**props, "content": pems["edge_pem"] + pems["other_key"]}
    check = NginxCertificateProvider().check({}, mismatched)
    assert [f.property for f in check.failures] == ["content"]
    with pytest.raises(RuntimeError, match="does not load with its key"):
        NginxCertificateProvider().create(mismatched)  # refused before any daemon is asked


def test_a_rotation_is_an_update_in_place(pems: dict[str, str]) -> None:
    props = {"host": "unix:///s", "container": "edge", "container_id": "c1", "path": ds.EDGE_TLS_PATH}
    old = {**props, "content": "A", "owner": 65534, "group": 65534, "mode": "0400"}
    result = NginxCertificateProvider().diff("id", old, {**old, "content": "B"})
    assert result.changes and not result.replaces
    assert NginxCertificateProvider().diff("id", old, {**old, "mode": "0440"}).changes
    assert not NginxCertificateProvider().diff("id", old, dict(old)).changes
