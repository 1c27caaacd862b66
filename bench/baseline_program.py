"""Baseline for the program-evaluation benchmark: the same resources, registered directly.

No fleet model, no spec builders, no components: per tenant it creates the resource types the real
program creates (read from the fleet file only to know the tenant ids and the backend), with
constant arguments of the same shape.
"""

from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s
import pulumi_random as random
from ruamel.yaml import YAML

from components.docker_ops import PidsLimit, RunningContainer

HOST = "unix:///var/run/docker.sock"
NO_OPTS = pulumi.ResourceOptions()


def raw(spec: dict[str, Any]) -> Any:
    """A constant spec in the manifests' camelCase form, handed over as it is (not the SDK's typed form)."""
    return spec


config = pulumi.Config("openclaw-tenants")
with open(config.require("tenantsFile")) as handle:
    data = YAML(typ="safe").load(handle)
backend = next(iter(data["targets"].values()))["type"]
ids = [t["id"] for t in data["tenants"]]

if backend == "docker":
    opts = pulumi.ResourceOptions(provider=docker.Provider("docker", host=HOST))
    image = docker.RemoteImage("image", name="ghcr.io/openclaw/openclaw:2026.9.6", keep_locally=True, opts=opts)
    for tid in ids:
        token = random.RandomPassword(f"{tid}-token", length=48, special=False, keepers={"rotation": "0"})
        volume = docker.Volume(f"{tid}-state", name=f"openclaw-{tid}-state", opts=opts)
        network = docker.Network(f"{tid}-network", name=f"tenant-{tid}", internal=False, opts=opts)
        container = docker.Container(
            f"{tid}-gateway",
            name=f"openclaw-{tid}",
            image=image.name,
            envs=token.result.apply(lambda t: [f"OPENCLAW_GATEWAY_TOKEN={t}"]),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name)],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/home/node/.openclaw")],
            memory=2048,
            cpus="1",
            opts=opts,
        )
        PidsLimit(f"{tid}-pids-limit", on=RunningContainer(HOST, container.name, container.id), limit=512, opts=NO_OPTS)
    edge_net = docker.Network("edge-network", name="openclaw-edge", opts=opts)
    edge = docker.Container("edge-proxy", name="openclaw-edge", image=image.name, opts=opts)
    PidsLimit("edge-pids-limit", on=RunningContainer(HOST, edge.name, edge.id), limit=256, opts=NO_OPTS)
else:
    opts = pulumi.ResourceOptions(provider=k8s.Provider("k8s", context="bench"))
    for tid in ids:
        ns = f"tenant-{tid}"
        meta: k8s.meta.v1.ObjectMetaArgsDict = {"name": "x", "namespace": ns}
        token = random.RandomPassword(f"{tid}-token", length=48, special=False, keepers={"rotation": "0"})
        k8s.core.v1.Namespace(f"{tid}-namespace", metadata={"name": ns}, opts=opts)
        k8s.core.v1.ResourceQuota(f"{tid}-quota", metadata=meta, spec=raw({"hard": {"pods": "2"}}), opts=opts)
        k8s.core.v1.LimitRange(f"{tid}-limits", metadata=meta, spec=raw({"limits": []}), opts=opts)
        k8s.networking.v1.NetworkPolicy(f"{tid}-default-deny", metadata=meta, spec=raw({"podSelector": {}}), opts=opts)
        k8s.networking.v1.NetworkPolicy(
            f"{tid}-gateway-traffic", metadata=meta, spec=raw({"podSelector": {}}), opts=opts
        )
        k8s.core.v1.ServiceAccount(f"{tid}-service-account", metadata=meta, opts=opts)
        k8s.core.v1.Secret(f"{tid}-secret", metadata=meta, string_data={"t": token.result}, opts=opts)
        k8s.core.v1.ConfigMap(f"{tid}-config", metadata=meta, data={"openclaw.json": "{}"}, opts=opts)
        k8s.core.v1.PersistentVolumeClaim(
            f"{tid}-state", metadata=meta, spec=raw({"accessModes": ["ReadWriteOnce"]}), opts=opts
        )
        k8s.apps.v1.Deployment(f"{tid}-deployment", metadata=meta, spec=raw({"replicas": 1}), opts=opts)
        k8s.core.v1.Service(f"{tid}-service", metadata=meta, spec=raw({"type": "ClusterIP"}), opts=opts)
        k8s.networking.v1.Ingress(f"{tid}-ingress", metadata=meta, spec=raw({"rules": []}), opts=opts)
