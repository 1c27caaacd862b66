"""What each tenant gets on a Kubernetes target: plain manifests, one namespace per tenant.

The Pulumi adapter, `tenantctl render kubernetes` and the manifest checks all consume these.
Secret values never appear: the Secret lists which generated value fills which key.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import openclaw
from .contract import MODEL_GATEWAY_PORT, SecretRef, TenantState
from .egress_ranges import IpNetwork
from .labels import TENANT_LABEL, owner_labels
from .model_gateway_names import K8S_APP as MODEL_GATEWAY_APP
from .resolved import KubernetesTenant
from .units import cpu_quantity, gib_quantity, mib_quantity

if TYPE_CHECKING:
    from .k8s_backup_specs import BackupJob

APP = "openclaw"
SERVICE_ACCOUNT = "openclaw"
SECRET = "openclaw-secrets"
CONFIG_MAP = "openclaw-config"
CONFIG_KEY = "openclaw.json"
PVC = "openclaw-state"
TLS_SECRET = "openclaw-tls"
CPU_REQUEST_FRACTION = 0.25  # CPU is compressible; memory is requested in full (no OOM surprises)
PODS_PER_TENANT = 2  # the gateway, plus room for a rollout
# Node disk each container may use outside its volumes: its logs, its writable layer and any disk-backed emptyDir.
# The root file system is read-only, state lives on the claim and the gateway's /tmp is in memory, so a container
# writes little here; unbounded, one tenant's logs could fill a node's disk and get every pod on it evicted.
EPHEMERAL_STORAGE_MIB = 1024
REDACTED = "<redacted: {ref}>"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class TenantManifests:
    """A tenant's objects in apply order, keyed by role (the logical-name suffix)."""

    tenant_id: str
    namespace: str
    state: TenantState
    objects: tuple[tuple[str, Manifest], ...]
    secret_env: Mapping[str, SecretRef]  # Secret key → generated value it holds ("gateway_token", ...)

    # A Secret's role → its key → the Pulumi secret config key whose value fills it (the backup repository's).
    config_secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def get(self, role: str) -> Manifest | None:
        return dict(self.objects).get(role)


@dataclass(frozen=True)
class PodLimits:
    """The most one pod of a tenant's namespace takes; what its quota adds up. Memory and node disk are
    requested in full, CPU (compressible) in part."""

    cpus: float
    memory_mib: int
    ephemeral_mib: int = EPHEMERAL_STORAGE_MIB

    def resources(self) -> dict[str, dict[str, str]]:
        memory, disk = mib_quantity(self.memory_mib), mib_quantity(self.ephemeral_mib)
        return {
            "requests": {
                "cpu": cpu_quantity(self.cpus * CPU_REQUEST_FRACTION),
                "memory": memory,
                "ephemeral-storage": disk,
            },
            "limits": {"cpu": cpu_quantity(self.cpus), "memory": memory, "ephemeral-storage": disk},
        }


def namespace_name(tenant_id: str) -> str:
    return f"tenant-{tenant_id}"


def meta(tenant: KubernetesTenant, name: str, labels: Mapping[str, str] | None = None, **extra: Any) -> Manifest:
    """Metadata of an object in the tenant's namespace; labelled with the tenant's own labels by default."""
    own = owner_labels(tenant.tenant) if labels is None else labels
    return {"name": name, "namespace": namespace_name(tenant.id), "labels": dict(own), **extra}


def gateway_selector(tenant: KubernetesTenant) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, TENANT_LABEL: tenant.id}


def namespace(tenant: KubernetesTenant) -> Manifest:
    # Pod Security Admission "restricted", enforced and also reported.
    psa = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace_name(tenant.id), "labels": {**owner_labels(tenant.tenant), **psa}},
    }


def gateway_limits(tenant: KubernetesTenant) -> PodLimits:
    return PodLimits(cpus=tenant.limits.cpus, memory_mib=tenant.memory_mib)


def resource_quota(tenant: KubernetesTenant, job: PodLimits | None = None) -> Manifest:
    """Room for the gateway twice over (a rollout), and for the backup job's one pod (``job``) if it has one."""
    cpus = tenant.limits.cpus
    extra = [] if job is None else [job]
    memory = tenant.memory_mib * PODS_PER_TENANT + sum(j.memory_mib for j in extra)
    disk = EPHEMERAL_STORAGE_MIB * PODS_PER_TENANT + sum(j.ephemeral_mib for j in extra)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta(tenant, "tenant-quota"),
        "spec": {
            "hard": {
                "requests.cpu": cpu_quantity(cpus + sum(j.cpus * CPU_REQUEST_FRACTION for j in extra)),
                "limits.cpu": cpu_quantity(cpus * PODS_PER_TENANT + sum(j.cpus for j in extra)),
                "requests.memory": mib_quantity(memory),
                "limits.memory": mib_quantity(memory),
                "requests.ephemeral-storage": mib_quantity(disk),
                "limits.ephemeral-storage": mib_quantity(disk),
                "requests.storage": gib_quantity(tenant.limits.storage_gib),
                "persistentvolumeclaims": "1",
                "pods": str(PODS_PER_TENANT + len(extra)),
                "services": "1",
                "services.loadbalancers": "0",
                "services.nodeports": "0",
            }
        },
    }


def limit_range(tenant: KubernetesTenant) -> Manifest:
    """A container's defaults and ceiling are the gateway's own limits (the backup job's stay within them)."""
    res = gateway_limits(tenant).resources()
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": meta(tenant, "tenant-limits"),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": res["limits"],
                    "defaultRequest": res["requests"],
                    "max": res["limits"],
                },
                {
                    "type": "PersistentVolumeClaim",
                    "max": {"storage": gib_quantity(tenant.limits.storage_gib)},
                },
            ]
        },
    }


def default_deny(tenant: KubernetesTenant) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(tenant, "default-deny"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def gateway_traffic(tenant: KubernetesTenant) -> Manifest:
    """In: only the ingress controller, on the gateway port. Out, by the tenant's egress mode: nothing
    (`none`: no rule, so the default deny holds even for DNS); cluster DNS and the cluster's model
    gateway on its API port (`models`); those and the target's `cidrs` on its `ports` (`internet`).
    Anything else (`direct-unfiltered`, refused by validation) gets no more than `models`."""
    target = tenant.target
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": gateway_selector(tenant)},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": target.ingress_namespace}}}
                ],
                "ports": [{"protocol": "TCP", "port": openclaw.PORT}],
            }
        ],
    }
    if tenant.egress != "none":
        spec["egress"] = [dns_rule(tenant), _model_gateway_rule(tenant), *_internet_rules(tenant)]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(tenant, "gateway-traffic"),
        "spec": spec,
    }


def dns_rule(tenant: KubernetesTenant) -> dict[str, Any]:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": tenant.target.dns_namespace}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def _model_gateway_rule(tenant: KubernetesTenant) -> dict[str, Any]:
    namespace = tenant.target.model_gateway.namespace
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": MODEL_GATEWAY_APP}},
            }
        ],
        "ports": [{"protocol": "TCP", "port": MODEL_GATEWAY_PORT}],
    }


def _internet_rules(tenant: KubernetesTenant) -> list[dict[str, Any]]:
    egress = tenant.target.egress
    if tenant.egress != "internet" or not egress.cidrs:
        return []
    return [
        {
            "to": [_ip_block(cidr, egress.excluded) for cidr in egress.cidrs],
            "ports": [{"protocol": "TCP", "port": port} for port in egress.ports],
        }
    ]


def _ip_block(cidr: str, excluded: tuple[str, ...]) -> dict[str, Any]:
    """One allowed range less the exclusions inside it: Kubernetes takes an `except` only strictly
    inside its `cidr` (validation refuses exclusions that cover a whole allowed range)."""
    allowed = ipaddress.ip_network(cidr)
    inside = [e for e in excluded if _strictly_inside(ipaddress.ip_network(e), allowed)]
    return {"ipBlock": {"cidr": cidr, "except": inside} if inside else {"cidr": cidr}}


def _strictly_inside(net: IpNetwork, allowed: IpNetwork) -> bool:
    return net.version == allowed.version and net != allowed and net.subnet_of(allowed)  # type: ignore[arg-type]


def service_account(tenant: KubernetesTenant) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(tenant, SERVICE_ACCOUNT),
        "automountServiceAccountToken": False,
    }


def secret(tenant: KubernetesTenant) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(tenant, SECRET),
        "type": "Opaque",
        "stringData": {key: REDACTED.format(ref=ref) for key, ref in tenant.secret_env.items()},
    }


def config_map(tenant: KubernetesTenant) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(tenant, CONFIG_MAP),
        "data": {CONFIG_KEY: tenant.gateway_config_text},
    }


def pvc(tenant: KubernetesTenant) -> Manifest:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": gib_quantity(tenant.limits.storage_gib)}},
    }
    if tenant.target.storage_class is not None:
        spec["storageClassName"] = tenant.target.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(tenant, PVC),
        "spec": spec,
    }


def restricted_pod(service_account: str, uid: int, gid: int) -> dict[str, Any]:
    """A pod of its own service account, without the account's token, as ``uid:gid`` (PSA restricted)."""
    return {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": gid,
            "fsGroup": gid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def restricted_container(uid: int, gid: int) -> dict[str, Any]:
    """A container that can gain nothing: non-root, no capabilities, no escalation, read-only root."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, period_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period_s,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def deployment(tenant: KubernetesTenant, backup: BackupJob | None = None) -> Manifest:
    """The pod carries the checksum of the ConfigMap's openclaw.json: a changed config rolls it. With a backup
    job, the pod also gets what that job asks of it (how long it may take to stop, where to start again)."""
    env: list[dict[str, Any]] = [
        {"name": k, "value": v} for k, v in sorted(openclaw.environment(tenant.memory_mib).items())
    ]
    env.append(
        {
            "name": openclaw.CONFIG_ENV,
            "valueFrom": {"configMapKeyRef": {"name": CONFIG_MAP, "key": CONFIG_KEY}},
        }
    )
    # The gateway token and the virtual model key: the Secret always holds both.
    env += [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key, "optional": False}}}
        for key in tenant.secret_env
    ]
    pod_spec: dict[str, Any] = {
        **restricted_pod(SERVICE_ACCOUNT, tenant.uid, tenant.uid),
        "containers": [
            {
                "name": "gateway",
                "image": tenant.image,
                "imagePullPolicy": "IfNotPresent",
                "command": list(openclaw.COMMAND),
                "workingDir": openclaw.WORKDIR,
                "env": env,
                "ports": [{"name": "http", "containerPort": openclaw.PORT, "protocol": "TCP"}],
                "resources": gateway_limits(tenant).resources(),
                "securityContext": restricted_container(tenant.uid, tenant.uid),
                "startupProbe": http_probe(openclaw.STARTUP_PATH, 2, 90),
                "readinessProbe": http_probe(openclaw.STARTUP_PATH, 10, 3),
                "livenessProbe": http_probe(openclaw.LIVENESS_PATH, 30, 3),
                "volumeMounts": [
                    {"name": "state", "mountPath": openclaw.STATE_DIR},
                    {"name": "tmp", "mountPath": openclaw.TMP_DIR},
                ],
            }
        ],
        "volumes": [
            {"name": "state", "persistentVolumeClaim": {"claimName": PVC}},
            # In memory, as on Docker (a tmpfs of the same size); what it holds counts against the memory limit.
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": mib_quantity(openclaw.TMP_SIZE_MIB)}},
        ],
        **({} if backup is None else backup.gateway_pod(tenant)),
    }
    runtime_class = tenant.target.runtime_class.get(tenant.tenant.plan)
    if runtime_class is not None:
        pod_spec["runtimeClassName"] = runtime_class
    labels = {**owner_labels(tenant.tenant), **gateway_selector(tenant)}
    checksum = hashlib.sha256(tenant.gateway_config_text.encode()).hexdigest()
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(tenant, APP, labels),
        "spec": {
            "replicas": 1 if tenant.tenant.state == "active" else 0,
            # One gateway owns the state volume at a time: stop the old pod before the new one starts.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": gateway_selector(tenant)},
            "template": {
                "metadata": {"labels": labels, "annotations": {"openclaw.io/config-checksum": checksum}},
                "spec": pod_spec,
            },
        },
    }


def service(tenant: KubernetesTenant) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(tenant, APP),
        "spec": {
            "type": "ClusterIP",
            "selector": gateway_selector(tenant),
            "ports": [{"name": "http", "port": openclaw.PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def ingress(tenant: KubernetesTenant) -> Manifest:
    target, plan, host = tenant.target, tenant.plan, tenant.host
    annotations = {
        "nginx.ingress.kubernetes.io/limit-rps": str(plan.rate_limit_rps),
        "nginx.ingress.kubernetes.io/limit-burst-multiplier": str(max(1, plan.burst // plan.rate_limit_rps)),
        "nginx.ingress.kubernetes.io/proxy-body-size": "25m",
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
        "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
    }
    spec: dict[str, Any] = {
        "ingressClassName": target.ingress_class,
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": APP, "port": {"number": openclaw.PORT}}},
                        }
                    ]
                },
            }
        ],
    }
    if target.tls.mode == "cert-manager":
        annotations["cert-manager.io/cluster-issuer"] = str(target.tls.issuer)
        spec["tls"] = [{"hosts": [host], "secretName": TLS_SECRET}]
    elif target.tls.mode == "wildcard-secret":
        # No secretName: the controller serves its default (wildcard) certificate for this host.
        spec["tls"] = [{"hosts": [host]}]
    if target.dns.mode == "external-dns":
        annotations["external-dns.alpha.kubernetes.io/hostname"] = host
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta(tenant, APP, annotations=annotations),
        "spec": spec,
    }


def tenant_manifests(tenant: KubernetesTenant, backup: BackupJob | None = None) -> TenantManifests:
    """Suspended: the deployment scales to zero. Offboarded: workload, service and ingress go;
    namespace, data and secret stay (deleting a namespace would delete its volume claims).

    ``backup`` (the fleet's backups, tenants/k8s_backup_specs.py) adds a live tenant's backup job, when its
    plan takes backups on a schedule."""
    job = backup if backup is not None and backup.applies(tenant) else None
    objects: list[tuple[str, Manifest]] = [
        ("namespace", namespace(tenant)),
        ("quota", resource_quota(tenant, None if job is None else job.pod_limits(tenant))),
        ("limits", limit_range(tenant)),
        ("default-deny", default_deny(tenant)),
        ("gateway-traffic", gateway_traffic(tenant)),
        ("service-account", service_account(tenant)),
        ("secret", secret(tenant)),
        ("config", config_map(tenant)),
        ("state", pvc(tenant)),
    ]
    if tenant.tenant.state != "offboarded":
        objects += [
            ("deployment", deployment(tenant, job)),
            ("service", service(tenant)),
            ("ingress", ingress(tenant)),
        ]
    if job is not None:
        objects += job.objects(tenant)
    return TenantManifests(
        tenant_id=tenant.id,
        namespace=namespace_name(tenant.id),
        state=tenant.tenant.state,
        objects=tuple(objects),
        secret_env=tenant.secret_env,
        config_secrets={} if job is None else job.config_secrets(),
    )
