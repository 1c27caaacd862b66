"""The isolation policy pack (policy/): every rule on hand-built properties, and on the real program."""

from __future__ import annotations

import ast
import copy
import importlib.util
import re
import selectors
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pulumi
import pytest

from harness.paths import ROOT
from harness.program_run import ProgramRun, run_program

POLICY_DIR = ROOT / "policy"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The engine runs policy/ as the program directory, so the pack imports its rules as `rules`.
rules = _load("rules", POLICY_DIR / "rules.py")

CONTAINER = rules.DOCKER_CONTAINER
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DIGEST = "sha256:" + "0123456789abcdef" * 4
SECRETS = {"kimiApiKey": "kimi-key", "clusterEuKubeconfig": "apiVersion: v1\nkind: Config\n"}


def tenant_container(**changes: Any) -> dict[str, Any]:
    """Shaped like the program's gateway container (docker_resources.container)."""
    props: dict[str, Any] = {
        "name": "openclaw-acme",
        "image": "ghcr.io/openclaw/openclaw:2026.9.6",
        "user": "1000:1000",
        "capabilities": {"drops": ["ALL"]},
        "securityOpts": ["no-new-privileges:true"],
        "memory": 2048.0,
        "memorySwap": 2048.0,
        "cpus": "1",
        "ports": [],
        "volumes": [{"volumeName": "openclaw-acme-state", "containerPath": "/home/node/.openclaw"}],
        "networksAdvanced": [{"name": "tenant-acme"}],
        "labels": [
            {"label": "app.kubernetes.io/managed-by", "value": "openclaw-tenants"},
            {"label": "openclaw.io/tenant", "value": "acme"},
        ],
    }
    return {**props, **changes}


def edge_container(**changes: Any) -> dict[str, Any]:
    props = tenant_container(
        name="openclaw-edge-local",
        image="docker.io/library/nginx:1.27.5",
        user="65534:65534",
        memory=512.0,
        volumes=[],
        ports=[{"internal": 8080.0, "external": 8080.0, "ip": "127.0.0.1"}],
        labels=[
            {"label": "openclaw.io/component", "value": "edge"},
            {"label": "openclaw.io/target", "value": "local"},
        ],
    )
    return {**props, **changes}


def gateway_container(**security: Any) -> dict[str, Any]:
    return {
        "name": "gateway",
        "image": "ghcr.io/openclaw/openclaw:2026.9.6",
        "ports": [{"name": "http", "containerPort": 18789.0, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "1000m", "memory": "2Gi"}, "requests": {"cpu": "250m", "memory": "2Gi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000.0,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            **security,
        },
    }


def deployment(pod: dict[str, Any] | None = None, **container_security: Any) -> dict[str, Any]:
    """Shaped like the program's Deployment (k8s_specs.deployment)."""
    spec = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000.0, "fsGroup": 1000.0},
        "containers": [gateway_container(**container_security)],
        "volumes": [
            {"name": "state", "persistentVolumeClaim": {"claimName": "openclaw-state"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ],
        **(pod or {}),
    }
    return {"metadata": {"name": "openclaw", "namespace": "tenant-acme"}, "spec": {"template": {"spec": spec}}}


def pod_spec_of(props: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = props["spec"]["template"]["spec"]
    return spec


# --- compliant resources ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (CONTAINER, tenant_container()),
        (CONTAINER, edge_container()),
        (CONTAINER, edge_container(ports=[{"internal": 8080.0, "external": 80.0, "ip": "203.0.113.10"}])),
        (CONTAINER, edge_container(ports=[{"internal": 8080.0, "external": 80.0, "ip": "::1"}])),
        (DEPLOYMENT, deployment()),
        ("docker:index/remoteImage:RemoteImage", {"name": "docker.io/library/nginx:1.27.5"}),
        ("kubernetes:core/v1:Service", {"spec": {"type": "ClusterIP"}}),
        ("random:index/randomPassword:RandomPassword", {"length": 48.0}),
    ],
)
def test_compliant_resources_pass_every_rule(resource_type: str, props: dict[str, Any]) -> None:
    assert rules.resource_violations(resource_type, props) == {}


def test_every_rule_is_registered_once_with_a_description() -> None:
    names = [r.name for r in rules.RESOURCE_RULES] + [r.name for r in rules.STACK_RULES]
    assert len(names) == len(set(names)) == 10
    assert all(r.description for r in (*rules.RESOURCE_RULES, *rules.STACK_RULES))


# --- run-as-non-root ----------------------------------------------------------------------------


@pytest.mark.parametrize("user", [None, "", "0", "0:0", "root", "root:root", "node"])
def test_docker_container_must_run_as_a_numeric_non_root_uid(user: str | None) -> None:
    props = tenant_container(user=user)
    if user is None:
        del props["user"]
    (message,) = rules.run_as_non_root(CONTAINER, props)
    assert "tenant 'acme' container" in message


@pytest.mark.parametrize("user", ["1000:1000", "65534:65534", "1000", "1000:0"])
def test_docker_non_root_users_pass(user: str) -> None:
    assert rules.run_as_non_root(CONTAINER, tenant_container(user=user)) == []


def test_pod_level_run_as_non_root_covers_containers() -> None:
    props = deployment(runAsNonRoot=None)
    del pod_spec_of(props)["containers"][0]["securityContext"]["runAsNonRoot"]
    assert rules.run_as_non_root(DEPLOYMENT, props) == []


def test_pod_without_run_as_non_root_anywhere_is_refused() -> None:
    props = deployment(pod={"securityContext": {}})
    del pod_spec_of(props)["containers"][0]["securityContext"]["runAsNonRoot"]
    (message,) = rules.run_as_non_root(DEPLOYMENT, props)
    assert message.startswith("containers[0] (gateway): runAsNonRoot is not true")


def test_container_run_as_non_root_false_overrides_the_pod() -> None:
    assert rules.run_as_non_root(DEPLOYMENT, deployment(runAsNonRoot=False))


def test_run_as_user_zero_is_refused_in_pod_and_container() -> None:
    assert rules.run_as_non_root(DEPLOYMENT, deployment(runAsUser=0.0)) == [
        "containers[0] (gateway): securityContext.runAsUser is 0 (root)"
    ]
    pod = deployment(pod={"securityContext": {"runAsNonRoot": True, "runAsUser": 0.0}})
    assert rules.run_as_non_root(DEPLOYMENT, pod) == ["pod securityContext.runAsUser is 0 (root)"]


def test_init_containers_are_judged_too() -> None:
    init = gateway_container(runAsNonRoot=False)
    init["name"] = "setup"
    props = deployment(pod={"initContainers": [init]})
    (message,) = rules.run_as_non_root(DEPLOYMENT, props)
    assert message.startswith("initContainers[0] (setup)")


# --- drop-all-capabilities ----------------------------------------------------------------------


@pytest.mark.parametrize("capabilities", [None, {}, {"drops": []}, {"drops": ["NET_RAW", "SYS_ADMIN"]}])
def test_docker_container_must_drop_all_capabilities(capabilities: dict[str, Any] | None) -> None:
    (message,) = rules.drop_all_capabilities(CONTAINER, tenant_container(capabilities=capabilities))
    assert "capabilities.drops must include ALL" in message


def test_docker_capabilities_added_back_are_refused() -> None:
    props = tenant_container(capabilities={"drops": ["ALL"], "adds": ["NET_ADMIN"]})
    assert rules.drop_all_capabilities(CONTAINER, props) == [
        "tenant 'acme' container adds capabilities back: NET_ADMIN"
    ]


def egress_filter_container(**changes: Any) -> dict[str, Any]:
    props = tenant_container(
        name="openclaw-egress-local",
        image="openclaw-local/egress-filter:1.0.6-1",
        user="0:0",
        capabilities={"drops": ["ALL"], "adds": ["CAP_NET_ADMIN"]},
        networkMode="host",
        volumes=[],
        networksAdvanced=[],
        labels=[
            {"label": "openclaw.io/component", "value": "egress-filter"},
            {"label": "openclaw.io/target", "value": "local"},
        ],
    )
    return {**props, **changes}


def test_the_egress_filter_alone_may_be_root_with_net_admin_on_the_host_network() -> None:
    checks = (rules.run_as_non_root, rules.drop_all_capabilities, rules.no_host_access)
    assert [m for check in checks for m in check(CONTAINER, egress_filter_container())] == []
    tenant = tenant_container(user="0:0", capabilities={"drops": ["ALL"], "adds": ["NET_ADMIN"]}, networkMode="host")
    assert [m for check in checks for m in check(CONTAINER, tenant)] == [
        "tenant 'acme' container runs as root (user '0:0')",
        "tenant 'acme' container adds capabilities back: NET_ADMIN",
        "tenant 'acme' container shares a namespace: networkMode is 'host'",
    ]


def test_the_egress_filter_gets_nothing_beyond_its_grants() -> None:
    more = egress_filter_container(capabilities={"drops": ["ALL"], "adds": ["NET_ADMIN", "SYS_ADMIN"]}, pidMode="host")
    assert rules.drop_all_capabilities(CONTAINER, more) == [
        "egress filter container adds capabilities back: NET_ADMIN, SYS_ADMIN"
    ]
    assert (
        rules.drop_all_capabilities(
            CONTAINER, egress_filter_container(capabilities={"drops": ["ALL"], "adds": ["net_admin"]})
        )
        == []
    )
    assert rules.no_host_access(CONTAINER, more) == ["egress filter container shares a namespace: pidMode is 'host'"]
    labelled_tenant = egress_filter_container(
        labels=[
            {"label": "openclaw.io/component", "value": "egress-filter"},
            {"label": "openclaw.io/tenant", "value": "acme"},
        ]
    )
    assert rules.run_as_non_root(CONTAINER, labelled_tenant) == ["tenant 'acme' container runs as root (user '0:0')"]


def test_drop_all_is_case_insensitive() -> None:
    assert rules.drop_all_capabilities(CONTAINER, tenant_container(capabilities={"drops": ["all"]})) == []


def test_pod_containers_must_drop_all_and_add_none() -> None:
    assert rules.drop_all_capabilities(DEPLOYMENT, deployment(capabilities={"drop": ["NET_RAW"]})) == [
        "containers[0] (gateway): securityContext.capabilities.drop must include ALL"
    ]
    assert rules.drop_all_capabilities(
        DEPLOYMENT, deployment(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})
    )
    assert rules.drop_all_capabilities(DEPLOYMENT, deployment(capabilities=None))


# --- no-privileged-mode -------------------------------------------------------------------------


def test_privileged_docker_container_is_refused() -> None:
    assert rules.no_privileged_mode(CONTAINER, tenant_container(privileged=True)) == [
        "tenant 'acme' container runs privileged"
    ]


@pytest.mark.parametrize("opts", [None, [], ["seccomp=unconfined"], ["no-new-privileges:false"]])
def test_docker_container_needs_no_new_privileges(opts: list[str] | None) -> None:
    (message,) = rules.no_privileged_mode(CONTAINER, tenant_container(securityOpts=opts))
    assert "no-new-privileges:true" in message


@pytest.mark.parametrize("opts", [["no-new-privileges"], ["no-new-privileges=true"], ["no-new-privileges:true"]])
def test_docker_no_new_privileges_spellings(opts: list[str]) -> None:
    assert rules.no_privileged_mode(CONTAINER, tenant_container(securityOpts=opts)) == []


def test_privileged_pod_container_is_refused() -> None:
    assert rules.no_privileged_mode(DEPLOYMENT, deployment(privileged=True)) == [
        "containers[0] (gateway): runs privileged"
    ]


@pytest.mark.parametrize("escalation", [None, True])
def test_pod_container_must_forbid_privilege_escalation(escalation: bool | None) -> None:
    (message,) = rules.no_privileged_mode(DEPLOYMENT, deployment(allowPrivilegeEscalation=escalation))
    assert "allowPrivilegeEscalation must be false" in message


# --- no-host-access -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        ("networkMode", "host"),
        ("networkMode", "container:openclaw-globex"),
        ("pidMode", "host"),
        ("ipcMode", "host"),
        ("usernsMode", "host"),
        ("cgroupnsMode", "host"),
    ],
)
def test_docker_host_and_shared_namespaces_are_refused(key: str, mode: str) -> None:
    assert rules.no_host_access(CONTAINER, tenant_container(**{key: mode})) == [
        f"tenant 'acme' container shares a namespace: {key} is {mode!r}"
    ]


def test_docker_bridge_and_private_modes_pass() -> None:
    props = tenant_container(networkMode="bridge", ipcMode="private", cgroupnsMode="private")
    assert rules.no_host_access(CONTAINER, props) == []


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"volumes": [{"hostPath": "/var/run/docker.sock", "containerPath": "/sock"}]}, "host path '/var/run/docker"),
        ({"volumes": [{"fromContainer": "openclaw-globex"}]}, "volumes of container 'openclaw-globex'"),
        ({"mounts": [{"type": "bind", "source": "/etc", "target": "/host-etc"}]}, "bind-mounts the host path '/etc'"),
        ({"devices": [{"hostPath": "/dev/kvm"}]}, "host device '/dev/kvm'"),
    ],
)
def test_docker_host_paths_devices_and_foreign_volumes_are_refused(changes: dict[str, Any], fragment: str) -> None:
    (message,) = rules.no_host_access(CONTAINER, tenant_container(**changes))
    assert fragment in message


def test_docker_volume_and_tmpfs_mounts_pass() -> None:
    mounts = [{"type": "volume", "source": "data", "target": "/data"}, {"type": "tmpfs", "target": "/run"}]
    assert rules.no_host_access(CONTAINER, tenant_container(mounts=mounts)) == []


@pytest.mark.parametrize("key", ["hostNetwork", "hostPID", "hostIPC"])
def test_pod_host_namespaces_are_refused(key: str) -> None:
    assert rules.no_host_access(DEPLOYMENT, deployment(pod={key: True})) == [f"pod spec sets {key}: true"]


def test_pod_host_path_volume_and_host_port_are_refused() -> None:
    props = deployment(pod={"volumes": [{"name": "root", "hostPath": {"path": "/"}}]})
    assert rules.no_host_access(DEPLOYMENT, props) == ["volume 'root' mounts the host path '/'"]
    props = deployment()
    pod_spec_of(props)["containers"][0]["ports"][0]["hostPort"] = 18789.0
    assert rules.no_host_access(DEPLOYMENT, props) == ["containers[0] (gateway): binds host port 18789.0"]


# --- resource-limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"memory": None}, "no memory limit"),
        ({"memory": 0.0}, "no memory limit"),
        ({"cpus": None}, "no CPU limit"),
        ({"cpus": ""}, "no CPU limit"),
        ({"cpus": "0"}, "no CPU limit"),
        ({"cpus": "many"}, "no CPU limit"),
    ],
)
def test_docker_container_needs_memory_and_cpu_limits(changes: dict[str, Any], fragment: str) -> None:
    (message,) = rules.resource_limits(CONTAINER, tenant_container(**changes))
    assert fragment in message


def test_docker_fractional_cpus_pass() -> None:
    assert rules.resource_limits(CONTAINER, tenant_container(cpus="0.5", memory=512)) == []


@pytest.mark.parametrize(("quota", "ok"), [(150_000, True), (0, False), (None, False)])
def test_a_cpu_quota_is_a_cpu_limit(quota: int | None, ok: bool) -> None:
    """The program caps CPUs with a CFS quota (Docker refuses `cpus` above the host's cores)."""
    found = rules.resource_limits(CONTAINER, tenant_container(cpus=None, cpuQuota=quota, cpuPeriod=100_000))
    assert (found == []) is ok


@pytest.mark.parametrize(
    ("missing", "expected"), [(("cpu",), "cpu"), (("memory",), "memory"), (("cpu", "memory"), "cpu or memory")]
)
def test_pod_containers_need_cpu_and_memory_limits(missing: tuple[str, ...], expected: str) -> None:
    props = deployment()
    for kind in missing:
        del pod_spec_of(props)["containers"][0]["resources"]["limits"][kind]
    assert rules.resource_limits(DEPLOYMENT, props) == [
        f"containers[0] (gateway): no {expected} limit in resources.limits"
    ]


def test_init_containers_need_limits_and_ephemeral_ones_cannot_have_them() -> None:
    bare = {"name": "debug", "image": "busybox:1.36.1"}
    assert rules.resource_limits(DEPLOYMENT, deployment(pod={"initContainers": [bare]}))
    assert rules.resource_limits(DEPLOYMENT, deployment(pod={"ephemeralContainers": [bare]})) == []


# --- pinned-images ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/openclaw/openclaw:2026.9.6",
        "docker.io/library/nginx:1.27.5",
        "repo:1.2.3",
        "repo:v1.2.3",
        "nginx:1.27.5-alpine",
        "localhost:5000/team/app:1.2.3-rc.1",
        f"repo@{DIGEST}",
        f"ghcr.io/openclaw/openclaw:2026.9.6@{DIGEST}",
        DIGEST,
    ],
)
def test_pinned_images_pass(image: str) -> None:
    assert rules.image_problem(image) is None
    assert rules.pinned_images(CONTAINER, tenant_container(image=image)) == []


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ("nginx", "has no tag"),
        ("ghcr.io/openclaw/openclaw", "has no tag"),
        ("localhost:5000/nginx", "has no tag"),
        ("nginx:latest", "moving tag 'latest'"),
        ("nginx:LATEST", "moving tag 'latest'"),
        ("nginx:1.27", "not an exact version"),
        ("nginx:1", "not an exact version"),
        ("nginx:stable", "not an exact version"),
        ("nginx:mainline-alpine", "not an exact version"),
        ("repo@sha256:abc", "malformed digest"),
        ("", "has no image"),
        (None, "has no image"),
    ],
)
def test_unpinned_images_are_refused(image: str | None, fragment: str) -> None:
    problem = rules.image_problem(image)
    assert problem is not None and fragment in problem
    assert rules.pinned_images(CONTAINER, tenant_container(image=image)) == [f"tenant 'acme' container: {problem}"]


def test_remote_images_and_pod_images_are_judged() -> None:
    assert rules.pinned_images("docker:index/remoteImage:RemoteImage", {"name": "nginx:latest"})
    props = deployment()
    pod_spec_of(props)["containers"][0]["image"] = "ghcr.io/openclaw/openclaw"
    (message,) = rules.pinned_images(DEPLOYMENT, props)
    assert message.startswith("containers[0] (gateway): image 'ghcr.io/openclaw/openclaw' has no tag")


# --- no-public-ports ----------------------------------------------------------------------------


def test_tenant_container_publishes_no_port_even_on_loopback() -> None:
    props = tenant_container(ports=[{"internal": 18789.0, "external": 18789.0, "ip": "127.0.0.1"}])
    assert rules.no_public_ports(CONTAINER, props) == [
        "tenant 'acme' container publishes ports; only the edge proxy may, and tenants are reached through it"
    ]


def test_a_container_claiming_both_tenant_and_edge_is_a_tenant() -> None:
    props = tenant_container(
        labels=[
            {"label": "openclaw.io/tenant", "value": "acme"},
            {"label": "openclaw.io/component", "value": "edge"},
        ],
        ports=[{"internal": 1.0, "external": 1.0, "ip": "127.0.0.1"}],
    )
    assert not rules.is_edge_proxy(props)
    assert rules.no_public_ports(CONTAINER, props)


def test_unlabelled_container_publishes_no_port() -> None:
    props = edge_container(name="stray", labels=[])
    (message,) = rules.no_public_ports(CONTAINER, props)
    assert message.startswith("container 'stray' publishes ports")


@pytest.mark.parametrize(
    ("port", "fragment"),
    [
        ({"internal": 8080.0, "external": 80.0, "ip": "0.0.0.0"}, "on 0.0.0.0, every host address"),
        ({"internal": 8080.0, "external": 80.0, "ip": "::"}, "on ::, every host address"),
        ({"internal": 8080.0, "external": 80.0, "ip": "[::]"}, "on [::], every host address"),
        ({"internal": 8080.0, "external": 80.0, "ip": ""}, "without an ip"),
        ({"internal": 8080.0, "external": 80.0}, "without an ip"),
        ({"internal": 8080.0, "external": 80.0, "ip": "localhost"}, "not an IP address"),
    ],
)
def test_edge_proxy_publishes_only_on_an_explicit_address(port: dict[str, Any], fragment: str) -> None:
    (message,) = rules.no_public_ports(CONTAINER, edge_container(ports=[port]))
    assert message.startswith("edge proxy container publishes port 80.0->8080.0")
    assert fragment in message


def test_publish_all_ports_is_refused() -> None:
    (message,) = rules.no_public_ports(CONTAINER, edge_container(publishAllPorts=True))
    assert "publishAllPorts" in message


def test_ports_rule_is_about_docker_only() -> None:
    assert rules.no_public_ports(DEPLOYMENT, deployment()) == []


# --- other workload kinds -----------------------------------------------------------------------


def test_every_workload_kind_is_found() -> None:
    bad = {"name": "x", "image": "nginx", "securityContext": {"privileged": True}}
    pod = {"containers": [bad]}
    shapes = {
        "kubernetes:core/v1:Pod": {"spec": pod},
        "kubernetes:apps/v1:StatefulSet": {"spec": {"template": {"spec": pod}}},
        "kubernetes:apps/v1:DaemonSet": {"spec": {"template": {"spec": pod}}},
        "kubernetes:batch/v1:Job": {"spec": {"template": {"spec": pod}}},
        "kubernetes:batch/v1:CronJob": {"spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}},
        "kubernetes:core/v1:PodTemplate": {"template": {"spec": pod}},
    }
    for resource_type, props in shapes.items():
        found = rules.resource_violations(resource_type, props)
        assert set(found) == {
            "run-as-non-root",
            "drop-all-capabilities",
            "no-privileged-mode",
            "resource-limits",
            "pinned-images",
        }, resource_type


def test_workload_without_a_pod_spec_yields_nothing() -> None:
    assert rules.resource_violations(DEPLOYMENT, {"metadata": {"name": "empty"}}) == {}


# --- tenant-namespace-guardrails ----------------------------------------------------------------


def namespace(name: str, tenant: str | None = None, urn: str | None = None) -> Any:
    labels_ = {"openclaw.io/tenant": tenant} if tenant else {}
    return rules.StackResource(
        rules.NAMESPACE, {"metadata": {"name": name, "labels": labels_}}, urn or f"urn:ns:{name}"
    )


def quota(ns: str) -> Any:
    props = {"metadata": {"name": "tenant-quota", "namespace": ns}, "spec": {"hard": {"limits.cpu": "2000m"}}}
    return rules.StackResource(rules.RESOURCE_QUOTA, props, f"urn:quota:{ns}")


def limit_range(ns: str) -> Any:
    props = {"metadata": {"name": "tenant-limits", "namespace": ns}, "spec": {"limits": [{"type": "Container"}]}}
    return rules.StackResource(rules.LIMIT_RANGE, props, f"urn:limits:{ns}")


def network_policy(ns: str, **spec: Any) -> Any:
    body = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], **spec}
    props = {"metadata": {"name": "default-deny", "namespace": ns}, "spec": body}
    return rules.StackResource(rules.NETWORK_POLICY, props, f"urn:netpol:{ns}")


def guarded(ns: str, tenant: str) -> list[Any]:
    return [namespace(ns, tenant), quota(ns), limit_range(ns), network_policy(ns)]


def test_guarded_tenant_namespaces_pass() -> None:
    resources = [*guarded("tenant-acme", "acme"), *guarded("tenant-globex", "globex"), namespace("ingress-nginx")]
    assert rules.tenant_namespace_guardrails(resources) == []


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        (1, "a ResourceQuota with spec.hard"),
        (2, "a LimitRange with spec.limits"),
        (3, "a default-deny NetworkPolicy"),
    ],
)
def test_each_missing_guardrail_is_reported_on_the_namespace(drop: int, missing: str) -> None:
    resources = guarded("tenant-acme", "acme")
    del resources[drop]
    (violation,) = rules.tenant_namespace_guardrails(resources)
    assert violation.urn == "urn:ns:tenant-acme"
    assert violation.message.startswith(f"tenant namespace 'tenant-acme' lacks {missing}")


def test_guardrails_in_another_namespace_do_not_count() -> None:
    resources = [namespace("tenant-acme", "acme"), quota("tenant-globex"), limit_range("default"), network_policy("x")]
    (violation,) = rules.tenant_namespace_guardrails(resources)
    assert violation.message.count("; ") == 2


def test_empty_quota_and_limit_range_do_not_count() -> None:
    empty_quota = rules.StackResource(rules.RESOURCE_QUOTA, {"metadata": {"namespace": "tenant-acme"}, "spec": {}}, "q")
    empty_limits = rules.StackResource(rules.LIMIT_RANGE, {"metadata": {"namespace": "tenant-acme"}}, "l")
    resources = [namespace("tenant-acme", "acme"), empty_quota, empty_limits, network_policy("tenant-acme")]
    (violation,) = rules.tenant_namespace_guardrails(resources)
    assert "ResourceQuota" in violation.message and "LimitRange" in violation.message


@pytest.mark.parametrize(
    "spec",
    [
        {"podSelector": {"matchLabels": {"app": "openclaw"}}},
        {"podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
        {"podSelector": None},
        {"policyTypes": ["Ingress"]},
        {"ingress": [{"from": [{"namespaceSelector": {}}]}]},
        {"egress": [{}]},
    ],
)
def test_a_network_policy_that_lets_something_through_is_not_default_deny(spec: dict[str, Any]) -> None:
    policy = network_policy("tenant-acme", **spec)
    assert not rules.is_default_deny(policy.props)
    resources = [namespace("tenant-acme", "acme"), quota("tenant-acme"), limit_range("tenant-acme"), policy]
    (violation,) = rules.tenant_namespace_guardrails(resources)
    assert "default-deny NetworkPolicy" in violation.message


def test_default_deny_may_sit_beside_allow_policies() -> None:
    allow = network_policy("tenant-acme", ingress=[{"from": [{"namespaceSelector": {}}]}])
    assert rules.tenant_namespace_guardrails([*guarded("tenant-acme", "acme"), allow]) == []


def test_tenant_namespaces_are_found_by_label_or_by_name() -> None:
    by_label = namespace("customer-acme", "acme")
    by_name = namespace("tenant-globex")
    found = rules.tenant_namespace_guardrails([by_label, by_name, namespace("kube-system")])
    assert [v.urn for v in found] == ["urn:ns:customer-acme", "urn:ns:tenant-globex"]


def test_labelled_namespace_without_a_name_is_reported() -> None:
    nameless = rules.StackResource(rules.NAMESPACE, {"metadata": {"labels": {"openclaw.io/tenant": "x"}}}, "urn:x")
    assert rules.tenant_namespace_guardrails([nameless]) == [
        rules.Violation("tenant namespace has no metadata.name to hold its guardrails", "urn:x")
    ]


# --- unique-ingress-hosts -----------------------------------------------------------------------


def ingress(ns: str, *hosts: str | None, urn: str | None = None, **spec: Any) -> Any:
    rules_ = [{"host": h} if h is not None else {"http": {}} for h in hosts]
    props = {"metadata": {"name": "openclaw", "namespace": ns}, "spec": {"rules": rules_, **spec}}
    return rules.StackResource("kubernetes:networking.k8s.io/v1:Ingress", props, urn or f"urn:ing:{ns}")


def test_distinct_hosts_pass() -> None:
    resources = [ingress("tenant-acme", "acme.example.com"), ingress("tenant-globex", "globex.example.com")]
    assert rules.unique_ingress_hosts(resources) == []


def test_a_host_claimed_by_two_tenants_is_reported_on_both() -> None:
    resources = [ingress("tenant-acme", "acme.example.com"), ingress("tenant-evil", "ACME.example.com")]
    assert rules.unique_ingress_hosts(resources) == [
        rules.Violation(
            "host 'acme.example.com' of namespace 'tenant-acme' is also claimed in namespace tenant-evil",
            "urn:ing:tenant-acme",
        ),
        rules.Violation(
            "host 'acme.example.com' of namespace 'tenant-evil' is also claimed in namespace tenant-acme",
            "urn:ing:tenant-evil",
        ),
    ]


def test_one_tenant_may_split_its_host_over_two_ingresses() -> None:
    resources = [
        ingress("tenant-acme", "acme.example.com", urn="a"),
        ingress("tenant-acme", "acme.example.com", urn="b"),
    ]
    assert rules.unique_ingress_hosts(resources) == []


def test_catch_all_rules_and_default_backends_are_refused() -> None:
    assert rules.unique_ingress_hosts([ingress("tenant-acme", None)]) == [
        rules.Violation("rules[0] has no host and so matches every host name", "urn:ing:tenant-acme")
    ]
    (wildcard,) = rules.unique_ingress_hosts([ingress("tenant-acme", "*.example.com")])
    assert "wildcard" in wildcard.message
    backend = {"service": {"name": "openclaw", "port": {"number": 18789}}}
    (default,) = rules.unique_ingress_hosts([ingress("tenant-acme", "acme.example.com", defaultBackend=backend)])
    assert "default backend" in default.message


def test_stack_violations_names_the_rules() -> None:
    resources = [namespace("tenant-acme", "acme"), ingress("tenant-acme", None)]
    assert set(rules.stack_violations(resources)) == {"tenant-namespace-guardrails", "unique-ingress-hosts"}


# --- the real program satisfies its own policies ------------------------------------------------


def violations_of(run: ProgramRun) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for r in run.resources:
        for rule, messages in rules.resource_violations(r.type, r.inputs).items():
            found[f"{r.name}: {rule}"] = messages
    stack = [rules.StackResource(r.type, r.inputs, r.urn) for r in run.resources]
    found.update(rules.stack_violations(stack))
    return found


@pytest.fixture(scope="module")
def whole_fleet() -> ProgramRun:
    return run_program(ROOT / "tenants.yaml", secrets=SECRETS)


def test_the_example_fleet_violates_no_policy(whole_fleet: ProgramRun) -> None:
    types = {r.type for r in whole_fleet.resources}
    # The run exercises every kind the rules judge, so "no violations" is not vacuous.
    assert {CONTAINER, DEPLOYMENT, rules.NAMESPACE, rules.RESOURCE_QUOTA, rules.LIMIT_RANGE} <= types
    assert {rules.NETWORK_POLICY, "kubernetes:networking.k8s.io/v1:Ingress"} <= types
    # three active tenants, the edge proxy, the model gateway, the egress filter, the disk and backup agents
    assert len(whole_fleet.of_type(CONTAINER)) == 8
    assert violations_of(whole_fleet) == {}


@pytest.mark.parametrize("shard", ["default", "k8s-example"])
def test_each_stack_of_the_example_fleet_violates_no_policy(shard: str) -> None:
    assert violations_of(run_program(ROOT / "tenants.yaml", config={"shard": shard}, secrets=SECRETS)) == {}


def test_offboarded_tenants_keep_their_namespace_guardrails(tmp_path: Path) -> None:
    fleet = (ROOT / "tenants.yaml").read_text().replace("state: suspended", "state: offboarded")
    (tmp_path / "tenants.yaml").write_text(fleet)
    run = run_program(tmp_path / "tenants.yaml", secrets=SECRETS)
    assert violations_of(run) == {}


def test_an_edge_on_every_address_never_reaches_the_engine() -> None:
    """The program refuses edgeAddress 0.0.0.0 before any resource exists; the policy is the second line."""
    with pytest.raises(pulumi.RunError, match=re.escape("openclaw-tenants:edgeAddress: '0.0.0.0' publishes on")):
        run_program(ROOT / "tenants.yaml", config={"shard": "default", "edgeAddress": "0.0.0.0"}, secrets=SECRETS)


# --- the pack itself: the real pulumi_policy API around the rules -------------------------------


@pytest.fixture(scope="module")
def pack() -> ModuleType:
    pytest.importorskip("pulumi_policy", reason="pulumi-policy is not installed (pip install pulumi-policy)")
    return _load("openclaw_policy_pack", POLICY_DIR / "__main__.py")


Reports = list[tuple[str, str | None]]


def reporter() -> tuple[Reports, Callable[..., None]]:
    reports: Reports = []

    def report_violation(message: str, urn: str | None = None) -> None:
        reports.append((message, urn))

    return reports, report_violation


def engine_props(props: dict[str, Any]) -> Any:
    """Properties as the SDK hands them to a policy: proxies that raise on unknown values."""
    from pulumi_policy.proxy import unknown_checking_proxy

    return unknown_checking_proxy(copy.deepcopy(props))


def validate_resource(pack: ModuleType, resource_type: str, props: dict[str, Any], urn: str = "urn:r") -> Reports:
    from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

    reports, report = reporter()
    for policy in pack.POLICIES:
        if isinstance(policy, ResourceValidationPolicy):
            args = ResourceValidationArgs(resource_type, engine_props(props), urn, "name", None, None)
            policy.validate(args, report)
    return reports


def validate_stack(pack: ModuleType, resources: list[tuple[str, dict[str, Any], str]]) -> Reports:
    from pulumi_policy import PolicyResource, StackValidationArgs, StackValidationPolicy

    stack = [PolicyResource(t, engine_props(p), urn, urn, None, None, None, [], {}) for t, p, urn in resources]
    reports, report = reporter()
    for policy in pack.POLICIES:
        if isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(stack), report)
    return reports


def test_pack_has_one_policy_per_rule_and_is_mandatory(pack: ModuleType) -> None:
    from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

    resource = [p.name for p in pack.POLICIES if isinstance(p, ResourceValidationPolicy)]
    stack = [p.name for p in pack.POLICIES if isinstance(p, StackValidationPolicy)]
    assert resource == [r.name for r in rules.RESOURCE_RULES]
    assert stack == [r.name for r in rules.STACK_RULES]
    assert pack.PACK_NAME == "openclaw-tenants-isolation"
    # The PolicyPack call (which serves forever, so only under __main__) is mandatory for every policy.
    (call,) = [
        node
        for node in ast.walk(ast.parse((POLICY_DIR / "__main__.py").read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "PolicyPack"
    ]
    keywords = {k.arg: ast.unparse(k.value) for k in call.keywords}
    assert keywords == {"name": "PACK_NAME", "enforcement_level": "EnforcementLevel.MANDATORY", "policies": "POLICIES"}


def test_pack_reports_resource_violations_through_the_sdk(pack: ModuleType) -> None:
    assert validate_resource(pack, CONTAINER, tenant_container()) == []
    bad = tenant_container(
        user="0:0", image="nginx:latest", ports=[{"internal": 1.0, "external": 1.0, "ip": "0.0.0.0"}]
    )
    messages = [m for m, _ in validate_resource(pack, CONTAINER, bad)]
    assert "tenant 'acme' container runs as root (user '0:0')" in messages
    assert any("moving tag 'latest'" in m for m in messages)
    assert sum("publishes" in m for m in messages) == 2


def test_pack_reports_stack_violations_on_the_resource(pack: ModuleType) -> None:
    resources = [(r.resource_type, r.props, r.urn) for r in guarded("tenant-acme", "acme")]
    assert validate_stack(pack, resources) == []
    assert validate_stack(pack, resources[:3]) == [
        (
            "tenant namespace 'tenant-acme' lacks a default-deny NetworkPolicy "
            "(podSelector {}, Ingress and Egress, no rules)",
            "urn:ns:tenant-acme",
        )
    ]


def test_pack_passes_the_whole_example_fleet_as_the_engine_would(pack: ModuleType, whole_fleet: ProgramRun) -> None:
    for r in whole_fleet.resources:
        assert validate_resource(pack, r.type, r.inputs, r.urn) == [], r.name
    assert validate_stack(pack, [(r.type, r.inputs, r.urn) for r in whole_fleet.resources]) == []


def test_an_unknown_value_stops_only_the_rule_that_reads_it(pack: ModuleType) -> None:
    """During a preview the image may be unknown: only pinned-images cannot run (the engine reports
    that as advisory and runs it again at `up`); every other rule still judges the container."""
    from pulumi_policy import ResourceValidationArgs
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

    props = tenant_container(image=UNKNOWN_STRING_VALUE, user="0")
    outcome: dict[str, Any] = {}
    for policy in pack.POLICIES[: len(rules.RESOURCE_RULES)]:
        reports, report = reporter()
        args = ResourceValidationArgs(CONTAINER, engine_props(props), "urn:r", "r", None, None)
        try:
            policy.validate(args, report)
            outcome[policy.name] = [m for m, _ in reports]
        except UnknownValueError:
            outcome[policy.name] = "unknown"
    assert outcome.pop("pinned-images") == "unknown"
    assert outcome.pop("run-as-non-root") == ["tenant 'acme' container runs as root (user '0')"]
    assert all(v == [] for v in outcome.values()), outcome


# --- the pack as the engine runs it -------------------------------------------------------------


@pytest.fixture(scope="module")
def served_pack() -> Iterator[Any]:
    """The pack started the way the engine starts it: `python -m pulumi.policy <engine> .` in policy/
    (the pulumi-analyzer-policy-python shim), which prints its gRPC port and serves until stopped."""
    pytest.importorskip("pulumi_policy", reason="pulumi-policy is not installed (pip install pulumi-policy)")
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=POLICY_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=60)
        port = proc.stdout.readline().strip() if ready else ""
        assert port.isdigit(), (
            f"the pack did not start: {port!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def struct(props: dict[str, Any]) -> Any:
    from google.protobuf import struct_pb2

    message = struct_pb2.Struct()
    message.update(props)
    return message


def test_served_pack_lists_every_rule_as_mandatory(served_pack: Any) -> None:
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2

    info = served_pack.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "openclaw-tenants-isolation"
    expected = [r.name for r in (*rules.RESOURCE_RULES, *rules.STACK_RULES)]
    assert [p.name for p in info.policies] == expected
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


def test_served_pack_judges_resources_and_stacks(served_pack: Any) -> None:
    from pulumi.runtime.proto import analyzer_pb2

    good = served_pack.Analyze(
        analyzer_pb2.AnalyzeRequest(type=CONTAINER, properties=struct(tenant_container()), urn="urn:c", name="c")
    )
    assert list(good.diagnostics) == []
    bad = tenant_container(user="0:0", privileged=True)
    found = served_pack.Analyze(
        analyzer_pb2.AnalyzeRequest(type=CONTAINER, properties=struct(bad), urn="urn:c", name="c")
    )
    assert sorted(d.policyName for d in found.diagnostics) == ["no-privileged-mode", "run-as-non-root"]
    assert all(d.enforcementLevel == analyzer_pb2.MANDATORY for d in found.diagnostics)

    resources = [
        analyzer_pb2.AnalyzerResource(type=r.resource_type, properties=struct(r.props), urn=r.urn, name=r.urn)
        for r in guarded("tenant-acme", "acme")[:2]
    ]
    (missing,) = served_pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources)).diagnostics
    assert missing.policyName == "tenant-namespace-guardrails"
    assert missing.urn == "urn:ns:tenant-acme"
    assert "lacks a LimitRange with spec.limits; a default-deny NetworkPolicy" in missing.message


# --- no provider key in any tenant ---------------------------------------------------------------


def test_the_rules_know_every_provider_key_variable() -> None:
    from tenants.catalog import PROVIDER_UPSTREAMS
    from tenants.openclaw import PROVIDER_KEY_ENVS

    assert {u["key_env"] for u in PROVIDER_UPSTREAMS.values()} | set(PROVIDER_KEY_ENVS) == rules.PROVIDER_KEY_NAMES


def test_a_tenant_container_with_a_provider_key_is_refused() -> None:
    ok = tenant_container(envs=["OPENCLAW_GATEWAY_TOKEN=t", "OPENCLAW_MODEL_KEY=k"])
    assert rules.no_provider_keys_in_tenants(CONTAINER, ok) == []
    bad = tenant_container(envs=["OPENCLAW_GATEWAY_TOKEN=t", "MOONSHOT_API_KEY=sk-1", "OPENAI_API_KEY=sk-2"])
    assert rules.no_provider_keys_in_tenants(CONTAINER, bad) == [
        "tenant 'acme' container has provider key variable MOONSHOT_API_KEY",
        "tenant 'acme' container has provider key variable OPENAI_API_KEY",
    ]


def test_the_model_gateway_container_may_hold_the_keys() -> None:
    gateway = tenant_container(
        name="openclaw-models-local",
        envs=["KIMI_API_KEY=sk-1"],
        labels=[{"label": "openclaw.io/component", "value": "model-gateway"}],
    )
    assert rules.no_provider_keys_in_tenants(CONTAINER, gateway) == []


def test_a_tenant_secret_or_pod_with_a_provider_key_is_refused() -> None:
    secret = {
        "metadata": {"name": "openclaw-secrets", "namespace": "tenant-hooli"},
        "stringData": {"KIMI_API_KEY": "x"},
    }
    assert rules.no_provider_keys_in_tenants(rules.SECRET, secret) == [
        "Secret 'openclaw-secrets' of a tenant holds provider key KIMI_API_KEY"
    ]
    platform = {**secret, "metadata": {"name": "model-gateway-keys", "namespace": "openclaw-models"}}
    assert rules.no_provider_keys_in_tenants(rules.SECRET, platform) == []
    env = [{"name": "ANTHROPIC_API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    pod = {
        "metadata": {"name": "openclaw", "namespace": "tenant-hooli"},
        "spec": {"template": {"spec": {"containers": [{"name": "gateway", "env": env}]}}},
    }
    assert rules.no_provider_keys_in_tenants(DEPLOYMENT, pod) == [
        "containers[0] (gateway) of a tenant has provider key variable ANTHROPIC_API_KEY"
    ]
