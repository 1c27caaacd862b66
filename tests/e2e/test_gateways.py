"""Every tenant spec boots a real OpenClaw gateway on a real engine, isolated and hardened.

One fleet (one tenant per plan) is applied for the whole module; the lifecycle test at the end
changes it step by step, as edits to tenants.yaml would.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from harness.deployment import with_tenant
from harness.gateway_client import http_get, ws_connect
from harness.waiting import wait_until
from model_gateway.ledger import open_ledger
from tenants import docker_specs as ds
from tenants import model_gateway_names as gateway_names
from tenants.contract import OUTPUT_MODEL_KEYS
from tenants.host_uid import derived_uid
from tenants.model import Fleet
from tenants.rendering import fleet_specs

from .conftest import MASTER_KEYS, Applied, FakeUpstream, HostListener, wait_ready

BASIC, PRO, ENT = "e2e-basic", "e2e-pro", "e2e-ent"


def port(fleet: Fleet) -> int:
    return fleet.targets["e2e"].edge.port


def host(fleet: Fleet, tenant_id: str) -> str:
    return f"{tenant_id}.{fleet.domain}"


def node_eval(container: Container, script: str) -> tuple[int, str]:
    """Run a short node script inside a tenant container (bounded by its own timers)."""
    code, output = container.exec_run(["node", "-e", script])  # as the container's own user
    return code, output.decode(errors="replace")


def fetch_script(url: str) -> str:
    return (
        f"fetch({json.dumps(url)}, {{signal: AbortSignal.timeout(3000)}})"
        ".then(r => {console.log('REACHED', r.status); process.exit(0)})"
        ".catch(e => {console.log('FAILED', (e.cause && e.cause.code) || e.name); process.exit(3)})"
    )


def connect_script(address: str, port: int) -> str:
    return (
        f"const s = require('net').connect({port}, {json.dumps(address)}); s.setTimeout(3000);"
        "s.on('connect', () => {console.log('REACHED'); process.exit(0)});"
        "s.on('error', e => {console.log('FAILED', e.code); process.exit(3)});"
        "s.on('timeout', () => {console.log('FAILED timeout'); process.exit(3)});"
    )


def apply(applier: Applied, fleet: Fleet) -> None:
    """Apply an edited fleet and wait (bounded) until a recreated edge proxy answers again."""
    applier.apply(fleet)

    def edge_answers() -> bool:
        try:
            return http_get(port(fleet), "nobody.localhost", "/").status == 404
        except OSError:
            return False

    wait_until(edge_answers, timeout_s=30, interval_s=0.2)


def read_volume(engine: docker.DockerClient, fleet: Fleet, tenant_id: str, path: str, labels: dict[str, str]) -> str:
    """Read a file from a tenant's volume with a throwaway, network-less container of the same image, as
    the tenant's own host uid (the volume's owner)."""
    image = f"{fleet.images.openclaw}:{fleet.channels['stable']}"
    uid = derived_uid(tenant_id)
    output = engine.containers.run(
        image,
        entrypoint=["cat"],
        command=[f"/data/{path}"],
        user=f"{uid}:{uid}",
        network_mode="none",
        volumes={ds.volume_name(tenant_id): {"bind": "/data", "mode": "ro"}},
        labels=labels,
        remove=True,
    )
    return output.decode()


# --- 1. ready ------------------------------------------------------------------------------------


def test_every_tenant_is_started_through_the_edge_proxy(applied: Applied, fleet: Fleet) -> None:
    for tenant in fleet.tenants:
        reply = http_get(port(fleet), host(fleet, tenant.id), "/startupz")
        assert reply.status == 200
        assert reply.json() == {"ok": True, "status": "started"}
        live = http_get(port(fleet), host(fleet, tenant.id), "/healthz")
        assert live.json() == {"ok": True, "status": "live"}


# --- 2. auth -------------------------------------------------------------------------------------


def test_websocket_connect_needs_the_tenants_own_token(applied: Applied, fleet: Fleet) -> None:
    for tenant, other in ((BASIC, PRO), (PRO, ENT), (ENT, BASIC)):
        without = ws_connect(port(fleet), host(fleet, tenant), None)
        assert not without.accepted
        foreign = ws_connect(port(fleet), host(fleet, tenant), applied.tokens[other])
        assert not foreign.accepted
        assert "AUTH_TOKEN_MISMATCH" in foreign.detail
        own = ws_connect(port(fleet), host(fleet, tenant), applied.tokens[tenant])
        assert own.accepted, own.detail  # also proves the proxy passes the WebSocket upgrade


# --- 3. isolation ----------------------------------------------------------------------------------


def test_a_tenant_cannot_reach_another_by_name_or_by_ip(applied: Applied, engine: docker.DockerClient) -> None:
    a = engine.containers.get(ds.container_name(BASIC))
    b = engine.containers.get(ds.container_name(PRO))
    b_ip = b.attrs["NetworkSettings"]["Networks"][ds.network_name(PRO)]["IPAddress"]
    assert b_ip
    for url in (f"http://{ds.container_name(PRO)}:18789/healthz", f"http://{b_ip}:18789/healthz"):
        code, output = node_eval(a, fetch_script(url))
        assert code == 3, output
        assert "FAILED" in output


def test_tenant_networks_have_no_way_out(
    applied: Applied, engine: docker.DockerClient, fleet: Fleet, host_listener: HostListener
) -> None:
    """Nothing outside a tenant's own network answers it: not the host, not the edge network."""
    # The host's address on the edge network: the first of its subnet.
    edge_gateway = str(ipaddress.ip_network(fleet.targets["e2e"].edge.subnet)[1])
    for tenant in fleet.tenants:
        network = engine.networks.get(ds.network_name(tenant.id))
        assert network.attrs["Internal"] is True
        container = engine.containers.get(ds.container_name(tenant.id))
        bridge_gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
        for address in (bridge_gateway, edge_gateway):
            code, output = node_eval(container, connect_script(address, host_listener.port))
            assert code == 3, f"{tenant.id} reached the host at {address}: {output}"
    assert host_listener.accepted == [], "the host listener must never see a tenant connection"


def test_an_unknown_host_reaches_no_tenant(applied: Applied, fleet: Fleet) -> None:
    for name in ("nobody.localhost", "localhost", "127.0.0.1", f"{BASIC}.example.com"):
        reply = http_get(port(fleet), name, "/healthz")
        assert reply.status == 404
        assert reply.json() == {"error": "unknown host"}


# --- 4. hardening ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant_id", "limits"),
    [(BASIC, (100_000, 2, 512)), (PRO, (150_000, 4, 1024)), (ENT, (200_000, 8, 2048))],
)
def test_containers_are_hardened_as_specified(
    applied: Applied, engine: docker.DockerClient, tenant_id: str, limits: tuple[int, int, int]
) -> None:
    cpu_quota, memory_gib, pids = limits
    attrs = engine.containers.get(ds.container_name(tenant_id)).attrs
    hc, config = attrs["HostConfig"], attrs["Config"]
    assert hc["CapDrop"] == ["ALL"]
    assert not hc.get("CapAdd")
    assert "no-new-privileges:true" in hc["SecurityOpt"]
    assert hc["ReadonlyRootfs"] is True
    assert hc["Privileged"] is False
    assert hc["PidsLimit"] == pids
    assert hc["Memory"] == memory_gib * 1024**3
    assert (hc["CpuQuota"], hc["CpuPeriod"]) == (cpu_quota, 100_000)
    assert hc["Init"] is True
    assert hc["RestartPolicy"]["Name"] == "unless-stopped"
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}
    assert hc["Tmpfs"] == {"/tmp": "rw,noexec,nosuid,size=256m"}
    assert not hc.get("PortBindings")
    assert config["User"] == f"{derived_uid(tenant_id)}:{derived_uid(tenant_id)}"  # its own host uid
    assert config["Healthcheck"]["Test"][:2] == ["CMD", "node"]
    assert config["Labels"]["openclaw.io/tenant"] == tenant_id
    assert config["Labels"]["app.kubernetes.io/managed-by"] == "openclaw-tenants"


def test_health_check_reports_healthy(applied: Applied, engine: docker.DockerClient) -> None:
    def healthy() -> bool:
        state = engine.containers.get(ds.container_name(BASIC)).attrs["State"]
        return state.get("Health", {}).get("Status") == "healthy"

    wait_until(healthy, timeout_s=75, interval_s=1)


def test_edge_proxy_publishes_on_loopback_only(applied: Applied, engine: docker.DockerClient) -> None:
    bindings = engine.containers.get(ds.edge_name("e2e")).attrs["HostConfig"]["PortBindings"]
    assert bindings == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}


# --- 6. proxy --------------------------------------------------------------------------------------


def test_rate_limit_applies_per_tenant_at_its_plans_rate(applied: Applied, fleet: Fleet) -> None:
    basic = [http_get(port(fleet), host(fleet, BASIC), "/healthz").status for _ in range(45)]
    pro = [http_get(port(fleet), host(fleet, PRO), "/healthz").status for _ in range(15)]
    assert basic.count(429) >= 10, basic  # basic: 10 r/s with a burst of 20
    assert set(basic) <= {200, 429}
    assert pro == [200] * 15, "another tenant's limit must not touch this one"


# --- 6. models -------------------------------------------------------------------------------------

AGENT_TURN_TIMEOUT_S = 240.0


def agent_turn(fleet: Fleet, tenant_id: str, token: str, prompt: str) -> tuple[int, dict[str, Any]]:
    """One turn of the tenant's own agent, through the edge and the gateway's OpenAI-compatible API."""
    conn = http.client.HTTPConnection("127.0.0.1", port(fleet), timeout=AGENT_TURN_TIMEOUT_S)
    try:
        body = json.dumps({"model": "openclaw", "messages": [{"role": "user", "content": prompt}]})
        headers = {
            "Host": host(fleet, tenant_id),
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def ledger_totals(engine: docker.DockerClient, tenant_id: str) -> tuple[int, int, int]:
    """(requests, input tokens, output tokens) the model gateway's ledger holds for a tenant."""
    volume = engine.volumes.get(gateway_names.docker_volume_name("e2e"))
    ledger = open_ledger(f"sqlite:///{volume.attrs['Mountpoint']}/ledger.sqlite", create=False)
    try:
        rows = ledger.usage(tenant=tenant_id)
    finally:
        ledger.close()
    return sum(r.requests for r in rows), sum(r.input_tokens for r in rows), sum(r.output_tokens for r in rows)


def upstream_totals(calls: list[dict[str, Any]]) -> tuple[int, int, int]:
    return len(calls), sum(c["input_tokens"] for c in calls), sum(c["output_tokens"] for c in calls)


def test_an_agent_turn_reaches_the_upstream_through_the_model_gateway_and_is_metered_under_its_tenant(
    applied: Applied, fleet: Fleet, fake_upstream: FakeUpstream, engine: docker.DockerClient
) -> None:
    status, reply = agent_turn(fleet, BASIC, applied.tokens[BASIC], "say something short please")
    assert status == 200, reply
    assert "alpha" in json.dumps(reply)  # the fake upstream's words came back through the agent
    calls = fake_upstream.calls()
    assert calls, "no call reached the upstream"
    # Only the gateway's master key ever reached the upstream (MiniMax speaks the Anthropic style).
    assert {c["x_api_key"] or c["authorization"] for c in calls} <= {
        MASTER_KEYS["minimax"],
        f"Bearer {MASTER_KEYS['minimax']}",
    }
    # Every call the upstream answered is in the ledger, under this tenant, with the upstream's counts.
    wait_until(lambda: ledger_totals(engine, BASIC) == upstream_totals(fake_upstream.calls()), timeout_s=30)
    assert ledger_totals(engine, BASIC)[0] >= 1
    assert ledger_totals(engine, PRO) == (0, 0, 0)


def test_a_tenant_reaches_the_model_gateway_only_with_its_own_key(
    applied: Applied, fleet: Fleet, engine: docker.DockerClient
) -> None:
    keys = applied.stack().outputs()[OUTPUT_MODEL_KEYS].value
    container = engine.containers.get(f"openclaw-{PRO}")
    env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
    assert env["OPENCLAW_MODEL_KEY"] == keys[PRO]
    url = f"{gateway_names.gateway_url('e2e', fleet.targets['e2e'])}/v1/models"
    for key, expected in ((keys[PRO], 200), (keys[BASIC] + "x", 401), ("", 401)):
        script = (
            f"fetch({json.dumps(url)}, {{headers: {{authorization: 'Bearer ' + {json.dumps(key)}}},"
            " signal: AbortSignal.timeout(5000)})"
            ".then(r => {console.log('STATUS', r.status); process.exit(0)})"
            ".catch(e => {console.log('FAILED', e.name); process.exit(3)})"
        )
        code, output = node_eval(container, script)
        assert (code, output.split()[-1]) == (0, str(expected)), output


def test_no_provider_key_is_anywhere_a_tenant_can_read(
    applied: Applied, fleet: Fleet, engine: docker.DockerClient
) -> None:
    gateway_env = engine.containers.get(gateway_names.docker_name("e2e")).attrs["Config"]["Env"]
    assert f"MINIMAX_API_KEY={MASTER_KEYS['minimax']}" in gateway_env  # the keys are configured, and held there
    for tenant in fleet.tenants:
        container = engine.containers.get(f"openclaw-{tenant.id}")
        code, environ = container.exec_run(["cat", "/proc/1/environ"])
        assert code == 0
        for key in MASTER_KEYS.values():
            assert key.encode() not in environ
            found, _ = container.exec_run(["grep", "-rqsF", key, "/home/node/.openclaw", "/tmp"])
            assert found == 1, f"{tenant.id} can read a provider key"
        assert not {"KIMI_API_KEY", "MINIMAX_API_KEY", "MOONSHOT_API_KEY"} & {
            line.split(b"=", 1)[0].decode() for line in environ.split(b"\0") if line
        }
    outputs = json.dumps({name: out.value for name, out in applied.stack().outputs().items()})
    rendered = json.dumps(fleet_specs(fleet, fleet.tenants))
    for key in MASTER_KEYS.values():
        assert key not in outputs and key not in rendered


# --- 5. data lifecycle -----------------------------------------------------------------------------


def test_data_survives_plan_change_suspend_and_offboard_and_rotation_swaps_tokens(
    applied: Applied, engine: docker.DockerClient, fleet: Fleet
) -> None:
    marker = f"marker-{applied.run_id}"
    basic = engine.containers.get(ds.container_name(BASIC))
    code, _ = basic.exec_run(["sh", "-c", f"echo {marker} > /home/node/.openclaw/marker"])
    assert code == 0

    # Plan change: the container is replaced with the new limits; the data stays.
    upgraded = with_tenant(fleet, BASIC, plan="pro")
    apply(applied, upgraded)
    replaced = engine.containers.get(ds.container_name(BASIC))
    assert replaced.id != basic.id
    assert replaced.attrs["HostConfig"]["CpuQuota"] == 150_000
    assert replaced.attrs["HostConfig"]["Memory"] == 4 * 1024**3
    wait_ready(applied, upgraded, BASIC, f"{BASIC} after a plan change (restart alone)")
    assert replaced.exec_run(["cat", "/home/node/.openclaw/marker"])[1].decode().strip() == marker

    # Suspend: no container, data kept, host no longer routed.
    suspended = with_tenant(upgraded, BASIC, state="suspended")
    apply(applied, suspended)
    assert not engine.containers.list(all=True, filters={"name": f"^{ds.container_name(BASIC)}$"})
    assert engine.networks.list(names=[ds.network_name(BASIC)])
    assert http_get(port(fleet), host(fleet, BASIC), "/healthz").status == 404
    assert read_volume(engine, fleet, BASIC, "marker", applied.run_labels).strip() == marker

    # Offboard: network gone too, data still kept.
    offboarded = with_tenant(suspended, BASIC, state="offboarded")
    apply(applied, offboarded)
    assert not engine.networks.list(names=[ds.network_name(BASIC)])
    assert engine.volumes.get(ds.volume_name(BASIC))
    assert read_volume(engine, fleet, BASIC, "marker", applied.run_labels).strip() == marker

    # Rotation: bumping `rotation` replaces the token; the old one is refused.
    old_token = applied.tokens[PRO]
    rotated = with_tenant(offboarded, PRO, rotation=1)
    apply(applied, rotated)
    assert applied.tokens[PRO] != old_token
    wait_ready(applied, rotated, PRO, f"{PRO} after token rotation (restart alone)")
    refused = ws_connect(port(fleet), host(fleet, PRO), old_token)
    assert not refused.accepted
    assert "AUTH_TOKEN_MISMATCH" in refused.detail
    assert ws_connect(port(fleet), host(fleet, PRO), applied.tokens[PRO]).accepted

    # The others never noticed.
    assert http_get(port(fleet), host(fleet, ENT), "/startupz").json()["status"] == "started"
