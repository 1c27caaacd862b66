"""What each tenant gets on a Kubernetes target: plain manifests, one namespace per tenant.

The Pulumi adapter, `tenantctl render kubernetes` and the manifest checks all consume these.
Secret values never appear: the Secret lists which generated value fills which key.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML

from . import openclaw
from .labels import owner_labels
from .model import Fleet, KubernetesTarget, Tenant

APP = "openclaw"
SERVICE_ACCOUNT = "openclaw"
SECRET = "openclaw-secrets"
CONFIG_MAP = "openclaw-config"
CONFIG_KEY = "openclaw.json"
PVC = "openclaw-state"
TLS_SECRET = "openclaw-tls"
CPU_REQUEST_FRACTION = 0.25  # CPU is compressible; memory is requested in full (no OOM surprises)
PODS_PER_TENANT = 2  # the gateway, plus room for a rollout
REDACTED = "<redacted: {ref}>"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class TenantManifests:
    """A tenant's objects in apply order, keyed by role (the logical-name suffix)."""

    tenant_id: str
    namespace: str
    state: str
    objects: tuple[tuple[str, Manifest], ...]
    secret_env: Mapping[str, str]  # Secret key → generated value it holds ("gateway_token", ...)

    def get(self, role: str) -> Manifest | None:
        return dict(self.objects).get(role)


def namespace_name(tenant_id: str) -> str:
    return f"tenant-{tenant_id}"


def k8s_target(fleet: Fleet, tenant: Tenant) -> KubernetesTarget:
    return fleet.target_as(tenant.target, KubernetesTarget)


def quantity_cpu(cpus: float) -> str:
    return f"{round(cpus * 1000)}m"


def quantity_gib(gib: float) -> str:
    mib = round(gib * 1024)
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


def _meta(name: str, namespace: str, labels: Mapping[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(labels), **extra}


def _selector(tenant: Tenant) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "openclaw.io/tenant": tenant.id}


def gateway_config_text(fleet: Fleet, tenant: Tenant) -> str:
    target = k8s_target(fleet, tenant)
    return openclaw.render_config(
        openclaw.gateway_config(
            fleet.url(tenant), target.trusted_proxies, tenant.model_provider, fleet.plans[tenant.plan].profile
        )
    )


def namespace(tenant: Tenant) -> Manifest:
    # Pod Security Admission "restricted", enforced and also reported.
    psa = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace_name(tenant.id), "labels": {**owner_labels(tenant), **psa}},
    }


def resource_quota(fleet: Fleet, tenant: Tenant) -> Manifest:
    limits = fleet.limits(tenant)
    ns = namespace_name(tenant.id)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta("tenant-quota", ns, owner_labels(tenant)),
        "spec": {
            "hard": {
                "requests.cpu": quantity_cpu(limits.cpus),
                "limits.cpu": quantity_cpu(limits.cpus * PODS_PER_TENANT),
                "requests.memory": quantity_gib(limits.memory_gib * PODS_PER_TENANT),
                "limits.memory": quantity_gib(limits.memory_gib * PODS_PER_TENANT),
                "requests.storage": quantity_gib(limits.storage_gib),
                "persistentvolumeclaims": "1",
                "pods": str(PODS_PER_TENANT),
                "services": "1",
                "services.loadbalancers": "0",
                "services.nodeports": "0",
            }
        },
    }


def _resources(fleet: Fleet, tenant: Tenant) -> dict[str, dict[str, str]]:
    limits = fleet.limits(tenant)
    memory = quantity_gib(limits.memory_gib)
    return {
        "requests": {"cpu": quantity_cpu(limits.cpus * CPU_REQUEST_FRACTION), "memory": memory},
        "limits": {"cpu": quantity_cpu(limits.cpus), "memory": memory},
    }


def limit_range(fleet: Fleet, tenant: Tenant) -> Manifest:
    res = _resources(fleet, tenant)
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta("tenant-limits", namespace_name(tenant.id), owner_labels(tenant)),
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
                    "max": {"storage": quantity_gib(fleet.limits(tenant).storage_gib)},
                },
            ]
        },
    }


def default_deny(tenant: Tenant) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("default-deny", namespace_name(tenant.id), owner_labels(tenant)),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def gateway_traffic(fleet: Fleet, tenant: Tenant) -> Manifest:
    """In: only the ingress controller, on the gateway port. Out: cluster DNS and the providers."""
    target = k8s_target(fleet, tenant)
    egress: list[dict[str, Any]] = [
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": target.dns_namespace}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ]
    if target.egress.cidrs:
        egress.append(
            {
                "to": [_ip_block(cidr, target.egress.excluded) for cidr in target.egress.cidrs],
                "ports": [{"protocol": "TCP", "port": port} for port in target.egress.ports],
            }
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("gateway-traffic", namespace_name(tenant.id), owner_labels(tenant)),
        "spec": {
            "podSelector": {"matchLabels": _selector(tenant)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": target.ingress_namespace}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": openclaw.PORT}],
                }
            ],
            "egress": egress,
        },
    }


def _ip_block(cidr: str, excluded: tuple[str, ...]) -> dict[str, Any]:
    inside = [e for e in excluded if ipaddress.ip_network(e).subnet_of(ipaddress.ip_network(cidr))]  # type: ignore[arg-type]
    return {"ipBlock": {"cidr": cidr, "except": inside} if inside else {"cidr": cidr}}


def service_account(tenant: Tenant) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(SERVICE_ACCOUNT, namespace_name(tenant.id), owner_labels(tenant)),
        "automountServiceAccountToken": False,
    }


def secret_env(tenant: Tenant) -> dict[str, str]:
    return {
        openclaw.TOKEN_ENV: "gateway_token",
        openclaw.PROVIDER_KEY_ENV[tenant.model_provider]: "provider_key",
    }


def secret(tenant: Tenant) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(SECRET, namespace_name(tenant.id), owner_labels(tenant)),
        "type": "Opaque",
        "stringData": {key: REDACTED.format(ref=ref) for key, ref in secret_env(tenant).items()},
    }


def config_map(tenant: Tenant, config: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(CONFIG_MAP, namespace_name(tenant.id), owner_labels(tenant)),
        "data": {CONFIG_KEY: config},
    }


def pvc(fleet: Fleet, tenant: Tenant) -> Manifest:
    target = k8s_target(fleet, tenant)
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": quantity_gib(fleet.limits(tenant).storage_gib)}},
    }
    if target.storage_class is not None:
        spec["storageClassName"] = target.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(PVC, namespace_name(tenant.id), owner_labels(tenant)),
        "spec": spec,
    }


def _probe(path: str, period_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period_s,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def deployment(fleet: Fleet, tenant: Tenant, config: str) -> Manifest:
    """``config`` is the ConfigMap's openclaw.json: its checksum rolls the pod when it changes."""
    target = k8s_target(fleet, tenant)
    limits = fleet.limits(tenant)
    env: list[dict[str, Any]] = [
        {"name": k, "value": v} for k, v in sorted(openclaw.environment(limits.memory_gib).items())
    ]
    env.append(
        {
            "name": openclaw.CONFIG_ENV,
            "valueFrom": {"configMapKeyRef": {"name": CONFIG_MAP, "key": CONFIG_KEY}},
        }
    )
    # The token is always there; a provider key only when one is configured.
    env += [
        {
            "name": key,
            "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key, "optional": ref != "gateway_token"}},
        }
        for key, ref in secret_env(tenant).items()
    ]
    pod_spec: dict[str, Any] = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": openclaw.UID,
            "runAsGroup": openclaw.GID,
            "fsGroup": openclaw.GID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "gateway",
                "image": openclaw.image(fleet.images.openclaw, fleet.version_of(tenant)),
                "imagePullPolicy": "IfNotPresent",
                "command": list(openclaw.COMMAND),
                "workingDir": openclaw.WORKDIR,
                "env": env,
                "ports": [{"name": "http", "containerPort": openclaw.PORT, "protocol": "TCP"}],
                "resources": _resources(fleet, tenant),
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": openclaw.UID,
                    "runAsGroup": openclaw.GID,
                    "allowPrivilegeEscalation": False,
                    "privileged": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "startupProbe": _probe(openclaw.STARTUP_PATH, 2, 90),
                "readinessProbe": _probe(openclaw.STARTUP_PATH, 10, 3),
                "livenessProbe": _probe(openclaw.LIVENESS_PATH, 30, 3),
                "volumeMounts": [
                    {"name": "state", "mountPath": openclaw.STATE_DIR},
                    {"name": "tmp", "mountPath": openclaw.TMP_DIR},
                ],
            }
        ],
        "volumes": [
            {"name": "state", "persistentVolumeClaim": {"claimName": PVC}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ],
    }
    runtime_class = target.runtime_class.get(tenant.plan)
    if runtime_class is not None:
        pod_spec["runtimeClassName"] = runtime_class
    labels = {**owner_labels(tenant), **_selector(tenant)}
    checksum = hashlib.sha256(config.encode()).hexdigest()
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(APP, namespace_name(tenant.id), labels),
        "spec": {
            "replicas": 1 if tenant.state == "active" else 0,
            # One gateway owns the state volume at a time: stop the old pod before the new one starts.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _selector(tenant)},
            "template": {
                "metadata": {"labels": labels, "annotations": {"openclaw.io/config-checksum": checksum}},
                "spec": pod_spec,
            },
        },
    }


def service(tenant: Tenant) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(APP, namespace_name(tenant.id), owner_labels(tenant)),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(tenant),
            "ports": [{"name": "http", "port": openclaw.PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def ingress(fleet: Fleet, tenant: Tenant) -> Manifest:
    target = k8s_target(fleet, tenant)
    plan = fleet.plans[tenant.plan]
    host = fleet.host(tenant)
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
        "metadata": _meta(APP, namespace_name(tenant.id), owner_labels(tenant), annotations=annotations),
        "spec": spec,
    }


def tenant_manifests(fleet: Fleet, tenant: Tenant) -> TenantManifests:
    """Suspended: the deployment scales to zero. Offboarded: workload, service and ingress go;
    namespace, data and secret stay (deleting a namespace would delete its volume claims)."""
    config = gateway_config_text(fleet, tenant)
    objects: list[tuple[str, Manifest]] = [
        ("namespace", namespace(tenant)),
        ("quota", resource_quota(fleet, tenant)),
        ("limits", limit_range(fleet, tenant)),
        ("default-deny", default_deny(tenant)),
        ("gateway-traffic", gateway_traffic(fleet, tenant)),
        ("service-account", service_account(tenant)),
        ("secret", secret(tenant)),
        ("config", config_map(tenant, config)),
        ("state", pvc(fleet, tenant)),
    ]
    if tenant.state != "offboarded":
        objects += [
            ("deployment", deployment(fleet, tenant, config)),
            ("service", service(tenant)),
            ("ingress", ingress(fleet, tenant)),
        ]
    return TenantManifests(
        tenant_id=tenant.id,
        namespace=namespace_name(tenant.id),
        state=tenant.state,
        objects=tuple(objects),
        secret_env=secret_env(tenant),
    )


def render_manifests(fleet: Fleet, tenants: tuple[Tenant, ...]) -> dict[str, str]:
    """Tenant id → a multi-document YAML of its manifests (GitOps and review friendly)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    # Quote what YAML 1.1 readers such as kubectl take for booleans or numbers (yes, on, n, 1:20).
    yaml.version = (1, 1)
    yaml.representer.ignore_aliases = lambda _data: True
    rendered: dict[str, str] = {}
    for tenant in tenants:
        if not isinstance(fleet.targets[tenant.target], KubernetesTarget):
            continue
        buffer = io.StringIO()
        yaml.dump_all([manifest for _, manifest in tenant_manifests(fleet, tenant).objects], buffer)
        body = re.sub(r"^%YAML 1\.1\n", "", buffer.getvalue(), flags=re.MULTILINE)
        rendered[tenant.id] = f"# tenant {tenant.id} ({tenant.state}); generated by openclaw-tenants\n" + body
    return rendered
