"""PlatformStandIn: what serving needs from the platform, made here until the platform is merged.

STAND-IN. The platform work builds, for the whole stack, a `pulumi_kubernetes` Provider from the
cluster's endpoint and CA with `aws eks get-token` exec auth (KubernetesAccess), an IRSA role per
service account (WorkloadIdentity) and the system nodes' label. This component makes the same three
things the same way for serving alone, so the serving objects can be planned and tested now. At
merge, infra/program.py's `_platform_stand_in` switches to the platform's components and this file
is deleted.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStr
from infra.serving_iam import irsa_trust_policy

SYSTEM_NODE_LABEL = ("frugal.dev/node-role", "system")


def kubeconfig(*, cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority},
                }
            ],
            "users": [{"name": cluster_name, "user": user}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
        },
        sort_keys=True,
    )


class PlatformStandInArgs(ComponentArgs):
    cluster_name: str
    region: str
    endpoint: InputStr
    certificate_authority: InputStr
    oidc_provider_arn: InputStr
    namespace: str
    service_account: str
    policy: InputStr
    tags: dict[str, str]


class PlatformStandIn(pulumi.ComponentResource):
    provider: pulumi.ProviderResource
    role_arn: pulumi.Output[str]
    system_node_selector: dict[str, str]

    def __init__(self, name: str, args: PlatformStandInArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:serving:PlatformStandIn", name, None, opts)
        from pulumi_kubernetes.provider import Provider

        child = pulumi.ResourceOptions(parent=self)
        self.provider = Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.all(args.endpoint, args.certificate_authority).apply(
                lambda v: kubeconfig(
                    cluster_name=args.cluster_name, endpoint=v[0], certificate_authority=v[1], region=args.region
                )
            ),
            enable_server_side_apply=True,
            delete_unreachable=False,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-model-reader",
            description=f"model servers of {args.cluster_name} read their pinned models (IRSA)",
            assume_role_policy=pulumi.Output.from_input(args.oidc_provider_arn).apply(
                lambda arn: irsa_trust_policy(arn, args.namespace, args.service_account)
            ),
            max_session_duration=3600,
            tags=args.tags,
            opts=child,
        )
        aws.iam.RolePolicy(f"{name}-model-reader", role=role.id, policy=args.policy, opts=child)
        self.role_arn = role.arn
        key, value = SYSTEM_NODE_LABEL
        self.system_node_selector = {key: value}
        self.register_outputs({"role_arn": self.role_arn})
