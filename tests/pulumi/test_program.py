"""The real program under Pulumi's mock runtime: what it asks the engine for, per tenant and state."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pulumi
import pytest

from harness.paths import ROOT
from harness.program_run import ProgramRun, run_program
from tenants.egress_rules import bridge_name
from tenants.host_uid import derived_uid

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
PASSWORD = "random:index/randomPassword:RandomPassword"
PIDS = "pulumi-python:dynamic/openclaw:PidsLimit"
OWNER = "pulumi-python:dynamic/openclaw:VolumeOwner"
DISK = "pulumi-python:dynamic/openclaw:TenantDisk"
CLAIM = "random:index/randomId:RandomId"
TENANT_STACK = "openclaw:index:TenantStack"
DOCKER_SHARD = {"shard": "default"}


def children(run: ProgramRun, tenant_id: str) -> dict[str, str]:
    stack = run.named(tenant_id)
    assert stack.type == TENANT_STACK
    return {r.name: r.type for r in run.resources if r.parent == stack.urn}


def test_active_tenant_gets_network_volume_token_container_and_pids_limit(example: ProgramRun) -> None:
    assert children(example, "acme") == {
        "acme-token": PASSWORD,
        "acme-model-key": PASSWORD,
        "acme-state": VOLUME,
        "acme-network": NETWORK,
        "acme-gateway": CONTAINER,
        "acme-pids-limit": PIDS,
        "acme-state-owner": OWNER,
        "acme-disk": DISK,
        "acme-disk-claim": CLAIM,
    }


def test_suspended_tenant_keeps_network_volume_and_token_but_runs_nothing(example: ProgramRun) -> None:
    assert children(example, "umbrella") == {
        "umbrella-token": PASSWORD,
        "umbrella-model-key": PASSWORD,
        "umbrella-state": VOLUME,
        "umbrella-network": NETWORK,
        "umbrella-disk": DISK,
        "umbrella-disk-claim": CLAIM,
    }


def test_offboarded_tenant_keeps_only_its_data_and_token(tmp_path: Path) -> None:
    fleet = (ROOT / "tenants.yaml").read_text().replace("state: suspended", "state: offboarded")
    (tmp_path / "tenants.yaml").write_text(fleet)
    run = run_program(tmp_path / "tenants.yaml", config=DOCKER_SHARD)
    assert children(run, "umbrella") == {
        "umbrella-token": PASSWORD,
        "umbrella-model-key": PASSWORD,
        "umbrella-state": VOLUME,
        "umbrella-disk": DISK,
        "umbrella-disk-claim": CLAIM,
    }
    assert run.named("umbrella-state").retain_on_delete


def test_gateway_container_is_hardened(example: ProgramRun) -> None:
    c = example.named("acme-gateway").inputs
    assert c["name"] == "openclaw-acme"
    assert c["image"] == "ghcr.io/openclaw/openclaw:2026.9.6"
    assert c["capabilities"] == {"drops": ["ALL"]}
    assert c["securityOpts"] == ["no-new-privileges:true"]
    assert c["readOnly"] is True
    assert c["init"] is True
    assert c["user"] == f"{derived_uid('acme')}:{derived_uid('acme')}"  # its own host uid
    assert c["restart"] == "unless-stopped"
    assert c["tmpfs"] == {"/tmp": "rw,noexec,nosuid,size=256m"}
    assert (c["cpuQuota"], c["cpuPeriod"]) == (100_000, 100_000)  # 1 CPU, also on hosts with fewer cores
    assert "cpus" not in c
    assert c["memory"] == 2048
    assert c["memorySwap"] == 2048
    assert c["logDriver"] == "json-file"
    assert c["logOpts"] == {"max-size": "10m", "max-file": "3"}
    assert c["healthcheck"]["tests"][:2] == ["CMD", "node"]
    assert "/healthz" in c["healthcheck"]["tests"][3]
    assert c.get("ports", []) == []
    assert c.get("privileged") in (None, False)
    assert c.get("networkMode") is None
    assert c["networksAdvanced"] == [{"name": "tenant-acme"}]
    assert c["volumes"] == [{"volumeName": "openclaw-acme-data", "containerPath": "/home/node/.openclaw"}]
    labels = {item["label"]: item["value"] for item in c["labels"]}
    assert labels["app.kubernetes.io/managed-by"] == "openclaw-tenants"
    assert labels["openclaw.io/tenant"] == "acme"
    assert labels["openclaw.io/plan"] == "basic"


def test_the_state_volume_is_owned_by_the_gateways_uid_before_the_gateway_starts(example: ProgramRun) -> None:
    owner = example.named("acme-state-owner")
    uid = derived_uid("acme")
    assert owner.parent == example.named("acme").urn
    assert {k: owner.inputs[k] for k in ("volume", "uid", "gid", "path", "container", "image")} == {
        "volume": "openclaw-acme-data",
        "uid": uid,
        "gid": uid,
        "path": "/home/node/.openclaw",
        "container": "openclaw-acme",
        "image": "ghcr.io/openclaw/openclaw:2026.9.6",  # the tenant's own image does the chown
    }
    assert example.named("acme-gateway").inputs["user"] == f"{uid}:{uid}"


def test_plan_limits_and_overrides_reach_the_container(example: ProgramRun) -> None:
    globex = example.named("globex-gateway").inputs
    assert globex["cpuQuota"] == 200_000
    assert globex["memory"] == 6 * 1024  # pro plan, memory overridden to 6 GiB
    assert "NODE_OPTIONS=--max-old-space-size=4608" in globex["envs"]
    initech = example.named("initech-gateway").inputs
    assert initech["cpuQuota"] == 400_000
    assert initech["memory"] == 8 * 1024
    pids = example.named("initech-pids-limit").inputs
    assert (pids["container"], pids["limit"], pids["host"]) == ("openclaw-initech", 2048, "unix:///var/run/docker.sock")


def test_gateway_config_is_read_only_local_token_auth_with_tenant_origin(example: ProgramRun) -> None:
    container = example.named("acme-gateway").inputs
    env = dict(e.split("=", 1) for e in container["envs"])
    assert env["OPENCLAW_CONFIG_PATH"] == "/home/node/.openclaw/openclaw.json"
    assert env["OPENCLAW_CONFIG_READONLY"] == "1"
    # The container writes the rendered config into its state volume, then execs the gateway.
    assert container["command"][:2] == ["sh", "-c"]
    assert container["command"][2].endswith("exec node dist/index.js gateway --bind lan --port 18789")
    assert container.get("uploads", []) == []
    gateway = json.loads(env["TENANT_GATEWAY_CONFIG"])["gateway"]
    assert gateway["mode"] == "local"
    assert gateway["auth"] == {"mode": "token"}
    assert gateway["controlUi"]["allowedOrigins"] == ["http://acme.localhost:8080"]
    assert gateway["trustedProxies"] == ["172.16.0.0/12", "192.168.0.0/16"]
    assert "token" not in json.dumps(gateway["auth"]).replace('"mode": "token"', "")


def test_data_is_retained_and_nothing_else_is(example: ProgramRun) -> None:
    retained = {r.name for r in example.resources if r.retain_on_delete}
    docker_volumes = {f"{t}-state" for t in ("acme", "globex", "initech", "umbrella")}
    k8s_data = {f"{t}-{role}" for t in ("hooli", "vandelay") for role in ("state", "namespace")}
    ledgers = {"models-local-ledger", "models-cluster-eu-ledger", "models-cluster-eu-namespace"}
    # The backup agent's status (last success, failures); the disks stay by their own provider's delete.
    agents = {"backup-local-state"}
    assert retained == docker_volumes | k8s_data | ledgers | agents


def test_named_containers_are_deleted_before_replacement(example: ProgramRun) -> None:
    for container in example.of_type(CONTAINER):
        assert container.delete_before_replace, container.name


def test_tokens_and_provider_keys_are_secret(example: ProgramRun) -> None:
    for container in example.of_type(CONTAINER):
        if container.name.endswith("-gateway"):
            assert container.secret_inputs == {"envs"}, container.name
    assert "tenantTokens" in example.secret_exports
    assert "tenants" not in example.secret_exports
    assert set(example.exports["tenantTokens"]) == {"acme", "globex", "initech", "umbrella", "hooli", "vandelay"}
    assert "tenantModelKeys" in example.secret_exports
    assert set(example.exports["tenantModelKeys"]) == set(example.exports["tenantTokens"])
    assert "generated-token" not in json.dumps(example.exports["tenants"])
    for key in example.of_type(PASSWORD):
        assert key.inputs["length"] == 48 and key.inputs["special"] is False, key.name


MASTER_KEYS = ("kimi-fleet-key-value", "minimax-fleet-key-value")
PROVIDER_KEY_NAMES = ("KIMI_API_KEY", "MOONSHOT_API_KEY", "MINIMAX_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY")


def test_no_provider_key_reaches_any_tenant_resource(example: ProgramRun) -> None:
    """A tenant holds its token and its virtual key; the master keys are the model gateways' alone."""
    for resource in example.resources:
        if resource.name.startswith("models-"):
            continue
        text = json.dumps(resource.inputs)
        for value in (*MASTER_KEYS, *PROVIDER_KEY_NAMES):
            assert value not in text, (resource.name, value)
    for tenant in ("acme", "globex", "initech"):
        envs = example.named(f"{tenant}-gateway").inputs["envs"]
        names = {e.split("=", 1)[0] for e in envs}
        assert {"OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_MODEL_KEY"} <= names
        assert not names & set(PROVIDER_KEY_NAMES), tenant
    for value in MASTER_KEYS:
        assert value not in json.dumps(example.exports)


def test_the_model_gateway_alone_holds_the_configured_master_keys(example: ProgramRun) -> None:
    gateway = example.named("models-local-gateway")
    envs = gateway.inputs["envs"]
    assert "KIMI_API_KEY=kimi-fleet-key-value" in envs
    assert "MINIMAX_API_KEY=minimax-fleet-key-value" in envs
    # No anthropic key configured: the variable is left out rather than set empty.
    assert not any(e.startswith("ANTHROPIC_API_KEY") for e in envs)
    assert gateway.secret_inputs == {"envs"}
    assert gateway.inputs["user"] == "10001:10001"
    assert gateway.inputs["image"] == "openclaw-local/model-gateway:1.83.10-1"
    assert gateway.inputs["capabilities"] == {"drops": ["ALL"]}
    assert gateway.inputs["securityOpts"] == ["no-new-privileges:true"]
    assert not gateway.inputs.get("ports")
    assert [n["name"] for n in gateway.inputs["networksAdvanced"]] == ["openclaw-models-local"]
    uploads = {u["file"]: json.loads(u["content"]) for u in gateway.inputs["uploads"]}
    models = uploads["/etc/openclaw-models/gateway.json"]["models"]
    assert models["kimi-k2.6"]["api_base"] == "https://api.moonshot.ai/v1"
    assert models["kimi-k2.6"]["key_env"] == "KIMI_API_KEY"
    assert uploads["/etc/openclaw-models/tenants.json"] == {"version": 1, "tenants": {}}


def test_an_operators_ledger_url_reaches_only_the_model_gateways_as_a_secret(example: ProgramRun) -> None:
    assert not any(e.startswith("OPENCLAW_LEDGER_URL") for e in example.named("models-local-gateway").inputs["envs"])
    url = "postgresql://ledger:pw-of-the-ledger@db.internal/ledger"
    run = run_program(
        ROOT / "tenants.yaml",
        secrets={"modelLedgerUrl": url, "clusterEuKubeconfig": "apiVersion: v1\nkind: Config\n"},
    )
    gateway = run.named("models-local-gateway")
    assert f"OPENCLAW_LEDGER_URL={url}" in gateway.inputs["envs"] and "envs" in gateway.secret_inputs
    keys = run.named("models-cluster-eu-keys")
    assert keys.inputs["stringData"]["OPENCLAW_LEDGER_URL"] == url and "stringData" in keys.secret_inputs
    tenant_inputs = [json.dumps(r.inputs) for r in run.resources if r.name.startswith(("acme", "globex", "initech"))]
    assert not any("pw-of-the-ledger" in text for text in tenant_inputs)


def test_the_registry_holds_active_tenants_by_key_hash_as_a_secret(example: ProgramRun) -> None:
    registry = example.named("models-local-registry")
    assert registry.inputs["path"] == "/etc/openclaw-models/tenants.json"
    assert "content" in registry.secret_inputs
    tenants = json.loads(registry.inputs["content"])["tenants"]
    assert set(tenants) == {"acme", "globex", "initech"}  # umbrella is suspended: its key is refused
    key = example.exports["tenantModelKeys"]["acme"]
    assert tenants["acme"]["key_sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in registry.inputs["content"]
    assert tenants["acme"]["budget_usd"] == "5.00"
    assert (tenants["acme"]["rpm"], tenants["acme"]["tpm"]) == (30, 100_000)
    assert tenants["globex"]["budget_usd"] == "25.00"
    assert "claude-opus-4-6" in tenants["initech"]["models"]
    links = {r.name: r.inputs["network"] for r in example.resources if r.name.startswith("models-local-link-")}
    assert links == {f"models-local-link-{t}": f"tenant-{t}" for t in ("acme", "globex", "initech")}


def test_a_per_tenant_provider_key_is_refused_with_what_to_do() -> None:
    with pytest.raises(pulumi.RunError, match=r"apiKey-globex: per-tenant provider keys are no longer used"):
        run_program(ROOT / "tenants.yaml", config=DOCKER_SHARD, secrets={"apiKey-globex": "own-key"})


def test_the_model_key_rotates_with_the_token(tmp_path: Path) -> None:
    fleet = (ROOT / "tenants.yaml").read_text().replace("  - id: acme\n", "  - id: acme\n    rotation: 3\n")
    (tmp_path / "tenants.yaml").write_text(fleet)
    run = run_program(tmp_path / "tenants.yaml", config=DOCKER_SHARD)
    assert run.named("acme-model-key").inputs["keepers"] == {"rotation": "3"}


def test_rotation_is_the_token_keeper(tmp_path: Path) -> None:
    fleet = (ROOT / "tenants.yaml").read_text().replace("  - id: acme\n", "  - id: acme\n    rotation: 3\n")
    (tmp_path / "tenants.yaml").write_text(fleet)
    run = run_program(tmp_path / "tenants.yaml", config=DOCKER_SHARD)
    assert run.named("acme-token").inputs["keepers"] == {"rotation": "3"}
    assert run.named("acme-token").inputs["length"] == 48


def test_edge_proxy_routes_active_tenants_on_loopback_only(example: ProgramRun) -> None:
    proxy = example.named("edge-local-proxy").inputs
    assert proxy["ports"] == [{"internal": 8080, "external": 8080, "ip": "127.0.0.1"}]
    # The container is the same whatever the tenants: links and routes change in place.
    assert [n["name"] for n in proxy["networksAdvanced"]] == ["openclaw-edge-local"]
    assert "server_name acme" not in proxy["uploads"][0]["content"]
    links = {r.name: r.inputs for r in example.resources if r.name.startswith("edge-local-link-")}
    assert {n: i["network"] for n, i in links.items()} == {
        "edge-local-link-acme": "tenant-acme",
        "edge-local-link-globex": "tenant-globex",
        "edge-local-link-initech": "tenant-initech",
    }
    routes = example.named("edge-local-routes").inputs
    assert routes["path"] == "/etc/nginx/nginx.conf"
    assert "server_name acme.localhost;" in routes["content"]
    assert "umbrella" not in routes["content"]
    assert proxy["user"] == "65534:65534"
    assert proxy["capabilities"] == {"drops": ["ALL"]}


def test_stack_config_overrides_domain_and_edge(tmp_path: Path) -> None:
    run = run_program(
        ROOT / "tenants.yaml",
        config={**DOCKER_SHARD, "domain": "tenants.example.com", "edgeAddress": "127.0.0.5", "edgePort": "80"},
    )
    assert run.exports["tenants"]["acme"]["url"] == "http://acme.tenants.example.com"
    assert run.named("edge-local-proxy").inputs["ports"][0] == {
        "internal": 8080,
        "external": 80,
        "ip": "127.0.0.5",
    }


def test_shard_config_deploys_only_that_shard(tmp_path: Path) -> None:
    fleet = (ROOT / "tenants.yaml").read_text()
    fleet = fleet.replace("  - id: globex\n", "  - id: globex\n    shard: s2\n    target: host2\n")
    fleet = fleet.replace(
        "tenants:\n",
        "  host2:\n    type: docker\n    host: ssh://ops@host2\n"
        "    capacity: {cpus: 8, memory_gib: 16, networks: 30, storage_gib: 1000}\n\ntenants:\n",
    )
    (tmp_path / "tenants.yaml").write_text(fleet)
    run = run_program(tmp_path / "tenants.yaml", config={"shard": "s2"})
    assert set(run.exports["tenants"]) == {"globex"}
    assert {r.name for r in run.of_type(TENANT_STACK)} == {"globex"}
    # Only the shard's target is touched: one provider, one edge proxy, both for host2.
    assert [r.inputs["host"] for r in run.of_type("pulumi:providers:docker")] == ["ssh://ops@host2"]
    assert [r.name for r in run.of_type("openclaw:index:EdgeProxy")] == ["edge-host2"]


def test_invalid_fleet_fails_with_every_problem_and_no_traceback(tmp_path: Path) -> None:
    bad = (ROOT / "tenants.yaml").read_text().replace("plan: pro\n    model_provider: minimax", "plan: gold")
    bad = bad.replace("id: initech", "id: API")
    (tmp_path / "tenants.yaml").write_text(bad)
    with pytest.raises(pulumi.RunError) as info:
        run_program(tmp_path / "tenants.yaml", config=DOCKER_SHARD)
    text = str(info.value)
    assert "2 problems found" in text
    assert "tenants[1].plan: unknown plan 'gold'" in text
    assert "tenants[2].id:" in text


def test_urn_set_of_example_fleet_is_pinned(example: ProgramRun) -> None:
    """Logical names are a contract: a rename replaces live resources and needs an alias."""
    pinned = set((Path(__file__).parent / "example_urns.txt").read_text().split())
    assert example.urns() == pinned


def test_every_docker_resource_uses_its_targets_explicit_provider(example: ProgramRun) -> None:
    docker_resources = [r for r in example.resources if r.type.startswith("docker:index/")]
    # with the model gateway's network, volume, container and image, the egress filter's container and image,
    # the disk agent's container and image, and the backup agent's container and volume
    assert len(docker_resources) == 25
    for resource in docker_resources:
        assert resource.provider.startswith(example.named("local-docker").urn), resource.name


def test_images_are_pinned_and_pulled_once_per_target(example: ProgramRun) -> None:
    images = sorted(r.inputs["name"] for r in example.of_type("docker:index/remoteImage:RemoteImage"))
    assert images == [
        "docker.io/library/nginx:1.27.5",
        "ghcr.io/openclaw/openclaw:2026.9.6",
        "openclaw-local/data-agent:0.14.0-1",
        "openclaw-local/egress-filter:1.0.6-1",
        "openclaw-local/model-gateway:1.83.10-1",
    ]
    for container in example.of_type(CONTAINER):
        assert container.inputs["image"] in images
        assert not container.inputs["image"].endswith(":latest")


def test_closed_egress_gives_internal_networks_without_a_host_address() -> None:
    """The end-to-end fleet (egress: models) under the program: what the real-engine tests apply."""
    run = run_program(ROOT / "tests" / "e2e" / "fleet.yaml")
    for network in run.of_type(NETWORK):
        if network.name.startswith("e2e-"):
            assert network.inputs["internal"] is True
            assert network.inputs["options"] == {
                "com.docker.network.bridge.inhibit_ipv4": "true",
                "com.docker.network.bridge.name": bridge_name("e2e", network.inputs["name"]),
            }
    edge = run.named("edge-e2e-network").inputs
    assert edge.get("internal") in (None, False)
    assert edge["ipamConfigs"] == [{"subnet": "10.255.255.0/24"}]
    gateway = run.named("e2e-basic-gateway").inputs
    assert gateway["image"] == "openclaw-local/openclaw:2026.9.6"
    assert gateway["hostname"] == "openclaw-e2e-basic"
    assert gateway["destroyGraceSeconds"] == 30


def test_every_gateway_waits_for_its_hosts_egress_rules(example: ProgramRun) -> None:
    rules = example.named("egress-local-rules")
    assert rules.inputs["content"].count('" . "') == 4  # acme, globex, initech and the suspended umbrella
    gateways = [example.named(f"{tid}-gateway") for tid in ("acme", "globex", "initech")]
    assert gateways and all(rules.urn in g.dependencies for g in gateways)
    filter_container = example.named("egress-local-filter").inputs
    assert filter_container["networkMode"] == "host"
    assert filter_container["capabilities"] == {"drops": ["ALL"], "adds": ["CAP_NET_ADMIN"]}
    assert rules.inputs["remove"] == ["nft", "delete", "table", "inet", "openclaw_egress_local"]


def test_settings_the_provider_cannot_change_in_place_recreate_the_container(example: ProgramRun) -> None:
    """tmpfs, init and the CPU quota are neither updated nor create-only in pulumi-docker: a change
    would be recorded and never applied, so it must replace the container (delete first: fixed names)."""
    for name in ("acme-gateway", "edge-local-proxy"):
        container = example.named(name)
        assert {"tmpfs", "init", "healthcheck", "cpuQuota", "cpuPeriod"} <= set(container.replace_on_changes)
        assert container.delete_before_replace


def test_fixed_name_networks_are_deleted_before_their_replacement(example: ProgramRun) -> None:
    """An egress change replaces `tenant-<id>`; the new one cannot exist beside the old one."""
    for network in example.of_type("docker:index/network:Network"):
        assert network.delete_before_replace, network.name
        labels = {item["label"] for item in network.inputs.get("labels", [])}
        assert "openclaw.io/plan" not in labels  # create-only: only labels that never change


def test_healthcheck_durations_are_in_the_form_the_provider_reads_back(example: ProgramRun) -> None:
    hc = example.named("acme-gateway").inputs["healthcheck"]
    assert (hc["interval"], hc["timeout"], hc["startPeriod"]) == ("30s", "5s", "1m30s")
