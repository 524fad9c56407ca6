"""WorkloadIdentity: an IAM role that one Kubernetes service account assumes through IRSA.

IRSA, not EKS Pod Identity: the cluster's OIDC provider already exists, so nothing more has to run
on every node (Pod Identity needs its agent DaemonSet, on the GPU nodes too), and the trust policy
itself names the one namespace and service account allowed, which the plan shows and tests check.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStr
from infra.platform_iam import irsa_trust_policy


class WorkloadIdentityArgs(ComponentArgs):
    oidc_provider_arn: InputStr
    oidc_issuer: InputStr
    namespace: str
    service_account: str
    policy: InputStr
    """The role's inline policy document (JSON)."""
    description: str
    tags: dict[str, str]


class WorkloadIdentity(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:platform:WorkloadIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
            lambda v: irsa_trust_policy(v[0], v[1], args.namespace, args.service_account)
        )
        role = aws.iam.Role(
            f"{name}-role",
            description=args.description,
            assume_role_policy=trust,
            max_session_duration=3600,
            tags=args.tags,
            opts=child,
        )
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=args.policy, opts=child)
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})
