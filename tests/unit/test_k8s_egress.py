"""A cluster's egress: what validation refuses (with the range and the reason), and what each
tenant's NetworkPolicy lets out by its egress mode, the plan's or else the cluster's."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from typer.testing import CliRunner

from harness.paths import EXAMPLE_FLEET_FILE
from tenantctl.app import app
from tenants import k8s_specs as ks
from tenants.egress_ranges import FORBIDDEN_RANGES, uncovered_forbidden
from tenants.errors import FleetError, Problem
from tenants.load import parse_fleet
from tenants.model import ClusterEgress, Fleet, KubernetesTarget
from tenants.resolved import KubernetesTenant, resolve
from tests.k8s_fleets import CLUSTER, ENTERPRISE_TENANT, VARIANTS, add_enterprise_tenant, cluster, edited, plan_egress

K8S_VERSION = "1.33.0"
EGRESS_PATH = ("targets", CLUSTER, "egress")
ALL_V4 = [r.cidr for r in FORBIDDEN_RANGES if ipaddress.ip_network(r.cidr).version == 4]
ALL_V6 = ["::/127", "::ffff:0:0/96", "64:ff9b::/96", "fc00::/7", "fe80::/10", "ff00::/8"]
NODE_RANGE = "203.0.113.0/24"


def with_egress(**fields: Any) -> Callable[[Any], None]:
    """Set (or, with None, remove) fields of the cluster's egress."""

    def edit(data: Any) -> None:
        egress = cluster(data)["egress"]
        for key, value in fields.items():
            if value is None:
                egress.pop(key, None)
            else:
                egress[key] = value

    return edit


def without_excluded(*cidrs: str) -> Callable[[Any], None]:
    def edit(data: Any) -> None:
        egress = cluster(data)["egress"]
        egress["excluded"] = [e for e in egress["excluded"] if e not in cidrs]

    return edit


def problems_of(*edits: Callable[[Any], None]) -> list[Problem]:
    with pytest.raises(FleetError) as info:
        parse_fleet(edited(*edits), "fleet.yaml")
    return list(info.value.problems)


def egress_message(*edits: Callable[[Any], None]) -> str:
    """The one problem of an edited example fleet: its cluster's egress."""
    problems = [p for p in problems_of(*edits) if p.path[:2] == ("targets", CLUSTER)]
    assert [p.path for p in problems] == [EGRESS_PATH], problems
    assert problems[0].line > 0
    return problems[0].message


def fleet_of(*edits: Callable[[Any], None]) -> Fleet:
    return parse_fleet(edited(*edits), "fleet.yaml")


def policy_of(fleet: Fleet, tenant_id: str) -> dict[str, Any]:
    resolved = resolve(fleet, fleet.tenant(tenant_id))
    assert isinstance(resolved, KubernetesTenant)
    spec: dict[str, Any] = ks.gateway_traffic(resolved)["spec"]
    return spec


def ip_blocks(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer["ipBlock"] for rule in spec.get("egress", []) for peer in rule["to"] if "ipBlock" in peer]


# --- validation ------------------------------------------------------------------------------------


def test_the_example_cluster_allows_the_internet_less_every_forbidden_range() -> None:
    target = fleet_of().targets[CLUSTER]
    assert isinstance(target, KubernetesTarget)
    assert (target.egress.mode, target.egress.cidrs) == ("internet", ("0.0.0.0/0", "::/0"))
    assert set(ALL_V4 + ALL_V6) <= set(target.egress.excluded)
    assert NODE_RANGE in target.egress.node_cidrs


def test_an_allowed_range_reaching_cloud_metadata_is_refused_with_the_reason() -> None:
    message = egress_message(without_excluded("169.254.0.0/16"))
    assert message == (
        "egress.cidrs 0.0.0.0/0 reaches 169.254.0.0/16 (link-local, cloud metadata at 169.254.169.254); "
        "add it to egress.excluded"
    )


def test_every_uncovered_range_is_named_with_its_reason() -> None:
    message = egress_message(without_excluded("169.254.0.0/16", "10.0.0.0/8"))
    # The node range 10.0.0.0/16 was inside the excluded private range; now it is reached too.
    assert message == (
        "egress.cidrs 0.0.0.0/0 reaches 10.0.0.0/8 (private (RFC 1918)), 169.254.0.0/16 "
        "(link-local, cloud metadata at 169.254.169.254) and 10.0.0.0/16 (a node range of this cluster); "
        "add them to egress.excluded"
    )


def test_the_whole_ipv4_internet_without_exclusions_names_every_forbidden_range() -> None:
    message = egress_message(with_egress(cidrs=["0.0.0.0/0"], excluded=None, node_cidrs=None))
    assert message.startswith("egress.cidrs 0.0.0.0/0 reaches ")
    assert message.endswith("; add them to egress.excluded")
    for forbidden in FORBIDDEN_RANGES:
        assert (f"{forbidden.cidr} ({forbidden.why})" in message) == (":" not in forbidden.cidr)


def test_ipv6_needs_its_own_exclusions() -> None:
    message = egress_message(without_excluded("fc00::/7", "fe80::/10"))
    assert message == (
        "egress.cidrs ::/0 reaches fc00::/7 (unique local), fe80::/10 (link-local) and "
        "fd00:ec2::254/128 (cloud metadata (AWS IPv6)); add them to egress.excluded"
    )


def test_a_narrow_ipv6_range_inside_the_public_internet_needs_no_exclusion() -> None:
    fleet = fleet_of(with_egress(cidrs=["0.0.0.0/0", "2001:db8::/32"]), without_excluded(*ALL_V6))
    assert ip_blocks(policy_of(fleet, "hooli"))[1] == {"cidr": "2001:db8::/32"}


def test_the_nodes_are_forbidden_like_the_private_ranges() -> None:
    message = egress_message(without_excluded(NODE_RANGE))
    assert message == (
        f"egress.cidrs 0.0.0.0/0 reaches {NODE_RANGE} (a node range of this cluster); add it to egress.excluded"
    )
    # A node range inside an excluded private range is excluded already.
    assert "10.0.0.0/16" in fleet_of().target_as(CLUSTER, KubernetesTarget).egress.node_cidrs
    nodes = fleet_of(with_egress(node_cidrs=["10.1.0.0/16", "fd12::/64", NODE_RANGE]))
    assert nodes.target_as(CLUSTER, KubernetesTarget).egress.node_cidrs == ("10.1.0.0/16", "fd12::/64", NODE_RANGE)


def test_an_ipv6_node_range_outside_the_forbidden_ones_must_be_excluded() -> None:
    message = egress_message(with_egress(node_cidrs=["2001:db8:1::/48"]))
    assert message == (
        "egress.cidrs ::/0 reaches 2001:db8:1::/48 (a node range of this cluster); add it to egress.excluded"
    )


def test_an_exclusion_outside_every_allowed_range_is_refused() -> None:
    message = egress_message(with_egress(cidrs=["8.0.0.0/8"], excluded=["9.9.9.0/24"], node_cidrs=None))
    assert message == (
        "egress.excluded 9.9.9.0/24 lies outside every IPv4 range of egress.cidrs (8.0.0.0/8): an exclusion "
        "is carved out of an allowed range (Kubernetes refuses an except outside its cidr); remove it or "
        "allow a range around it"
    )


def test_exclusions_of_an_ip_version_with_no_allowed_range_are_refused_together() -> None:
    message = egress_message(with_egress(cidrs=["0.0.0.0/0"]))
    assert message.startswith(
        f"egress.excluded {', '.join(ALL_V6)} lie outside every IPv6 range of egress.cidrs (there is none): "
    )


def test_an_allowed_range_inside_an_exclusion_is_refused() -> None:
    message = egress_message(with_egress(cidrs=["0.0.0.0/0", "10.1.0.0/16", "::/0"]))
    assert message == "egress.cidrs 10.1.0.0/16 lies inside egress.excluded 10.0.0.0/8, so it allows nothing"


def test_mode_internet_needs_cidrs() -> None:
    message = egress_message(with_egress(cidrs=None, excluded=None))
    assert message == (
        "egress mode internet needs cidrs, the ranges tenants may reach on egress.ports "
        "(e.g. [0.0.0.0/0, ::/0] with every forbidden range in egress.excluded)"
    )


@pytest.mark.parametrize(
    ("mode", "meaning"),
    [("models", "cluster DNS and the model gateway only"), ("none", "nothing, not even cluster DNS")],
)
def test_cidrs_belong_to_mode_internet_only(mode: str, meaning: str) -> None:
    message = egress_message(with_egress(mode=mode))
    assert message == (
        f"egress.cidrs apply only to mode internet, and this cluster's egress mode is {mode!r} ({meaning}); "
        "set mode: internet or remove cidrs"
    )


def test_cidrs_without_a_mode_are_refused_the_default_being_models() -> None:
    assert "egress mode is 'models'" in egress_message(with_egress(mode=None))


def test_direct_unfiltered_is_refused_on_a_cluster() -> None:
    message = egress_message(with_egress(mode="direct-unfiltered", cidrs=None, excluded=None))
    assert message == (
        "egress mode direct-unfiltered is for Docker targets only: a NetworkPolicy always applies to "
        "Kubernetes tenants; use internet with cidrs and excluded"
    )


def test_the_old_direct_mode_points_at_its_new_name() -> None:
    problems = [p for p in problems_of(with_egress(mode="direct")) if p.path[:2] == ("targets", CLUSTER)]
    assert [p.path for p in problems] == [(*EGRESS_PATH, "mode")]
    assert "'direct' is now 'direct-unfiltered'" in problems[0].message


def test_every_problem_is_reported_at_once() -> None:
    message = egress_message(
        with_egress(mode="models", cidrs=["0.0.0.0/0"], excluded=["10.0.0.0/8", "fc00::/7"], node_cidrs=None)
    )
    assert message.startswith("3 problems: (1) egress.cidrs apply only to mode internet, and this cluster's")
    assert "; (2) egress.cidrs 0.0.0.0/0 reaches 0.0.0.0/8 ('this network'" in message
    assert "10.0.0.0/8 (private" not in message  # excluded
    assert "; (3) egress.excluded fc00::/7 lies outside every IPv6 range of egress.cidrs (there is none)" in message


def test_ports_may_not_be_empty() -> None:
    problems = [p for p in problems_of(with_egress(ports=[])) if p.path[:2] == ("targets", CLUSTER)]
    assert [p.path for p in problems] == [(*EGRESS_PATH, "ports")]


def test_a_bad_cidr_is_named() -> None:
    problems = [p for p in problems_of(with_egress(node_cidrs=["10.0.0.1/8"])) if p.path[:2] == ("targets", CLUSTER)]
    assert [p.path for p in problems] == [(*EGRESS_PATH, "node_cidrs")]
    assert "'10.0.0.1/8' is not a CIDR like 203.0.113.0/24" in problems[0].message


def test_a_mode_alone_is_a_shorthand() -> None:
    target = fleet_of(lambda data: cluster(data).__setitem__("egress", "none")).targets[CLUSTER]
    assert isinstance(target, KubernetesTarget)
    assert target.egress == ClusterEgress(mode="none")


def test_a_plans_internet_egress_needs_the_clusters_cidrs() -> None:
    problems = problems_of(
        with_egress(mode="models", cidrs=None, excluded=None), plan_egress(basic="internet", pro="internet")
    )
    assert [(p.path, p.message) for p in problems] == [
        (
            ("plans", plan, "egress"),
            f"plan {plan!r} has egress internet, but cluster {CLUSTER!r} (tenants {tenant}) has no egress.cidrs "
            "to allow; give the cluster egress mode internet with cidrs and excluded, or the plan egress models",
        )
        for plan, tenant in (("basic", "vandelay"), ("pro", "hooli"))
    ]
    assert all(p.line > 0 for p in problems)


def test_a_plans_direct_unfiltered_egress_cannot_run_on_a_cluster() -> None:
    problems = problems_of(add_enterprise_tenant, plan_egress(enterprise="direct-unfiltered"))
    assert [(p.path, p.message) for p in problems] == [
        (
            ("plans", "enterprise", "egress"),
            f"plan 'enterprise' has egress direct-unfiltered, which cluster {CLUSTER!r} (tenants "
            f"{ENTERPRISE_TENANT}) cannot give: a NetworkPolicy always applies on Kubernetes; give the plan "
            "egress internet, or move its tenants to a Docker target",
        )
    ]


def test_a_plans_narrower_egress_needs_nothing_of_the_cluster() -> None:
    fleet = fleet_of(with_egress(mode="models", cidrs=None, excluded=None), plan_egress(basic="none"))
    assert resolve(fleet, fleet.tenant("vandelay")).egress == "none"
    assert resolve(fleet, fleet.tenant("hooli")).egress == "models"


# --- rendering -------------------------------------------------------------------------------------


def test_per_plan_modes_on_one_cluster() -> None:
    fleet = parse_fleet(VARIANTS["egress-per-plan"], "egress-per-plan")
    none, internet, models = (policy_of(fleet, t) for t in ("vandelay", "hooli", ENTERPRISE_TENANT))
    # No egress rule at all: the default deny holds, DNS included.
    assert "egress" not in none
    assert none["policyTypes"] == ["Ingress", "Egress"]
    assert ip_blocks(internet) == [
        {
            "cidr": "0.0.0.0/0",
            "except": [e for e in fleet.target_as(CLUSTER, KubernetesTarget).egress.excluded if ":" not in e],
        },
        {"cidr": "::/0", "except": ALL_V6},
    ]
    assert internet["egress"][2]["ports"] == [{"protocol": "TCP", "port": 443}]
    assert len(models["egress"]) == 2 and not ip_blocks(models)
    assert models["egress"] == internet["egress"][:2]
    peers = [peer for rule in models["egress"] for peer in rule["to"]]
    assert [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers] == [
        "kube-system",
        "openclaw-models",
    ]


def test_a_cluster_in_mode_none_lets_nothing_out() -> None:
    fleet = fleet_of(with_egress(mode="none", cidrs=None, excluded=None))
    for tenant_id in ("hooli", "vandelay"):
        assert "egress" not in policy_of(fleet, tenant_id)


def test_each_exclusion_goes_into_the_range_that_holds_it() -> None:
    low = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8"]
    high = [c for c in ALL_V4 if c not in low]
    fleet = fleet_of(
        with_egress(cidrs=["0.0.0.0/1", "128.0.0.0/1", "::/0"], excluded=[*high, *ALL_V6, *low], node_cidrs=None)
    )
    assert ip_blocks(policy_of(fleet, "hooli")) == [
        {"cidr": "0.0.0.0/1", "except": low},
        {"cidr": "128.0.0.0/1", "except": high},
        {"cidr": "::/0", "except": ALL_V6},
    ]


def test_a_range_with_nothing_to_carve_out_has_no_except() -> None:
    fleet = fleet_of(with_egress(cidrs=["8.8.8.0/24", "1.1.1.0/24"], excluded=None, node_cidrs=None))
    assert ip_blocks(policy_of(fleet, "hooli")) == [{"cidr": "8.8.8.0/24"}, {"cidr": "1.1.1.0/24"}]


def test_custom_ports() -> None:
    fleet = fleet_of(with_egress(ports=[443, 8443]))
    assert policy_of(fleet, "hooli")["egress"][2]["ports"] == [
        {"protocol": "TCP", "port": 443},
        {"protocol": "TCP", "port": 8443},
    ]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_rendered_ip_block_reaches_a_forbidden_range_and_each_except_is_inside_its_cidr(variant: str) -> None:
    fleet = parse_fleet(VARIANTS[variant], variant)
    for tenant in fleet.tenants:
        if not isinstance(fleet.targets[tenant.target], KubernetesTarget):
            continue
        spec = policy_of(fleet, tenant.id)
        for block in ip_blocks(spec):
            allowed = ipaddress.ip_network(block["cidr"])
            carved = tuple(ipaddress.ip_network(e) for e in block.get("except", []))
            assert all(c.version == allowed.version and c != allowed and c.subnet_of(allowed) for c in carved)  # type: ignore[arg-type]
            assert uncovered_forbidden(allowed, carved) == []
        resolved = resolve(fleet, tenant)
        assert isinstance(resolved, KubernetesTenant)
        kubernetes_validate.validate(ks.gateway_traffic(resolved), K8S_VERSION, strict=True)


def test_the_example_fleet_renders_its_internet_egress(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["render", "kubernetes", "--tenants", str(EXAMPLE_FLEET_FILE), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = (out / "hooli.yaml").read_text()
    assert "cidr: 0.0.0.0/0" in text and "cidr: ::/0" in text and "- 169.254.0.0/16" in text
