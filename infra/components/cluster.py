"""Cluster: the EKS control plane with KMS secrets encryption, logging, a restricted endpoint,
its IAM roles, the OIDC provider for service-account roles, and the node role with its access entry."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStrList
from infra.config import ClusterConfig

# Exactly what a self-managed GPU node needs: join the cluster, run the VPC CNI, pull images.
# ECR pull-only (not ReadOnly) because nodes never need to list or describe repositories.
NODE_MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
)


def _assume_role(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


class ClusterArgs(ComponentArgs):
    cluster_name: str
    config: ClusterConfig
    private_subnet_ids: InputStrList
    tags: dict[str, str]


class Cluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    service_cidr: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    """The issuer URL of the cluster's service-account tokens (IRSA trust policies name its host)."""
    node_role_arn: pulumi.Output[str]
    node_instance_profile_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:cluster:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        if args.config.in_extended_support:
            pulumi.log.warn(
                f"Kubernetes {args.config.kubernetes_version} is past EKS standard support: the control plane "
                "bills $0.60/h ($438/month) instead of $0.10/h. Upgrade cluster.kubernetes_version.",
                resource=self,
            )

        key = aws.kms.Key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-control-plane", assume_role_policy=_assume_role("eks.amazonaws.com"), tags=tags, opts=child
        )
        policy = aws.iam.RolePolicyAttachment(
            f"{name}-control-plane",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child,
        )
        # Created before the cluster so EKS writes into a group with a retention, not a never-expiring one.
        logs = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.config.log_retention_days,
            tags=tags,
            opts=child,
        )
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.config.kubernetes_version,
            role_arn=role.arn,
            vpc_config={
                "subnet_ids": args.private_subnet_ids,
                "endpoint_private_access": True,
                "endpoint_public_access": True,
                "public_access_cidrs": list(args.config.endpoint_public_access_cidrs),
            },
            encryption_config={"provider": {"key_arn": key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(args.config.log_types),
            access_config={
                "authentication_mode": "API",
                "bootstrap_cluster_creator_admin_permissions": True,
            },
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, logs]),
        )
        issuer = cluster.identities.apply(_oidc_issuer)
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], tags=tags, opts=child
        )

        node_role = aws.iam.Role(
            f"{name}-node", assume_role_policy=_assume_role("ec2.amazonaws.com"), tags=tags, opts=child
        )
        for arn in NODE_MANAGED_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{arn.rsplit('/', 1)[1]}", role=node_role.name, policy_arn=arn, opts=child
            )
        profile = aws.iam.InstanceProfile(f"{name}-node", role=node_role.name, tags=tags, opts=child)
        aws.eks.AccessEntry(
            f"{name}-nodes",
            cluster_name=cluster.name,
            principal_arn=node_role.arn,
            type="EC2_LINUX",
            tags=tags,
            opts=child,
        )

        self.name = cluster.name
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.apply(
            lambda ca: _present(ca.data, "certificate authority")
        )
        self.service_cidr = cluster.kubernetes_network_config.apply(
            lambda n: _present(n.service_ipv4_cidr, "service CIDR")
        )
        self.security_group_id = cluster.vpc_config.apply(
            lambda v: _present(v.cluster_security_group_id, "cluster security group")
        )
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer = issuer
        self.node_role_arn = node_role.arn
        self.node_instance_profile_arn = profile.arn
        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "certificate_authority": self.certificate_authority,
                "service_cidr": self.service_cidr,
                "security_group_id": self.security_group_id,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_issuer": self.oidc_issuer,
                "node_role_arn": self.node_role_arn,
                "node_instance_profile_arn": self.node_instance_profile_arn,
            }
        )


def _present(value: str | None, what: str) -> str:
    """A value EKS returns for every created cluster; its absence is an engine or provider fault."""
    if value is None:
        raise ValueError(f"the EKS cluster reported no {what}; the nodes cannot join without it")
    return value


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity] | None) -> str:
    oidcs = identities[0].oidcs if identities else None
    return _present(oidcs[0].issuer if oidcs else None, "OIDC issuer")
