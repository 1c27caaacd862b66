"""The pure Docker spec builders and the edge proxy configuration they carry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model_gateway.ledger import DEFAULT_LEDGER_URL
from tenantctl.app import app
from tenants import docker_forms, openclaw
from tenants import docker_specs as ds
from tenants import model_gateway_specs as mgs
from tenants.edge_config import Route, render_edge_config
from tenants.egress_rules import bridge_name
from tenants.errors import FleetError
from tenants.load import load_fleet, parse_fleet
from tenants.model import Fleet, Tenant
from tenants.resolved import DockerTenant, resolve, resolve_all

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_fleet(ROOT / "tenants.yaml")


def on_docker(fleet: Fleet, tenant: Tenant | str) -> DockerTenant:
    """``tenant`` (or the fleet's tenant of that id) resolved on its Docker target."""
    resolved = resolve(fleet, fleet.tenant(tenant) if isinstance(tenant, str) else tenant)
    assert isinstance(resolved, DockerTenant)
    return resolved


def docker_tenants(fleet: Fleet) -> tuple[DockerTenant, ...]:
    return resolve_all(fleet, fleet.tenants, DockerTenant)


def server_blocks(conf: str) -> dict[str, str]:
    """server_name → its block, for every tenant virtual host."""
    blocks = re.findall(r"server \{\n(.*?)\n    \}", conf, flags=re.S)
    named = {}
    for block in blocks:
        match = re.search(r"server_name (\S+);", block)
        assert match
        named[match.group(1)] = block
    return named


def test_proxy_routes_exactly_the_active_tenants(fleet: Fleet) -> None:
    edge = ds.edge_spec(fleet, "local", docker_tenants(fleet))
    hosts = set(server_blocks(edge.config)) - {"_"}
    active = {f"{t.id}.localhost" for t in fleet.tenants if t.state == "active" and t.target == "local"}
    assert hosts == active == {"acme.localhost", "globex.localhost", "initech.localhost"}
    assert [r.tenant_id for r in edge.routes] == ["acme", "globex", "initech"]
    assert edge.links == (("acme", "tenant-acme"), ("globex", "tenant-globex"), ("initech", "tenant-initech"))


def test_edge_container_does_not_depend_on_the_tenants(fleet: Fleet) -> None:
    """Routes and links change in place; the container (create-only settings) stays the same."""
    everyone = ds.edge_spec(fleet, "local", docker_tenants(fleet))
    nobody = ds.edge_spec(fleet, "local", ())
    assert everyone.container == nobody.container
    assert everyone.container.networks == ("openclaw-edge-local",)
    bootstrap = server_blocks(everyone.container.uploads[0].content)
    assert set(bootstrap) == {"_"} and "return 404" in bootstrap["_"]
    assert everyone.config != nobody.config


def test_each_route_uses_its_plans_rate_and_burst(fleet: Fleet) -> None:
    conf = ds.edge_spec(fleet, "local", docker_tenants(fleet)).config
    blocks = server_blocks(conf)
    assert "limit_req zone=plan_basic burst=20 nodelay;" in blocks["acme.localhost"]
    assert "limit_req zone=plan_pro burst=60 nodelay;" in blocks["globex.localhost"]
    assert "limit_req zone=plan_enterprise burst=200 nodelay;" in blocks["initech.localhost"]
    assert "set $upstream openclaw-acme:18789;" in blocks["acme.localhost"]
    zones = dict(re.findall(r"zone=(plan_\w+):10m rate=(\d+)r/s;", conf))
    assert zones == {"plan_basic": "10", "plan_pro": "30", "plan_enterprise": "100"}


def test_unknown_hosts_get_the_default_server_and_no_upstream(fleet: Fleet) -> None:
    conf = ds.edge_spec(fleet, "local", docker_tenants(fleet)).config
    default = server_blocks(conf)["_"]
    assert "default_server" in default
    assert "return 404" in default
    assert "proxy_pass" not in default


def test_proxy_upgrades_websockets_and_overwrites_forwarded_headers() -> None:
    conf = render_edge_config([Route("a1b", "a1b.x.io", "openclaw-a1b:18789", "basic", 5, 1)], 8080)
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    assert "client_max_body_size 25m;" in conf
    assert "pid /tmp/nginx.pid;" in conf
    assert "listen 8080 default_server;" in conf


def test_two_routes_for_one_host_are_refused() -> None:
    route = Route("a1b", "a1b.x.io", "openclaw-a1b:18789", "basic", 5, 1)
    with pytest.raises(ValueError, match="share one host"):
        render_edge_config([route, route], 8080)


def test_states_decide_what_a_tenant_gets(fleet: Fleet) -> None:
    active = ds.tenant_spec(on_docker(fleet, "acme"))
    assert active.network and active.container and active.route
    suspended = ds.tenant_spec(on_docker(fleet, "umbrella"))
    assert suspended.network is not None
    assert suspended.container is None and suspended.route is None
    gone = fleet.tenant("umbrella").model_copy(update={"state": "offboarded"})
    offboarded = ds.tenant_spec(on_docker(fleet, gone))
    assert offboarded.network is None and offboarded.container is None
    assert offboarded.volume.name == "openclaw-umbrella-data"
    assert offboarded.disk is not None and offboarded.disk.gib == 5  # kept in every state until purged


def test_container_spec_carries_plan_limits_config_and_no_secret_values(fleet: Fleet) -> None:
    spec = ds.container_spec(on_docker(fleet, "globex"))
    assert (spec.cpus, spec.memory_mib, spec.pids_limit) == (2.0, 6 * 1024, 1024)
    assert spec.env["NODE_OPTIONS"] == "--max-old-space-size=4608"
    assert spec.secret_env == {"OPENCLAW_GATEWAY_TOKEN": "gateway_token", "OPENCLAW_MODEL_KEY": "model_key"}
    config = json.loads(spec.env[openclaw.CONFIG_ENV])
    assert config["gateway"]["controlUi"]["allowedOrigins"] == ["http://globex.localhost:8080"]
    assert spec.read_only and spec.init and spec.cap_drop == ("ALL",)
    assert spec.hostname == "openclaw-globex"
    assert spec.mounts == (ds.Mount("openclaw-globex-data", "/home/node/.openclaw"),)


def test_closed_egress_networks_are_internal_and_give_the_host_no_address() -> None:
    fleet = load_fleet(ROOT / "tests" / "e2e" / "fleet.yaml")
    network = ds.network_spec(on_docker(fleet, fleet.tenants[0]))
    assert network.internal
    assert network.options == {
        "com.docker.network.bridge.inhibit_ipv4": "true",
        ds.BRIDGE_NAME_OPTION: bridge_name("e2e", network.name),
    }
    edge = ds.edge_spec(fleet, "e2e", docker_tenants(fleet)).network
    assert not edge.internal and edge.subnet == "10.255.255.0/24"


def test_target_images_are_the_platform_images_and_each_active_channel(fleet: Fleet) -> None:
    assert ds.target_images(fleet, "local", docker_tenants(fleet)) == (
        "docker.io/library/nginx:1.27.5",
        "openclaw-local/model-gateway:1.83.10-1",
        "openclaw-local/egress-filter:1.0.6-1",
        "openclaw-local/data-agent:0.14.0-1",
        "ghcr.io/openclaw/openclaw:2026.9.6",
    )


def test_render_docker_prints_the_specs_as_json() -> None:
    result = CliRunner().invoke(app, ["render", "docker", "--tenants", str(ROOT / "tenants.yaml")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [t["tenant_id"] for t in data["tenants"]] == ["acme", "globex", "initech", "umbrella"]
    assert data["tenants"][3]["container"] is None
    assert [e["target"] for e in data["edges"]] == ["local"]
    assert "OPENCLAW_GATEWAY_TOKEN=" not in result.output


def test_render_docker_for_an_unknown_shard_fails_with_the_known_ones() -> None:
    result = CliRunner().invoke(app, ["render", "docker", "-f", str(ROOT / "tenants.yaml"), "--shard", "eu"])
    assert result.exit_code == 1
    assert "shard 'eu' has no tenants; shards in the fleet: default" in result.output


def test_a_tenant_larger_than_its_host_is_refused() -> None:
    text = (ROOT / "tests" / "e2e" / "fleet.yaml").read_text().replace("  enterprise: {cpus: 2}\n", "")
    with pytest.raises(FleetError, match=r"tenant 'e2e-ent' needs cpus 4 but target 'e2e' has only 2"):
        parse_fleet(text)


def test_edge_subnet_inside_the_trusted_pools_is_refused() -> None:
    text = (
        (ROOT / "tests" / "e2e" / "fleet.yaml")
        .read_text()
        .replace("address_pools: [172.30.0.0/16]", "address_pools: [10.0.0.0/8]")
    )
    with pytest.raises(FleetError, match=r"edge.subnet 10.255.255.0/24 overlaps address pool 10.0.0.0/8"):
        parse_fleet(text)


def test_target_settings_a_backend_cannot_use_are_refused() -> None:
    text = (ROOT / "tenants.yaml").read_text()
    docker_external_dns = text.replace(
        "    host: unix:///var/run/docker.sock\n",
        "    host: unix:///var/run/docker.sock\n    dns: {mode: external-dns}\n",
        1,
    )
    with pytest.raises(FleetError, match=r"targets\.local\.dns: dns mode external-dns needs a Kubernetes target"):
        parse_fleet(docker_external_dns)
    unknown_plan = text.replace("runtime_class: {enterprise: gvisor}", "runtime_class: {platinum: gvisor}")
    with pytest.raises(FleetError, match=r"targets\.cluster-eu\.runtime_class\.platinum: unknown plan 'platinum'"):
        parse_fleet(unknown_plan)
    both = text.replace("    kubeconfig_secret: clusterEuKubeconfig", "    kubeconfig_secret: k\n    context: prod")
    with pytest.raises(FleetError, match="set exactly one of kubeconfig_secret"):
        parse_fleet(both)


@pytest.mark.parametrize(("cpus", "quota"), [(1, 100_000), (1.5, 150_000), (0.25, 25_000), (16, 1_600_000)])
def test_cpus_become_a_quota_per_default_period(cpus: float, quota: int) -> None:
    """A quota is never refused for exceeding the host's cores, unlike Docker's `cpus`."""
    assert docker_forms.cpu_quota(cpus) == quota
    assert docker_forms.CPU_PERIOD_US == 100_000


@pytest.mark.parametrize(
    ("seconds", "read_back"), [(0, "0s"), (2, "2s"), (30, "30s"), (90, "1m30s"), (3600, "1h0m0s"), (3661, "1h1m1s")]
)
def test_durations_are_sent_in_gos_notation(seconds: int, read_back: str) -> None:
    assert docker_forms.duration(seconds) == read_back


def test_create_only_objects_carry_only_labels_that_never_change(fleet: Fleet) -> None:
    tenant = next(t for t in fleet.tenants if t.id == "acme")
    changed = tenant.model_copy(update={"plan": "pro", "labels": {"team": "blue"}})
    before, after = on_docker(fleet, tenant), on_docker(fleet, changed)
    for build in (ds.network_spec, ds.volume_spec):
        assert build(before).labels == build(after).labels
    assert ds.container_spec(before).labels != ds.container_spec(after).labels


# --- the model gateway and the tenant's side of it ----------------------------------------------------

PROVIDER_KEY_NAMES = {"KIMI_API_KEY", "MOONSHOT_API_KEY", "MINIMAX_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"}


@pytest.mark.parametrize("tenant_id", ["acme", "globex", "initech"])
def test_a_tenant_holds_only_its_token_and_virtual_key(fleet: Fleet, tenant_id: str) -> None:
    spec = ds.container_spec(on_docker(fleet, tenant_id))
    assert set(spec.secret_env) == {"OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_MODEL_KEY"}
    assert not PROVIDER_KEY_NAMES & set(spec.env)
    assert not any(name in spec.env[openclaw.CONFIG_ENV] for name in PROVIDER_KEY_NAMES)


@pytest.mark.parametrize(
    ("tenant_id", "api", "base_url", "primary"),
    [
        ("acme", "openai-completions", "http://openclaw-models-local:4000/v1", "openclaw-models/kimi-k2.6"),
        ("globex", "anthropic-messages", "http://openclaw-models-local:4000", "openclaw-models/minimax-m2.7"),
        ("initech", "anthropic-messages", "http://openclaw-models-local:4000", "openclaw-models/claude-haiku-4-5"),
    ],
)
def test_the_tenants_provider_is_the_model_gateway(
    fleet: Fleet, tenant_id: str, api: str, base_url: str, primary: str
) -> None:
    config = json.loads(on_docker(fleet, tenant_id).gateway_config_text)
    (provider,) = config["models"]["providers"].values()
    assert (provider["api"], provider["baseUrl"], provider["apiKey"]) == (api, base_url, "${OPENCLAW_MODEL_KEY}")
    assert provider["request"] == {"allowPrivateNetwork": True}
    assert config["agents"]["defaults"]["model"]["primary"] == primary
    assert primary.split("/", 1)[1] == provider["models"][0]["id"]
    for row in provider["models"]:
        assert {"id", "name", "input", "cost", "contextWindow", "maxTokens"} <= set(row)
        assert row.get("compat", {}).get("supportsUsageInStreaming", api == "anthropic-messages") is True
    assert config["gateway"]["http"]["endpoints"]["chatCompletions"] == {"enabled": True}
    assert config["plugins"]["entries"] == {"minimax": {"enabled": False}, "moonshot": {"enabled": False}}


def test_the_tenants_config_lists_its_providers_allowed_models(fleet: Fleet) -> None:
    config = json.loads(on_docker(fleet, "initech").gateway_config_text)  # enterprise, anthropic
    ids = [row["id"] for row in config["models"]["providers"]["openclaw-models"]["models"]]
    assert ids == ["claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6"]


def test_the_model_gateway_of_a_docker_target(fleet: Fleet) -> None:
    spec = mgs.docker_spec(fleet, "local", docker_tenants(fleet))
    c = spec.container
    assert (spec.network.name, c.name, spec.volume.name) == (
        "openclaw-models-local",
        "openclaw-models-local",
        "openclaw-models-local-ledger",
    )
    assert not spec.network.internal  # egress: internet by default
    assert c.image == "openclaw-local/model-gateway:1.83.10-1"
    assert c.user == "10001:10001" and c.cap_drop == ("ALL",) and c.ports == ()
    assert c.secret_env == {
        "ANTHROPIC_API_KEY": "anthropic_master_key",
        "KIMI_API_KEY": "kimi_master_key",
        "MINIMAX_API_KEY": "minimax_master_key",
        "OPENAI_API_KEY": "openai_master_key",
        "OPENROUTER_API_KEY": "openrouter_master_key",
        "OPENCLAW_LEDGER_URL": "ledger_url",
    }
    # Without an operator's ledger URL the gateway keeps its SQLite file on its volume.
    assert "OPENCLAW_LEDGER_URL" not in c.env
    assert DEFAULT_LEDGER_URL == "sqlite:////var/lib/openclaw-models/ledger.sqlite"
    assert c.mounts == (ds.Mount("openclaw-models-local-ledger", "/var/lib/openclaw-models"),)
    assert c.healthcheck is not None and c.healthcheck.test[1:] == ("python3", "-m", "model_gateway.healthcheck")
    uploads = {u.path: u.content for u in c.uploads}
    models = json.loads(uploads["/etc/openclaw-models/gateway.json"])
    assert models["version"] == 1
    assert models["models"]["minimax-m2.7"] == {
        "provider": "minimax",
        "api": "anthropic",
        "upstream_model": "MiniMax-M2.7",
        "api_base": "https://api.minimax.io/anthropic",
        "key_env": "MINIMAX_API_KEY",
        "input_usd_per_mtok": "0.30",
        "output_usd_per_mtok": "1.20",
    }
    assert json.loads(uploads["/etc/openclaw-models/tenants.json"]) == {"version": 1, "tenants": {}}


def test_the_registry_lists_active_tenants_without_hashes_and_renders_with_them(fleet: Fleet) -> None:
    spec = mgs.docker_spec(fleet, "local", docker_tenants(fleet))
    assert [e.tenant_id for e in spec.registry] == ["acme", "globex", "initech"]  # umbrella is suspended
    assert spec.links == tuple((t, f"tenant-{t}") for t in ("acme", "globex", "initech"))
    hashes = {e.tenant_id: f"{i:064x}" for i, e in enumerate(spec.registry)}
    document = json.loads(mgs.registry_document(spec.registry, hashes))
    assert document["tenants"]["globex"] == {
        "key_sha256": hashes["globex"],
        "budget_usd": "25.00",
        "rpm": 120,
        "tpm": 400_000,
        "models": list(fleet.plans["pro"].models),
    }


def test_closed_model_egress_and_upstream_overrides() -> None:
    fleet = load_fleet(ROOT / "tests" / "e2e" / "fleet.yaml")
    spec = mgs.docker_spec(fleet, "e2e", docker_tenants(fleet))
    assert spec.network.internal
    assert spec.network.options == {"com.docker.network.bridge.inhibit_ipv4": "true"}
    models = json.loads(spec.models_config)["models"]
    assert {m["api_base"] for m in models.values()} == {
        "http://fake-upstream:8080/v1",
        "http://fake-upstream:8080",
    }


def test_render_docker_includes_the_model_gateway_without_secret_values() -> None:
    result = CliRunner().invoke(app, ["render", "docker", "--tenants", str(ROOT / "tenants.yaml")])
    assert result.exit_code == 0, result.output
    (gateway,) = json.loads(result.output)["model_gateways"]
    assert gateway["container"]["name"] == "openclaw-models-local"
    assert gateway["container"]["secret_env"]["KIMI_API_KEY"] == "kimi_master_key"
