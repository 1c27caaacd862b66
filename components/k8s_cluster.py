"""KubernetesCluster: the explicit provider of one Kubernetes target (never an ambient kubeconfig)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class KubernetesClusterArgs:
    kubeconfig: pulumi.Input[str] | None
    context: str | None


class KubernetesCluster(pulumi.ComponentResource):
    provider: k8s.Provider

    def __init__(self, name: str, args: KubernetesClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:KubernetesCluster", name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=args.kubeconfig,
            context=args.context,
            # Pods must not be adopted across clusters by accident: one provider, one cluster.
            delete_unreachable=False,
            # A tenant's namespace and claim outlive its removal (retain_on_delete); re-adding the
            # tenant must adopt them (its own data) instead of failing on "already exists".
            upsert_existing_objects=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
