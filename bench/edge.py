"""The edge's cost and limits on a real deployment (its own stack, deployed by the real engine).

Two Docker targets on the local engine, one tenant each: ``edgetls`` serves a certificate of a local CA
(https on 18880, the redirect on 18881, subnet 10.255.245.0/24), ``edgeplain`` plain HTTP (18882,
10.255.244.0/24). One client container of the gateway image joins both edge networks and both tenant
networks, so one Node client measures every path: straight to a gateway, through the plain edge, and
through the TLS edge, in rounds that alternate between them. Then: how long a new route takes (a tenant
added by `pulumi up`, and `nginx -s reload` timed inside the plain edge), and how many idle connections
one edge holds, its memory per 1,000 of them, and that another client still gets a 200 meanwhile.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import statistics
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container
from pulumi import automation as auto

from bench import edge_clients
from bench.figures import print_figures, record
from harness.deployment import Deployment, Fleetside
from harness.gateway_client import _connect_params
from harness.local_ca import Pki
from harness.local_images import local_images
from harness.waiting import wait_until
from tenants import docker_specs as ds
from tenants import openclaw
from tenants.load import parse_fleet
from tenants.model import Fleet

DOMAIN = "edge.localhost"  # three labels: Node accepts no wildcard directly under a top-level name
TLS_TARGET, PLAIN_TARGET = "edgetls", "edgeplain"
TLS_TENANT, PLAIN_TENANT, ADDED_TENANT = "bench-tls", "bench-plain", "bench-added"
HTTPS_PORT, HTTP_PORT, PLAIN_PORT = 18880, 18881, 18882
TLS_SUBNET, PLAIN_SUBNET = "10.255.245.0/24", "10.255.244.0/24"
FLEET = f"""\
version: 1
domain: {DOMAIN}
images:
  openclaw: openclaw-local/openclaw
  proxy: openclaw-local/nginx:1.22.1
  model_gateway: openclaw-local/model-gateway:1.83.10-1
plans:
  # The edge still checks its rate limits on every request; raised so that no series is refused.
  basic: {{rate_limit_rps: 100000, burst: 100000}}
defaults:
  model_provider: minimax
targets:
  {TLS_TARGET}:
    type: docker
    egress: none
    model_gateway: {{egress: none, upstreams: {{minimax: "http://fake-upstream:8080"}}}}
    edge: {{address: 127.0.0.1, port: {HTTPS_PORT}, http_port: {HTTP_PORT}, subnet: {TLS_SUBNET}, tls: certificate}}
    address_pools: [172.30.0.0/16]
    capacity: {{cpus: 2, memory_gib: 24, networks: 30, storage_gib: 1000}}
    overcommit: {{cpu: 4}}
  {PLAIN_TARGET}:
    type: docker
    egress: none
    model_gateway: {{egress: none, upstreams: {{minimax: "http://fake-upstream:8080"}}}}
    edge: {{address: 127.0.0.1, port: {PLAIN_PORT}, subnet: {PLAIN_SUBNET}}}
    address_pools: [172.30.0.0/16]
    capacity: {{cpus: 2, memory_gib: 24, networks: 30, storage_gib: 1000}}
    overcommit: {{cpu: 4}}
tenants:
  - {{id: {TLS_TENANT}, target: {TLS_TARGET}}}
  - {{id: {PLAIN_TENANT}, target: {PLAIN_TARGET}}}
"""
CERT_KEY, KEY_KEY = "openclaw-tenants:edgeTlsCert", "openclaw-tenants:edgeTlsKey"
STACK = "edgebench"
RUN = {"openclaw-tenants.bench/run": f"edge-{socket.gethostname()}"}
BOOT_TIMEOUT_S = 300.0
PROBE_TIMEOUT_S = 2.0
ROUNDS = 5
COUNTS = {"keepalive": 200, "new": 100, "ws": 200}  # per path and round
# Straight to a gateway the client brings what the edge adds: the gateway trusts the tenant networks as
# proxies and refuses a request from there that names no client.
FORWARDED = {"X-Forwarded-For": "192.0.2.10", "X-Real-IP": "192.0.2.10", "X-Forwarded-Proto": "http"}
PATHS = ("direct_tls", "tls", "direct_plain", "plain")  # each edge path next to its own gateway's direct path
IDLE_BOUND, IDLE_BATCH = 5000, 500
RELOADS = 5
RELOAD_HOST = f"bench-reload.{DOMAIN}"
CA_IN_CLIENT = "/pki/ca.pem"


def host_of(tenant_id: str) -> str:
    return f"{tenant_id}.{DOMAIN}"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


# --- probes from the host, only ever of 127.0.0.1 ---------------------------------------------------


def _get(pki: Pki | None, port: int, host: str, path: str) -> tuple[int, str] | None:
    """GET through an edge's published port (TLS when ``pki`` is given, with ``host`` as SNI): status and
    body, or None when no connection or handshake is had."""
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT_S)
        with ssl.create_default_context(cafile=str(pki.ca)).wrap_socket(raw, server_hostname=host) if pki else raw as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            response = http.client.HTTPResponse(s)
            response.begin()
            return response.status, response.read().decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return None


def _started(pki: Pki | None, port: int, host: str) -> bool:
    answer = _get(pki, port, host, openclaw.STARTUP_PATH)
    return answer is not None and answer[0] == 200 and '"started"' in answer[1]


def _status(pki: Pki | None, port: int, host: str) -> int | None:
    answer = _get(pki, port, host, openclaw.LIVENESS_PATH)
    return None if answer is None else answer[0]


# --- the stack --------------------------------------------------------------------------------------


def bench_fleet() -> Fleet:
    return parse_fleet(FLEET, "edge bench fleet")


def grown_fleet() -> Fleet:
    """The fleet after one more tenant's line on the TLS target."""
    return parse_fleet(FLEET + f"  - {{id: {ADDED_TENANT}, target: {TLS_TARGET}}}\n", "edge bench fleet, grown")


def _deploy(deployment: Deployment, fleet: Fleet, pki: Pki) -> None:
    leaf = pki.leaf("edge")
    stack = deployment.stack()
    stack.set_config(CERT_KEY, auto.ConfigValue(value=leaf.cert, secret=True))
    stack.set_config(KEY_KEY, auto.ConfigValue(value=leaf.key, secret=True))
    deployment.apply(fleet)
    wait_until(partial(_started, pki, HTTPS_PORT, host_of(TLS_TENANT)), BOOT_TIMEOUT_S)
    wait_until(partial(_started, None, PLAIN_PORT, host_of(PLAIN_TENANT)), BOOT_TIMEOUT_S)


def _client(engine: docker.DockerClient, pki: Pki, image: str) -> Container:
    """The one client: on both edge networks (as a load balancer would be) and on both tenant networks."""
    container = engine.containers.create(
        image,
        ["sleep", "3600"],
        entrypoint=[],
        name=f"openclaw-bench-edge-client-{socket.gethostname()}",
        user=ds.NOBODY,
        network=ds.edge_name(TLS_TARGET),
        extra_hosts={
            host_of(TLS_TENANT): ds.edge_address(TLS_SUBNET),
            host_of(PLAIN_TENANT): ds.edge_address(PLAIN_SUBNET),
        },
        environment={"NODE_EXTRA_CA_CERTS": CA_IN_CLIENT},
        volumes={str(pki.ca): {"bind": CA_IN_CLIENT, "mode": "ro"}},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        labels=RUN,
    )
    for name in (ds.edge_name(PLAIN_TARGET), ds.network_name(TLS_TENANT), ds.network_name(PLAIN_TENANT)):
        engine.networks.get(name).connect(container)
    container.start()
    return container


def _gateway_ip(engine: docker.DockerClient, tenant_id: str) -> str:
    networks = engine.containers.get(ds.container_name(tenant_id)).attrs["NetworkSettings"]["Networks"]
    return str(networks[ds.network_name(tenant_id)]["IPAddress"])


def _remove_helpers(engine: docker.DockerClient) -> None:
    label = next(iter(RUN))
    for helper in engine.containers.list(all=True, filters={"label": label}):
        if helper.labels.get(label) == RUN[label]:
            helper.remove(force=True)


# --- 1. latency: straight to a gateway, through each edge -------------------------------------------


def _path_specs(engine: docker.DockerClient, tokens: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    specs: dict[str, dict[str, Any]] = {}
    for tenant, edge_path, subnet, tls in (
        (TLS_TENANT, "tls", TLS_SUBNET, True),
        (PLAIN_TENANT, "plain", PLAIN_SUBNET, False),
    ):
        host, ip = host_of(tenant), _gateway_ip(engine, tenant)
        common = {"host": host, "connect": _connect_params(tokens[tenant]), "counts": COUNTS}
        specs[f"direct_{edge_path}"] = {
            **common,
            "ip": ip,
            "port": openclaw.PORT,
            "tls": False,
            "headers": {**FORWARDED, "X-Forwarded-Host": host},
            "ws_url": f"ws://{ip}:{openclaw.PORT}/",
        }
        scheme = "wss" if tls else "ws"
        specs[edge_path] = {
            **common,
            "ip": ds.edge_address(subnet),
            "port": ds.EDGE_PORT,
            "tls": tls,
            "headers": {},
            "ws_url": f"{scheme}://{host}:{ds.EDGE_PORT}/",
        }
    return specs


def latency_figures(engine: docker.DockerClient, client: Container, tokens: Mapping[str, str]) -> dict[str, object]:
    specs = _path_specs(engine, tokens)
    times: dict[str, dict[str, list[float]]] = {p: {k: [] for k in COUNTS} for p in PATHS}
    # Rounds alternate between the paths (and rotate their order), so load from elsewhere hits all alike.
    for round_ in range(ROUNDS):
        for path in PATHS[round_ % len(PATHS) :] + PATHS[: round_ % len(PATHS)]:
            for kind, values in edge_clients.latency(client, specs[path]).items():
                times[path][kind] += values
    out: dict[str, object] = {"rounds": ROUNDS, **{f"{kind}_count": count * ROUNDS for kind, count in COUNTS.items()}}
    for kind in COUNTS:
        for path in PATHS:
            out[f"{kind}_{path}_p50_ms"] = _pct(times[path][kind], 0.5)
            out[f"{kind}_{path}_p99_ms"] = _pct(times[path][kind], 0.99)
        for path in ("tls", "plain"):
            base, via = times[f"direct_{path}"][kind], times[path][kind]
            for q, name in ((0.5, "p50"), (0.99, "p99")):
                out[f"{kind}_{path}_added_{name}_ms"] = round(_pct(via, q) - _pct(base, q), 3)
            out[f"{kind}_{path}_ratio_p50"] = round(_pct(via, 0.5) / _pct(base, 0.5), 2)
    return out


# --- 3. idle connections --------------------------------------------------------------------------

MEMORY = (
    "if [ -r /sys/fs/cgroup/memory.current ]; then cat /sys/fs/cgroup/memory.current; "
    "grep '^inactive_file ' /sys/fs/cgroup/memory.stat; else cat /sys/fs/cgroup/memory/memory.usage_in_bytes; "
    "grep '^total_inactive_file ' /sys/fs/cgroup/memory/memory.stat; fi"
)


def edge_memory_mib(edge: Container) -> float:
    """What `docker stats` shows for the edge: its cgroup's usage less inactive page cache."""
    code, output = edge_clients.exec_text(edge, ["sh", "-c", MEMORY])
    if code != 0:
        raise RuntimeError(f"cannot read {edge.name}'s memory: {output}")
    usage, inactive = output.split("\n", 1)
    return (int(usage) - int(inactive.split()[1])) / 2**20


def idle_figures(
    engine: docker.DockerClient, client: Container, target: str, spec: dict[str, Any], other: Callable[[], int | None]
) -> dict[str, object]:
    """Ramp idle connections to one edge; read its memory after each batch, and have another client (the
    host, through the published port) ask for /healthz while all of them are held."""
    edge = engine.containers.get(ds.edge_name(target))
    base = edge_memory_mib(edge)
    samples: list[tuple[int, float]] = []
    others: list[int | None] = []

    def between(report: dict[str, Any]) -> None:
        if report.get("final"):
            return
        samples.append((int(report["held"]), edge_memory_mib(edge)))
        if edge_clients.last(report, spec):
            others.append(other())

    start = time.monotonic()
    reports = edge_clients.idle(engine, client, spec, between)
    ramp = [r for r in reports if not r.get("final")]
    held, memory = samples[-1]
    return {
        "bound": spec["bound"],
        "held": held,
        "refused": ramp[-1]["refused"],
        "closed_by_edge": reports[-1]["closed"],
        "answers": ramp[-1]["statuses"],
        "ramp_s": round(time.monotonic() - start, 1),
        "memory_base_mib": round(base, 1),
        "memory_held_mib": round(memory, 1),
        "mib_per_1000": round((memory - base) / held * 1000, 2) if held else 0.0,
        "other_client_status": others[0] if others else None,
    }


# --- 2. a configuration change taking effect ---------------------------------------------------------

# argv: address port host want. Times `nginx -s reload` until a new connection's GET /healthz for ``host``
# answers ``want``; prints "start end probes" (bash's EPOCHREALTIME, seconds).
RELOAD = r"""
addr=$1 port=$2 host=$3 want=$4
status() (
  exec 3<>"/dev/tcp/$addr/$port" || exit 1
  printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host" >&3
  IFS=' ' read -r -t 5 _ code _ <&3 || exit 1
  echo "$code"
)
[ "$(status)" = "$want" ] && { echo "already $want"; exit 3; }
start=$EPOCHREALTIME
nginx -e stderr -s reload || exit 4
for ((i = 1; i <= 20000; i++)); do
  if [ "$(status)" = "$want" ]; then echo "$start $EPOCHREALTIME $i"; exit 0; fi
done
echo "never $want"; exit 5
"""


def _write_config(edge: Container, text: str) -> None:
    """As the program writes it (components/docker_ops.py): root's, world-readable, replaced whole."""
    data = text.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(ds.EDGE_CONFIG_PATH.rsplit("/", 1)[1])
        info.size, info.mode, info.mtime = len(data), 0o444, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    if not edge.put_archive(ds.EDGE_CONFIG_PATH.rsplit("/", 1)[0], buffer.getvalue()):
        raise RuntimeError(f"could not write {ds.EDGE_CONFIG_PATH} into {edge.name}")


def _timed_reload(edge: Container, want: int) -> float:
    address = ds.edge_address(PLAIN_SUBNET)
    command = ["bash", "-c", RELOAD, "reload", address, str(ds.EDGE_PORT), RELOAD_HOST, str(want)]
    code, text = edge_clients.exec_text(edge, command)
    text = text.strip()
    if code != 0:
        raise RuntimeError(f"reload probe failed ({code}): {text[-300:]}")
    start, end, _probes = text.splitlines()[-1].split()
    return (float(end) - float(start)) * 1000


def reload_figures(engine: docker.DockerClient) -> dict[str, object]:
    """A route added to the plain edge's config and reloaded, timed inside the edge; then taken out again."""
    edge = engine.containers.get(ds.edge_name(PLAIN_TARGET))
    code, original = edge_clients.exec_text(edge, ["cat", ds.EDGE_CONFIG_PATH])
    line = f"server_name {host_of(PLAIN_TENANT)};"
    if code != 0 or line not in original:
        raise RuntimeError(f"{edge.name} has no route for {PLAIN_TENANT}")
    routed = original.replace(line, f"server_name {host_of(PLAIN_TENANT)} {RELOAD_HOST};")
    added: list[float] = []
    removed: list[float] = []
    try:
        for _ in range(RELOADS):
            _write_config(edge, routed)
            added.append(_timed_reload(edge, 200))
            _write_config(edge, original)
            removed.append(_timed_reload(edge, 404))
    finally:
        _write_config(edge, original)
        edge.exec_run(["nginx", "-e", "stderr", "-s", "reload"])
    return {
        "count": RELOADS,
        "route_ms_median": round(statistics.median(added), 1),
        "route_ms_max": round(max(added), 1),
        "gone_ms_median": round(statistics.median(removed), 1),
    }


def added_figures(deployment: Deployment, grown: Fleet, pki: Pki) -> dict[str, object]:
    """From the start of `pulumi up` adding a tenant: the update's end, the edge first routing its host
    (any answer: its gateway may still be starting), and the tenant answering 200 through the edge."""
    host = host_of(ADDED_TENANT)

    def up() -> float:
        deployment.apply(grown, "edge bench: add a tenant")
        return time.monotonic()

    start = time.monotonic()
    route_s: float | None = None
    healthy_s: float | None = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        update = pool.submit(up)
        while healthy_s is None and time.monotonic() - start < BOOT_TIMEOUT_S:
            if update.done() and update.exception() is not None:
                break
            status = _status(pki, HTTPS_PORT, host)
            elapsed = time.monotonic() - start
            if route_s is None and status is not None and status != 404:
                route_s = elapsed
            if status == 200:
                healthy_s = elapsed
            time.sleep(0.1)
        up_s = update.result() - start  # raises the update's own error, if any
    if route_s is None or healthy_s is None:
        raise TimeoutError(f"{host} did not answer 200 within {BOOT_TIMEOUT_S:.0f} s")
    return {"up_s": round(up_s, 1), "route_s": round(route_s, 1), "healthy_s": round(healthy_s, 1)}


# --- the run -------------------------------------------------------------------------------------------


def measure() -> dict[str, object]:
    images = local_images()
    fleet, engine = bench_fleet(), docker.from_env(timeout=120)
    if f"{fleet.images.openclaw}:{fleet.channels['stable']}" != images["openclaw"]:
        raise RuntimeError(f"the fleet's gateway image is not the local build {images['openclaw']}")
    work = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    (work / "pki").mkdir()
    pki = Pki.create(work / "pki", DOMAIN)
    deployment = Deployment(work / "stack", STACK)
    grown = grown_fleet()
    results: dict[str, object] = {}
    try:
        _deploy(deployment, fleet, pki)
        client = _client(engine, pki, images["openclaw"])
        try:
            record(results, "edge", latency_figures(engine, client, deployment.tokens))
            for target, tenant, subnet, tls, other in (
                (TLS_TARGET, TLS_TENANT, TLS_SUBNET, True, partial(_status, pki, HTTPS_PORT, host_of(TLS_TENANT))),
                (
                    PLAIN_TARGET,
                    PLAIN_TENANT,
                    PLAIN_SUBNET,
                    False,
                    partial(_status, None, PLAIN_PORT, host_of(PLAIN_TENANT)),
                ),
            ):
                spec = {
                    "ip": ds.edge_address(subnet),
                    "port": ds.EDGE_PORT,
                    "host": host_of(tenant),
                    "tls": tls,
                    "bound": IDLE_BOUND,
                    "batch": IDLE_BATCH,
                    "go": f"/tmp/idle-go-{target}-",
                }
                record(
                    results, f"edge_idle_{'tls' if tls else 'plain'}", idle_figures(engine, client, target, spec, other)
                )
        finally:
            client.remove(force=True)
        record(results, "edge_reload", reload_figures(engine))
        record(results, "edge_added", added_figures(deployment, grown, pki))
    finally:
        try:
            _remove_helpers(engine)
        finally:
            deployment.teardown(Fleetside(engine), grown, "edge bench: destroy")
    return results


if __name__ == "__main__":
    print_figures(measure())
