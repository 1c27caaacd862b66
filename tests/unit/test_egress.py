"""Egress modes on Docker targets: what each mode's network is, and the host's nftables ruleset."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from typer.testing import CliRunner

from tenantctl.app import app
from tenants import docker_specs as ds
from tenants import egress_rules as rules
from tenants.egress_filter_specs import RULES_PATH, egress_filter_spec, guarded_bridges
from tenants.egress_ranges import METADATA_ADDRESSES, forbidden_networks
from tenants.fleet_warnings import fleet_warnings
from tenants.load import parse_fleet
from tenants.model import DockerEgress, Fleet
from tenants.model_gateway_specs import docker_spec as model_gateway_spec
from tenants.resolved import DockerTenant, resolve_all

ROOT = Path(__file__).resolve().parents[2]
MODES = ("none", "models", "internet", "direct-unfiltered")


def fleet_of(target_egress: str = "{mode: models}", plan_egress: str | None = None) -> Fleet:
    """One Docker target and one tenant per plan; `pro` carries ``plan_egress`` when given."""
    pro = f"  pro: {{egress: {plan_egress}}}\n" if plan_egress else ""
    text = (
        "version: 1\ndomain: localhost\nbackups: {repository: /srv/openclaw-backups}\n"
        f"plans:\n  basic: {{}}\n{pro}"
        "defaults: {target: host, model_provider: kimi}\n"
        "targets:\n  host:\n    type: docker\n"
        f"    egress: {target_egress}\n"
        "    capacity: {cpus: 16, memory_gib: 64, networks: 30, storage_gib: 1000}\n"
        "tenants:\n  - id: alpha\n  - id: bravo\n    plan: pro\n  - id: carol\n    state: suspended\n"
        "  - id: delta\n    state: offboarded\n"
    )
    return parse_fleet(text, "egress fleet")


def tenants_of(fleet: Fleet) -> dict[str, DockerTenant]:
    return {t.id: t for t in resolve_all(fleet, fleet.tenants, DockerTenant)}


def test_new_fleets_default_to_models_and_a_plan_replaces_the_targets_mode() -> None:
    fleet = fleet_of(target_egress="{}", plan_egress="internet")
    resolved = tenants_of(fleet)
    assert DockerEgress().mode == "models"
    assert resolved["alpha"].egress == "models" and resolved["bravo"].egress == "internet"


def test_each_mode_gets_its_own_kind_of_network() -> None:
    for mode in MODES:
        tenant = tenants_of(fleet_of(target_egress=mode))["alpha"]
        network = ds.network_spec(tenant)
        bridge = network.options.get(ds.BRIDGE_NAME_OPTION)
        if mode == "direct-unfiltered":
            assert not network.internal and network.options == {}
            continue
        assert bridge == rules.bridge_name("host", network.name)
        assert network.internal == (mode != "internet")
        assert ("com.docker.network.bridge.inhibit_ipv4" in network.options) == (mode != "internet")


def test_bridge_names_fit_a_linux_interface_name_and_keep_targets_apart() -> None:
    names = {rules.bridge_name("host", ds.network_name(f"tenant{i:04d}")) for i in range(3000)}
    assert len(names) == 3000
    assert all(len(n) == 15 and n.startswith(rules.bridge_prefix("host")) for n in names)
    assert all(re.fullmatch(r"[a-z2-7-]+", n) for n in names)
    assert rules.bridge_name("host", "tenant-acme") == rules.bridge_name("host", "tenant-acme")
    # Two targets on one host: own prefixes and own tables, so neither's catch-all drops the other's bridges.
    assert rules.bridge_prefix("host") != rules.bridge_prefix("host-b")
    assert rules.table_name("host-b") == "openclaw_egress_host_b"
    assert f'"{rules.bridge_prefix("host")}*"' in rules.baseline("host")
    assert rules.bridge_prefix("host-b") not in rules.baseline("host")


def test_internet_tenants_resolve_only_through_the_named_resolver() -> None:
    named = tenants_of(fleet_of(target_egress="{mode: internet, resolver: 10.0.0.2}"))["alpha"]
    assert ds.container_spec(named).dns == ("10.0.0.2",)
    unnamed = tenants_of(fleet_of(target_egress="internet"))["alpha"]
    assert ds.container_spec(unnamed).dns == ()
    models = tenants_of(fleet_of(target_egress="{mode: models, resolver: 10.0.0.2}"))["alpha"]
    assert ds.container_spec(models).dns == ()


def test_a_none_tenant_gets_no_model_gateway_link_or_key() -> None:
    fleet = fleet_of(target_egress="models", plan_egress="none")
    spec = model_gateway_spec(fleet, "host", tuple(tenants_of(fleet).values()))
    assert [e.tenant_id for e in spec.registry] == ["alpha"]
    assert spec.links == (("alpha", "tenant-alpha"),)


def test_the_filter_guards_every_live_guarded_network_of_its_target() -> None:
    fleet = fleet_of(target_egress="internet", plan_egress="direct-unfiltered")
    bridges = guarded_bridges("host", tuple(tenants_of(fleet).values()))
    # bravo opts out; delta is offboarded (no network); carol is suspended and keeps hers.
    assert bridges == (
        rules.GuardedBridge(rules.bridge_name("host", "tenant-alpha"), "internet"),
        rules.GuardedBridge(rules.bridge_name("host", "tenant-carol"), "internet"),
    )


def test_the_filter_container_is_host_network_with_only_net_admin() -> None:
    fleet = fleet_of()
    spec = egress_filter_spec(fleet, "host", tuple(tenants_of(fleet).values()))
    container = spec.container
    assert container.network_mode == "host" and container.networks == ()
    assert container.cap_drop == ("ALL",) and container.cap_add == ("CAP_NET_ADMIN",)
    assert container.image == fleet.images.egress_filter
    assert container.restart == "unless-stopped"
    assert [u.path for u in container.uploads] == [RULES_PATH]
    assert container.uploads[0].content == rules.baseline("host")
    assert spec.remove == ("nft", "delete", "table", "inet", "openclaw_egress_host")


def _set_elements(ruleset: str, name: str) -> list[str]:
    match = re.search(rf"set {name} \{{[^}}]*?elements = \{{ (.*?) \}};", ruleset)
    return [] if match is None else match.group(1).split(", ")


def test_the_ruleset_lists_bridges_by_mode() -> None:
    bridges = (
        rules.GuardedBridge("oct-aaaaaaaaaaa", "internet"),
        rules.GuardedBridge("oct-bbbbbbbbbbb", "models"),
        rules.GuardedBridge("oct-ccccccccccc", "none"),
    )
    text = rules.render_ruleset("t", bridges, DockerEgress(mode="internet", ports=(443, 8443)))
    assert _set_elements(text, "internet") == ['"oct-aaaaaaaaaaa"']
    assert _set_elements(text, "same_bridge") == [f'"{b.bridge}" . "{b.bridge}"' for b in bridges]
    assert _set_elements(text, "ports") == ["443", "8443"]
    assert "iifname != @internet counter drop" in text
    # Atomic replacement: the table is created if absent, deleted and defined in one file.
    table = rules.table_name("t")
    assert text.startswith(f"table inet {table}\ndelete table inet {table}\ntable inet {table} {{")


def test_internet_never_reaches_a_forbidden_range_or_an_exclusion() -> None:
    settings = DockerEgress(mode="internet", excluded=("198.51.100.0/24", "2001:db8::/32"))
    text = rules.render_ruleset("t", (rules.GuardedBridge("oct-aaaaaaaaaaa", "internet"),), settings)
    v4 = [ipaddress.ip_network(c) for c in _set_elements(text, "blocked_v4")]
    v6 = [ipaddress.ip_network(c) for c in _set_elements(text, "blocked_v6")]
    for net in (*forbidden_networks(4), ipaddress.ip_network("198.51.100.0/24")):
        assert any(net.subnet_of(b) for b in v4), net  # type: ignore[arg-type]
    for net in (*forbidden_networks(6), ipaddress.ip_network("2001:db8::/32")):
        assert any(net.subnet_of(b) for b in v6), net  # type: ignore[arg-type]
    for address in METADATA_ADDRESSES:
        ip = ipaddress.ip_address(address)
        assert any(ip in b for b in (*v4, *v6)), address
    # Drops come before the port accept, and nothing else accepts a new destination.
    body = text[text.index("chain from_tenant") :]
    assert body.index("@blocked_v4 counter drop") < body.index("tcp dport @ports accept")
    assert body.count("accept") == 2


def test_dns_is_allowed_to_the_resolver_alone_and_to_the_host_only_if_it_is_the_resolver() -> None:
    text = rules.render_ruleset("t", (), DockerEgress(mode="internet", resolver="10.0.0.2"))
    forward = text[text.index("chain from_tenant") :]
    host = text[text.index("chain input") : text.index("chain forward")]
    for proto in ("udp", "tcp"):
        assert f"ip daddr 10.0.0.2 {proto} dport 53 accept" in forward
        assert f"iifname @internet ip daddr 10.0.0.2 {proto} dport 53 accept" in host
    # The resolver's accept comes before the private-range drop that would otherwise catch it.
    assert forward.index("dport 53 accept") < forward.index("@blocked_v4")
    assert "dport 53" not in rules.render_ruleset("t", (), DockerEgress(mode="internet"))
    v6 = rules.render_ruleset("t", (), DockerEgress(mode="internet", resolver="2001:db8::53"))
    assert "ip6 daddr 2001:db8::53 udp dport 53 accept" in v6


def test_the_host_accepts_from_tenants_only_replies_and_the_resolver() -> None:
    base = rules.baseline("t")
    host = base[base.index("chain input") : base.index("chain forward")]
    lines = [line.strip() for line in host.splitlines()[2:-2]]
    assert lines == [
        f'iifname "{rules.bridge_prefix("t")}*" ct state established,related accept',
        f'iifname "{rules.bridge_prefix("t")}*" counter drop',
    ]
    assert "elements" not in base.split("set blocked")[0]  # no bridge is open before the first write


def test_direct_unfiltered_is_warned_about_for_its_tenants() -> None:
    by_target = fleet_warnings(fleet_of(target_egress="direct-unfiltered", plan_egress="models"))
    assert by_target == [
        "target 'host' has egress direct-unfiltered: its tenants (alpha, carol, delta) can reach cloud "
        "metadata (169.254.169.254), the host's services and private networks; use 'internet' or 'models'"
    ]
    by_plan = fleet_warnings(fleet_of(plan_egress="direct-unfiltered"))
    assert len(by_plan) == 1 and by_plan[0].startswith("plan 'pro' has egress direct-unfiltered: its tenants (bravo)")
    assert fleet_warnings(fleet_of()) == []


def test_validate_prints_the_warning(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    text = (ROOT / "tenants.yaml").read_text()
    path.write_text(text.replace("    egress: models ", "    egress: direct-unfiltered ", 1))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: target 'local' has egress direct-unfiltered" in result.output
