"""The edge's view of clients: real addresses from trusted load balancers only, limits per client within
each tenant, streamed bodies, bounded waits, logs without query strings, and listeners on its own address."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tenants import docker_specs as ds
from tenants.edge_config import Clients, Route, render_edge_config
from tenants.errors import FleetError
from tenants.load import parse_fleet
from tenants.model import DockerTarget, Fleet
from tenants.resolved import DockerTenant, resolve_all

ROOT = Path(__file__).resolve().parents[2]
FLEET = (ROOT / "tests" / "e2e" / "fleet.yaml").read_text()
EDGE_LINE = "    edge: {address: 127.0.0.1, port: 18080}\n"


def with_edge(settings: str, *, capacity_cpus: int = 2) -> str:
    """The e2e fleet with ``settings`` added to its target's edge (and the host's CPUs)."""
    assert EDGE_LINE in FLEET
    text = FLEET.replace(
        EDGE_LINE, f"    edge: {{address: 127.0.0.1, port: 18080{', ' if settings else ''}{settings}}}\n"
    )
    return text.replace("capacity: {cpus: 2,", f"capacity: {{cpus: {capacity_cpus},")


def edge_of(text: str) -> ds.EdgeSpec:
    fleet = parse_fleet(text)
    return ds.edge_spec(fleet, "e2e", resolve_all(fleet, fleet.tenants, DockerTenant))


def server_block(conf: str, host: str) -> str:
    match = re.search(
        rf"    server {{\n        listen [^\n]*\n        server_name {re.escape(host)};\n(.*?)\n    }}", conf, re.S
    )
    assert match, host
    return match.group(1)


def test_without_trusted_proxies_the_peer_is_the_client_and_forwarded_headers_are_overwritten() -> None:
    conf = edge_of(with_edge("")).config
    assert "set_real_ip_from" not in conf and "real_ip_header" not in conf
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    assert "proxy_set_header X-Real-IP $remote_addr;" in conf
    assert "$proxy_add_x_forwarded_for" not in conf


def test_trusted_load_balancers_name_the_client_in_x_forwarded_for() -> None:
    conf = edge_of(with_edge("trusted_proxies: [10.255.255.10/32, 192.0.2.0/28]")).config
    assert re.findall(r"set_real_ip_from (\S+);", conf) == ["10.255.255.10/32", "192.0.2.0/28"]
    assert "real_ip_header X-Forwarded-For;" in conf and "real_ip_recursive on;" in conf
    # The gateway still gets exactly one address: the client the edge attributed the request to.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    assert "proxy_protocol" not in conf


def test_the_proxy_protocol_names_the_client_on_every_listener() -> None:
    edge = edge_of(with_edge("trusted_proxies: [10.255.255.10/32], proxy_protocol: true"))
    listens = re.findall(r"listen ([^;]+);", edge.config)
    assert listens and all(line.endswith("proxy_protocol") or " proxy_protocol " in line for line in listens)
    assert "real_ip_header proxy_protocol;" in edge.config


def test_client_settings_change_the_routing_config_only_never_the_container() -> None:
    """The edge container is recreated only for what it is made of; client settings reload in place."""
    plain = edge_of(with_edge(""))
    tuned = edge_of(with_edge("trusted_proxies: [10.255.255.10/32], proxy_protocol: true, client_rate_share: 0.2"))
    assert plain.container == tuned.container and plain.network == tuned.network
    assert plain.config != tuned.config


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("trusted_proxies: [0.0.0.0/0]", "0.0.0.0/0 trusts every address: any client could name any client"),
        ('trusted_proxies: ["::/0"]', "::/0 trusts every address"),
        ("trusted_proxies: [10.0.0.1/8]", "'10.0.0.1/8' is not a CIDR like 203.0.113.0/24"),
        ("trusted_proxies: [lb.internal]", "'lb.internal' is not a CIDR"),
        ("proxy_protocol: true", "proxy_protocol needs trusted_proxies"),
        ("client_connections: 32", "32 is not above the 32 unauthenticated sockets each gateway allows"),
        ("client_connections: 600, tenant_connections: 500", "client_connections 600 is above tenant_connections"),
        ("client_rate_share: 0", "greater than 0"),
        ("client_rate_share: 1.5", "less than or equal to 1"),
        ("subnet: 10.255.255.0/30", "10.255.255.0/30 must be an IPv4 network of /28 or larger"),
        ('subnet: "fd00:255::/64"', "must be an IPv4 network"),
    ],
)
def test_edge_client_settings_are_validated(settings: str, message: str) -> None:
    with pytest.raises(FleetError, match=re.escape(message)) as caught:
        parse_fleet(with_edge(settings))
    assert "targets.e2e.edge" in str(caught.value)


def test_each_client_gets_a_share_of_its_tenants_rate_before_the_tenants_own_limit() -> None:
    conf = edge_of(with_edge("client_rate_share: 0.25")).config
    # basic: 10 r/s burst 20; pro: 30 r/s burst 60; the e2e fleet's enterprise: 100 r/s burst 200.
    zones = dict(
        re.findall(r"limit_req_zone \$binary_remote_addr\$server_name zone=(client_\w+):10m rate=(\d+)r/m;", conf)
    )
    assert zones == {"client_basic": "150", "client_pro": "450", "client_enterprise": "1500"}
    block = server_block(conf, "e2e-basic.localhost")
    limits = re.findall(r"limit_req zone=(\w+) burst=(\d+) nodelay;", block)
    assert limits == [("client_basic", "5"), ("plan_basic", "20")]  # the client's first


def test_connections_are_limited_per_client_and_per_tenant_with_clear_statuses() -> None:
    conf = edge_of(with_edge("client_connections: 48, tenant_connections: 900")).config
    assert "limit_conn_zone $binary_remote_addr$server_name zone=conns_client:10m;" in conf
    assert "limit_conn_zone $server_name zone=conns_tenant:1m;" in conf
    assert "limit_req_status 429;" in conf and "limit_conn_status 503;" in conf
    for host in ("e2e-basic.localhost", "e2e-pro.localhost", "e2e-ent.localhost"):
        block = server_block(conf, host)
        assert "limit_conn conns_client 48;" in block and "limit_conn conns_tenant 900;" in block
        assert "error_page 429 @too_many_requests;" in block and "error_page 503 @too_many_connections;" in block
        assert """return 429 '{"error":"too many requests"}';""" in block
        assert """return 503 '{"error":"too many connections"}';""" in block


def test_defaults_stay_above_the_gateways_own_per_client_allowance() -> None:
    target = parse_fleet(with_edge("")).targets["e2e"]
    assert isinstance(target, DockerTarget)
    clients = Clients.of(target.edge)
    assert clients.connections > 32 and clients.connections <= clients.tenant_connections
    assert (clients.rate_per_minute(10), clients.burst(20)) == (300, 10)


def test_bodies_and_responses_stream_and_every_wait_is_bounded() -> None:
    conf = edge_of(with_edge("")).config
    for line in (
        "proxy_request_buffering off;",
        "proxy_buffering off;",
        "client_body_buffer_size 64k;",
        "client_header_timeout 10s;",
        "client_body_timeout 30s;",
        "send_timeout 30s;",
        "keepalive_timeout 30s;",
        "reset_timedout_connection on;",
        "proxy_connect_timeout 5s;",
        "client_max_body_size 25m;",
    ):
        assert f"    {line}\n" in conf, line


def test_access_log_has_no_query_string_and_no_credentials() -> None:
    conf = edge_of(with_edge("trusted_proxies: [10.255.255.10/32]")).config
    [log_format] = [line for line in conf.splitlines() if line.lstrip().startswith("log_format ")]
    assert "escape=json" in log_format and '"path":"$uri"' in log_format
    for leak in ("$request_uri", "$args", "$query_string", "$request ", "$http_authorization", "$http_cookie"):
        assert leak not in log_format
    assert "$http_referer" not in log_format  # a referring URL carries its own query string
    assert '"client":"$remote_addr","peer":"$realip_remote_addr"' in log_format
    assert "    access_log /dev/stdout edge;\n" in conf
    assert conf.count("access_log") == 1


def test_every_listener_binds_the_edges_own_address_only() -> None:
    edge = edge_of(with_edge("subnet: 10.255.247.0/24"))
    assert ds.edge_address("10.255.247.0/24") == "10.255.247.2"
    for conf in (edge.config, edge.container.uploads[0].content):
        listens = re.findall(r"^\s*listen ([^\s;]+)", conf, re.M)
        assert listens and set(listens) == {"10.255.247.2:8080"}
    assert edge.container.addresses == {edge.network.name: "10.255.247.2"}
    assert edge.container.networks == (edge.network.name,)


def test_without_an_address_or_clients_the_renderer_keeps_plain_ports_and_tenant_limits() -> None:
    conf = render_edge_config([Route("a1b", "a1b.x.io", "openclaw-a1b:18789", "basic", 5, 1)], 8080)
    assert set(re.findall(r"^\s*listen ([^\s;]+)", conf, re.M)) == {"8080"}
    assert "set_real_ip_from" not in conf and "limit_conn " not in conf
    assert re.findall(r"limit_req zone=(\w+)", conf) == ["plan_basic"]


@pytest.mark.parametrize(("cpus", "workers"), [(2, 1), (8, 1), (9, 2), (16, 2), (32, 4), (64, 4)])
def test_workers_cpus_and_memory_follow_the_host(cpus: int, workers: int) -> None:
    text = with_edge("", capacity_cpus=cpus)
    fleet: Fleet = parse_fleet(text)
    target = fleet.targets["e2e"]
    assert isinstance(target, DockerTarget)
    assert ds.edge_workers(target) == workers
    edge = edge_of(text)
    assert f"worker_processes {workers};\n" in edge.config
    assert "worker_rlimit_nofile 16384;\n" in edge.config and "worker_connections 8192;" in edge.config
    assert edge.container.cpus == float(workers)
    assert edge.container.memory_mib == 256 + 256 * workers
    assert edge.container.pids_limit > workers + 1  # the master and its workers, with room
