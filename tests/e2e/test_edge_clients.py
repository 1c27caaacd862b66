"""The edge sees each real client, and one client cannot exhaust it: deployed by the real engine.

Two tenants on a stack of their own (edge on 18680, subnet 10.255.247.0/24) behind a load balancer of
the test's own: an nginx of the edge image on the edge's network at 10.255.247.10 (the one trusted
proxy), published on 127.0.0.1:18681, which names as the client whatever the test puts in
`X-Test-Client`. Through it, one client's bad tokens and idle sockets lock out and fill only its own
share of a gateway, one client's flood gets 429s while another's requests pass, and a client's claim
is believed from the balancer only. Slow large uploads to one tenant leave the edge's /tmp empty and
another tenant's 1 MB upload passes; an unknown host reaches no tenant; the access log holds no query
string; the edge listens on its own address only, so a tenant cannot connect to it; and, switched to
the PROXY protocol (last), the balancer's header names the client and plain connections are refused.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import socket
import tarfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container
from pulumi.automation import EngineEvent, OpType

from harness.deployment import Deployment, Fleetside
from harness.egress_probe import Probe, run_probes
from harness.fleets import local_fleet
from harness.gateway_client import Reply, http_get, started, ws_connect, ws_open
from harness.waiting import wait_until
from tenants import docker_specs as ds
from tenants import openclaw
from tenants.load import parse_fleet
from tenants.model import Fleet

from ..conftest import TIMINGS
from .conftest import BOOT_TIMEOUT_S, require_engine

ALPHA, BRAVO = "cl-alpha", "cl-bravo"
TARGET = "clients"
EDGE_PORT, LB_PORT = 18680, 18681
SUBNET = ipaddress.ip_network("10.255.247.0/24")
EDGE_IP, LB_IP, HOST_IP = str(SUBNET[2]), str(SUBNET[10]), str(SUBNET[1])


def clients_fleet(**edge: object) -> str:
    return local_fleet(
        TARGET,
        [{"id": ALPHA, "plan": "basic"}, {"id": BRAVO, "plan": "pro"}],
        {"port": EDGE_PORT, "subnet": str(SUBNET), "trusted_proxies": [f"{LB_IP}/32"], **edge},
        # alpha: room for the handshake storms below (a client's share: 50 r/s, burst 100); bravo: a client's
        # share is 5 r/s with a burst of 10, the tenant's 10 r/s with 20
        plans={"basic": {"rate_limit_rps": 100, "burst": 200}, "pro": {"cpus": 1, "rate_limit_rps": 10, "burst": 20}},
        egress="none",
    )


FLEET = clients_fleet()
RUN = {"openclaw-tenants.test/run": uuid.uuid4().hex[:12]}
CLIENT_HEADER = "X-Test-Client"
# The test's load balancer: the client is whatever X-Test-Client says; bodies and upgrades pass through.
LB_CONF = f"""\
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 8080;
        location / {{
            proxy_pass http://{EDGE_IP}:8080;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $http_x_test_client;
            proxy_set_header {CLIENT_HEADER} "";
            proxy_read_timeout 120s;
        }}
    }}
}}
"""
UPLOADS, UPLOAD_BYTES, UPLOAD_SENT = 6, 16 * 1024 * 1024, 14 * 1024 * 1024  # 84 MiB in flight > the 64 MiB /tmp


def host(tenant_id: str) -> str:
    return f"{tenant_id}.localhost"


def as_client(address: str) -> dict[str, str]:
    return {CLIENT_HEADER: address}


@pytest.fixture(scope="module")
def fleet(images: dict[str, str]) -> Fleet:
    fleet = parse_fleet(FLEET)
    assert f"{fleet.images.openclaw}:{fleet.channels['stable']}" == images["openclaw"]
    return fleet


def _tar(name: str, text: str) -> bytes:
    data, buffer = text.encode(), io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o444
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def start_balancer(engine: docker.DockerClient, image: str) -> Container:
    """The operator's load balancer, as the edge sees it: a peer at LB_IP on the edge's network."""
    network = engine.networks.get(ds.edge_name(TARGET))
    container = engine.containers.create(
        image,
        ["-e", "stderr", "-g", "daemon off;"],
        entrypoint=["nginx"],
        name=f"edge-clients-lb-{RUN['openclaw-tenants.test/run']}",
        user=ds.NOBODY,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        tmpfs={"/tmp": "rw,noexec,nosuid,size=16m"},
        ports={"8080/tcp": ("127.0.0.1", LB_PORT)},
        network=network.name,
        labels=RUN,
    )
    network.disconnect(container)
    network.connect(container, ipv4_address=LB_IP)
    assert container.put_archive("/etc/nginx", _tar("nginx.conf", LB_CONF))
    container.start()
    wait_until(lambda: _answers(LB_PORT), 30.0)
    return container


def _answers(port: int) -> bool:
    try:
        return http_get(port, "nobody.localhost", "/").status == 404
    except OSError:
        return False


@pytest.fixture(scope="module")
def stack(engine: docker.DockerClient, fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_engine()
    deployment = Deployment(Path(tmp_path_factory.mktemp("clients-stack")), "clients", TIMINGS)
    try:
        deployment.apply(fleet, "edge clients: up of 2 tenants")
        for tenant_id in (ALPHA, BRAVO):
            wait_until(partial(started, EDGE_PORT, host(tenant_id)), BOOT_TIMEOUT_S)
        yield deployment
    finally:
        try:
            deployment.teardown(Fleetside(engine), fleet, "edge clients: destroy")
        finally:
            for helper in engine.containers.list(all=True, filters={"label": "openclaw-tenants.test/run"}):
                if helper.labels.get("openclaw-tenants.test/run") == RUN["openclaw-tenants.test/run"]:
                    helper.remove(force=True)


@pytest.fixture(scope="module")
def balancer(stack: Deployment, engine: docker.DockerClient, fleet: Fleet) -> Iterator[Container]:
    container = start_balancer(engine, fleet.images.proxy)
    try:
        yield container
    finally:
        container.remove(force=True)


def edge(engine: docker.DockerClient) -> Container:
    return engine.containers.get(ds.edge_name(TARGET))


def in_edge(engine: docker.DockerClient, *command: str) -> str:
    """What ``command`` prints in the edge container; it must succeed."""
    code, output = edge(engine).exec_run(list(command))
    assert isinstance(output, bytes) and code == 0, output
    return output.decode(errors="replace")


def access_log(engine: docker.DockerClient) -> list[dict[str, Any]]:
    """The edge's access log lines (JSON), without nginx's own messages on stderr."""
    text = edge(engine).logs(stdout=True, stderr=False).decode(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def logged(engine: docker.DockerClient, agent: str) -> list[dict[str, Any]]:
    return [line for line in access_log(engine) if line.get("agent") == agent]


# --- where the edge listens ------------------------------------------------------------------------


def test_the_edge_listens_on_its_own_address_only(stack: Deployment, engine: docker.DockerClient) -> None:
    proxy = edge(engine)
    networks = proxy.attrs["NetworkSettings"]["Networks"]
    assert networks[ds.edge_name(TARGET)]["IPAddress"] == EDGE_IP
    assert {ds.network_name(ALPHA), ds.network_name(BRAVO)} <= set(networks)
    listening = {
        row.split()[1] for row in in_edge(engine, "cat", "/proc/net/tcp").splitlines()[1:] if row.split()[3] == "0A"
    }
    dns = "0B00007F"  # 127.0.0.11: Docker's embedded DNS, inside the container's namespace
    edge_hex = "".join(f"{int(octet):02X}" for octet in reversed(EDGE_IP.split(".")))
    assert {a for a in listening if not a.startswith(dns)} == {f"{edge_hex}:1F90"}  # EDGE_IP:8080 only


def test_a_tenant_cannot_reach_the_edge_while_clients_through_the_published_port_can(
    stack: Deployment, engine: docker.DockerClient
) -> None:
    own_network = edge(engine).attrs["NetworkSettings"]["Networks"][ds.network_name(ALPHA)]["IPAddress"]
    gateway = engine.containers.get(ds.container_name(ALPHA))
    outcomes = run_probes(
        gateway,
        [Probe("tenant network", host=own_network, port=8080), Probe("edge network", host=EDGE_IP, port=8080)],
    )
    assert outcomes["tenant network"] == "ECONNREFUSED", outcomes
    assert outcomes["edge network"] != "open", outcomes
    reply = http_get(EDGE_PORT, host(ALPHA), openclaw.LIVENESS_PATH)
    assert reply.status == 200 and reply.json()["ok"] is True


# --- real client addresses ------------------------------------------------------------------------


def test_a_client_is_named_by_the_trusted_balancer_only(
    stack: Deployment, balancer: Container, engine: docker.DockerClient
) -> None:
    marker = uuid.uuid4().hex
    through = http_get(LB_PORT, host(ALPHA), "/healthz", {**as_client("203.0.113.7"), "User-Agent": f"lb-{marker}"})
    # Directly through the published port, a client's own X-Forwarded-For is no one's word.
    direct = http_get(
        EDGE_PORT, host(ALPHA), "/healthz", {"X-Forwarded-For": "203.0.113.8", "User-Agent": f"direct-{marker}"}
    )
    assert through.status == direct.status == 200

    def lines() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return logged(engine, f"lb-{marker}"), logged(engine, f"direct-{marker}")

    wait_until(lambda: all(lines()), 10.0)
    [via_lb], [via_port] = lines()
    assert (via_lb["client"], via_lb["peer"]) == ("203.0.113.7", LB_IP)
    assert (via_port["client"], via_port["peer"]) == (HOST_IP, HOST_IP)  # Docker's port forwarding


def test_one_clients_bad_tokens_and_idle_sockets_leave_another_client_in(
    stack: Deployment, balancer: Container, engine: docker.DockerClient
) -> None:
    """OpenClaw locks a client address out after 10 bad tokens a minute and allows it 32 unauthenticated
    sockets: behind one balancer both must hold that one client, not every user of the tenant."""
    token, attacker, user = stack.tokens[ALPHA], as_client("203.0.113.1"), as_client("203.0.113.2")
    for _ in range(10):
        refused = ws_connect(LB_PORT, host(ALPHA), "not-the-token-" + uuid.uuid4().hex, attacker)
        assert not refused.accepted and "AUTH_TOKEN_MISMATCH" in refused.detail, refused.detail
    locked = ws_connect(LB_PORT, host(ALPHA), token, attacker)
    assert not locked.accepted and "AUTH_RATE_LIMITED" in locked.detail, locked.detail
    hoarder = as_client("203.0.113.4")
    with ExitStack() as idle:
        for _ in range(32):
            idle.enter_context(ws_open(LB_PORT, host(ALPHA), hoarder))
        over = ws_connect(LB_PORT, host(ALPHA), token, hoarder)
        assert (over.accepted, over.detail) == (False, "upgrade refused: HTTP 503")
        assert ws_connect(LB_PORT, host(ALPHA), token, user).accepted
    # The 33rd socket was refused by the gateway's own cap for that client, not by the edge.
    refusals = [line for line in access_log(engine) if line["client"] == "203.0.113.4" and line["status"] == 503]
    assert refusals and all(line["upstream"] for line in refusals), refusals


# --- limits per client ----------------------------------------------------------------------------


def test_one_client_over_its_share_gets_429s_while_another_gets_200s(stack: Deployment, balancer: Container) -> None:
    """Bravo's plan: 10 r/s with a burst of 20 for the tenant, half of both for each client."""
    with ThreadPoolExecutor(max_workers=20) as pool:
        flood = list(
            pool.map(lambda _: http_get(LB_PORT, host(BRAVO), "/healthz", as_client("203.0.113.20")), range(60))
        )
    other = [http_get(LB_PORT, host(BRAVO), "/healthz", as_client("203.0.113.21")) for _ in range(5)]
    statuses = [r.status for r in flood]
    assert set(statuses) == {200, 429}, statuses
    assert all(r.json() == {"error": "too many requests"} for r in flood if r.status == 429)
    # What the flood could take of the tenant's bucket leaves the other client its requests.
    assert [r.status for r in other] == [200] * 5


# --- uploads --------------------------------------------------------------------------------------


def _start_upload(port: int, tenant_id: str, token: str, length: int, send: int) -> socket.socket:
    """A POST of ``length`` bytes of which ``send`` are sent now; the rest never comes (a slow client)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host(tenant_id)}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode())
    chunk = b" " * (1024 * 1024)
    for _ in range(send // len(chunk)):
        sock.sendall(chunk)
    return sock


def _post(port: int, tenant_id: str, token: str, body: bytes) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Host": host(tenant_id), "Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, response.read().decode(errors="replace"))
    finally:
        conn.close()


def _tmp_kib(engine: docker.DockerClient) -> int:
    return int(in_edge(engine, "du", "-sk", "/tmp").split()[0])


def test_slow_large_uploads_to_one_tenant_leave_the_edge_to_another(
    stack: Deployment, engine: docker.DockerClient
) -> None:
    with ExitStack() as uploads:
        for _ in range(UPLOADS):
            sock = _start_upload(EDGE_PORT, ALPHA, stack.tokens[ALPHA], UPLOAD_BYTES, UPLOAD_SENT)
            uploads.callback(sock.close)
        assert _tmp_kib(engine) < 1024  # 84 MiB in flight, none of it on the edge's disk
        # A 1 MB JSON body (an invalid request) reaches the other tenant's gateway, which answers it.
        body = b'{"model": 1' + b" " * (1024 * 1024) + b"}"
        reply = _post(EDGE_PORT, BRAVO, stack.tokens[BRAVO], body)
        assert reply.status == 400 and "error" in reply.json(), reply
    assert http_get(EDGE_PORT, host(ALPHA), "/healthz").status == 200


# --- unknown hosts and the log --------------------------------------------------------------------


def test_an_unknown_host_gets_404_and_reaches_no_tenant(
    stack: Deployment, balancer: Container, engine: docker.DockerClient
) -> None:
    marker = uuid.uuid4().hex
    for port in (EDGE_PORT, LB_PORT):
        for name in ("nobody.localhost", f"{ALPHA}.localhost.example.com", EDGE_IP):
            reply = http_get(port, name, "/healthz", {"User-Agent": f"unknown-{marker}"})
            assert (reply.status, reply.json()) == (404, {"error": "unknown host"})
    wait_until(lambda: len(logged(engine, f"unknown-{marker}")) == 6, 10.0)
    assert {line["upstream"] for line in logged(engine, f"unknown-{marker}")} == {""}


def test_the_access_log_holds_no_query_string_or_credentials(
    stack: Deployment, balancer: Container, engine: docker.DockerClient
) -> None:
    secret, marker = uuid.uuid4().hex, uuid.uuid4().hex
    headers = {
        "User-Agent": f"log-{marker}",
        "Authorization": f"Bearer header-{secret}",
        "Cookie": f"session=cookie-{secret}",
        "Referer": f"https://example.com/?token=referer-{secret}",
    }
    for port in (EDGE_PORT, LB_PORT):
        assert http_get(port, host(ALPHA), f"/healthz?token=query-{secret}", headers).status == 200
    wait_until(lambda: len(logged(engine, f"log-{marker}")) == 2, 10.0)
    assert {line["path"] for line in logged(engine, f"log-{marker}")} == {"/healthz"}
    everything = edge(engine).logs(stdout=True, stderr=True).decode(errors="replace")
    assert secret not in everything


def test_each_worker_may_open_as_many_files_as_its_connections_need(
    stack: Deployment, engine: docker.DockerClient
) -> None:
    script = (
        'for p in /proc/[0-9]*; do if grep -q "^nginx: worker process" "$p/cmdline" 2>/dev/null; then '
        'grep "Max open files" "$p/limits"; fi; done'
    )
    rows = in_edge(engine, "sh", "-c", script).splitlines()
    assert len(rows) == 1, rows  # one worker on a 2-CPU host
    assert rows[0].split()[3] == "16384", rows  # the soft limit: worker_rlimit_nofile


def test_the_edges_fixed_address_reads_back_as_sent(stack: Deployment) -> None:
    """What the program sends is what the provider reads back: a refresh leaves the edge as it is."""
    stack.refresh("edge clients: refresh")
    events: list[EngineEvent] = []
    stack.preview("edge clients: preview after refresh", on_event=events.append)
    steps = {
        e.resource_pre_event.metadata.urn.rsplit("::", 1)[1]: e.resource_pre_event.metadata.op
        for e in events
        if e.resource_pre_event is not None
    }
    edge_steps = {name: op for name, op in steps.items() if name.startswith(f"edge-{TARGET}")}
    assert {f"edge-{TARGET}-proxy", f"edge-{TARGET}-network", f"edge-{TARGET}-routes"} <= set(edge_steps)
    assert set(edge_steps.values()) == {OpType.SAME}, edge_steps


# A client of the balancer, as a PROXY protocol (v1) balancer forwards it: the header, then the request.
PROXIED = f"""
use IO::Socket::INET;
my ($client, $host, $agent) = @ARGV;
alarm 10;
my $s = IO::Socket::INET->new(PeerAddr => "{EDGE_IP}", PeerPort => 8080, Timeout => 10) or die "connect: $!";
print $s "PROXY TCP4 $client {EDGE_IP} 40000 8080\\r\\n";
print $s "GET /healthz HTTP/1.1\\r\\nHost: $host\\r\\nUser-Agent: $agent\\r\\nConnection: close\\r\\n\\r\\n";
print scalar <$s>;
"""


def test_with_the_proxy_protocol_the_balancers_header_names_the_client(
    stack: Deployment, balancer: Container, engine: docker.DockerClient
) -> None:
    """Last: from here on the edge takes PROXY protocol connections only, so plain HTTP is refused."""
    proxy = edge(engine).id
    switched = clients_fleet(proxy_protocol=True)
    stack.apply(parse_fleet(switched), "edge clients: up with proxy_protocol")
    assert edge(engine).id == proxy  # reloaded in place
    marker = uuid.uuid4().hex
    code, output = balancer.exec_run(["perl", "-e", PROXIED, "203.0.113.30", host(ALPHA), f"pp-{marker}"])
    assert isinstance(output, bytes) and code == 0 and output.startswith(b"HTTP/1.1 200"), output
    wait_until(lambda: bool(logged(engine, f"pp-{marker}")), 10.0)
    [line] = logged(engine, f"pp-{marker}")
    assert (line["client"], line["peer"]) == ("203.0.113.30", LB_IP)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        http_get(EDGE_PORT, host(ALPHA), "/healthz")  # no PROXY header: the edge closes the connection
