"""KubernetesAccess: the Kubernetes provider every in-cluster object of the stack goes through.

Built from the cluster's own outputs (endpoint, CA) with `aws eks get-token` exec auth, so no
token or kubeconfig is stored in state or config: whoever runs Pulumi with AWS credentials is the
cluster admin the cluster creator entry grants.
"""

from __future__ import annotations

import pulumi
from pulumi_kubernetes.provider import Provider

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStr
from infra.platform_values import kubeconfig


class KubernetesAccessArgs(ComponentArgs):
    cluster_name: str
    endpoint: InputStr
    certificate_authority: InputStr
    region: str


class KubernetesAccess(pulumi.ComponentResource):
    provider: Provider

    def __init__(self, name: str, args: KubernetesAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:platform:KubernetesAccess", name, None, opts)
        config = pulumi.Output.all(args.endpoint, args.certificate_authority).apply(
            lambda v: kubeconfig(
                cluster_name=args.cluster_name, endpoint=v[0], certificate_authority=v[1], region=args.region
            )
        )
        self.provider = Provider(
            f"{name}-k8s",
            kubeconfig=config,
            # Objects are applied with server-side apply and never silently left behind on delete.
            enable_server_side_apply=True,
            delete_unreachable=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
