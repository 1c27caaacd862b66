"""The Kubernetes manifests of every tenant: schemas, security posture, rendering, and checkov.

Schemas: every manifest of every tenant, for several fleet variants (tests/k8s_fleets.py), validates
against the Kubernetes 1.33 schemas in strict mode (unknown fields are errors) with kubernetes-validate.
checkov: the files `tenantctl render kubernetes --out` writes pass `checkov --framework kubernetes` with
0 failed checks; each skipped check is listed with its reason in .checkov.yaml. checkov lives in its own
virtualenv (scripts/install-checkov.sh); only those tests skip, and only when that environment is absent.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions
from typer.testing import CliRunner

from tenantctl.app import app
from tenants import k8s_backup_specs as kbs
from tenants import k8s_specs as ks
from tenants import model_gateway_k8s as mgk
from tenants import openclaw, units
from tenants.contract import TENANT_STATES as STATES
from tenants.host_uid import derived_uid
from tenants.load import load_fleet, parse_fleet
from tenants.model import Fleet, KubernetesTarget, Overrides, Tenant
from tenants.rendering import render_manifests
from tenants.resolved import KubernetesTenant, resolve, resolve_all
from tenants.secrets_scan import SHAPES, find_credentials
from tests.k8s_fleets import ALL_ROLES, CLUSTER, ENTERPRISE_TENANT, VARIANTS, edited, set_cluster

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.33.0"
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
CHECKOV_CONFIG = ROOT / ".checkov.yaml"
INSTALL_CHECKOV = ROOT / "scripts" / "install-checkov.sh"
CHECKOV_TIMEOUT_S = 300

FLEETS: dict[str, Fleet] = {name: parse_fleet(text, f"{name} variant") for name, text in VARIANTS.items()}
EXAMPLE = FLEETS["example"]

WORKLOAD_ROLES = ("deployment", "service", "ingress")
KIND_OF_ROLE = {
    "namespace": "Namespace",
    "quota": "ResourceQuota",
    "limits": "LimitRange",
    "default-deny": "NetworkPolicy",
    "gateway-traffic": "NetworkPolicy",
    "service-account": "ServiceAccount",
    "secret": "Secret",
    "config": "ConfigMap",
    "state": "PersistentVolumeClaim",
    "deployment": "Deployment",
    "service": "Service",
    "ingress": "Ingress",
    "backup-secret": "Secret",
    "backup-account": "ServiceAccount",
    "backup-role": "Role",
    "backup-binding": "RoleBinding",
    "backup-traffic": "NetworkPolicy",
    "backup-files": "ConfigMap",
    "backup-job": "CronJob",
}


def k8s_tenants(fleet: Fleet) -> list[Tenant]:
    return [t for t in fleet.tenants if isinstance(fleet.targets[t.target], KubernetesTarget)]


def cluster_of(fleet: Fleet) -> KubernetesTarget:
    target = fleet.targets[CLUSTER]
    assert isinstance(target, KubernetesTarget)
    return target


def manifests_of(fleet: Fleet, tenant: Tenant) -> ks.TenantManifests:
    resolved = resolve(fleet, tenant)
    assert isinstance(resolved, KubernetesTenant)
    return ks.tenant_manifests(resolved, kbs.backup_job(fleet))


def backup_roles(fleet: Fleet, tenant: Tenant) -> list[str]:
    """The backup objects a tenant gets: live, its plan on a schedule, a repository a pod can reach."""
    backups = fleet.backups
    if tenant.state == "offboarded" or backups is None or backups.kind == "local":
        return []
    if fleet.plans[tenant.plan].backup.every == "off":
        return []
    files = ["backup-files"] if backups.kind == "sftp" else []
    return ["backup-secret", "backup-account", "backup-role", "backup-binding", "backup-traffic", *files, "backup-job"]


def gateway_of(fleet: Fleet) -> mgk.GatewayManifests:
    name = next(n for n, t in fleet.targets.items() if isinstance(t, KubernetesTarget))
    return mgk.gateway_manifests(fleet, name, resolve_all(fleet, fleet.tenants, KubernetesTenant))


def role(fleet: Fleet, tenant: Tenant, name: str) -> dict[str, Any]:
    manifest = manifests_of(fleet, tenant).get(name)
    assert manifest is not None, f"tenant {tenant.id} ({tenant.state}) has no {name}"
    return manifest


def pod_spec(fleet: Fleet, tenant: Tenant) -> dict[str, Any]:
    spec: dict[str, Any] = role(fleet, tenant, "deployment")["spec"]["template"]["spec"]
    return spec


def gateway_container(fleet: Fleet, tenant: Tenant) -> dict[str, Any]:
    containers = pod_spec(fleet, tenant)["containers"]
    assert [c["name"] for c in containers] == ["gateway"]
    container: dict[str, Any] = containers[0]
    return container


def with_tenant(fleet: Fleet, tenant: Tenant) -> Fleet:
    """The fleet with `tenant` replacing the one of the same id."""
    return fleet.model_copy(update={"tenants": tuple(tenant if t.id == tenant.id else t for t in fleet.tenants)})


def mebibytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, f"unexpected memory quantity {quantity!r}"
    return int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1)


def checksum(fleet: Fleet, tenant: Tenant) -> str:
    value: str = role(fleet, tenant, "deployment")["spec"]["template"]["metadata"]["annotations"][
        "openclaw.io/config-checksum"
    ]
    return value


CASES = [(name, t.id) for name, fleet in FLEETS.items() for t in k8s_tenants(fleet)]
CASE_IDS = [f"{name}-{tenant_id}" for name, tenant_id in CASES]


class KubectlLoader(yaml.SafeLoader):
    """YAML as kubectl reads it (sigs.k8s.io/yaml, go-yaml v2): YAML 1.1, where on/yes/no/off and
    also y/Y/n/N are booleans. PyYAML already follows YAML 1.1; the y/n forms are added here."""

    bool_values: ClassVar[dict[str, bool]] = {**yaml.SafeLoader.bool_values, "y": True, "n": False}


KubectlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))


def kubectl_load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(text, Loader=KubectlLoader) if doc is not None]


def render_with_cli(fleet_text: str, fleet_file: Path, out: Path) -> Path:
    """`tenantctl render kubernetes --tenants FILE --out DIR`; returns DIR."""
    fleet_file.parent.mkdir(parents=True, exist_ok=True)
    fleet_file.write_text(fleet_text)
    result = CliRunner().invoke(app, ["render", "kubernetes", "--tenants", str(fleet_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


# --- schemas ---------------------------------------------------------------------------------------


def test_kubernetes_validate_ships_the_1_33_schemas() -> None:
    assert K8S_VERSION in all_versions()


def test_every_variant_covers_what_it_claims() -> None:
    wildcard = cluster_of(FLEETS["wildcard-cloudflare"])
    assert wildcard.tls.mode == "wildcard-secret"
    assert wildcard.dns.mode == "cloudflare" and wildcard.dns.record_target
    assert (wildcard.egress.mode, wildcard.egress.cidrs) == ("models", ())
    per_plan = FLEETS["egress-per-plan"]
    modes = {t.plan: resolve(per_plan, t).egress for t in k8s_tenants(per_plan)}
    assert modes == {"basic": "none", "pro": "internet", "enterprise": "models"}
    assert wildcard.storage_class is None and wildcard.runtime_class == {}
    assert cluster_of(FLEETS["tls-none"]).tls.mode == "none"
    for state in STATES:
        tenants = k8s_tenants(FLEETS[state])
        assert {t.state for t in tenants} == {state}
        assert {t.plan for t in tenants} == {"basic", "pro", "enterprise"}
    assert [(t.id, t.state) for t in k8s_tenants(EXAMPLE)] == [("hooli", "active"), ("vandelay", "suspended")]


@pytest.mark.parametrize(("variant", "tenant_id"), CASES, ids=CASE_IDS)
def test_every_manifest_validates_strictly_against_kubernetes_1_33(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    problems = []
    for name, manifest in manifests_of(fleet, fleet.tenant(tenant_id)).objects:
        try:
            version = kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "(top)"
            problems.append(f"{name} ({manifest['kind']}): {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{name}: {exc.message}")
        else:
            assert version == "1.33"
    assert not problems, "\n".join(problems)


def test_strict_validation_refuses_unknown_and_mistyped_fields() -> None:
    """The schema check is not vacuous: a misspelt field and a wrong type are both refused."""
    hooli = EXAMPLE.tenant("hooli")
    misspelt = role(EXAMPLE, hooli, "deployment")
    misspelt["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="securityContxt"):
        kubernetes_validate.validate(misspelt, K8S_VERSION, strict=True)
    mistyped = role(EXAMPLE, hooli, "namespace")
    mistyped["metadata"]["labels"]["sso"] = True  # what a YAML 1.1 reader makes of an unquoted `on`
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(mistyped, K8S_VERSION, strict=True)


@pytest.mark.parametrize("variant", list(FLEETS))
def test_rendered_yaml_reads_back_as_the_built_manifests(variant: str) -> None:
    """What `render kubernetes` writes is what was validated, read as kubectl reads YAML (1.1)."""
    fleet = FLEETS[variant]
    rendered = render_manifests(fleet, fleet.tenants)
    assert set(rendered) == {t.id for t in k8s_tenants(fleet)} | {"models-cluster-eu"}
    for name, text in rendered.items():
        if name.startswith("models-"):
            built = [m for _, m in gateway_of(fleet).objects]
        else:
            built = [manifest for _, manifest in manifests_of(fleet, fleet.tenant(name)).objects]
        tenant_id = name
        assert kubectl_load_all(text) == built, (
            f"{tenant_id}.yaml does not read back as built when read as YAML 1.1 (kubectl): "
            "strings such as on/yes/y/no/n must be quoted"
        )


# --- namespace, quota, limits ----------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "tenant_id"), CASES, ids=CASE_IDS)
def test_objects_per_state(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    tenant = fleet.tenant(tenant_id)
    manifests = manifests_of(fleet, tenant)
    roles = [name for name, _ in manifests.objects]
    expected = [r for r in ALL_ROLES if r not in WORKLOAD_ROLES] if tenant.state == "offboarded" else list(ALL_ROLES)
    assert roles == expected + backup_roles(fleet, tenant)
    namespace = f"tenant-{tenant_id}"
    assert manifests.namespace == namespace
    for name, manifest in manifests.objects:
        assert manifest["kind"] == KIND_OF_ROLE[name]
        assert manifest["metadata"]["labels"]["openclaw.io/tenant"] == tenant_id
        assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "openclaw-tenants"
        if name != "namespace":
            assert manifest["metadata"]["namespace"] == namespace


def test_offboarded_keeps_namespace_data_and_secret_but_no_workload() -> None:
    fleet = FLEETS["offboarded"]
    for tenant in k8s_tenants(fleet):
        manifests = manifests_of(fleet, tenant)
        for gone in WORKLOAD_ROLES:
            assert manifests.get(gone) is None
        assert role(fleet, tenant, "namespace")["metadata"]["name"] == f"tenant-{tenant.id}"
        assert role(fleet, tenant, "state")["metadata"]["name"] == ks.PVC
        assert role(fleet, tenant, "secret")["metadata"]["name"] == ks.SECRET


@pytest.mark.parametrize(("variant", "tenant_id"), CASES, ids=CASE_IDS)
def test_namespace_enforces_pod_security_restricted(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    labels = role(fleet, fleet.tenant(tenant_id), "namespace")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_quota_forbids_load_balancers_and_node_ports() -> None:
    for fleet in FLEETS.values():
        for tenant in k8s_tenants(fleet):
            hard = role(fleet, tenant, "quota")["spec"]["hard"]
            assert hard["services.loadbalancers"] == "0"
            assert hard["services.nodeports"] == "0"
            assert hard["persistentvolumeclaims"] == "1"


def test_limit_range_defaults_are_the_tenants_limits() -> None:
    hooli = EXAMPLE.tenant("hooli")  # pro: 2 CPUs, 4 GiB
    container_limits, pvc_limits = role(EXAMPLE, hooli, "limits")["spec"]["limits"]
    assert container_limits["type"] == "Container"
    disk = {"ephemeral-storage": "1Gi"}  # logs and writable layers: a fixed allowance, whatever the plan
    assert container_limits["default"] == container_limits["max"] == {"cpu": "2000m", "memory": "4Gi", **disk}
    assert container_limits["defaultRequest"] == {"cpu": "500m", "memory": "4Gi", **disk}
    assert pvc_limits == {"type": "PersistentVolumeClaim", "max": {"storage": "20Gi"}}


# --- network policies ------------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "tenant_id"), CASES, ids=CASE_IDS)
def test_default_deny_selects_every_pod_with_no_rules(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    policy = role(fleet, fleet.tenant(tenant_id), "default-deny")
    assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


@pytest.mark.parametrize(("variant", "tenant_id"), CASES, ids=CASE_IDS)
def test_gateway_traffic_allows_only_the_ingress_controller_dns_and_providers(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    tenant = fleet.tenant(tenant_id)
    target = cluster_of(fleet)
    spec = role(fleet, tenant, "gateway-traffic")["spec"]
    assert spec["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "openclaw", "openclaw.io/tenant": tenant_id}
    }
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": target.ingress_namespace}}}],
            "ports": [{"protocol": "TCP", "port": openclaw.PORT}],
        }
    ]
    dns_rule = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": target.dns_namespace}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    gateway_rule = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openclaw-models"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "model-gateway"}},
            }
        ],
        "ports": [{"protocol": "TCP", "port": 4000}],
    }
    mode = resolve(fleet, tenant).egress
    if mode == "none":
        assert "egress" not in spec
        return
    if mode == "models" or not target.egress.cidrs:
        assert spec["egress"] == [dns_rule, gateway_rule]
        return
    assert spec["egress"][:2] == [dns_rule, gateway_rule]
    assert len(spec["egress"]) == 3
    providers = spec["egress"][2]
    assert [peer["ipBlock"]["cidr"] for peer in providers["to"]] == list(target.egress.cidrs)
    assert providers["ports"] == [{"protocol": "TCP", "port": port} for port in target.egress.ports]


def test_provider_egress_excludes_every_forbidden_range_and_the_nodes() -> None:
    spec = role(EXAMPLE, EXAMPLE.tenant("hooli"), "gateway-traffic")["spec"]
    assert spec["egress"][2] == {
        "to": [
            {
                "ipBlock": {
                    "cidr": "0.0.0.0/0",
                    "except": [
                        "0.0.0.0/8",
                        "10.0.0.0/8",
                        "100.64.0.0/10",
                        "127.0.0.0/8",
                        "169.254.0.0/16",
                        "172.16.0.0/12",
                        "192.0.0.0/24",
                        "192.168.0.0/16",
                        "198.18.0.0/15",
                        "203.0.113.0/24",
                        "224.0.0.0/4",
                        "240.0.0.0/4",
                    ],
                }
            },
            {
                "ipBlock": {
                    "cidr": "::/0",
                    "except": ["::/127", "::ffff:0:0/96", "64:ff9b::/96", "fc00::/7", "fe80::/10", "ff00::/8"],
                }
            },
        ],
        "ports": [{"protocol": "TCP", "port": 443}],
    }


# --- deployment ------------------------------------------------------------------------------------


def live_cases() -> list[tuple[str, str]]:
    return [(v, t) for v, t in CASES if FLEETS[v].tenant(t).state != "offboarded"]


LIVE = live_cases()
LIVE_IDS = [f"{v}-{t}" for v, t in LIVE]


@pytest.mark.parametrize(("variant", "tenant_id"), LIVE, ids=LIVE_IDS)
def test_deployment_replicas_and_strategy(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    tenant = fleet.tenant(tenant_id)
    spec = role(fleet, tenant, "deployment")["spec"]
    assert spec["replicas"] == (1 if tenant.state == "active" else 0)
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/name": "openclaw", "openclaw.io/tenant": tenant_id}}
    template_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= template_labels.items()


@pytest.mark.parametrize(("variant", "tenant_id"), LIVE, ids=LIVE_IDS)
def test_pod_runs_restricted(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    tenant = fleet.tenant(tenant_id)
    pod = pod_spec(fleet, tenant)
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == ks.SERVICE_ACCOUNT
    uid = derived_uid(tenant_id)  # the tenant's own host uid, also its group and the volume's group
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    security = gateway_container(fleet, tenant)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == uid
    assert security["runAsGroup"] == uid
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "hostNetwork" not in pod and "hostPID" not in pod and "hostIPC" not in pod


@pytest.mark.parametrize(("variant", "tenant_id"), LIVE, ids=LIVE_IDS)
def test_pod_volumes_probes_and_resources(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    tenant = fleet.tenant(tenant_id)
    pod = pod_spec(fleet, tenant)
    container = gateway_container(fleet, tenant)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp", openclaw.STATE_DIR: "state"}
    assert "emptyDir" in volumes["tmp"]
    assert volumes["state"]["persistentVolumeClaim"] == {"claimName": ks.PVC}
    assert container["ports"] == [{"name": "http", "containerPort": openclaw.PORT, "protocol": "TCP"}]
    for probe_name, path in (
        ("startupProbe", "/startupz"),
        ("readinessProbe", "/startupz"),
        ("livenessProbe", "/healthz"),
    ):
        assert container[probe_name]["httpGet"] == {"path": path, "port": "http"}, probe_name
    limits = fleet.limits(tenant)
    resources = container["resources"]
    assert resources["limits"] == {
        "cpu": units.cpu_quantity(limits.cpus),
        "memory": units.gib_quantity(limits.memory_gib),
        "ephemeral-storage": units.mib_quantity(ks.EPHEMERAL_STORAGE_MIB),
    }
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    assert resources["requests"]["ephemeral-storage"] == resources["limits"]["ephemeral-storage"]
    # /tmp is memory, like Docker's tmpfs of the same size (and charged to the memory limit).
    assert volumes["tmp"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "256Mi"}
    assert openclaw.TMP_SIZE_MIB == 256


def node_heap_mib(container: dict[str, Any]) -> int:
    env = {e["name"]: e.get("value") for e in container["env"]}
    match = re.fullmatch(r"--max-old-space-size=(\d+)", env["NODE_OPTIONS"] or "")
    assert match, env["NODE_OPTIONS"]
    return int(match.group(1))


@pytest.mark.parametrize(("variant", "tenant_id"), LIVE, ids=LIVE_IDS)
def test_node_heap_is_three_quarters_of_the_memory_limit(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    container = gateway_container(fleet, fleet.tenant(tenant_id))
    limit_mib = mebibytes(container["resources"]["limits"]["memory"])
    assert node_heap_mib(container) == limit_mib * 3 // 4


def test_node_heap_follows_plan_and_overrides() -> None:
    fleet = FLEETS["active"]
    heaps = {t.plan: node_heap_mib(gateway_container(fleet, t)) for t in k8s_tenants(fleet)}
    assert heaps == {"basic": 1536, "pro": 3072, "enterprise": 6144}
    raised = fleet.tenant("vandelay").model_copy(update={"overrides": Overrides(memory_gib=2.5)})
    container = gateway_container(with_tenant(fleet, raised), raised)
    assert container["resources"]["limits"]["memory"] == "2560Mi"
    assert node_heap_mib(container) == 1920


@pytest.mark.parametrize(("variant", "tenant_id"), LIVE, ids=LIVE_IDS)
def test_config_checksum_is_the_config_maps_digest(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    tenant = fleet.tenant(tenant_id)
    config = role(fleet, tenant, "config")["data"][ks.CONFIG_KEY]
    assert checksum(fleet, tenant) == hashlib.sha256(config.encode()).hexdigest()


def test_config_checksum_changes_with_the_config_and_only_then() -> None:
    hooli = EXAMPLE.tenant("hooli")
    base = checksum(EXAMPLE, hooli)
    # The config changes: the public URL's scheme (TLS off), the trusted proxies, the runtime profile.
    tls_off = FLEETS["tls-none"]
    proxies = parse_fleet(edited(set_cluster(trusted_proxies=["10.96.0.0/12"])))
    lean = EXAMPLE.model_copy(
        update={"plans": {**EXAMPLE.plans, "pro": EXAMPLE.plans["pro"].model_copy(update={"profile": "lean"})}}
    )
    for changed in (tls_off, proxies, lean):
        assert role(changed, hooli, "config")["data"] != role(EXAMPLE, hooli, "config")["data"]
        assert checksum(changed, changed.tenant("hooli")) != base
    # The config stays: state, labels, rate limits, storage, runtime class, DNS, egress.
    suspended = hooli.model_copy(update={"state": "suspended", "labels": {"cost-center": "42"}})
    rated = EXAMPLE.model_copy(
        update={"plans": {**EXAMPLE.plans, "pro": EXAMPLE.plans["pro"].model_copy(update={"rate_limit_rps": 5})}}
    )
    for same, tenant in (
        (with_tenant(EXAMPLE, suspended), suspended),
        (rated, hooli),
        (FLEETS["wildcard-cloudflare"], hooli),
    ):
        assert role(same, tenant, "config")["data"] == role(EXAMPLE, hooli, "config")["data"]
        assert checksum(same, tenant) == base


def test_runtime_class_only_for_the_plans_the_cluster_maps() -> None:
    fleet = FLEETS["active"]
    classes = {t.plan: pod_spec(fleet, t).get("runtimeClassName") for t in k8s_tenants(fleet)}
    assert classes == {"basic": None, "pro": None, "enterprise": "gvisor"}
    assert fleet.tenant(ENTERPRISE_TENANT).plan == "enterprise"
    no_classes = parse_fleet(
        edited(set_cluster(runtime_class=None), text=VARIANTS["active"]),
    )
    assert all("runtimeClassName" not in pod_spec(no_classes, t) for t in k8s_tenants(no_classes))


# --- secret, service account, service ------------------------------------------------------------


@pytest.mark.parametrize(("variant", "tenant_id"), CASES, ids=CASE_IDS)
def test_secret_holds_no_value_only_redacted_references(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    tenant = fleet.tenant(tenant_id)
    secret = role(fleet, tenant, "secret")
    assert "data" not in secret
    assert secret["type"] == "Opaque"
    assert secret["stringData"] == {
        openclaw.TOKEN_ENV: "<redacted: gateway_token>",
        "OPENCLAW_MODEL_KEY": "<redacted: model_key>",
    }
    assert role(fleet, tenant, "service-account")["automountServiceAccountToken"] is False


@pytest.mark.parametrize(("variant", "tenant_id"), LIVE, ids=LIVE_IDS)
def test_gateway_takes_its_secrets_by_reference(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    tenant = fleet.tenant(tenant_id)
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in gateway_container(fleet, tenant)["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs == {
        openclaw.TOKEN_ENV: {"name": ks.SECRET, "key": openclaw.TOKEN_ENV, "optional": False},
        "OPENCLAW_MODEL_KEY": {"name": ks.SECRET, "key": "OPENCLAW_MODEL_KEY", "optional": False},
    }


def test_service_is_cluster_internal() -> None:
    for tenant in k8s_tenants(EXAMPLE):
        spec = role(EXAMPLE, tenant, "service")["spec"]
        assert spec["type"] == "ClusterIP"
        assert spec["ports"] == [{"name": "http", "port": openclaw.PORT, "targetPort": "http", "protocol": "TCP"}]
        assert spec["selector"] == role(EXAMPLE, tenant, "deployment")["spec"]["selector"]["matchLabels"]


# --- ingress ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "tenant_id"), LIVE, ids=LIVE_IDS)
def test_ingress_host_class_tls_and_dns_per_mode(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    tenant = fleet.tenant(tenant_id)
    target = cluster_of(fleet)
    ingress = role(fleet, tenant, "ingress")
    annotations = ingress["metadata"]["annotations"]
    spec = ingress["spec"]
    host = f"{tenant_id}.eu.tenants.example.com"
    assert spec["ingressClassName"] == "nginx"
    [rule] = spec["rules"]
    assert rule["host"] == host
    assert rule["http"]["paths"] == [
        {
            "path": "/",
            "pathType": "Prefix",
            "backend": {"service": {"name": "openclaw", "port": {"number": openclaw.PORT}}},
        }
    ]
    if target.tls.mode == "cert-manager":
        assert spec["tls"] == [{"hosts": [host], "secretName": ks.TLS_SECRET}]
        assert annotations["cert-manager.io/cluster-issuer"] == target.tls.issuer == "letsencrypt"
    elif target.tls.mode == "wildcard-secret":
        assert spec["tls"] == [{"hosts": [host]}]
        assert "cert-manager.io/cluster-issuer" not in annotations
    else:
        assert "tls" not in spec
        assert "cert-manager.io/cluster-issuer" not in annotations
    if target.dns.mode == "external-dns":
        assert annotations["external-dns.alpha.kubernetes.io/hostname"] == host
    else:
        assert not any(key.startswith("external-dns.") for key in annotations)


def test_ingress_modes_are_all_exercised() -> None:
    modes = {(cluster_of(f).tls.mode, cluster_of(f).dns.mode) for f in FLEETS.values()}
    assert {tls for tls, _ in modes} == {"cert-manager", "wildcard-secret", "none"}
    assert {dns for _, dns in modes} == {"external-dns", "cloudflare"}


@pytest.mark.parametrize(("variant", "tenant_id"), LIVE, ids=LIVE_IDS)
def test_ingress_rate_limits_follow_the_plan(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    tenant = fleet.tenant(tenant_id)
    plan = fleet.plans[tenant.plan]
    annotations = role(fleet, tenant, "ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/limit-rps"] == str(plan.rate_limit_rps)
    multiplier = annotations["nginx.ingress.kubernetes.io/limit-burst-multiplier"]
    assert multiplier == str(max(1, plan.burst // plan.rate_limit_rps))


def test_ingress_rate_limits_of_the_example() -> None:
    fleet = FLEETS["active"]
    rps = {
        t.plan: role(fleet, t, "ingress")["metadata"]["annotations"]["nginx.ingress.kubernetes.io/limit-rps"]
        for t in k8s_tenants(fleet)
    }
    assert rps == {"basic": "10", "pro": "30", "enterprise": "100"}


# --- rendered files --------------------------------------------------------------------------------


def test_render_writes_one_file_per_kubernetes_tenant_without_secret_values(tmp_path: Path) -> None:
    fleet = load_fleet(ROOT / "tenants.yaml")
    out = render_with_cli((ROOT / "tenants.yaml").read_text(), tmp_path / "tenants.yaml", tmp_path / "out")
    k8s_ids = {t.id for t in k8s_tenants(fleet)}
    docker_ids = {t.id for t in fleet.tenants} - k8s_ids
    assert k8s_ids == {"hooli", "vandelay"}
    assert docker_ids == {"acme", "globex", "initech", "umbrella"}
    assert {p.name for p in out.iterdir()} == {f"{tid}.yaml" for tid in k8s_ids} | {"models-cluster-eu.yaml"}
    for path in out.iterdir():
        text = path.read_text()
        for kind, pattern in SHAPES:
            assert not pattern.search(text), f"{path.name} holds {kind}"
        docs = kubectl_load_all(text)
        for secret in (d for d in docs if d["kind"] == "Secret"):
            assert "data" not in secret
            assert all(
                re.fullmatch(r"<redacted: ([a-z_]+|secret config [A-Za-z0-9]+)>", v)
                for v in secret["stringData"].values()
            )
        # Nothing else looks like a credential (the config checksum is a digest, not a secret).
        for doc in docs:
            if doc["kind"] == "Deployment":
                doc["spec"]["template"]["metadata"]["annotations"].pop("openclaw.io/config-checksum")
        assert list(find_credentials(docs)) == [], path.name


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_render_files_match_the_variants_kubernetes_tenants(variant: str, tmp_path: Path) -> None:
    out = render_with_cli(VARIANTS[variant], tmp_path / "tenants.yaml", tmp_path / "out")
    fleet = FLEETS[variant]
    expected = [f"{t.id}.yaml" for t in k8s_tenants(fleet)] + ["models-cluster-eu.yaml"]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for tenant in k8s_tenants(fleet):
        text = (out / f"{tenant.id}.yaml").read_text()
        assert text.startswith(f"# tenant {tenant.id} ({tenant.state}); generated by openclaw-tenants\n")


# --- the cluster's model gateway ------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(FLEETS))
def test_gateway_manifests_validate_strictly_against_kubernetes_1_33(variant: str) -> None:
    for role_name, manifest in gateway_of(FLEETS[variant]).objects:
        try:
            kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{variant} model gateway {role_name}: {exc.message}")


def test_gateway_objects_and_their_namespace() -> None:
    gateway = gateway_of(EXAMPLE)
    assert [r for r, _ in gateway.objects] == [
        "namespace",
        "default-deny",
        "traffic",
        "service-account",
        "keys",
        "registry",
        "config",
        "ledger",
        "deployment",
        "service",
    ]
    labels = gateway.get("namespace")["metadata"]["labels"]  # type: ignore[index]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "openclaw.io/tenant" not in labels  # not a tenant namespace: tenants' rules never match it
    for _, manifest in gateway.objects[1:]:
        assert manifest["metadata"]["namespace"] == "openclaw-models"


def test_gateway_admits_only_tenant_namespaces_and_reaches_only_dns_and_https() -> None:
    spec = gateway_of(EXAMPLE).get("traffic")["spec"]  # type: ignore[index]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "model-gateway"}}
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 4000}]
    (peer,) = ingress["from"]
    assert peer["namespaceSelector"]["matchExpressions"] == [{"key": "openclaw.io/tenant", "operator": "Exists"}]
    dns, upstreams = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert upstreams == {"ports": [{"protocol": "TCP", "port": 443}]}


def test_gateway_pod_is_one_restricted_replica_with_its_keys_by_reference() -> None:
    deployment = gateway_of(EXAMPLE).get("deployment")
    assert deployment is not None
    assert (deployment["spec"]["replicas"], deployment["spec"]["strategy"]) == (1, {"type": "Recreate"})
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["ports"] == [{"name": "http", "containerPort": 4000, "protocol": "TCP"}]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert refs == {
        k: mgk.KEYS_SECRET
        for k in (
            "ANTHROPIC_API_KEY",
            "KIMI_API_KEY",
            "MINIMAX_API_KEY",
            "OPENAI_API_KEY",
            "OPENROUTER_API_KEY",
            "OPENCLAW_LEDGER_URL",
        )
    }
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/etc/openclaw-models", "/var/lib/openclaw-models", "/tmp"}


def test_gateway_secrets_hold_no_value_and_the_registry_only_active_tenants() -> None:
    gateway = gateway_of(EXAMPLE)
    keys, registry = gateway.get("keys"), gateway.get("registry")
    assert keys is not None and registry is not None
    assert set(keys["stringData"].values()) == {
        f"<redacted: {p}_master_key>" for p in ("kimi", "minimax", "anthropic", "openai", "openrouter")
    } | {"<redacted: ledger_url>"}
    assert registry["stringData"] == {"tenants.json": "<redacted: registry>"}
    assert [e.tenant_id for e in gateway.registry] == ["hooli"]  # vandelay is suspended


# --- checkov ---------------------------------------------------------------------------------------


def checkov_skips() -> dict[str, str]:
    """Check id → reason, from the `skip-check` list of .checkov.yaml (`- ID  # reason`)."""
    text = CHECKOV_CONFIG.read_text()
    listed = yaml.safe_load(text).get("skip-check") or []
    reasons = {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"^\s*-\s*(CKV2?_[A-Z0-9_]+)\s*(?:#(.*))?$", text, flags=re.MULTILINE)
    }
    assert sorted(listed) == sorted(reasons), "every skip-check entry must be a `- ID  # reason` line"
    assert len(listed) == len(set(listed)), "a check is listed twice"
    return reasons


def pinned_checkov_version() -> str:
    match = re.search(r"^CHECKOV_VERSION=(\S+)$", INSTALL_CHECKOV.read_text(), flags=re.MULTILINE)
    assert match, "scripts/install-checkov.sh must pin CHECKOV_VERSION"
    return match.group(1)


def test_every_skipped_check_has_a_reason() -> None:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    assert config["framework"] == ["kubernetes"]
    assert config["skip-download"] is True  # offline: no guideline downloads
    for check_id, reason in checkov_skips().items():
        assert len(reason) >= 20, f"{check_id} is skipped without a real reason"


@pytest.fixture(scope="module")
def rendered_fleets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every variant rendered by the CLI, one directory each, under one root for checkov."""
    if not CHECKOV.exists():
        pytest.skip(f"checkov's tool environment is missing ({CHECKOV}); run scripts/install-checkov.sh")
    root = tmp_path_factory.mktemp("rendered")
    for name, text in VARIANTS.items():
        render_with_cli(text, root / "fleets" / f"{name}.yaml", root / "manifests" / name)
    return root / "manifests"


def run_checkov(directory: Path, *args: str) -> dict[str, Any]:
    # Run outside the project so checkov picks up no .checkov.yaml but the one passed explicitly.
    proc = subprocess.run(
        [str(CHECKOV), "--framework", "kubernetes", "-d", str(directory), "--output", "json", "--quiet", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=CHECKOV_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode in (0, 1), f"checkov failed to run ({proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    [kubernetes] = [r for r in reports if r.get("check_type") == "kubernetes"]
    result: dict[str, Any] = kubernetes
    return result


def test_checkov_reports_no_failed_checks(rendered_fleets: Path) -> None:
    report = run_checkov(rendered_fleets, "--config-file", str(CHECKOV_CONFIG))
    summary = report["summary"]
    assert summary["checkov_version"] == pinned_checkov_version(), "stale tool env: run scripts/install-checkov.sh"
    assert summary["parsing_errors"] == 0
    documents = sum(len(kubectl_load_all(p.read_text())) for p in rendered_fleets.rglob("*.yaml"))
    assert summary["resource_count"] >= documents > 0
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} in {c['file_path']}"
        for c in report["results"].get("failed_checks", [])
    ]
    assert summary["failed"] == 0 and not failed, "\n".join(failed)
    reasons = checkov_skips()
    unlisted = {c["check_id"] for c in report["results"].get("skipped_checks", [])} - set(reasons)
    assert not unlisted, f"checks skipped without a reason in .checkov.yaml: {sorted(unlisted)}"


def test_checkov_skips_are_still_needed(rendered_fleets: Path) -> None:
    """Without .checkov.yaml each listed check still fails: the skip list cannot go stale."""
    reasons = checkov_skips()
    report = run_checkov(rendered_fleets, "--skip-download", "--check", ",".join(sorted(reasons)))
    failing = {c["check_id"] for c in report["results"].get("failed_checks", [])}
    assert failing == set(reasons), f"skipped but passing (remove from .checkov.yaml): {sorted(set(reasons) - failing)}"
