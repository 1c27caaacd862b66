"""A cluster's model gateway as plain manifests, in a platform namespace of its own.

Tenant namespaces reach it only on its API port; it reaches only cluster DNS and the providers over
HTTPS (or the ports of the target's upstream overrides). Its master keys and its key registry are
Secrets whose values never appear here: the master-key Secret lists which generated secret fills
which key, and the registry Secret is rendered by the components with each tenant's key hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .contract import (
    MODEL_GATEWAY_CONFIG_DIR,
    MODEL_GATEWAY_DATA_DIR,
    MODEL_GATEWAY_MODELS_PATH,
    MODEL_GATEWAY_PORT,
    MODEL_GATEWAY_REGISTRY_PATH,
    MODEL_GATEWAY_UID,
    SecretRef,
)
from .k8s_specs import REDACTED, Manifest, http_probe, restricted_container, restricted_pod
from .labels import MANAGED_BY, TENANT_LABEL
from .model import Fleet, KubernetesTarget
from .model_gateway_names import K8S_APP
from .model_gateway_specs import (
    GATEWAY_CPUS,
    GATEWAY_MEMORY_MIB,
    RegistryEntry,
    gateway_environment,
    gateway_labels,
    models_document,
    registry_entries,
    render_json,
    secret_environment,
    upstream_of,
)
from .resolved import KubernetesTenant
from .units import cpu_quantity, mib_quantity

KEYS_SECRET = "model-gateway-keys"
REGISTRY_SECRET = "model-gateway-registry"
CONFIG_MAP = "model-gateway-config"
PVC = "model-gateway-ledger"
SERVICE_ACCOUNT = "model-gateway"
LEDGER_GIB = 5
MODELS_KEY = MODEL_GATEWAY_MODELS_PATH.rsplit("/", 1)[-1]
REGISTRY_KEY = MODEL_GATEWAY_REGISTRY_PATH.rsplit("/", 1)[-1]
# Tenant namespaces carry TENANT_LABEL (the tenant's id); the gateway admits exactly those.


@dataclass(frozen=True)
class GatewayManifests:
    """A cluster's gateway objects in apply order, keyed by role (the logical-name suffix)."""

    target: str
    namespace: str
    objects: tuple[tuple[str, Manifest], ...]
    secret_env: Mapping[str, SecretRef]  # master-key Secret key → generated secret it holds
    registry: tuple[RegistryEntry, ...]

    def get(self, role: str) -> Manifest | None:
        return dict(self.objects).get(role)


def _selector() -> dict[str, str]:
    return {"app.kubernetes.io/name": K8S_APP}


def _meta(target_name: str, namespace: str, name: str, labels: Mapping[str, str] | None = None) -> Manifest:
    return {
        "name": name,
        "namespace": namespace,
        "labels": dict(gateway_labels(target_name) if labels is None else labels),
    }


def _namespace(target_name: str, namespace: str) -> Manifest:
    psa = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {**gateway_labels(target_name), **psa}},
    }


def _default_deny(target_name: str, namespace: str) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(target_name, namespace, "default-deny"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def upstream_ports(fleet: Fleet, target: KubernetesTarget) -> list[int]:
    """443, and the port of every upstream the target's models use (an override may name its own)."""
    ports = {443}
    for provider in {m.provider for m in fleet.models.values()}:
        parts = urlsplit(upstream_of(provider, target))
        ports.add(parts.port or (443 if parts.scheme == "https" else 80))
    return sorted(ports)


def _gateway_traffic(fleet: Fleet, target_name: str, target: KubernetesTarget, namespace: str) -> Manifest:
    """In: tenant namespaces only, on the API port. Out: cluster DNS and the upstreams."""
    dns = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": target.dns_namespace}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    upstreams = {"ports": [{"protocol": "TCP", "port": port} for port in upstream_ports(fleet, target)]}
    tenants = {
        "namespaceSelector": {
            "matchLabels": {"app.kubernetes.io/managed-by": MANAGED_BY},
            "matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}],
        }
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(target_name, namespace, "gateway-traffic"),
        "spec": {
            "podSelector": {"matchLabels": _selector()},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [tenants], "ports": [{"protocol": "TCP", "port": MODEL_GATEWAY_PORT}]}],
            "egress": [dns, upstreams],
        },
    }


def _service_account(target_name: str, namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(target_name, namespace, SERVICE_ACCOUNT),
        "automountServiceAccountToken": False,
    }


def _keys_secret(target_name: str, namespace: str, secret_env: Mapping[str, SecretRef]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(target_name, namespace, KEYS_SECRET),
        "type": "Opaque",
        "stringData": {key: REDACTED.format(ref=ref) for key, ref in secret_env.items()},
    }


def _registry_secret(target_name: str, namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(target_name, namespace, REGISTRY_SECRET),
        "type": "Opaque",
        "stringData": {REGISTRY_KEY: REDACTED.format(ref="registry")},
    }


def _config_map(target_name: str, namespace: str, models_config: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(target_name, namespace, CONFIG_MAP),
        "data": {MODELS_KEY: models_config},
    }


def _pvc(target_name: str, target: KubernetesTarget, namespace: str) -> Manifest:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{LEDGER_GIB}Gi"}}}
    if target.storage_class is not None:
        spec["storageClassName"] = target.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(target_name, namespace, PVC),
        "spec": spec,
    }


def _deployment(
    fleet: Fleet, target_name: str, namespace: str, models_config: str, secret_env: Mapping[str, SecretRef]
) -> Manifest:
    """One replica (one writer of the ledger), replaced with Recreate; config changes roll the pod,
    registry changes do not (the gateway re-reads its mounted file)."""
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(gateway_environment().items())]
    # A provider without a configured key has no entry in the Secret.
    env += [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": KEYS_SECRET, "key": key, "optional": True}}}
        for key in sorted(secret_env)
    ]
    uid = MODEL_GATEWAY_UID
    resources = {
        "requests": {"cpu": cpu_quantity(GATEWAY_CPUS / 4), "memory": mib_quantity(GATEWAY_MEMORY_MIB)},
        "limits": {"cpu": cpu_quantity(GATEWAY_CPUS), "memory": mib_quantity(GATEWAY_MEMORY_MIB)},
    }
    pod_spec: dict[str, Any] = {
        **restricted_pod(SERVICE_ACCOUNT, uid, uid),
        "containers": [
            {
                "name": "gateway",
                "image": fleet.images.model_gateway,
                "imagePullPolicy": "IfNotPresent",
                "env": env,
                "ports": [{"name": "http", "containerPort": MODEL_GATEWAY_PORT, "protocol": "TCP"}],
                "resources": resources,
                "securityContext": restricted_container(uid, uid),
                "startupProbe": http_probe("/health/liveliness", 2, 60),
                "readinessProbe": http_probe("/health/readiness", 10, 3),
                "livenessProbe": http_probe("/health/liveliness", 30, 3),
                "volumeMounts": [
                    {"name": "config", "mountPath": MODEL_GATEWAY_CONFIG_DIR, "readOnly": True},
                    {"name": "ledger", "mountPath": MODEL_GATEWAY_DATA_DIR},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        "volumes": [
            # One directory with both files; a projected volume follows Secret updates without a restart.
            {
                "name": "config",
                "projected": {
                    "sources": [
                        {"configMap": {"name": CONFIG_MAP, "items": [{"key": MODELS_KEY, "path": MODELS_KEY}]}},
                        {"secret": {"name": REGISTRY_SECRET, "items": [{"key": REGISTRY_KEY, "path": REGISTRY_KEY}]}},
                    ]
                },
            },
            {"name": "ledger", "persistentVolumeClaim": {"claimName": PVC}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ],
    }
    labels = {**gateway_labels(target_name), **_selector()}
    checksum = hashlib.sha256(models_config.encode()).hexdigest()
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(target_name, namespace, K8S_APP, labels),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _selector()},
            "template": {
                "metadata": {"labels": labels, "annotations": {"openclaw.io/config-checksum": checksum}},
                "spec": pod_spec,
            },
        },
    }


def _service(target_name: str, namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(target_name, namespace, K8S_APP),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(),
            "ports": [{"name": "http", "port": MODEL_GATEWAY_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def gateway_manifests(fleet: Fleet, target_name: str, tenants: Sequence[KubernetesTenant]) -> GatewayManifests:
    """Everything a cluster's model gateway gets, serving exactly the target's active tenants."""
    target = fleet.target_as(target_name, KubernetesTarget)
    namespace = target.model_gateway.namespace
    models_config = render_json(models_document(fleet.models, target))
    secret_env = secret_environment(fleet.models)
    objects: list[tuple[str, Manifest]] = [
        ("namespace", _namespace(target_name, namespace)),
        ("default-deny", _default_deny(target_name, namespace)),
        ("traffic", _gateway_traffic(fleet, target_name, target, namespace)),
        ("service-account", _service_account(target_name, namespace)),
        ("keys", _keys_secret(target_name, namespace, secret_env)),
        ("registry", _registry_secret(target_name, namespace)),
        ("config", _config_map(target_name, namespace, models_config)),
        ("ledger", _pvc(target_name, target, namespace)),
        ("deployment", _deployment(fleet, target_name, namespace, models_config, secret_env)),
        ("service", _service(target_name, namespace)),
    ]
    return GatewayManifests(
        target=target_name,
        namespace=namespace,
        objects=tuple(objects),
        secret_env=secret_env,
        registry=registry_entries(tenants, target_name),
    )
