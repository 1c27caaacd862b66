"""A Kubernetes tenant's data: node disk kept to a fixed allowance, /tmp in memory like Docker's tmpfs, and the
scheduled backup job its namespace gets with the fleet's `backups` (tenants/k8s_backup_specs.py).

Schemas and checkov for these objects run with every other manifest (tests/unit/test_k8s_manifests.py, over the
`backups-*` variants of tests/k8s_fleets.py); here: what each object says, and that the job's command line is
one the job's program (data_agent/k8s_job.py) reads back as meant.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from data_agent.k8s_job import parse_args
from harness.program_run import ProgramRun, run_program
from tenants import k8s_backup_specs as kbs
from tenants import k8s_specs as ks
from tenants import openclaw
from tenants.docker_specs import container_spec
from tenants.load import load_fleet, parse_fleet
from tenants.model import Fleet, KubernetesTarget, Tenant
from tenants.rendering import render_manifests
from tenants.resolved import DockerTenant, KubernetesTenant, resolve
from tenants.secrets_scan import find_credentials
from tests.k8s_fleets import BACKUP_CIDRS, SFTP_KNOWN_HOSTS, VARIANTS

ROOT = Path(__file__).resolve().parents[2]
FLEETS: dict[str, Fleet] = {name: parse_fleet(text, f"{name} variant") for name, text in VARIANTS.items()}
S3, SFTP = FLEETS["backups-s3"], FLEETS["backups-sftp"]
K8S_SHARD = {"shard": "k8s-example"}


def cluster_tenants(fleet: Fleet) -> list[Tenant]:
    return [t for t in fleet.tenants if isinstance(fleet.targets[t.target], KubernetesTarget)]


def resolved(fleet: Fleet, tenant_id: str) -> KubernetesTenant:
    tenant = resolve(fleet, fleet.tenant(tenant_id))
    assert isinstance(tenant, KubernetesTenant)
    return tenant


def manifests(fleet: Fleet, tenant_id: str) -> ks.TenantManifests:
    return ks.tenant_manifests(resolved(fleet, tenant_id), kbs.backup_job(fleet))


def role(fleet: Fleet, tenant_id: str, name: str) -> dict[str, Any]:
    found = manifests(fleet, tenant_id).get(name)
    assert found is not None, f"{tenant_id} has no {name}"
    return found


def pod_specs(objects: ks.TenantManifests) -> list[dict[str, Any]]:
    pods = []
    for _, manifest in objects.objects:
        if manifest["kind"] == "Deployment":
            pods.append(manifest["spec"]["template"]["spec"])
        elif manifest["kind"] == "CronJob":
            pods.append(manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return pods


def job_pod(fleet: Fleet, tenant_id: str) -> dict[str, Any]:
    spec: dict[str, Any] = role(fleet, tenant_id, "backup-job")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def mebibytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, quantity
    return int(match[1]) * (1024 if match[2] == "Gi" else 1)


def millicpus(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)m", quantity)
    assert match, quantity
    return int(match[1])


LIVE = [(name, t.id) for name, fleet in FLEETS.items() for t in cluster_tenants(fleet) if t.state != "offboarded"]


# --- node disk and /tmp -----------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "tenant_id"), LIVE, ids=[f"{v}-{t}" for v, t in LIVE])
def test_every_container_has_the_fixed_node_disk_allowance(variant: str, tenant_id: str) -> None:
    allowance = f"{ks.EPHEMERAL_STORAGE_MIB // 1024}Gi"
    assert allowance == "1Gi"
    pods = pod_specs(manifests(FLEETS[variant], tenant_id))
    for pod in pods:
        for container in pod["containers"]:
            resources = container["resources"]
            assert resources["requests"]["ephemeral-storage"] == allowance, container["name"]
            assert resources["limits"]["ephemeral-storage"] == allowance, container["name"]


@pytest.mark.parametrize(("variant", "tenant_id"), LIVE, ids=[f"{v}-{t}" for v, t in LIVE])
def test_the_quota_and_limit_range_cover_node_disk_and_the_backup_pod(variant: str, tenant_id: str) -> None:
    fleet = FLEETS[variant]
    objects = manifests(fleet, tenant_id)
    hard = role(fleet, tenant_id, "quota")["spec"]["hard"]
    gateway = [c for pod in pod_specs(objects) for c in pod["containers"] if c["name"] == "gateway"]
    jobs = [c for pod in pod_specs(objects) for c in pod["containers"] if c["name"] == "backup"]
    # The gateway twice over (a rollout) and the backup job's one pod, in every resource the quota counts.
    pods = [*gateway, *gateway, *jobs]
    assert hard["pods"] == str(len(pods))
    for resource, parse in (("cpu", millicpus), ("memory", mebibytes), ("ephemeral-storage", mebibytes)):
        assert parse(hard[f"limits.{resource}"]) >= sum(parse(c["resources"]["limits"][resource]) for c in pods)
        assert parse(hard[f"requests.{resource}"]) >= sum(parse(c["resources"]["requests"][resource]) for c in pods)
    container_limits = role(fleet, tenant_id, "limits")["spec"]["limits"][0]
    for key in ("default", "defaultRequest", "max"):
        assert container_limits[key]["ephemeral-storage"] == "1Gi"
    for job in jobs:  # within the namespace's per-container ceiling, or the API server refuses the pod
        ceiling = container_limits["max"]
        assert millicpus(job["resources"]["limits"]["cpu"]) <= millicpus(ceiling["cpu"])
        assert mebibytes(job["resources"]["limits"]["memory"]) <= mebibytes(ceiling["memory"])


def test_the_gateways_tmp_is_memory_of_the_size_docker_gives() -> None:
    fleet = load_fleet(ROOT / "tenants.yaml")
    docker = next(r for r in (resolve(fleet, t) for t in fleet.tenants) if isinstance(r, DockerTenant))
    assert container_spec(docker).tmpfs[openclaw.TMP_DIR] == f"rw,noexec,nosuid,size={openclaw.TMP_SIZE_MIB}m"
    pod = role(fleet, "hooli", "deployment")["spec"]["template"]["spec"]
    (tmp,) = [v for v in pod["volumes"] if v["name"] == "tmp"]
    assert tmp["emptyDir"] == {"medium": "Memory", "sizeLimit": f"{openclaw.TMP_SIZE_MIB}Mi"}


# --- which tenants get a backup job ---------------------------------------------------------------


def test_no_backups_or_a_local_repository_gives_no_backup_objects() -> None:
    example = load_fleet(ROOT / "tenants.yaml")
    assert example.backups is not None and example.backups.kind == "local"  # a path no pod can reach
    without = FLEETS["example"].model_copy(update={"backups": None})
    for fleet in (example, without):
        for tenant in cluster_tenants(fleet):
            roles = [r for r, _ in manifests(fleet, tenant.id).objects]
            assert not [r for r in roles if r.startswith("backup-")], tenant.id
            assert manifests(fleet, tenant.id).config_secrets == {}
            pod = role(fleet, tenant.id, "deployment")["spec"]["template"]["spec"]
            assert "affinity" not in pod and "terminationGracePeriodSeconds" not in pod


def test_live_tenants_whose_plan_backs_up_get_the_job() -> None:
    with_job = {t.id for t in cluster_tenants(S3) if manifests(S3, t.id).get("backup-job")}
    assert with_job == {"hooli", "wayne"}  # vandelay's plan (basic) is `every: off` in this variant
    assert {t.id for t in cluster_tenants(SFTP) if manifests(SFTP, t.id).get("backup-job")} == {"hooli", "vandelay"}
    offboarded = FLEETS["offboarded"].model_copy(update={"backups": S3.backups})
    assert not any(manifests(offboarded, t.id).get("backup-job") for t in cluster_tenants(offboarded))


# --- the objects ------------------------------------------------------------------------------------


def test_the_secret_names_only_the_config_keys_that_fill_it() -> None:
    s3 = role(S3, "hooli", "backup-secret")
    assert s3["metadata"]["name"] == "openclaw-backup"
    assert s3["stringData"] == {
        "RESTIC_PASSWORD": "<redacted: secret config backupPassword>",
        "AWS_ACCESS_KEY_ID": "<redacted: secret config backupS3AccessKey>",
        "AWS_SECRET_ACCESS_KEY": "<redacted: secret config backupS3SecretKey>",
    }
    assert manifests(S3, "hooli").config_secrets == {
        "backup-secret": {
            "RESTIC_PASSWORD": "backupPassword",
            "AWS_ACCESS_KEY_ID": "backupS3AccessKey",
            "AWS_SECRET_ACCESS_KEY": "backupS3SecretKey",
        }
    }
    assert manifests(SFTP, "hooli").config_secrets == {
        "backup-secret": {"RESTIC_PASSWORD": "backupPassword", "OPENCLAW_BACKUP_SSH_KEY": "backupSshKey"}
    }


def test_the_role_allows_only_the_gateway_deployment_and_listing_pods() -> None:
    rules = role(S3, "hooli", "backup-role")["rules"]
    assert rules == [
        {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["openclaw"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    ]
    binding = role(S3, "hooli", "backup-binding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "openclaw-backup"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "openclaw-backup", "namespace": "tenant-hooli"}]
    assert role(S3, "hooli", "backup-account")["automountServiceAccountToken"] is False


def test_the_job_pods_reach_dns_and_the_backup_cidrs_only() -> None:
    for fleet, port in ((S3, 443), (SFTP, 2222)):
        spec = role(fleet, "hooli", "backup-traffic")["spec"]
        assert spec["podSelector"] == {
            "matchLabels": {"app.kubernetes.io/name": "openclaw-backup", "openclaw.io/tenant": "hooli"}
        }
        assert spec["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in spec
        dns, out = spec["egress"]
        assert dns == role(fleet, "hooli", "gateway-traffic")["spec"]["egress"][0]  # the cluster's DNS rule
        assert out["to"] == [{"ipBlock": {"cidr": cidr}} for cidr in BACKUP_CIDRS]
        assert out["ports"] == [{"protocol": "TCP", "port": p} for p in sorted({port, 443, 6443})]
    no_cidrs = S3.model_copy(update={"backups": S3.backups.model_copy(update={"cidrs": ()})})  # type: ignore[union-attr]
    assert len(role(no_cidrs, "hooli", "backup-traffic")["spec"]["egress"]) == 1  # DNS alone


def test_the_gateways_rules_never_select_the_job_pods() -> None:
    job_labels = role(S3, "hooli", "backup-job")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    for selector in (
        role(S3, "hooli", "gateway-traffic")["spec"]["podSelector"]["matchLabels"],
        role(S3, "hooli", "service")["spec"]["selector"],
        role(S3, "hooli", "deployment")["spec"]["selector"]["matchLabels"],
    ):
        assert not selector.items() <= job_labels.items()


def test_the_cron_job_runs_on_the_plans_schedule_once_at_a_time() -> None:
    for tenant_id in ("hooli", "wayne"):
        tenant = resolved(S3, tenant_id)
        cron = role(S3, tenant_id, "backup-job")
        spec = cron["spec"]
        assert cron["metadata"]["name"] == "openclaw-backup"
        assert spec["schedule"] == tenant.plan.backup.cron(tenant_id)
        assert spec["timeZone"] == "Etc/UTC"
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
        job = spec["jobTemplate"]["spec"]
        assert job["backoffLimit"] in (0, 1)
        assert job["activeDeadlineSeconds"] > S3.backups.max_stop_s  # type: ignore[union-attr]
        assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert role(S3, "wayne", "backup-job")["spec"]["schedule"].split()[1].endswith("/6")  # enterprise: every 6h


@pytest.mark.parametrize("fleet", [S3, SFTP], ids=["s3", "sftp"])
def test_the_job_pod_is_hardened_like_the_gateway(fleet: Fleet) -> None:
    tenant = resolved(fleet, "hooli")
    pod = job_pod(fleet, "hooli")
    gateway = role(fleet, "hooli", "deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "openclaw-backup"
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert pod["securityContext"] == {**gateway["securityContext"], "fsGroupChangePolicy": "OnRootMismatch"}
    assert pod["securityContext"]["runAsUser"] == tenant.uid
    (container,) = pod["containers"]
    assert container["image"] == fleet.images.data_agent
    assert container["securityContext"] == gateway["containers"][0]["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert volumes["tenant"]["persistentVolumeClaim"] == {"claimName": ks.PVC, "readOnly": True}
    assert mounts["/tenant"] == {"name": "tenant", "mountPath": "/tenant", "readOnly": True}
    assert volumes[mounts["/tmp"]["name"]]["emptyDir"]["sizeLimit"] == "512Mi"
    # The API server's credentials: a projected, expiring token, the cluster's CA and the namespace.
    sources = volumes["api"]["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}
    assert mounts["/var/run/secrets/kubernetes.io/serviceaccount"]["readOnly"] is True
    assert "hostNetwork" not in pod and "hostPID" not in pod and "runtimeClassName" not in pod


def test_the_job_goes_to_the_gateways_node_and_the_gateway_back_to_the_jobs() -> None:
    gateway_selector = {"app.kubernetes.io/name": "openclaw", "openclaw.io/tenant": "hooli"}
    assert job_pod(SFTP, "hooli")["affinity"] == {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": gateway_selector}, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    }
    assert "affinity" not in job_pod(SFTP, "vandelay")  # suspended: its claim is attached nowhere
    gateway = role(SFTP, "hooli", "deployment")["spec"]["template"]["spec"]
    (preferred,) = gateway["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["labelSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "openclaw-backup",
        "openclaw.io/tenant": "hooli",
    }
    assert gateway["terminationGracePeriodSeconds"] == SFTP.backups.stop_timeout_s  # type: ignore[union-attr]


@pytest.mark.parametrize("fleet", [S3, SFTP], ids=["s3", "sftp"])
def test_the_job_program_reads_its_command_line_as_meant(fleet: Fleet) -> None:
    tenant = resolved(fleet, "hooli")
    backups = fleet.backups
    assert backups is not None
    (container,) = job_pod(fleet, "hooli")["containers"]
    command = container["command"]
    assert command[:4] == ["python3", "-m", "data_agent", "k8s-job"]
    args = parse_args(command[4:])
    assert (args.tenant, args.deployment, args.path) == ("hooli", "openclaw", "/tenant")
    selector = dict(pair.split("=", 1) for pair in args.selector.split(","))
    assert selector == role(fleet, "hooli", "deployment")["spec"]["selector"]["matchLabels"]
    assert args.max_stop_s == backups.max_stop_s
    assert args.stop_wait_s >= backups.stop_timeout_s
    keep = tenant.plan.backup.keep
    assert (args.keep_last, args.keep_daily, args.keep_weekly, args.keep_monthly) == (
        keep.last,
        keep.daily,
        keep.weekly,
        keep.monthly,
    )
    assert str(args.service_account_dir) == "/var/run/secrets/kubernetes.io/serviceaccount"
    env = {e["name"]: e for e in container["env"]}
    assert env["RESTIC_REPOSITORY"]["value"] == backups.repository
    secret_keys = set(role(fleet, "hooli", "backup-secret")["stringData"])
    refs = {n for n, e in env.items() if "valueFrom" in e}
    assert refs == secret_keys
    assert all(env[n]["valueFrom"]["secretKeyRef"]["name"] == "openclaw-backup" for n in refs)


def test_sftp_jobs_get_the_known_hosts_and_a_passwd_entry_for_their_uid() -> None:
    tenant = resolved(SFTP, "hooli")
    (container,) = job_pod(SFTP, "hooli")["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OPENCLAW_BACKUP_KNOWN_HOSTS"] == SFTP_KNOWN_HOSTS
    passwd = role(SFTP, "hooli", "backup-files")["data"]["passwd"]
    assert f":x:{tenant.uid}:{tenant.uid}:" in passwd
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/passwd"]
    assert mount == {"name": "files", "mountPath": "/etc/passwd", "subPath": "passwd", "readOnly": True}
    assert manifests(S3, "hooli").get("backup-files") is None


def test_render_shows_the_backup_objects_without_a_secret_value() -> None:
    rendered = render_manifests(S3, S3.tenants)
    docs = [d for d in yaml.safe_load_all(rendered["hooli"]) if d]
    kinds = [d["kind"] for d in docs]
    assert {"CronJob", "Role", "RoleBinding"} <= set(kinds) and kinds.count("Secret") == 2
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["template"]["metadata"]["annotations"].pop("openclaw.io/config-checksum")
    assert list(find_credentials(docs)) == []


# --- the program -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_program(tmp_path_factory: pytest.TempPathFactory) -> ProgramRun:
    fleet_file = tmp_path_factory.mktemp("fleet") / "tenants.yaml"
    fleet_file.write_text(VARIANTS["backups-s3"])
    secrets = {
        "clusterEuKubeconfig": "apiVersion: v1\nkind: Config\n",
        "backupS3AccessKey": "access-key-of-the-test",
        "backupS3SecretKey": "secret-key-of-the-test",
    }
    return run_program(fleet_file, config=K8S_SHARD, secrets=secrets, backup_password="password-of-the-test")


def test_the_program_creates_the_job_and_fills_its_secret_from_secret_config(s3_program: ProgramRun) -> None:
    types = {r.name: r.type for r in s3_program.resources}
    assert types["hooli-backup-job"] == "kubernetes:batch/v1:CronJob"
    assert types["hooli-backup-role"] == "kubernetes:rbac.authorization.k8s.io/v1:Role"
    assert types["hooli-backup-binding"] == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
    assert "vandelay-backup-job" not in types
    binding = s3_program.named("hooli-backup-binding").inputs
    assert binding["roleRef"]["name"] == "openclaw-backup" and binding["subjects"][0]["name"] == "openclaw-backup"
    secret = s3_program.named("hooli-backup-secret")
    assert "stringData" in secret.secret_inputs
    assert secret.inputs["stringData"] == {
        "RESTIC_PASSWORD": "password-of-the-test",
        "AWS_ACCESS_KEY_ID": "access-key-of-the-test",
        "AWS_SECRET_ACCESS_KEY": "secret-key-of-the-test",
    }
    job = s3_program.named("hooli-backup-job")
    assert "password-of-the-test" not in str(job.inputs)
    assert secret.urn in job.dependencies  # its pods need the Secret and the account first
    assert s3_program.named("hooli-backup-role").urn in job.dependencies


def policy_rules() -> ModuleType:
    """The policy pack's rules, imported as the engine does (policy/ is its program directory)."""
    spec = importlib.util.spec_from_file_location("rules", ROOT / "policy" / "rules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rules"] = module
    spec.loader.exec_module(module)
    return module


def test_the_backup_objects_violate_no_policy(s3_program: ProgramRun) -> None:
    rules = policy_rules()
    job = s3_program.named("hooli-backup-job")
    assert rules.pod_spec(job.type, job.inputs), "the rules judge a CronJob's pod"
    found = {
        f"{r.name}: {rule}": messages
        for r in s3_program.resources
        for rule, messages in rules.resource_violations(r.type, r.inputs).items()
    }
    stack = [rules.StackResource(r.type, r.inputs, r.urn) for r in s3_program.resources]
    found.update(rules.stack_violations(stack))
    assert found == {}
