"""The program on Kubernetes targets under Pulumi's mock runtime: one namespace per tenant."""

from __future__ import annotations

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
    assert set(got) == {"hooli-token", *(f"hooli-{role}" for role in ROLES)}
    assert got["hooli-namespace"] == "kubernetes:core/v1:Namespace"
    assert got["hooli-deployment"] == "kubernetes:apps/v1:Deployment"
    assert got["hooli-ingress"] == "kubernetes:networking.k8s.io/v1:Ingress"
    for name in got:
        if name not in ("hooli-token", "hooli-namespace"):
            assert k8s.named(name).inputs["metadata"]["namespace"] == "tenant-hooli", name


def test_only_the_shards_tenants_and_cluster_are_deployed(k8s: ProgramRun) -> None:
    assert set(k8s.exports["tenants"]) == {"hooli", "vandelay"}
    assert k8s.exports["tenants"]["hooli"]["url"] == "https://hooli.eu.tenants.example.com"
    assert not k8s.of_type("docker:index/container:Container")
    (provider,) = k8s.of_type("pulumi:providers:kubernetes")
    assert provider.name == "cluster-eu-k8s"
    assert "kubeconfig" in provider.secret_inputs


def test_suspended_tenant_scales_to_zero_and_keeps_everything(k8s: ProgramRun) -> None:
    assert set(children(k8s, "vandelay")) == {"vandelay-token", *(f"vandelay-{role}" for role in ROLES)}
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
    assert retained == {f"{t}-{role}" for t in ("hooli", "vandelay") for role in ("namespace", "state")}
    claim = k8s.named("hooli-state").inputs["metadata"]["annotations"]
    assert claim == {"pulumi.com/skipAwait": "true"}


def test_secret_values_are_secret_and_only_the_configured_ones(k8s: ProgramRun) -> None:
    hooli = k8s.named("hooli-secret")
    assert "stringData" in hooli.secret_inputs
    assert set(hooli.inputs["stringData"]) == {"OPENCLAW_GATEWAY_TOKEN", "MOONSHOT_API_KEY"}
    assert hooli.inputs["stringData"]["MOONSHOT_API_KEY"] == "kimi-key"
    # vandelay uses openai, for which no key is configured: the key is left out, not set empty.
    assert set(k8s.named("vandelay-secret").inputs["stringData"]) == {"OPENCLAW_GATEWAY_TOKEN"}
    assert "tenantTokens" in k8s.secret_exports


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
            "    egress: direct\n", "    egress: direct\n    dns: {mode: cloudflare, record_target: 203.0.113.10}\n", 1
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


def test_a_new_token_or_key_rolls_the_pod(k8s: ProgramRun) -> None:
    """The Secret alone would change under a running pod, which keeps the old token until it restarts."""
    revision = _revision(k8s, "hooli")
    assert len(revision) == 16 and "kimi-key" not in revision
    assert "spec" not in k8s.named("hooli-deployment").secret_inputs  # a digest, shown in diffs
    same = run_program(ROOT / "tenants.yaml", config=K8S_SHARD, secrets={**KUBECONFIG, "kimiApiKey": "kimi-key"})
    assert _revision(same, "hooli") == revision
    new_key = run_program(ROOT / "tenants.yaml", config=K8S_SHARD, secrets={**KUBECONFIG, "kimiApiKey": "other-key"})
    assert _revision(new_key, "hooli") != revision
    # A rotated token changes the digest the same way (the mocks return one token whatever the rotation).


def test_the_cluster_provider_adopts_a_re_added_tenants_retained_objects(k8s: ProgramRun) -> None:
    assert k8s.named("cluster-eu-k8s").inputs["upsertExistingObjects"] == "true"  # provider config is text
