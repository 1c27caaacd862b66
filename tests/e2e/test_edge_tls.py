"""TLS at the edge, deployed by the real engine on the local Docker engine.

Two tenants on a stack of their own whose edge serves a certificate (a wildcard for ``*.tls.localhost``
signed by a CA made here with openssl; https on 18580, plain HTTP on 18581, subnet 10.255.248.0/24). The
official ``openclaw`` CLI, trusting that CA and without ``OPENCLAW_ALLOW_INSECURE_PRIVATE_WS``, reaches
each tenant over wss:// with its own token and is refused with the other tenant's; plain HTTP gets a 308
to https; answers carry HSTS; TLS 1.1 and unknown names get no handshake; the stack's URLs are https; the
key is ciphertext in the state and readable only by nginx's user in the container; and a new certificate
is served after an update that keeps the edge container.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import docker
import pytest
from pulumi import automation as auto

from harness.deployment import Deployment, Fleetside
from harness.fleets import local_fleet
from harness.local_ca import Leaf, Pki
from harness.waiting import wait_until
from tenants import docker_specs as ds
from tenants import openclaw
from tenants.load import load_fleet
from tenants.model import Fleet

from ..conftest import TIMINGS
from .conftest import BOOT_TIMEOUT_S, require_engine

ALPHA, BRAVO = "tls-alpha", "tls-bravo"
# Three labels: Node (the CLI) accepts no wildcard directly under a top-level name such as *.localhost.
DOMAIN = "tls.localhost"
HTTPS_PORT, HTTP_PORT = 18580, 18581
FLEET = local_fleet(
    "tls",
    [{"id": ALPHA}, {"id": BRAVO}],
    {"port": HTTPS_PORT, "http_port": HTTP_PORT, "subnet": "10.255.248.0/24", "tls": "certificate"},
    domain=DOMAIN,
    egress="none",
)
CERT_KEY, KEY_KEY = "openclaw-tenants:edgeTlsCert", "openclaw-tenants:edgeTlsKey"
TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 120


def host_of(tenant_id: str) -> str:
    return f"{tenant_id}.{DOMAIN}"


# --- a CA of the test's own -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("edge-pki"), DOMAIN)


# --- clients, only ever of 127.0.0.1 --------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: str
    serial: str  # of the certificate the edge presented


def https_get(pki: Pki, host: str, path: str) -> Answer:
    """GET over TLS to the edge on 127.0.0.1 with ``host`` as SNI and Host, trusting only the test's CA."""
    context = ssl.create_default_context(cafile=str(pki.ca))
    raw = socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=TIMEOUT_S)
    with context.wrap_socket(raw, server_hostname=host) as tls:
        peer = tls.getpeercert()
        assert peer is not None
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(tls)
        response.begin()
        body = response.read().decode(errors="replace")
        return Answer(response.status, dict(response.getheaders()), body, str(peer["serialNumber"]))


def http_get(host: str, path: str) -> tuple[int, Mapping[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=TIMEOUT_S)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        conn.close()


def started(pki: Pki, tenant_id: str) -> bool:
    try:
        answer = https_get(pki, host_of(tenant_id), openclaw.STARTUP_PATH)
    except OSError:
        return False
    return answer.status == 200 and json.loads(answer.body).get("status") == "started"


def s_client(*args: str, host: str = host_of(ALPHA)) -> subprocess.CompletedProcess[str]:
    """openssl's client against the edge; SECLEVEL=0 so that the client itself would offer old protocols."""
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{HTTPS_PORT}", "-servername", host]
    return subprocess.run(
        [*command, "-cipher", "DEFAULT@SECLEVEL=0", *args],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def openclaw_cli(engine: docker.DockerClient, pki: Pki, image: str, *args: str) -> tuple[int, str]:
    """The official CLI of the gateway image, on the host's network (it reaches 127.0.0.1 only), with the
    tenant names resolving to 127.0.0.1 inside its container and the test's CA as the one it adds."""
    container = engine.containers.run(
        image,
        ["node", "openclaw.mjs", *args],
        network_mode="host",
        extra_hosts={host_of(ALPHA): "127.0.0.1", host_of(BRAVO): "127.0.0.1"},
        environment={"NODE_EXTRA_CA_CERTS": "/pki/ca.pem", "OPENCLAW_DISABLE_BONJOUR": "1"},
        volumes={str(pki.ca): {"bind": "/pki/ca.pem", "mode": "ro"}},  # the CA alone, world-readable
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        labels=RUN,
        detach=True,
    )
    try:
        code = int(container.wait(timeout=CLI_TIMEOUT_S)["StatusCode"])
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


# --- the stack --------------------------------------------------------------------------------------

RUN = {"openclaw-tenants.test/run": f"edge-tls-{socket.gethostname()}"}


@pytest.fixture(scope="module")
def fleet(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    path = tmp_path_factory.mktemp("tls-fleet") / "fleet.yaml"
    path.write_text(FLEET)
    fleet = load_fleet(path)
    assert f"{fleet.images.openclaw}:{fleet.channels['stable']}" == images["openclaw"]
    return fleet


def set_certificate(deployment: Deployment, leaf: Leaf) -> None:
    stack = deployment.stack()
    stack.set_config(CERT_KEY, auto.ConfigValue(value=leaf.cert, secret=True))
    stack.set_config(KEY_KEY, auto.ConfigValue(value=leaf.key, secret=True))


@dataclass
class TlsStack:
    deployment: Deployment
    first: Leaf


@pytest.fixture(scope="module")
def stack(
    engine: docker.DockerClient, fleet: Fleet, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsStack]:
    require_engine()
    deployment = Deployment(Path(tmp_path_factory.mktemp("tls-stack")), "tls", TIMINGS)
    try:
        first = pki.leaf("first")
        set_certificate(deployment, first)
        deployment.apply(fleet, "edge tls: up of 2 tenants behind a TLS edge")
        for tenant_id in (ALPHA, BRAVO):
            wait_until(partial(started, pki, tenant_id), BOOT_TIMEOUT_S)
        yield TlsStack(deployment, first)
    finally:
        try:
            deployment.teardown(Fleetside(engine), fleet, "edge tls: destroy")
        finally:
            for helper in engine.containers.list(all=True, filters={"label": "openclaw-tenants.test/run"}):
                if helper.labels.get("openclaw-tenants.test/run") == RUN["openclaw-tenants.test/run"]:
                    helper.remove(force=True)


def gateway_image(fleet: Fleet) -> str:
    return f"{fleet.images.openclaw}:{fleet.channels['stable']}"


# --- the tests ----------------------------------------------------------------------------------------


def test_the_stack_gives_https_urls(stack: TlsStack) -> None:
    up = stack.deployment.last
    assert up is not None
    expected = {t: f"https://{host_of(t)}:{HTTPS_PORT}" for t in (ALPHA, BRAVO)}
    assert dict(up.urls) == expected
    outputs = stack.deployment.stack().outputs()
    assert {t: v["url"] for t, v in outputs["tenants"].value.items()} == expected


def test_the_official_cli_reaches_each_tenant_over_wss_with_its_own_token_only(
    stack: TlsStack, engine: docker.DockerClient, pki: Pki, fleet: Fleet
) -> None:
    tokens = stack.deployment.tokens
    for tenant_id, other in ((ALPHA, BRAVO), (BRAVO, ALPHA)):
        url = f"wss://{host_of(tenant_id)}:{HTTPS_PORT}"
        code, output = openclaw_cli(engine, pki, gateway_image(fleet), "gateway", "health", "--url", url,
                                    "--token", tokens[tenant_id], "--json")  # fmt: skip
        assert code == 0, output
        assert '"ok": true' in output or '"ok":true' in output, output
        code, output = openclaw_cli(engine, pki, gateway_image(fleet), "gateway", "health", "--url", url,
                                    "--token", tokens[other], "--json")  # fmt: skip
        assert code != 0, output
        # Refused by the gateway, over a connection TLS let through.
        assert "token" in output.lower() and "certificate" not in output.lower(), output


def test_the_cli_still_refuses_plaintext_to_the_same_host(
    stack: TlsStack, engine: docker.DockerClient, pki: Pki, fleet: Fleet
) -> None:
    """What TLS replaces: the CLI's own refusal of ws:// to a non-loopback name, break-glass unset."""
    url = f"ws://{host_of(ALPHA)}:{HTTP_PORT}"
    code, output = openclaw_cli(engine, pki, gateway_image(fleet), "gateway", "health", "--url", url,
                                "--token", stack.deployment.tokens[ALPHA])  # fmt: skip
    assert code != 0 and "SECURITY ERROR" in output, output


def test_plain_http_is_redirected_to_https_for_known_hosts_only(stack: TlsStack) -> None:
    status, headers = http_get(host_of(ALPHA), "/some/path?x=1")
    assert status == 308
    assert headers["Location"] == f"https://{host_of(ALPHA)}:{HTTPS_PORT}/some/path?x=1"
    status, headers = http_get(f"nobody.{DOMAIN}", "/")
    assert status == 404 and "Location" not in headers


def test_answers_carry_hsts_set_by_the_edge(stack: TlsStack, pki: Pki) -> None:
    for path in (openclaw.LIVENESS_PATH, "/no-such-page"):
        answer = https_get(pki, host_of(BRAVO), path)
        assert answer.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    assert json.loads(https_get(pki, host_of(BRAVO), openclaw.LIVENESS_PATH).body)["ok"] is True


def test_old_protocols_and_unknown_names_get_no_handshake(stack: TlsStack, pki: Pki) -> None:
    old = s_client("-tls1_1")
    assert old.returncode != 0
    assert "alert protocol version" in old.stdout + old.stderr, old.stderr  # the edge's refusal, not the client's
    for version in ("-tls1_2", "-tls1_3"):
        modern = s_client(version, "-CAfile", str(pki.ca), "-verify_return_error")
        assert modern.returncode == 0, modern.stderr
        assert "Verify return code: 0 (ok)" in modern.stdout
    unknown = s_client("-tls1_2", host=f"nobody.{DOMAIN}")
    assert unknown.returncode != 0 and "unrecognized name" in unknown.stdout + unknown.stderr


def stored_state(deployment: Deployment) -> str:
    """The stack's checkpoint as the backend keeps it (secrets encrypted)."""
    (found,) = deployment.state.glob(".pulumi/stacks/*/tls.json")
    return found.read_text()


def key_lines(leaf: Leaf) -> list[str]:
    return [line for line in leaf.key.splitlines() if line and not line.startswith("-----")]


def test_the_key_is_ciphertext_in_the_state_and_private_in_the_edge(
    stack: TlsStack, engine: docker.DockerClient
) -> None:
    state = stored_state(stack.deployment)
    assert key_lines(stack.first) and not [line for line in key_lines(stack.first) if line in state]
    edge = engine.containers.get(ds.edge_name("tls"))
    code, output = edge.exec_run(["stat", "-c", "%u:%g %a", ds.EDGE_TLS_PATH])
    assert isinstance(output, bytes)
    assert (code, output.decode().strip()) == (0, "65534:65534 400")


def test_a_new_certificate_is_served_by_the_same_edge_container(
    stack: TlsStack, engine: docker.DockerClient, pki: Pki, fleet: Fleet
) -> None:
    deployment = stack.deployment
    before = engine.containers.get(ds.edge_name("tls")).id
    assert https_get(pki, host_of(ALPHA), openclaw.LIVENESS_PATH).serial == stack.first.serial
    second = pki.leaf("second")
    assert second.serial != stack.first.serial
    set_certificate(deployment, second)
    deployment.apply(fleet, "edge tls: certificate rotation")
    summary = deployment.stack().history(page_size=1)[0].resource_changes or {}
    changes: dict[str, Any] = {str(getattr(op, "value", op)): count for op, count in summary.items()}
    assert not {"create", "delete", "replace", "create-replacement", "delete-replaced"} & set(changes), changes
    assert changes.get("update", 0) >= 1, changes
    assert engine.containers.get(ds.edge_name("tls")).id == before
    for tenant_id in (ALPHA, BRAVO):
        assert https_get(pki, host_of(tenant_id), openclaw.LIVENESS_PATH).serial == second.serial
    assert not [line for line in key_lines(second) if line in stored_state(deployment)]
