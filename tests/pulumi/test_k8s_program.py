"""The program on Kubernetes targets under Pulumi's mock runtime: one namespace per tenant."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from harness.paths import ROOT
from harness.program_run import ProgramRun, run_program
from tests.k8s_fleets import ALL_ROLES as ROLES

KUBECONFIG = {"clusterEuKubeconfig": "apiVersion: v1\nkind: Config\n"}
K8S_SHARD = {"shard": "k8s-example"}


@pytest.fixture(scope="module")
def k8s() -> ProgramRun:
    return run_program(ROOT / "tenants.yaml", config=K8S_SHARD, secrets={**KUBECONFIG, "kimiApiKey": "kimi-key"})


def children(run: ProgramRun, tenant_id: str) -> dict[str, str]:
    stack = run.named(tenant_id)
    return {r.name: r.type for r in run.resources if r.parent == stack.urn}


def test_a_tenant_gets_its_namespace_and_everything_in_it(k8s: ProgramRun) -> None:
    got = children(k8s, "hooli")
    assert set(got) == {"hooli-token", "hooli-model-key", *(f"hooli-{role}" for role in ROLES)}
    assert got["hooli-namespace"] == "kubernetes:core/v1:Namespace"
    assert got["hooli-deployment"] == "kubernetes:apps/v1:Deployment"
    assert got["hooli-ingress"] == "kubernetes:networking.k8s.io/v1:Ingress"
    for name in got:
        if name not in ("hooli-token", "hooli-model-key", "hooli-namespace"):
            assert k8s.named(name).inputs["metadata"]["namespace"] == "tenant-hooli", name


def test_only_the_shards_tenants_and_cluster_are_deployed(k8s: ProgramRun) -> None:
    assert set(k8s.exports["tenants"]) == {"hooli", "vandelay"}
    assert k8s.exports["tenants"]["hooli"]["url"] == "https://hooli.eu.tenants.example.com"
    assert not k8s.of_type("docker:index/container:Container")
    (provider,) = k8s.of_type("pulumi:providers:kubernetes")
    assert provider.name == "cluster-eu-k8s"
    assert "kubeconfig" in provider.secret_inputs


def test_suspended_tenant_scales_to_zero_and_keeps_everything(k8s: ProgramRun) -> None:
    assert set(children(k8s, "vandelay")) == {
        "vandelay-token",
        "vandelay-model-key",
        *(f"vandelay-{role}" for role in ROLES),
    }
    assert k8s.named("vandelay-deployment").inputs["spec"]["replicas"] == 0
    assert k8s.named("hooli-deployment").inputs["spec"]["replicas"] == 1


def test_offboarded_tenant_keeps_namespace_data_and_secret(tmp_path: Path) -> None:
    fleet = (
        (ROOT / "tenants.yaml")
        .read_text()
        .replace(
            "    model_provider: openai\n    state: suspended", "    model_provider: openai\n    state: offboarded"
        )
    )
    (tmp_path / "tenants.yaml").write_text(fleet)
    run = run_program(tmp_path / "tenants.yaml", config=K8S_SHARD, secrets=KUBECONFIG)
    got = set(children(run, "vandelay"))
    assert {"vandelay-namespace", "vandelay-state", "vandelay-secret"} <= got
    assert not got & {"vandelay-deployment", "vandelay-service", "vandelay-ingress"}


def test_namespace_and_volume_claim_survive_deletion(k8s: ProgramRun) -> None:
    retained = {r.name for r in k8s.resources if r.retain_on_delete}
    tenants_data = {f"{t}-{role}" for t in ("hooli", "vandelay") for role in ("namespace", "state")}
    assert retained == tenants_data | {"models-cluster-eu-namespace", "models-cluster-eu-ledger"}
    claim = k8s.named("hooli-state").inputs["metadata"]["annotations"]
    assert claim == {"pulumi.com/skipAwait": "true"}


def test_tenant_secrets_hold_the_token_and_the_virtual_key_only(k8s: ProgramRun) -> None:
    for tenant in ("hooli", "vandelay"):
        secret = k8s.named(f"{tenant}-secret")
        assert "stringData" in secret.secret_inputs
        assert set(secret.inputs["stringData"]) == {"OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_MODEL_KEY"}
        assert "kimi-key" not in str(secret.inputs)
    for resource in k8s.resources:
        if not resource.name.startswith("models-"):
            assert "kimi-key" not in str(resource.inputs), resource.name
    assert "tenantTokens" in k8s.secret_exports


def test_the_gateway_holds_the_configured_master_keys_and_the_registry(k8s: ProgramRun) -> None:
    keys = k8s.named("models-cluster-eu-keys")
    assert "stringData" in keys.secret_inputs
    # Only Kimi's key is configured: the others are left out, not set empty.
    assert keys.inputs["stringData"] == {"KIMI_API_KEY": "kimi-key"}
    registry = k8s.named("models-cluster-eu-registry")
    assert "stringData" in registry.secret_inputs
    tenants = json.loads(registry.inputs["stringData"]["tenants.json"])["tenants"]
    assert set(tenants) == {"hooli"}  # vandelay is suspended
    key = k8s.exports["tenantModelKeys"]["hooli"]
    assert tenants["hooli"]["key_sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert k8s.named("models-cluster-eu-namespace").inputs["metadata"]["name"] == "openclaw-models"


def test_two_clusters_get_two_providers_and_each_tenant_its_own(tmp_path: Path) -> None:
    fleet = (ROOT / "tenants.yaml").read_text()
    fleet = fleet.replace(
        "\ntenants:\n",
        "\n  cluster-us:\n    type: kubernetes\n    context: us-prod\n"
        "    capacity: {cpus: 32, memory_gib: 128, storage_gib: 1000}\n\ntenants:\n",
    ).replace(
        "    target: cluster-eu\n    shard: k8s-example\n    model_provider: openai",
        "    target: cluster-us\n    shard: k8s-example\n    model_provider: openai",
    )
    (tmp_path / "tenants.yaml").write_text(fleet)
    run = run_program(tmp_path / "tenants.yaml", config=K8S_SHARD, secrets=KUBECONFIG)
    providers = {p.name: p for p in run.of_type("pulumi:providers:kubernetes")}
    assert set(providers) == {"cluster-eu-k8s", "cluster-us-k8s"}
    assert providers["cluster-us-k8s"].inputs["context"] == "us-prod"
    assert "kubeconfig" not in providers["cluster-us-k8s"].inputs
    assert run.named("hooli-deployment").provider.startswith(providers["cluster-eu-k8s"].urn)
    assert run.named("vandelay-deployment").provider.startswith(providers["cluster-us-k8s"].urn)


def test_cloudflare_dns_gives_each_live_tenant_a_record(tmp_path: Path) -> None:
    fleet = (
        (ROOT / "tenants.yaml")
        .read_text()
        .replace(
            "    host: unix:///var/run/docker.sock\n",
            "    host: unix:///var/run/docker.sock\n    dns: {mode: cloudflare, record_target: 203.0.113.10}\n",
            1,
        )
    )
    (tmp_path / "tenants.yaml").write_text(fleet)
    run = run_program(tmp_path / "tenants.yaml", config={"shard": "default"}, secrets={"cloudflareZoneId": "zone-1"})
    records = {r.name: r for r in run.of_type("cloudflare:index/dnsRecord:DnsRecord")}
    assert set(records) == {"acme-dns", "globex-dns", "initech-dns", "umbrella-dns"}
    acme = records["acme-dns"]
    assert (acme.inputs["name"], acme.inputs["type"], acme.inputs["content"]) == ("acme.localhost", "A", "203.0.113.10")
    assert "zoneId" in acme.secret_inputs


def _revision(run: ProgramRun, tenant_id: str) -> str:
    template = run.named(f"{tenant_id}-deployment").inputs["spec"]["template"]
    return str(template["metadata"]["annotations"]["openclaw.io/secret-revision"])


def test_a_new_master_key_rolls_the_gateway_pod_and_no_tenant_pod(k8s: ProgramRun) -> None:
    """The Secret alone would change under a running pod, which keeps the old key until it restarts."""
    revision, tenant = _revision(k8s, "models-cluster-eu"), _revision(k8s, "hooli")
    assert len(revision) == 16 and "kimi-key" not in revision
    assert "spec" not in k8s.named("models-cluster-eu-deployment").secret_inputs  # a digest, shown in diffs
    same = run_program(ROOT / "tenants.yaml", config=K8S_SHARD, secrets={**KUBECONFIG, "kimiApiKey": "kimi-key"})
    assert _revision(same, "models-cluster-eu") == revision
    new_key = run_program(ROOT / "tenants.yaml", config=K8S_SHARD, secrets={**KUBECONFIG, "kimiApiKey": "other-key"})
    assert _revision(new_key, "models-cluster-eu") != revision
    assert _revision(new_key, "hooli") == tenant
    # A rotated token or model key changes the tenant's digest the same way (the mocks return one
    # password whatever the rotation).


def test_the_cluster_provider_adopts_a_re_added_tenants_retained_objects(k8s: ProgramRun) -> None:
    assert k8s.named("cluster-eu-k8s").inputs["upsertExistingObjects"] == "true"  # provider config is text
