"""A Kubernetes tenant's scheduled backups: the objects its namespace gets when the fleet has `backups` and the
tenant's plan backs up on a schedule.

A CronJob runs the data agent's `k8s-job` (data_agent/k8s_job.py) at `plan.backup.cron(id)`, UTC: it scales
the gateway's Deployment to 0, snapshots the claim with restic, scales it back and applies the retention. It runs
as the tenant's own uid (the only one that can read the gateway's files) and is hardened like the gateway. The
claim is ReadWriteOnce, so the job's pod goes to the gateway's node (required pod affinity while the gateway
runs), and the gateway, when it starts again while the job still holds the claim, prefers the job's node.

Least privilege: the job's service account may get and patch the one gateway Deployment (the replicas and
the annotation that remembers them) and list the namespace's pods, nothing else. Its pods may reach cluster DNS
(the repository's host name) and `backups.cidrs`, on `backups.port` (the repository) and on the API server's
ports 443 and 6443. A NetworkPolicy sees the API server only by address: the CNI applies it after the
`kubernetes` Service is rewritten to the API server's endpoints, so `backups.cidrs` lists the repository's
addresses and those endpoints (`kubectl get endpoints kubernetes -n default`).

A local repository (a path) cannot reach a pod: such fleets get no backup objects on clusters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .data_names import DATA_AGENT_COMMAND, K8S_BACKUP_JOB, KNOWN_HOSTS_ENV, SSH_KEY_ENV
from .k8s_specs import (
    APP,
    PVC,
    REDACTED,
    Manifest,
    PodLimits,
    dns_rule,
    gateway_selector,
    meta,
    restricted_container,
    restricted_pod,
)
from .labels import TENANT_LABEL, owner_labels
from .model import Backups, Fleet
from .resolved import KubernetesTenant
from .units import mib_quantity

JOB_APP = "openclaw-backup"  # the job pods' app label: never the gateway's, which its Service and policy select
SECRET_ROLE = "backup-secret"
DATA_PATH = "/tenant"  # where the claim is mounted: the path every snapshot of a tenant has, on either backend
TMP_DIR = "/tmp"  # restic assembles packs here, and the sftp key files live here
TMP_SIZE_MIB = 512  # on node disk, within the pod's ephemeral-storage limit
JOB_CPUS = 1.0  # at most; never above the tenant's own CPUs (the namespace's LimitRange ceiling)
# restic holds the repository's index in memory: the whole fleet's repository, not just this tenant's part. The
# smallest plan memory is 1 GiB, so this stays within every namespace's LimitRange ceiling.
JOB_MEMORY_MIB = 1024
API_PORTS = (443, 6443)  # the `kubernetes` Service's port, and the API server's own on most clusters
STOP_SLACK_S = 30  # after the gateway's stop timeout: the kubelet's own cleanup of its pod
# The Job's deadline beyond `backups.max_stop_s`: the pod's start, then `forget --prune` with the gateway already
# back (data_agent.restic allows a prune an hour), then some room for a slow API server.
JOB_SLACK_S = 3600 + 900
STARTING_DEADLINE_S = 600  # a run missed by longer (a controller outage) is skipped, not run late
TERMINATION_GRACE_S = 60  # on the deadline: restic removes its lock, the gateway is scaled back
TOKEN_EXPIRY_S = 3600  # the projected token; the kubelet renews it at 80%, the job rereads it per request
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
PASSWD_KEY = "passwd"
KEEP_KINDS = ("last", "daily", "weekly", "monthly")  # tenants.model.BackupRetention's fields
HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"
REPOSITORY_ENV = "RESTIC_REPOSITORY"
PASSWORD_ENV = "RESTIC_PASSWORD"


def _secret_env(backups: Backups) -> dict[str, str]:
    """The job's secret variables → the Pulumi secret config key that fills each."""
    extra = {
        "local": {},
        "sftp": {SSH_KEY_ENV: backups.ssh_key},
        "s3": {"AWS_ACCESS_KEY_ID": backups.s3_access_key, "AWS_SECRET_ACCESS_KEY": backups.s3_secret_key},
    }
    return {PASSWORD_ENV: backups.password, **extra[backups.kind]}


def job_selector(tenant: KubernetesTenant) -> dict[str, str]:
    return {"app.kubernetes.io/name": JOB_APP, TENANT_LABEL: tenant.id}


def _hostname_term(selector: dict[str, str]) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": selector}, "topologyKey": HOSTNAME_TOPOLOGY}


@dataclass(frozen=True)
class BackupJob:
    """The fleet's backups, as a cluster's tenants take them: the repository and the data agent's image."""

    backups: Backups
    image: str

    def applies(self, tenant: KubernetesTenant) -> bool:
        """A live tenant whose plan backs up on a schedule, with a repository a pod can reach."""
        live = tenant.tenant.state != "offboarded"
        return live and tenant.plan.backup.every_s is not None and self.backups.reaches_pods

    def pod_limits(self, tenant: KubernetesTenant) -> PodLimits:
        return PodLimits(cpus=min(JOB_CPUS, tenant.limits.cpus), memory_mib=JOB_MEMORY_MIB)

    def config_secrets(self) -> dict[str, dict[str, str]]:
        return {SECRET_ROLE: _secret_env(self.backups)}

    def gateway_pod(self, tenant: KubernetesTenant) -> dict[str, Any]:
        """What the gateway's pod takes from the backups: `stop_timeout_s` to stop, and a preference for the
        node of a running backup job (which still holds the claim while it prunes)."""
        term = {"weight": 100, "podAffinityTerm": _hostname_term(job_selector(tenant))}
        return {
            "terminationGracePeriodSeconds": self.backups.stop_timeout_s,
            "affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}},
        }

    def objects(self, tenant: KubernetesTenant) -> list[tuple[str, Manifest]]:
        objects: list[tuple[str, Manifest]] = [
            (SECRET_ROLE, self.secret(tenant)),
            ("backup-account", self.service_account(tenant)),
            ("backup-role", self.role(tenant)),
            ("backup-binding", self.role_binding(tenant)),
            ("backup-traffic", self.network_policy(tenant)),
        ]
        if self.backups.kind == "sftp":
            objects.append(("backup-files", self.files(tenant)))
        objects.append(("backup-job", self.cron_job(tenant)))
        return objects

    def secret(self, tenant: KubernetesTenant) -> Manifest:
        refs = _secret_env(self.backups)
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta(tenant, K8S_BACKUP_JOB),
            "type": "Opaque",
            "stringData": {env: REDACTED.format(ref=f"secret config {key}") for env, key in refs.items()},
        }

    def service_account(self, tenant: KubernetesTenant) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(tenant, K8S_BACKUP_JOB),
            "automountServiceAccountToken": False,  # the job's pod projects a token of its own, short-lived
        }

    def role(self, tenant: KubernetesTenant) -> Manifest:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(tenant, K8S_BACKUP_JOB),
            "rules": [
                # The replicas and the annotation that remembers them, of the gateway's Deployment alone.
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments"],
                    "resourceNames": [APP],
                    "verbs": ["get", "patch"],
                },
                # Whether the gateway's pods are gone (a list cannot be narrowed to names).
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
            ],
        }

    def role_binding(self, tenant: KubernetesTenant) -> Manifest:
        namespace = meta(tenant, K8S_BACKUP_JOB)["namespace"]
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(tenant, K8S_BACKUP_JOB),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": K8S_BACKUP_JOB},
            "subjects": [{"kind": "ServiceAccount", "name": K8S_BACKUP_JOB, "namespace": namespace}],
        }

    def network_policy(self, tenant: KubernetesTenant) -> Manifest:
        """No way in; out only to cluster DNS and to `backups.cidrs` (the repository, the API server)."""
        egress = [dns_rule(tenant)]
        if self.backups.cidrs:
            ports = sorted({self.backups.port, *API_PORTS})
            egress.append(
                {
                    "to": [{"ipBlock": {"cidr": cidr}} for cidr in self.backups.cidrs],
                    "ports": [{"protocol": "TCP", "port": port} for port in ports],
                }
            )
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta(tenant, "backup-traffic"),
            "spec": {
                "podSelector": {"matchLabels": job_selector(tenant)},
                "policyTypes": ["Ingress", "Egress"],
                "egress": egress,
            },
        }

    def files(self, tenant: KubernetesTenant) -> Manifest:
        """An /etc/passwd naming the job's uid: ssh (restic's sftp) refuses to run as a uid without one."""
        uid = tenant.uid
        lines = (
            "root:x:0:0:root:/root:/usr/sbin/nologin",
            f"openclaw:x:{uid}:{uid}:backup:{TMP_DIR}:/usr/sbin/nologin",
        )
        passwd = "".join(f"{line}\n" for line in lines)
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta(tenant, K8S_BACKUP_JOB),
            "data": {PASSWD_KEY: passwd},
        }

    def command(self, tenant: KubernetesTenant) -> list[str]:
        keep = tenant.plan.backup.keep
        selector = ",".join(f"{k}={v}" for k, v in gateway_selector(tenant).items())
        return [
            *DATA_AGENT_COMMAND,
            "k8s-job",
            "--tenant",
            tenant.id,
            "--deployment",
            APP,
            "--selector",
            selector,
            "--path",
            DATA_PATH,
            "--stop-wait-s",
            str(self.backups.stop_timeout_s + STOP_SLACK_S),
            "--max-stop-s",
            str(self.backups.max_stop_s),
            *(arg for kind in KEEP_KINDS for arg in (f"--keep-{kind}", str(getattr(keep, kind)))),
        ]

    def _env(self) -> list[dict[str, Any]]:
        env: list[dict[str, Any]] = [
            {"name": REPOSITORY_ENV, "value": self.backups.repository},
            {"name": "HOME", "value": TMP_DIR},
            {"name": "TMPDIR", "value": TMP_DIR},
        ]
        if self.backups.kind == "sftp":
            env.append({"name": KNOWN_HOSTS_ENV, "value": self.backups.known_hosts or ""})
        env += [
            {"name": name, "valueFrom": {"secretKeyRef": {"name": K8S_BACKUP_JOB, "key": name, "optional": False}}}
            for name in _secret_env(self.backups)
        ]
        return env

    def _volumes(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        mounts: list[dict[str, Any]] = [
            {"name": "tenant", "mountPath": DATA_PATH, "readOnly": True},
            {"name": "tmp", "mountPath": TMP_DIR},
            {"name": "api", "mountPath": SERVICE_ACCOUNT_DIR, "readOnly": True},
        ]
        token = {"path": "token", "expirationSeconds": TOKEN_EXPIRY_S}
        volumes: list[dict[str, Any]] = [
            {"name": "tenant", "persistentVolumeClaim": {"claimName": PVC, "readOnly": True}},
            {"name": "tmp", "emptyDir": {"sizeLimit": mib_quantity(TMP_SIZE_MIB)}},
            {
                "name": "api",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": token},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {
                            "downwardAPI": {
                                "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                            }
                        },
                    ]
                },
            },
        ]
        if self.backups.kind == "sftp":
            mounts.append({"name": "files", "mountPath": "/etc/passwd", "subPath": PASSWD_KEY, "readOnly": True})
            volumes.append({"name": "files", "configMap": {"name": K8S_BACKUP_JOB}})
        return mounts, volumes

    def cron_job(self, tenant: KubernetesTenant) -> Manifest:
        schedule = tenant.plan.backup.cron(tenant.id)
        if schedule is None:
            raise ValueError(f"tenant {tenant.id!r}: its plan takes no scheduled backups")
        mounts, volumes = self._volumes()
        pod: dict[str, Any] = restricted_pod(K8S_BACKUP_JOB, tenant.uid, tenant.uid)
        # The gateway already gave the claim to the tenant's group: no recursive walk at every mount.
        pod["securityContext"]["fsGroupChangePolicy"] = "OnRootMismatch"
        pod |= {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": TERMINATION_GRACE_S,
            "containers": [
                {
                    "name": "backup",
                    "image": self.image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": self.command(tenant),
                    "env": self._env(),
                    "resources": self.pod_limits(tenant).resources(),
                    "securityContext": restricted_container(tenant.uid, tenant.uid),
                    "volumeMounts": mounts,
                }
            ],
            "volumes": volumes,
        }
        if tenant.tenant.state == "active":
            # The claim is attached to the gateway's node while it runs: only there can the job mount it too.
            term = _hostname_term(gateway_selector(tenant))
            pod["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
        labels = {**owner_labels(tenant.tenant), **job_selector(tenant)}
        return {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": meta(tenant, K8S_BACKUP_JOB),
            "spec": {
                "schedule": schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": STARTING_DEADLINE_S,
                "successfulJobsHistoryLimit": 1,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": labels},
                    "spec": {
                        # No retry: it would stop the gateway again; the next scheduled run is the retry.
                        "backoffLimit": 0,
                        "activeDeadlineSeconds": self.backups.max_stop_s + JOB_SLACK_S,
                        "template": {"metadata": {"labels": labels}, "spec": pod},
                    },
                },
            },
        }


def backup_job(fleet: Fleet) -> BackupJob | None:
    """What a cluster's tenants need for backups; None without `backups` in the fleet."""
    return None if fleet.backups is None else BackupJob(fleet.backups, fleet.images.data_agent)
