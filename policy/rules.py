"""The isolation invariants of openclaw-tenants, as plain functions over what the engine sees.

A resource check takes a resource type token and the resource's input properties (camelCase, as the
Pulumi engine hands them to a policy pack) and returns violation messages; an empty list means the
resource complies. A stack check takes every resource of the stack and returns `Violation`s, each
naming the resource it is about. The policy pack (`__main__.py`) only wraps these functions, and the
tests call them with hand-built properties.

Properties arrive as mappings and sequences (the policy SDK's proxies, not dict and list), and
reading a value that is unknown during a preview raises the SDK's UnknownValueError: checks read
only the properties they judge, so an unknown value elsewhere never stops them.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

Props = Mapping[str, Any]
Containers = list[tuple[str, Props]]  # (`containers[0] (gateway)`, container) of one pod spec

DOCKER_CONTAINER = "docker:index/container:Container"
DOCKER_REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
NAMESPACE = "kubernetes:core/v1:Namespace"
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SECRET = "kubernetes:core/v1:Secret"
INGRESS_TYPES = frozenset(
    {
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:networking.k8s.io/v1beta1:Ingress",
        "kubernetes:extensions/v1beta1:Ingress",
    }
)

# The pack runs without the program's packages: these copy tenants/labels.py (a unit test holds them equal).
TENANT_LABEL = "openclaw.io/tenant"
COMPONENT_LABEL = "openclaw.io/component"
EDGE_COMPONENT = "edge"
# The platform containers allowed more than a tenant, each exactly what its job needs and nothing else:
# - the egress filter: the host's network namespace, as root with CAP_NET_ADMIN alone (it owns the host's
#   nftables egress table; no ports, volumes, devices or other namespaces);
# - the disk agent: CAP_SYS_ADMIN, SYS_PTRACE, SYS_CHROOT, CHOWN, FOWNER and DAC_OVERRIDE, loop devices, no
#   AppArmor or SELinux confinement, in the host's process namespace, binding its disk root (it loop-mounts
#   tenant disks in the daemon's mount namespace, where the daemon's volume binds see them);
# - the backup agent: root on the host network with the daemon's socket and a local repository bound (it
#   stops a gateway for a consistent snapshot and runs short-lived restic workers).
EGRESS_FILTER_COMPONENT = "egress-filter"
STORAGE_COMPONENT = "storage"
BACKUP_COMPONENT = "backup"
PLATFORM_GRANTS: Mapping[str, Mapping[str, object]] = {
    EGRESS_FILTER_COMPONENT: {"user": "0:0", "adds": ("NET_ADMIN",), "networkMode": "host"},
    STORAGE_COMPONENT: {
        "user": "0:0",
        "adds": ("SYS_ADMIN", "SYS_PTRACE", "SYS_CHROOT", "CHOWN", "FOWNER", "DAC_OVERRIDE"),
        "pidMode": "host",
        "hostPaths": 1,
        "deviceCgroupRules": ("b 7:* rwm", "c 10:237 rwm"),
        "unconfined": ("apparmor=unconfined", "label=disable"),
    },
    BACKUP_COMPONENT: {"user": "0:0", "networkMode": "host", "hostPaths": 2},
}
TENANT_NAMESPACE_PREFIX = "tenant-"

# Where each Kubernetes workload kind keeps its pod spec (Patch and List kinds are not judged).
POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
HOST_NAMESPACE_MODES = ("networkMode", "pidMode", "ipcMode", "usernsMode", "cgroupnsMode")
# Variables a provider's master key travels in (the model gateway's, and those OpenClaw's provider
# plugins read). Only the model gateway may hold one; a tenant reaches its models with a virtual key.
PROVIDER_KEY_NAMES = frozenset(
    {"KIMI_API_KEY", "MOONSHOT_API_KEY", "MINIMAX_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"}
)


class StackResource(NamedTuple):
    """One resource of the stack, as a stack check sees it."""

    resource_type: str
    props: Props
    urn: str = ""


class Violation(NamedTuple):
    message: str
    urn: str | None = None


# --- reading properties ------------------------------------------------------------------------


def _map(value: Any) -> Props:
    return value if isinstance(value, Mapping) else {}


def _seq(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str | bytes) else ()


def _path(props: Props, path: Sequence[str]) -> Props:
    node = props
    for key in path:
        node = _map(node.get(key))
    return node


def docker_labels(props: Props) -> dict[str, str]:
    """A Docker resource's labels ([{label, value}, ...]) as a dict."""
    return {str(item.get("label")): str(item.get("value")) for item in map(_map, _seq(props.get("labels")))}


def is_edge_proxy(props: Props) -> bool:
    labels = docker_labels(props)
    return labels.get(COMPONENT_LABEL) == EDGE_COMPONENT and TENANT_LABEL not in labels


def platform_component(props: Props) -> str | None:
    """The platform piece a Docker container is (never a tenant's), if it is one of PLATFORM_GRANTS."""
    labels = docker_labels(props)
    component = labels.get(COMPONENT_LABEL)
    return component if component in PLATFORM_GRANTS and TENANT_LABEL not in labels else None


def is_egress_filter(props: Props) -> bool:
    return platform_component(props) == EGRESS_FILTER_COMPONENT


def _granted(props: Props, key: str, value: object) -> bool:
    """Whether ``value`` of ``key`` is exactly what the container's platform role is granted (for it alone)."""
    component = platform_component(props)
    return component is not None and key in PLATFORM_GRANTS[component] and PLATFORM_GRANTS[component][key] == value


def _host_paths_granted(props: Props) -> bool:
    """A disk or backup agent binds at most its granted number of host paths."""
    component = platform_component(props)
    limit = PLATFORM_GRANTS[component].get("hostPaths") if component else None
    paths = [v for v in map(_map, _seq(props.get("volumes"))) if v.get("hostPath")]
    return isinstance(limit, int) and len(paths) <= limit


def docker_who(props: Props) -> str:
    labels = docker_labels(props)
    if TENANT_LABEL in labels:
        return f"tenant {labels[TENANT_LABEL]!r} container"
    if is_edge_proxy(props):
        return "edge proxy container"
    component = platform_component(props)
    if component is not None:
        return f"{component} agent container" if component != EGRESS_FILTER_COMPONENT else "egress filter container"
    return f"container {props.get('name')!r}"


def pod_spec(resource_type: str, props: Props) -> Props | None:
    """The pod spec of a Kubernetes workload; None for anything else."""
    if not resource_type.startswith("kubernetes:"):
        return None
    path = POD_SPEC_PATHS.get(resource_type.rsplit(":", 1)[-1])
    return None if path is None else _path(props, path)


def pod_containers(spec: Props, lists: Sequence[str] = CONTAINER_LISTS) -> Iterator[tuple[str, Props]]:
    """(`containers[0] (gateway)`, container) for every container of a pod spec."""
    for key in lists:
        for index, container in enumerate(map(_map, _seq(spec.get(key)))):
            yield f"{key}[{index}] ({container.get('name', '?')})", container


def _workload(resource_type: str, props: Props) -> tuple[Props, Containers] | None:
    spec = pod_spec(resource_type, props)
    return None if spec is None else (spec, list(pod_containers(spec)))


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


# --- images ------------------------------------------------------------------------------------

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")
# An exact release: three numeric parts (1.27.5, 2026.9.6, v1.2.3), optionally with a suffix
# (1.27.5-alpine, 1.2.3-rc.1). `1.27`, `1`, `stable` and `latest` move and are refused.
EXACT_VERSION_TAG = re.compile(r"^v?\d+\.\d+\.\d+([._+-][0-9A-Za-z._+-]*)?$")


def image_problem(image: Any) -> str | None:
    """Why an image reference is not pinned to one exact version, or None when it is."""
    if not isinstance(image, str) or not image.strip():
        return "has no image"
    if DIGEST.search(image) or IMAGE_ID.match(image):
        return None
    if "@" in image:
        return f"image {image!r} has a malformed digest; use @sha256:<64 hex digits>"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag, which means ':latest'; pin an exact version (repo:1.2.3) or a digest"
    tag = last.rsplit(":", 1)[1]
    if tag.lower() == "latest":
        return f"image {image!r} uses the moving tag 'latest'; pin an exact version (repo:1.2.3) or a digest"
    if not EXACT_VERSION_TAG.match(tag):
        return (
            f"image {image!r}: tag {tag!r} is not an exact version (x.y.z) and may move; "
            "pin an exact version (repo:1.2.3) or a digest"
        )
    return None


# --- resource checks ---------------------------------------------------------------------------


def _judge(
    resource_type: str,
    props: Props,
    docker: Callable[[str], Iterable[str]],
    pod: Callable[[Props, Containers], Iterable[str]],
) -> list[str]:
    """A container check: a Docker container by ``docker`` (given who it is), a Kubernetes workload by
    ``pod`` (given its pod spec and containers); anything else complies."""
    if resource_type == DOCKER_CONTAINER:
        return list(docker(docker_who(props)))
    workload = _workload(resource_type, props)
    return [] if workload is None else list(pod(*workload))


def run_as_non_root(resource_type: str, props: Props) -> list[str]:
    """Containers run as a numeric, non-zero uid (Docker `user`; Kubernetes runAsNonRoot, runAsUser)."""

    def docker(who: str) -> Iterator[str]:
        user = props.get("user")
        if not isinstance(user, str) or not user.strip():
            yield f"{who} sets no user and runs as the image's default user; set user to a numeric uid like 1000:1000"
            return
        uid = user.split(":", 1)[0].strip()
        if _granted(props, "user", user):
            return
        if not uid.isdigit():
            yield f"{who} runs as user {user!r}; use a numeric uid so it is provably not root"
        elif int(uid) == 0:
            yield f"{who} runs as root (user {user!r})"

    def pod(spec: Props, containers: Containers) -> Iterator[str]:
        pod_ctx = _map(spec.get("securityContext"))
        if pod_ctx.get("runAsUser") is not None and _number(pod_ctx.get("runAsUser")) == 0:
            yield "pod securityContext.runAsUser is 0 (root)"
        for where, container in containers:
            ctx = _map(container.get("securityContext"))
            non_root = ctx.get("runAsNonRoot") if ctx.get("runAsNonRoot") is not None else pod_ctx.get("runAsNonRoot")
            if non_root is not True:
                yield f"{where}: runAsNonRoot is not true (in the container or the pod securityContext)"
            if ctx.get("runAsUser") is not None and _number(ctx.get("runAsUser")) == 0:
                yield f"{where}: securityContext.runAsUser is 0 (root)"

    return _judge(resource_type, props, docker, pod)


def drop_all_capabilities(resource_type: str, props: Props) -> list[str]:
    """Every capability is dropped and none is added back."""

    def docker(who: str) -> Iterator[str]:
        caps = _map(props.get("capabilities"))
        drops = tuple(str(c).upper() for c in _seq(caps.get("drops")))
        if "ALL" not in drops and not _granted(props, "drops", drops):
            yield f"{who} does not drop all capabilities (capabilities.drops must include ALL)"
        adds = tuple(map(str, _seq(caps.get("adds"))))
        # Docker spells a capability either way (NET_ADMIN, CAP_NET_ADMIN) and reports the CAP_ form.
        if adds and not _granted(props, "adds", tuple(a.upper().removeprefix("CAP_") for a in adds)):
            yield f"{who} adds capabilities back: {', '.join(adds)}"

    def pod(_spec: Props, containers: Containers) -> Iterator[str]:
        for where, container in containers:
            caps = _map(_map(container.get("securityContext")).get("capabilities"))
            if "ALL" not in {str(c).upper() for c in _seq(caps.get("drop"))}:
                yield f"{where}: securityContext.capabilities.drop must include ALL"
            if _seq(caps.get("add")):
                yield f"{where}: adds capabilities back: {', '.join(map(str, _seq(caps.get('add'))))}"

    return _judge(resource_type, props, docker, pod)


def no_privileged_mode(resource_type: str, props: Props) -> list[str]:
    """No privileged containers, and no way to gain privileges (no-new-privileges; no escalation)."""

    def docker(who: str) -> Iterator[str]:
        if _is_true(props.get("privileged")) and not _granted(props, "privileged", True):
            yield f"{who} runs privileged"
        opts = {str(o).replace("=", ":").lower() for o in _seq(props.get("securityOpts"))}
        if not opts & {"no-new-privileges", "no-new-privileges:true"}:
            yield f"{who} lacks securityOpts no-new-privileges:true"

    def pod(_spec: Props, containers: Containers) -> Iterator[str]:
        for where, container in containers:
            ctx = _map(container.get("securityContext"))
            if _is_true(ctx.get("privileged")):
                yield f"{where}: runs privileged"
            if ctx.get("allowPrivilegeEscalation") is not False:
                yield f"{where}: securityContext.allowPrivilegeEscalation must be false"

    return _judge(resource_type, props, docker, pod)


def no_host_access(resource_type: str, props: Props) -> list[str]:
    """No host namespaces, host paths, devices, host ports, or another container's namespaces/volumes."""

    def docker(who: str) -> Iterator[str]:
        for key in HOST_NAMESPACE_MODES:
            mode = props.get(key)
            if _granted(props, key, mode):
                continue
            if isinstance(mode, str) and (mode == "host" or mode.startswith("container:")):
                yield f"{who} shares a namespace: {key} is {mode!r}"
        for volume in map(_map, _seq(props.get("volumes"))):
            if volume.get("hostPath") and not _host_paths_granted(props):
                yield f"{who} mounts the host path {volume.get('hostPath')!r}"
            if volume.get("fromContainer"):
                yield f"{who} mounts the volumes of container {volume.get('fromContainer')!r}"
        for mount in map(_map, _seq(props.get("mounts"))):
            if mount.get("type") == "bind":
                yield f"{who} bind-mounts the host path {mount.get('source')!r}"
        for device in map(_map, _seq(props.get("devices"))):
            yield f"{who} maps the host device {device.get('hostPath')!r}"
        rules = tuple(map(str, _seq(props.get("deviceCgroupRules"))))
        if rules and not _granted(props, "deviceCgroupRules", rules):
            yield f"{who} may use host devices: deviceCgroupRules {', '.join(rules)}"
        unconfined = tuple(sorted(o for o in map(str, _seq(props.get("securityOpts"))) if _unconfines(o)))
        if unconfined and not _granted(props, "unconfined", unconfined):
            yield f"{who} runs unconfined: {', '.join(unconfined)}"

    def pod(spec: Props, containers: Containers) -> Iterator[str]:
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if _is_true(spec.get(key)):
                yield f"pod spec sets {key}: true"
        for volume in map(_map, _seq(spec.get("volumes"))):
            if volume.get("hostPath") is not None:
                yield f"volume {volume.get('name')!r} mounts the host path {_map(volume.get('hostPath')).get('path')!r}"
        for where, container in containers:
            for port in map(_map, _seq(container.get("ports"))):
                if _number(port.get("hostPort")):
                    yield f"{where}: binds host port {port.get('hostPort')}"

    return _judge(resource_type, props, docker, pod)


def _unconfines(option: str) -> bool:
    """A security option that lifts a container's AppArmor, seccomp or SELinux confinement."""
    return option.replace(":", "=").endswith(("=unconfined", "label=disable"))


def resource_limits(resource_type: str, props: Props) -> list[str]:
    """A memory and a CPU limit on every container."""

    def docker(who: str) -> Iterator[str]:
        memory = _number(props.get("memory"))
        if memory is None or memory <= 0:
            yield f"{who} has no memory limit (memory, in MB)"
        cpus = _number(props.get("cpus"))
        quota = _number(props.get("cpuQuota"))
        if (cpus is None or cpus <= 0) and (quota is None or quota <= 0):
            yield f"{who} has no CPU limit (cpus or cpuQuota)"

    def pod(spec: Props, _containers: Containers) -> Iterator[str]:
        for where, container in pod_containers(spec, ("initContainers", "containers")):
            limits = _map(_map(container.get("resources")).get("limits"))
            missing = [kind for kind in ("cpu", "memory") if not limits.get(kind)]
            if missing:
                yield f"{where}: no {' or '.join(missing)} limit in resources.limits"

    return _judge(resource_type, props, docker, pod)


def pinned_images(resource_type: str, props: Props) -> list[str]:
    """Images are pinned to an exact version or a digest: no `latest`, no bare name, no moving tag."""
    if resource_type == DOCKER_CONTAINER:
        problem = image_problem(props.get("image"))
        return [f"{docker_who(props)}: {problem}"] if problem else []
    if resource_type == DOCKER_REMOTE_IMAGE:
        problem = image_problem(props.get("name"))
        return [f"remote image: {problem}"] if problem else []
    workload = _workload(resource_type, props)
    if workload is None:
        return []
    return [f"{where}: {problem}" for where, c in workload[1] if (problem := image_problem(c.get("image")))]


def _unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_unspecified
    except ValueError:
        return False


def no_public_ports(resource_type: str, props: Props) -> list[str]:
    """Only the edge proxy publishes ports, and only on an explicit host address (never 0.0.0.0 or ::)."""
    if resource_type != DOCKER_CONTAINER:
        return []
    who = docker_who(props)
    problems = []
    if _is_true(props.get("publishAllPorts")):
        problems.append(f"{who} sets publishAllPorts, which publishes every exposed port on all host addresses")
    ports = [_map(p) for p in _seq(props.get("ports"))]
    if ports and not is_edge_proxy(props):
        problems.append(f"{who} publishes ports; only the edge proxy may, and tenants are reached through it")
    for port in ports:
        ip = port.get("ip")
        published = f"{port.get('external', '?')}->{port.get('internal', '?')}"
        if not isinstance(ip, str) or not ip.strip():
            problems.append(f"{who} publishes port {published} without an ip, which means every host address")
        elif _unspecified(ip):
            problems.append(f"{who} publishes port {published} on {ip}, every host address; name one address")
        else:
            try:
                ipaddress.ip_address(ip.strip("[]"))
            except ValueError:
                problems.append(f"{who} publishes port {published} on {ip!r}, which is not an IP address")
    return problems


# --- stack checks ------------------------------------------------------------------------------


def _metadata(props: Props) -> Props:
    return _map(props.get("metadata"))


def is_tenant_namespace(props: Props) -> bool:
    meta = _metadata(props)
    name = meta.get("name")
    named = isinstance(name, str) and name.startswith(TENANT_NAMESPACE_PREFIX)
    return TENANT_LABEL in _map(meta.get("labels")) or named


def is_default_deny(props: Props) -> bool:
    """podSelector {} (every pod), policyTypes Ingress and Egress, and no rule letting anything through."""
    spec = _map(props.get("spec"))
    selector = spec.get("podSelector")
    selects_all = (
        isinstance(selector, Mapping)
        and not _map(selector.get("matchLabels"))
        and not _seq(selector.get("matchExpressions"))
    )
    types = {str(t) for t in _seq(spec.get("policyTypes"))}
    no_rules = not _seq(spec.get("ingress")) and not _seq(spec.get("egress"))
    return selects_all and {"Ingress", "Egress"} <= types and no_rules


QUOTA_GUARDRAIL = "a ResourceQuota with spec.hard"
LIMITS_GUARDRAIL = "a LimitRange with spec.limits"
DENY_GUARDRAIL = "a default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)"
NAMESPACE_GUARDRAILS = (QUOTA_GUARDRAIL, LIMITS_GUARDRAIL, DENY_GUARDRAIL)


def tenant_namespace_guardrails(resources: Sequence[StackResource]) -> list[Violation]:
    """Every tenant namespace holds a ResourceQuota, a LimitRange and a default-deny NetworkPolicy."""
    namespaces: dict[str, str] = {}
    violations = []
    for r in resources:
        if r.resource_type == NAMESPACE and is_tenant_namespace(r.props):
            name = _metadata(r.props).get("name")
            if isinstance(name, str) and name:
                namespaces[name] = r.urn
            else:
                violations.append(Violation("tenant namespace has no metadata.name to hold its guardrails", r.urn))
    found: dict[str, set[str]] = defaultdict(set)
    for r in resources:
        namespace = _metadata(r.props).get("namespace")
        if not isinstance(namespace, str):
            continue
        spec = _map(r.props.get("spec"))
        if r.resource_type == RESOURCE_QUOTA and _map(spec.get("hard")):
            found[QUOTA_GUARDRAIL].add(namespace)
        elif r.resource_type == LIMIT_RANGE and _seq(spec.get("limits")):
            found[LIMITS_GUARDRAIL].add(namespace)
        elif r.resource_type == NETWORK_POLICY and is_default_deny(r.props):
            found[DENY_GUARDRAIL].add(namespace)
    for name, urn in sorted(namespaces.items()):
        missing = [what for what in NAMESPACE_GUARDRAILS if name not in found[what]]
        if missing:
            violations.append(Violation(f"tenant namespace {name!r} lacks {'; '.join(missing)}", urn))
    return violations


def unique_ingress_hosts(resources: Sequence[StackResource]) -> list[Violation]:
    """Each ingress host belongs to one tenant namespace; no catch-all rules or default backends."""
    claims: dict[str, dict[str, str]] = defaultdict(dict)  # host → namespace → urn
    violations = []
    for r in resources:
        if r.resource_type not in INGRESS_TYPES:
            continue
        namespace = str(_metadata(r.props).get("namespace") or "default")
        spec = _map(r.props.get("spec"))
        if spec.get("defaultBackend") or spec.get("backend"):
            violations.append(Violation("sets a default backend, which receives every unmatched host's traffic", r.urn))
        for index, rule in enumerate(map(_map, _seq(spec.get("rules")))):
            host = rule.get("host")
            if not isinstance(host, str) or not host:
                violations.append(Violation(f"rules[{index}] has no host and so matches every host name", r.urn))
            elif "*" in host:
                violations.append(Violation(f"rules[{index}] host {host!r} is a wildcard over other names", r.urn))
            else:
                claims[host.lower()].setdefault(namespace, r.urn)
    for host, owners in sorted(claims.items()):
        if len(owners) > 1:
            for namespace, urn in sorted(owners.items()):
                others = ", ".join(sorted(set(owners) - {namespace}))
                violations.append(
                    Violation(f"host {host!r} of namespace {namespace!r} is also claimed in namespace {others}", urn)
                )
    return violations


# --- the registry the policy pack and the tests iterate ----------------------------------------


@dataclass(frozen=True)
class ResourceRule:
    name: str
    description: str
    check: Callable[[str, Props], list[str]]


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    check: Callable[[Sequence[StackResource]], list[Violation]]


def _in_tenant_namespace(props: Props) -> bool:
    meta = _metadata(props)
    namespace = meta.get("namespace")
    named = isinstance(namespace, str) and namespace.startswith(TENANT_NAMESPACE_PREFIX)
    return TENANT_LABEL in _map(meta.get("labels")) or named


def _key_names(names: Iterable[Any]) -> list[str]:
    return sorted({str(n) for n in names} & PROVIDER_KEY_NAMES)


def no_provider_keys_in_tenants(resource_type: str, props: Props) -> list[str]:
    """No tenant container, pod or Secret carries a provider key variable: a tenant's environment is
    readable by its own agent, so a master key there is the operator's account given away."""
    if resource_type == DOCKER_CONTAINER:
        if TENANT_LABEL not in docker_labels(props):
            return []
        names = _key_names(str(e).split("=", 1)[0] for e in _seq(props.get("envs")))
        return [f"{docker_who(props)} has provider key variable {n}" for n in names]
    if resource_type == SECRET:
        if not _in_tenant_namespace(props):
            return []
        keys = [*_map(props.get("stringData")), *_map(props.get("data"))]
        return [f"Secret {_metadata(props).get('name')!r} of a tenant holds provider key {n}" for n in _key_names(keys)]
    workload = _workload(resource_type, props)
    if workload is None or not _in_tenant_namespace(props):
        return []
    return [
        f"{where} of a tenant has provider key variable {n}"
        for where, container in workload[1]
        for n in _key_names(_map(e).get("name") for e in _seq(container.get("env")))
    ]


RESOURCE_RULES: tuple[ResourceRule, ...] = (
    ResourceRule("run-as-non-root", "Containers and pods run as a non-root user.", run_as_non_root),
    ResourceRule("drop-all-capabilities", "Containers drop every Linux capability.", drop_all_capabilities),
    ResourceRule("no-privileged-mode", "No privileged containers and no privilege escalation.", no_privileged_mode),
    ResourceRule(
        "no-host-access",
        "No host network, PID, IPC or user namespaces, host paths, devices or host ports.",
        no_host_access,
    ),
    ResourceRule("resource-limits", "Every container has a memory and a CPU limit.", resource_limits),
    ResourceRule(
        "pinned-images", "Images are pinned to an exact version or digest (no latest, no bare name).", pinned_images
    ),
    ResourceRule(
        "no-public-ports",
        "Docker ports: none on tenant containers; the edge proxy's on an explicit address, never 0.0.0.0 or ::.",
        no_public_ports,
    ),
    ResourceRule(
        "no-provider-keys-in-tenants",
        "No tenant container, pod or Secret carries a model provider's key; only the model gateway holds them.",
        no_provider_keys_in_tenants,
    ),
)

STACK_RULES: tuple[StackRule, ...] = (
    StackRule(
        "tenant-namespace-guardrails",
        "Every tenant namespace has a ResourceQuota, a LimitRange and a default-deny NetworkPolicy.",
        tenant_namespace_guardrails,
    ),
    StackRule(
        "unique-ingress-hosts",
        "Ingress hosts are unique across tenant namespaces; no catch-all hosts or default backends.",
        unique_ingress_hosts,
    ),
)


def resource_violations(resource_type: str, props: Props) -> dict[str, list[str]]:
    """Rule name → messages, for the rules a resource violates."""
    found = {rule.name: rule.check(resource_type, props) for rule in RESOURCE_RULES}
    return {name: messages for name, messages in found.items() if messages}


def stack_violations(resources: Sequence[StackResource]) -> dict[str, list[Violation]]:
    """Rule name → violations, for the stack rules the resources violate."""
    found = {rule.name: rule.check(resources) for rule in STACK_RULES}
    return {name: violations for name, violations in found.items() if violations}
