"""Valid fleets: defaults, plans, limits, immutability, URLs, resolved tenants, units, shards, stack overrides."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from tenants.catalog import BUILTIN_CHANNELS, BUILTIN_MODELS, BUILTIN_PLANS, PROVIDER_UPSTREAMS
from tenants.load import DEFAULTED, load_fleet, parse_fleet
from tenants.model import DockerTarget, Fleet, Limits, Overrides, Plan, PlanMax, effective_model_allowance
from tenants.openclaw import HEAP_FRACTION, environment, heap_mib
from tenants.resolved import DockerTenant, KubernetesTenant, resolve, resolve_all
from tenants.shards import ALL_SHARDS, select_shard
from tenants.stack_overrides import StackOverrides, apply_overrides
from tenants.units import cpu_quantity, gib_quantity, gib_to_mib, mib_quantity

EXAMPLE = Path(__file__).resolve().parents[2] / "tenants.yaml"

FLEET = """\
version: 1
domain: tenants.example.com
channels:
  edge: 2026.10.1
defaults:
  plan: pro
  target: west
  model_provider: openai
  channel: canary
  shard: eu
plans:
  basic:
    rate_limit_rps: 5
  mini:
    cpus: 0.5
    memory_gib: 1
    storage_gib: 2
    max: {cpus: 1, memory_gib: 2, storage_gib: 10, model_budget_usd: "4.00", model_rpm: 20, model_tpm: 40000}
    pids_limit: 128
    rate_limit_rps: 2
    burst: 4
    monthly_price: "9.50"
    model_budget_usd: "1.00"
    model_rpm: 10
    model_tpm: 20000
    models: [kimi-k2.6, minimax-m2.7, claude-haiku-4-5, gpt-5-mini, openrouter-kimi-k2.6]
targets:
  west:
    type: docker
    capacity: {cpus: 16, memory_gib: 64, networks: 30, storage_gib: 1000}
  east:
    type: docker
    host: ssh://deploy@east.example.com
    edge: {address: "::1", port: 80}
    capacity: {cpus: 4, memory_gib: 8, networks: 5, storage_gib: 1000}
    overcommit: {cpu: 4, memory: 2}
tenants:
  - id: acme
  - id: globex
    plan: basic
    target: east
    model_provider: anthropic
    channel: stable
    shard: us
    overrides: {memory_gib: 3}
  - id: initech
    plan: mini
    target: east
    shard: us
    labels: {billing-account: "1001", team: ops}
  - id: umbrella
    state: offboarded
  - id: hooli
    plan: enterprise
    state: suspended
    channel: edge
"""

MINIMAL = """\
version: 1
domain: tenants.example.com
targets:
  local:
    type: docker
    capacity: {cpus: 4, memory_gib: 8, networks: 4, storage_gib: 1000}
tenants:
  - {id: acme, target: local, model_provider: kimi}
"""


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return parse_fleet(FLEET)


def builtin(name: str, **changes: Any) -> Plan:
    return Plan.model_validate({**BUILTIN_PLANS[name], **changes})


# --- the example fleet ------------------------------------------------------------------------


def test_example_fleet_loads_with_defaults_applied() -> None:
    fleet = load_fleet(EXAMPLE)
    raw = YAML(typ="safe").load(EXAMPLE.read_text(encoding="utf-8"))
    assert fleet.version == 1
    assert fleet.domain == raw["domain"]
    assert [t.id for t in fleet.tenants] == [t["id"] for t in raw["tenants"]]
    for entry, tenant in zip(raw["tenants"], fleet.tenants, strict=True):
        for key in DEFAULTED:
            expected = entry.get(key, getattr(fleet.defaults, key))
            assert getattr(tenant, key) == expected, (tenant.id, key)
        assert tenant.plan in fleet.plans
        assert tenant.target in fleet.targets
        assert tenant.channel in fleet.channels
    for name, body in (raw.get("plans") or {}).items():
        assert_subset(body, fleet.plans[name].model_dump(mode="json"), f"plans.{name}")


def assert_subset(raw: Any, loaded: Any, where: str) -> None:
    """Every value the file sets is the value loaded (numbers compared as numbers)."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            assert_subset(value, loaded[key], f"{where}.{key}")
    elif isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
        assert Decimal(str(raw)) == Decimal(str(loaded)), where
    else:
        assert raw == loaded, where


def test_example_fleet_tenants_fit_their_plans() -> None:
    fleet = load_fleet(EXAMPLE)
    for tenant in fleet.tenants:
        limits, top = fleet.limits(tenant), fleet.plans[tenant.plan].max
        assert limits.cpus <= top.cpus
        assert limits.memory_gib <= top.memory_gib
        assert limits.storage_gib <= top.storage_gib


# --- defaults ---------------------------------------------------------------------------------


def test_defaults_fill_every_left_out_field(fleet: Fleet) -> None:
    acme = fleet.tenant("acme")
    assert (acme.plan, acme.target, acme.model_provider, acme.channel, acme.shard) == (
        "pro",
        "west",
        "openai",
        "canary",
        "eu",
    )
    assert acme.state == "active"
    assert acme.rotation == 0
    assert acme.labels == {}
    assert acme.overrides == Overrides()
    assert acme.live


def test_explicit_fields_win_over_defaults(fleet: Fleet) -> None:
    globex = fleet.tenant("globex")
    assert (globex.plan, globex.target, globex.model_provider, globex.channel, globex.shard) == (
        "basic",
        "east",
        "anthropic",
        "stable",
        "us",
    )
    assert fleet.tenant("initech").labels == {"billing-account": "1001", "team": "ops"}


def test_builtin_defaults_without_a_defaults_section() -> None:
    fleet = parse_fleet(MINIMAL)
    acme = fleet.tenant("acme")
    assert (acme.plan, acme.channel, acme.shard) == ("basic", "stable", "default")
    assert fleet.plans == {name: Plan.model_validate(body) for name, body in BUILTIN_PLANS.items()}
    assert fleet.channels == BUILTIN_CHANNELS
    assert fleet.images.openclaw == "ghcr.io/openclaw/openclaw"
    assert fleet.images.proxy == "docker.io/library/nginx:1.27.5"


def test_tenant_lookup(fleet: Fleet) -> None:
    assert fleet.tenant("hooli").plan == "enterprise"
    with pytest.raises(KeyError):
        fleet.tenant("nobody")


def test_states(fleet: Fleet) -> None:
    assert fleet.tenant("umbrella").state == "offboarded"
    assert not fleet.tenant("umbrella").live
    assert fleet.tenant("hooli").state == "suspended"
    assert fleet.tenant("hooli").live


# --- plans, channels and limits ---------------------------------------------------------------


def test_builtin_plan_override_merges_field_by_field(fleet: Fleet) -> None:
    assert fleet.plans["basic"] == builtin("basic", rate_limit_rps=5)
    assert fleet.plans["basic"].burst == 20
    assert fleet.plans["basic"].monthly_price == Decimal("29.00")
    assert fleet.plans["pro"] == builtin("pro")
    assert fleet.plans["enterprise"] == builtin("enterprise")


def test_builtin_plan_max_merges_field_by_field() -> None:
    fleet = parse_fleet(MINIMAL + "plans:\n  basic:\n    max:\n      cpus: 3\n")
    assert fleet.plans["basic"].max == PlanMax(
        cpus=3, memory_gib=4, storage_gib=20, model_budget_usd=Decimal("20.00"), model_rpm=60, model_tpm=200_000
    )
    assert fleet.plans["basic"].cpus == 1
    assert BUILTIN_PLANS["basic"]["max"]["cpus"] == 2  # the catalog itself is untouched


def test_custom_plan(fleet: Fleet) -> None:
    mini = fleet.plans["mini"]
    assert (mini.cpus, mini.memory_gib, mini.storage_gib) == (0.5, 1, 2)
    assert mini.max == PlanMax(
        cpus=1, memory_gib=2, storage_gib=10, model_budget_usd=Decimal("4.00"), model_rpm=20, model_tpm=40_000
    )
    assert (mini.model_budget_usd, mini.model_rpm, mini.model_tpm) == (Decimal("1.00"), 10, 20_000)
    assert (mini.pids_limit, mini.rate_limit_rps, mini.burst) == (128, 2, 4)
    assert mini.monthly_price == Decimal("9.50")
    assert set(fleet.plans) == {"basic", "pro", "enterprise", "mini"}


def test_channels_merge_over_builtins(fleet: Fleet) -> None:
    assert fleet.channels == {**BUILTIN_CHANNELS, "edge": "2026.10.1"}
    assert fleet.version_of(fleet.tenant("hooli")) == "2026.10.1"
    assert fleet.version_of(fleet.tenant("acme")) == BUILTIN_CHANNELS["canary"]


def test_a_builtin_channel_can_be_repinned() -> None:
    fleet = parse_fleet(MINIMAL + "channels:\n  stable: 2026.10.2\n")
    assert fleet.version_of(fleet.tenant("acme")) == "2026.10.2"
    assert fleet.channels["canary"] == BUILTIN_CHANNELS["canary"]


@pytest.mark.parametrize(
    ("tenant_id", "expected"),
    [
        ("acme", Limits(cpus=2, memory_gib=4, storage_gib=20)),  # pro as it is
        ("globex", Limits(cpus=1, memory_gib=3, storage_gib=5)),  # basic, memory raised
        ("initech", Limits(cpus=0.5, memory_gib=1, storage_gib=2)),  # custom plan
        ("hooli", Limits(cpus=4, memory_gib=8, storage_gib=100)),  # enterprise
    ],
)
def test_limits_apply_overrides(fleet: Fleet, tenant_id: str, expected: Limits) -> None:
    assert fleet.limits(fleet.tenant(tenant_id)) == expected


def test_overrides_up_to_the_plan_max_are_accepted() -> None:
    text = MINIMAL.replace(
        "{id: acme, target: local, model_provider: kimi}",
        "{id: acme, target: local, model_provider: kimi, overrides: {cpus: 2, memory_gib: 4, storage_gib: 20}}",
    )
    fleet = parse_fleet(text)
    assert fleet.limits(fleet.tenant("acme")) == Limits(cpus=2, memory_gib=4, storage_gib=20)


# --- heap sizing ------------------------------------------------------------------------------


@pytest.mark.parametrize("memory_gib", [1, 2, 3, 4.5, 8, 32])
def test_heap_is_three_quarters_of_memory(memory_gib: float) -> None:
    heap = heap_mib(gib_to_mib(memory_gib))
    assert heap == int(memory_gib * 1024 * 0.75)
    assert 0.74 <= heap / (memory_gib * 1024) <= 0.75
    assert environment(gib_to_mib(memory_gib))["NODE_OPTIONS"] == f"--max-old-space-size={heap}"


def test_heap_of_a_tenant(fleet: Fleet) -> None:
    assert HEAP_FRACTION == 0.75
    assert heap_mib(gib_to_mib(2)) == 1536  # upstream's figure for a 2 GiB container
    assert heap_mib(gib_to_mib(fleet.limits(fleet.tenant("globex")).memory_gib)) == 2304


# --- immutability -----------------------------------------------------------------------------


def test_fleet_is_frozen(fleet: Fleet) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        fleet.domain = "evil.example.com"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        fleet.targets["west"].capacity.cpus = 1000  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        fleet.plans["pro"].cpus = 64  # type: ignore[misc]
    assert isinstance(fleet.tenants, tuple)


@pytest.mark.parametrize(("field", "value"), [("id", "other"), ("plan", "enterprise"), ("rotation", 7)])
def test_tenants_are_frozen(fleet: Fleet, field: str, value: object) -> None:
    tenant = fleet.tenant("acme")
    with pytest.raises(ValidationError, match="frozen"):
        setattr(tenant, field, value)
    with pytest.raises(ValidationError, match="frozen"):
        tenant.overrides.cpus = 2  # type: ignore[misc]
    assert fleet.tenant("acme").id == "acme"


# --- URLs -------------------------------------------------------------------------------------


def test_url_includes_a_non_default_port(fleet: Fleet) -> None:
    assert fleet.url(fleet.tenant("acme")) == "http://acme.tenants.example.com:8080"


def test_url_omits_port_80(fleet: Fleet) -> None:
    assert fleet.url(fleet.tenant("globex")) == "http://globex.tenants.example.com"


# --- resolved tenants -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EXAMPLE, EXAMPLE.parent / "tests" / "e2e" / "fleet.yaml"], ids=["example", "e2e"])
def test_a_resolved_tenant_holds_what_the_fleet_answers(path: Path) -> None:
    fleet = load_fleet(path)
    for tenant in fleet.tenants:
        resolved = resolve(fleet, tenant)
        target = fleet.targets[tenant.target]
        assert isinstance(resolved, DockerTenant if isinstance(target, DockerTarget) else KubernetesTenant)
        assert (resolved.tenant, resolved.target, resolved.plan) == (tenant, target, fleet.plans[tenant.plan])
        assert (resolved.host, resolved.url) == (fleet.host(tenant), fleet.url(tenant))
        assert resolved.limits == fleet.limits(tenant)
        assert resolved.memory_mib == resolved.limits.memory_gib * 1024
        assert resolved.image == f"{fleet.images.openclaw}:{fleet.version_of(tenant)}"
        assert json.loads(resolved.gateway_config_text)["gateway"]["controlUi"]["allowedOrigins"] == [resolved.url]


def test_resolving_for_a_backend_keeps_only_its_tenants_in_order() -> None:
    fleet = load_fleet(EXAMPLE)
    docker = resolve_all(fleet, fleet.tenants, DockerTenant)
    kubernetes = resolve_all(fleet, reversed(fleet.tenants), KubernetesTenant)
    assert [t.id for t in docker] == ["acme", "globex", "initech", "umbrella"]
    assert [t.id for t in kubernetes] == ["vandelay", "hooli"]


@pytest.mark.parametrize(
    ("gib", "mib", "quantity"),
    [(1, 1024, "1Gi"), (2.5, 2560, "2560Mi"), (20, 20480, "20Gi"), (0.0005, 1, "1Mi"), (1.0001, 1024, "1Gi")],
)
def test_gib_become_whole_mib_by_rounding(gib: float, mib: int, quantity: str) -> None:
    assert gib_to_mib(gib) == mib
    assert mib_quantity(mib) == gib_quantity(gib) == quantity


@pytest.mark.parametrize(("cpus", "millis"), [(1, "1000m"), (0.5, "500m"), (0.125, "125m"), (2.0004, "2000m")])
def test_cpus_become_millicpus(cpus: float, millis: str) -> None:
    assert cpu_quantity(cpus) == millis


# --- shards -----------------------------------------------------------------------------------


def test_shards_are_sorted_and_unique(fleet: Fleet) -> None:
    assert fleet.shards() == ("eu", "us")


def test_select_all_shards(fleet: Fleet) -> None:
    assert select_shard(fleet, ALL_SHARDS) == fleet.tenants


@pytest.mark.parametrize(
    ("shard", "ids"),
    [("eu", ["acme", "umbrella", "hooli"]), ("us", ["globex", "initech"])],
)
def test_select_one_shard(fleet: Fleet, shard: str, ids: list[str]) -> None:
    assert [t.id for t in select_shard(fleet, shard)] == ids


def test_select_unknown_shard_names_the_known_ones(fleet: Fleet) -> None:
    with pytest.raises(ValueError, match=r"'ap'.*eu, us"):
        select_shard(fleet, "ap")


# --- per-stack overrides ----------------------------------------------------------------------


def test_an_edge_override_on_every_address_is_refused(fleet: Fleet) -> None:
    overrides = StackOverrides(tenants_file="tenants.yaml", shard=ALL_SHARDS, edge_address="0.0.0.0")
    with pytest.raises(ValueError, match=r"^openclaw-tenants:edgeAddress: '0.0.0.0' publishes on every host address"):
        apply_overrides(fleet, overrides)


def test_image_overrides_are_checked_like_the_fleet_file_and_name_their_key(fleet: Fleet) -> None:
    overrides = StackOverrides(
        tenants_file="tenants.yaml", shard=ALL_SHARDS, openclaw_image="local/openclaw", proxy_image="nginx:latest"
    )
    with pytest.raises(ValueError, match=r"^openclaw-tenants:proxyImage: must be pinned to an exact tag") as caught:
        apply_overrides(fleet, overrides)
    assert "openclawImage" not in str(caught.value)
    good = apply_overrides(
        fleet, StackOverrides(tenants_file="tenants.yaml", shard=ALL_SHARDS, proxy_image="ngx:1.2.3")
    )
    assert (good.images.proxy, good.images.openclaw) == ("ngx:1.2.3", fleet.images.openclaw)


def test_apply_overrides_domain_and_edge(fleet: Fleet) -> None:
    overrides = StackOverrides(
        tenants_file="tenants.yaml",
        shard=ALL_SHARDS,
        domain="localhost",
        edge_address="127.0.0.2",
        edge_port=80,
    )
    local = apply_overrides(fleet, overrides)
    assert local.domain == "localhost"
    for target in local.targets.values():
        assert (target.edge.address, target.edge.port) == ("127.0.0.2", 80)
    assert local.url(local.tenant("acme")) == "http://acme.localhost"
    assert local.targets["east"].host == "ssh://deploy@east.example.com"
    assert local.targets["east"].capacity == fleet.targets["east"].capacity
    assert local.tenants == fleet.tenants
    # the original is untouched
    assert fleet.domain == "tenants.example.com"
    assert fleet.targets["west"].edge.port == 8080
    with pytest.raises(ValidationError, match="frozen"):
        local.domain = "x.example.com"  # type: ignore[misc]


def test_apply_overrides_port_only_keeps_addresses(fleet: Fleet) -> None:
    local = apply_overrides(fleet, StackOverrides(tenants_file="t.yaml", shard="eu", edge_port=9000))
    assert (local.targets["east"].edge.address, local.targets["east"].edge.port) == ("::1", 9000)
    assert (local.targets["west"].edge.address, local.targets["west"].edge.port) == ("127.0.0.1", 9000)
    assert local.domain == fleet.domain
    assert local.url(local.tenant("globex")) == "http://globex.tenants.example.com:9000"


def test_apply_no_overrides_is_the_same_fleet(fleet: Fleet) -> None:
    assert apply_overrides(fleet, StackOverrides(tenants_file="t.yaml", shard=ALL_SHARDS)) == fleet


@pytest.mark.parametrize(
    "overrides",
    [
        StackOverrides(tenants_file="t.yaml", shard="", domain="Not A Domain"),
        StackOverrides(tenants_file="t.yaml", shard="", edge_address="localhost"),
        StackOverrides(tenants_file="t.yaml", shard="", edge_port=0),
        StackOverrides(tenants_file="t.yaml", shard="", edge_port=65536),
    ],
    ids=["domain", "edge-address", "edge-port-0", "edge-port-65536"],
)
def test_apply_invalid_overrides_raises(fleet: Fleet, overrides: StackOverrides) -> None:
    with pytest.raises(ValueError):
        apply_overrides(fleet, overrides)


# --- other valid shapes -----------------------------------------------------------------------

TENANT = "  - {id: acme, target: local, model_provider: kimi}\n"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(MINIMAL.replace("id: acme", "id: abc"), id="id-3-chars"),
        pytest.param(MINIMAL.replace("id: acme", "id: " + "a" * 40), id="id-40-chars"),
        pytest.param(MINIMAL.replace("id: acme", "id: 1password"), id="id-starting-with-digit"),
        pytest.param(MINIMAL.replace("id: acme", "id: a-b-c"), id="id-with-dashes"),
        pytest.param(MINIMAL.replace("cpus: 4", "cpus: 1"), id="cpus-exactly-at-capacity"),
        pytest.param(MINIMAL.replace("memory_gib: 8", "memory_gib: 2"), id="memory-exactly-at-capacity"),
        pytest.param(MINIMAL.replace("networks: 4", "networks: 2"), id="networks-exactly-at-capacity"),
        pytest.param(
            MINIMAL.replace("cpus: 4,", "cpus: 1,").replace("type: docker", "type: docker\n    overcommit: {cpu: 2}")
            + TENANT.replace("acme", "beta"),
            id="overcommit-allows-more-cpus",
        ),
        pytest.param(
            MINIMAL.replace("networks: 4", "networks: 2")
            + TENANT.replace("acme", "gone1").replace("}", ", state: offboarded}"),
            id="offboarded-tenants-use-no-network",
        ),
        pytest.param(
            MINIMAL.replace("cpus: 4,", "cpus: 1,")
            + TENANT.replace("acme", "idle1").replace("}", ", state: suspended}"),
            id="suspended-tenants-use-no-cpu",
        ),
        pytest.param(
            "images:\n  proxy: docker.io/library/nginx@sha256:" + "a" * 64 + "\n" + MINIMAL,
            id="proxy-pinned-by-digest",
        ),
        pytest.param("images:\n  proxy: registry.local:5000/nginx:1.27.5\n" + MINIMAL, id="proxy-registry-with-port"),
        pytest.param("images:\n  openclaw: registry.local:5000/mirror/openclaw\n" + MINIMAL, id="openclaw-mirror"),
        pytest.param(
            MINIMAL.replace("type: docker", "type: docker\n    host: tcp://10.0.0.5:2376\n    tls: local"),
            id="tcp-host",
        ),
        pytest.param(MINIMAL.replace("type: docker", "type: docker\n    edge: {address: '::1'}"), id="ipv6-edge"),
        pytest.param(
            MINIMAL.replace("model_provider: kimi}", "model_provider: kimi, labels: {team: ''}}"),
            id="empty-label-value",
        ),
        pytest.param(
            MINIMAL.replace("model_provider: kimi}", "model_provider: kimi, labels: {example.com/team: a.b_c-d}}"),
            id="prefixed-label",
        ),
        pytest.param(MINIMAL.replace("model_provider: kimi}", "model_provider: kimi, rotation: 3}"), id="rotation"),
        pytest.param(MINIMAL.replace("version: 1", "version: 1  # schema"), id="comments"),
        pytest.param(MINIMAL.replace("\n", "\r\n"), id="crlf-line-endings"),
        pytest.param("\ufeff" + MINIMAL, id="byte-order-mark"),
        pytest.param("---\n" + MINIMAL, id="document-start-marker"),
        pytest.param(
            MINIMAL.replace(
                "tenants:\n" + TENANT,
                "tenants:\n  - &t {id: acme, target: local, model_provider: kimi}\n  - {<<: *t, id: globex}\n",
            ),
            id="anchors-and-merge-keys",
        ),
        pytest.param(MINIMAL.replace("tenants:\n" + TENANT, "tenants: []\n"), id="no-tenants-yet"),
        pytest.param(MINIMAL.replace("tenants:\n" + TENANT, "tenants:\n"), id="tenants-null"),
        pytest.param(MINIMAL + "defaults:\nplans:\nchannels:\nimages:\n", id="empty-sections"),
    ],
)
def test_valid_fleet_shapes(text: str) -> None:
    fleet = parse_fleet(text)
    assert fleet.domain == "tenants.example.com"
    assert set(fleet.targets) == {"local"}


# --- model allowance and catalog ---------------------------------------------------------------------


def test_the_example_fleets_plans_allow_a_model_of_every_provider() -> None:
    fleet = load_fleet(Path(__file__).parents[2] / "tenants.yaml")
    for name, plan in fleet.plans.items():
        providers = {fleet.models[m].provider for m in plan.models}
        assert providers == {"kimi", "minimax", "anthropic", "openai", "openrouter"}, name
        assert plan.model_budget_usd <= plan.max.model_budget_usd


def test_a_tenants_allowance_is_its_plans_raised_by_its_overrides() -> None:
    text = MINIMAL + "plans:\n  basic:\n    model_rpm: 40\n"
    acme = "model_provider: kimi}"
    text = text.replace(acme, "model_provider: kimi, overrides: {model_budget_usd: '12.50', model_tpm: 150000}}")
    fleet = parse_fleet(text)
    allowance = effective_model_allowance(fleet.plans["basic"], fleet.tenant("acme"), fleet.models)
    assert allowance.budget_usd == Decimal("12.50")
    assert (allowance.rpm, allowance.tpm) == (40, 150_000)
    assert allowance.models == fleet.plans["basic"].models
    assert allowance.default_model == "kimi-k2.6"


def test_the_default_model_is_the_first_allowed_model_of_the_tenants_provider() -> None:
    text = MINIMAL + "plans:\n  basic:\n    models: [gpt-5-mini, kimi-k3, kimi-k2.6]\n"
    fleet = parse_fleet(text)
    allowance = effective_model_allowance(fleet.plans["basic"], fleet.tenant("acme"), fleet.models)
    assert allowance.default_model == "kimi-k3"


def test_the_fleets_models_override_prices_and_add_models() -> None:
    text = MINIMAL + (
        "models:\n"
        "  kimi-k2.6: {input_usd_per_mtok: '0.50'}\n"
        "  local-llama: {provider: openai, upstream_model: llama-3.1-8b, api: openai,"
        " input_usd_per_mtok: '0', output_usd_per_mtok: '0'}\n"
        "plans:\n  basic:\n    models: [local-llama, kimi-k2.6]\n"
    )
    fleet = parse_fleet(text)
    assert fleet.models["kimi-k2.6"].input_usd_per_mtok == Decimal("0.50")
    assert fleet.models["kimi-k2.6"].output_usd_per_mtok == Decimal("2.50")  # merged field by field
    assert fleet.models["local-llama"].upstream_model == "llama-3.1-8b"
    assert fleet.plans["basic"].models == ("local-llama", "kimi-k2.6")
    assert BUILTIN_MODELS["kimi-k2.6"]["input_usd_per_mtok"] == "0.60"  # the catalog itself is untouched


def test_every_builtin_model_names_a_known_provider_with_a_public_upstream() -> None:
    fleet = parse_fleet(MINIMAL)
    assert set(fleet.models) == set(BUILTIN_MODELS)
    for model in fleet.models.values():
        upstream = PROVIDER_UPSTREAMS[model.provider]
        assert upstream["api_base"].startswith("https://")
        assert model.api == upstream["api"]


def test_model_gateway_settings_of_targets() -> None:
    text = MINIMAL.replace(
        "    type: docker\n",
        "    type: docker\n    model_gateway: {egress: none, upstreams: {kimi: 'http://fake-upstream:8080/v1/'}}\n",
    )
    target = parse_fleet(text).targets["local"]
    assert target.model_gateway.egress == "none"
    assert target.model_gateway.upstreams == {"kimi": "http://fake-upstream:8080/v1"}
