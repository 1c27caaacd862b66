"""nginx.conf for a Docker target's edge proxy: Host header → that tenant's gateway, nothing else."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .model import HTTPS_PORT, Edge

# Docker's embedded DNS; upstreams resolve per request so a stopped tenant never blocks the proxy.
DOCKER_DNS = "127.0.0.11"
MAX_BODY = "25m"
WS_TIMEOUT_S = 3600
# Per worker. Every proxied request holds two (client and gateway); at ~32 KiB of buffers per pair a
# worker's 4096 pairs fit in the 256 MiB the edge container gets per worker.
WORKER_CONNECTIONS = 8192
# Bodies stream to the gateway through this much memory per request and never touch the edge's /tmp.
BODY_BUFFER = "64k"
# A client that stops sending or reading mid-request gives its connection back after these.
CLIENT_HEADER_TIMEOUT_S, CLIENT_BODY_TIMEOUT_S, SEND_TIMEOUT_S, KEEPALIVE_TIMEOUT_S = 10, 30, 30, 30
UPSTREAM_CONNECT_TIMEOUT_S = 5
# Only what identifies a request: the path without its query string (tokens can travel there), no
# Authorization, Cookie or Referer header; "peer" is the load balancer a forwarded client came through.
LOG_FORMAT = (
    "log_format edge escape=json '{"
    '"time":"$time_iso8601","client":"$remote_addr","peer":"$realip_remote_addr","host":"$host",'
    '"method":"$request_method","path":"$uri","status":$status,"bytes":$body_bytes_sent,'
    '"seconds":$request_time,"upstream":"$upstream_addr","agent":"$http_user_agent"'
    "}';"
)
# Mozilla's "intermediate" profile: TLS 1.2 and 1.3 with its ECDHE suites for 1.2 (its DHE suites need a
# dhparam file and serve only clients without ECDHE); TLS 1.3 keeps OpenSSL's suites, the profile's three.
TLS_PROTOCOLS = "TLSv1.2 TLSv1.3"
TLS_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
TLS_CURVES = "X25519:prime256v1:secp384r1"
# Two years; includeSubDomains covers only names below a tenant's own host, which the edge never serves.
HSTS = "max-age=63072000; includeSubDomains"


@dataclass(frozen=True)
class Route:
    """One edge proxy virtual host."""

    tenant_id: str
    host: str
    upstream: str
    plan: str
    rate_limit_rps: int
    burst: int


@dataclass(frozen=True)
class TlsListener:
    """The edge terminating TLS: its certificate file (the chain and the key in one PEM file), the port
    clients reach https on (what redirects name), and the container port answering plain HTTP with a
    redirect, if any."""

    pem_path: str
    public_port: int
    redirect_port: int | None = None


def _tls(tls: TlsListener) -> list[str]:
    """Once for every server: a listener's protocols are its default server's, whatever SNI then picks.
    The edge alone sets HSTS (a gateway's own header is dropped); nginx forgets inherited add_header lines
    in any block that has one of its own."""
    return [
        f"    ssl_certificate {tls.pem_path};",
        f"    ssl_certificate_key {tls.pem_path};",
        f"    ssl_protocols {TLS_PROTOCOLS};",
        f"    ssl_ciphers {TLS_CIPHERS};",
        f"    ssl_ecdh_curve {TLS_CURVES};",
        "    ssl_prefer_server_ciphers off;",
        "    ssl_session_cache shared:edge_tls:10m;",
        "    ssl_session_timeout 1d;",
        "    ssl_session_tickets off;",
        "    proxy_hide_header Strict-Transport-Security;",
        f'    add_header Strict-Transport-Security "{HSTS}" always;',
    ]


def _default_tls(tls: TlsListener | None) -> list[str]:
    """Unknown names get no TLS handshake; unknown hosts on the redirect port get the same 404."""
    if tls is None:
        return []
    redirect = ["        listen {http} default_server;"] if tls.redirect_port else []
    return [*redirect, "        ssl_reject_handshake on;"]


def _redirect(routes: Sequence[Route], tls: TlsListener | None) -> list[str]:
    """Plain HTTP to a known host: a permanent redirect to the same path over https (308 keeps the method)."""
    if tls is None or not tls.redirect_port or not routes:
        return []
    port = "" if tls.public_port == HTTPS_PORT else f":{tls.public_port}"
    return [
        "    server {",
        "        listen {http};",
        f"        server_name {' '.join(r.host for r in routes)};",
        f"        return 308 https://$host{port}$request_uri;",
        "    }",
    ]


def zone_name(plan: str) -> str:
    return "plan_" + plan.replace("-", "_")


def client_zone_name(plan: str) -> str:
    return "client_" + plan.replace("-", "_")


# One client within one tenant: the address the edge attributes the request to, and the virtual host.
CLIENT_KEY = "$binary_remote_addr$server_name"
CLIENT_CONNS, TENANT_CONNS = "conns_client", "conns_tenant"  # prefixes no plan zone has


@dataclass(frozen=True)
class Clients:
    """How the edge tells clients apart, and how much of a tenant one client may take (from ``edge``)."""

    trusted_proxies: tuple[str, ...]
    proxy_protocol: bool
    connections: int  # per client and tenant
    tenant_connections: int
    rate_share: float  # of the plan's rate and burst, per client and tenant

    @classmethod
    def of(cls, edge: Edge) -> Clients:
        return cls(
            edge.trusted_proxies,
            edge.proxy_protocol,
            edge.client_connections,
            edge.tenant_connections,
            edge.client_rate_share,
        )

    def rate_per_minute(self, rps: int) -> int:
        return max(1, round(rps * 60 * self.rate_share))

    def burst(self, burst: int) -> int:
        return round(burst * self.rate_share)


def _zones(routes: Sequence[Route], clients: Clients | None) -> list[str]:
    rates = {r.plan: r.rate_limit_rps for r in routes}
    # One zone per plan, keyed by the virtual host: each tenant has its own bucket at its plan's rate.
    lines = [
        f"    limit_req_zone $server_name zone={zone_name(plan)}:10m rate={rate}r/s;"
        for plan, rate in sorted(rates.items())
    ]
    if clients is None:
        return lines
    # And one per plan keyed by client and host: a client gets its share of its tenant's rate, so one
    # client flooding a tenant leaves the rest of the tenant's bucket to its other clients.
    return [
        *lines,
        *(
            f"    limit_req_zone {CLIENT_KEY} zone={client_zone_name(plan)}:10m "
            f"rate={clients.rate_per_minute(rate)}r/m;"
            for plan, rate in sorted(rates.items())
        ),
        f"    limit_conn_zone {CLIENT_KEY} zone={CLIENT_CONNS}:10m;",
        f"    limit_conn_zone $server_name zone={TENANT_CONNS}:1m;",
    ]


def _client_rate(route: Route, clients: Clients | None) -> list[str]:
    """Before the tenant's own: a request refused for its client is counted against no other bucket."""
    if clients is None:
        return []
    return [f"        limit_req zone={client_zone_name(route.plan)} burst={clients.burst(route.burst)} nodelay;"]


def _client_conns(clients: Clients | None) -> list[str]:
    """Open connections (an upgraded WebSocket counts until it closes), and what each refusal says."""
    if clients is None:
        return []
    return [
        f"        limit_conn {CLIENT_CONNS} {clients.connections};",
        f"        limit_conn {TENANT_CONNS} {clients.tenant_connections};",
        "        error_page 429 @too_many_requests;",
        "        error_page 503 @too_many_connections;",
        "        location @too_many_requests {",
        "            default_type application/json;",
        '            return 429 \'{"error":"too many requests"}\';',
        "        }",
        "        location @too_many_connections {",
        "            default_type application/json;",
        '            return 503 \'{"error":"too many connections"}\';',
        "        }",
    ]


def _server(route: Route, clients: Clients | None) -> list[str]:
    return [
        "    server {",
        "        listen {port};",
        f"        server_name {route.host};",
        *_client_rate(route, clients),
        f"        limit_req zone={zone_name(route.plan)} burst={route.burst} nodelay;",
        *_client_conns(clients),
        "        location / {",
        f"            set $upstream {route.upstream};",
        "            proxy_pass http://$upstream;",
        "        }",
        "    }",
    ]


def _client_io() -> list[str]:
    """Bounded waits on every client, and bodies and responses streamed, not spooled to /tmp: slow or
    large uploads to one tenant cannot fill the edge's disk or hold its connections for another."""
    return [
        f"    client_header_timeout {CLIENT_HEADER_TIMEOUT_S}s;",
        f"    client_body_timeout {CLIENT_BODY_TIMEOUT_S}s;",
        f"    send_timeout {SEND_TIMEOUT_S}s;",
        f"    keepalive_timeout {KEEPALIVE_TIMEOUT_S}s;",
        "    reset_timedout_connection on;",
        f"    client_body_buffer_size {BODY_BUFFER};",
        "    proxy_request_buffering off;",
        "    proxy_buffering off;",
        f"    proxy_connect_timeout {UPSTREAM_CONNECT_TIMEOUT_S}s;",
    ]


def _real_ip(clients: Clients | None) -> list[str]:
    """The client is the peer, unless the peer is a trusted load balancer: then the address it names.
    Recursive: a chain of trusted balancers is walked back to the first untrusted address."""
    if clients is None or not clients.trusted_proxies:
        return []
    header = "proxy_protocol" if clients.proxy_protocol else "X-Forwarded-For"
    return [
        *(f"    set_real_ip_from {cidr};" for cidr in clients.trusted_proxies),
        f"    real_ip_header {header};",
        "    real_ip_recursive on;",
    ]


LISTEN = re.compile(r"^(\s*listen )", re.MULTILINE)


def _bound(text: str, address: str | None) -> str:
    """Every listener on ``address`` only: the edge is attached to each tenant's network, and a
    wildcard listener would answer tenants there."""
    return LISTEN.sub(lambda m: f"{m.group(1)}{address}:", text) if address else text


def render_edge_config(
    routes: Sequence[Route],
    listen_port: int,
    tls: TlsListener | None = None,
    forwarded_proto: str = "$scheme",
    *,
    clients: Clients | None = None,
    listen_address: str | None = None,
    workers: int = 1,
) -> str:
    """A complete nginx.conf; runs as an unprivileged user with every writable path under /tmp. With
    ``tls`` the port speaks TLS (and HTTP/2); ``forwarded_proto`` is https behind the operator's TLS.
    ``clients`` adds the real client address and per-client limits; with ``listen_address`` every
    listener binds that address only."""
    hosts = [r.host for r in routes]
    if len(set(hosts)) != len(hosts):
        raise ValueError("two routes share one host name")
    lines = [
        "# Generated by openclaw-tenants; changes are overwritten.",
        f"worker_processes {workers};",
        f"worker_rlimit_nofile {2 * WORKER_CONNECTIONS};",
        "pid /tmp/nginx.pid;",
        "error_log stderr warn;",
        f"events {{ worker_connections {WORKER_CONNECTIONS}; }}",
        "http {",
        f"    {LOG_FORMAT}",
        "    access_log /dev/stdout edge;",
        "    client_body_temp_path /tmp/client_body;",
        "    proxy_temp_path /tmp/proxy;",
        "    fastcgi_temp_path /tmp/fastcgi;",
        "    uwsgi_temp_path /tmp/uwsgi;",
        "    scgi_temp_path /tmp/scgi;",
        "    server_tokens off;",
        f"    client_max_body_size {MAX_BODY};",
        f"    resolver {DOCKER_DNS} valid=10s ipv6=off;",
        "    resolver_timeout 5s;",
        "    server_names_hash_bucket_size 128;",
        "    server_names_hash_max_size 16384;",
        "    limit_req_status 429;",
        "    limit_conn_status 503;",
        *_client_io(),
        *_real_ip(clients),
        "    map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
        "    proxy_http_version 1.1;",
        "    proxy_set_header Host $host;",
        "    proxy_set_header Upgrade $http_upgrade;",
        "    proxy_set_header Connection $connection_upgrade;",
        "    proxy_set_header X-Real-IP $remote_addr;",
        # Overwrite, never append: the gateway must see exactly one client address it can trust.
        "    proxy_set_header X-Forwarded-For $remote_addr;",
        '    proxy_set_header Forwarded "";',
        f"    proxy_set_header X-Forwarded-Proto {forwarded_proto};",
        "    proxy_set_header X-Forwarded-Host $host;",
        f"    proxy_read_timeout {WS_TIMEOUT_S}s;",
        f"    proxy_send_timeout {WS_TIMEOUT_S}s;",
        *_zones(routes, clients),
        *(_tls(tls) if tls else []),
        "    server {",
        "        listen {port} default_server;",
        *_default_tls(tls),
        "        server_name _;",
        "        default_type application/json;",
        '        return 404 \'{"error":"unknown host"}\';',
        "    }",
    ]
    for route in routes:
        lines += _server(route, clients)
    lines += _redirect(routes, tls)
    lines.append("}")
    listen = f"{listen_port} ssl http2" if tls else str(listen_port)
    redirect = str(tls.redirect_port) if tls and tls.redirect_port else ""
    if clients is not None and clients.proxy_protocol:
        listen += " proxy_protocol"
        redirect += " proxy_protocol"
    text = "\n".join(lines).replace("{port}", listen).replace("{http}", redirect)
    return _bound(text, listen_address) + "\n"
