"""SystemNodes: the small untainted node group where cluster services, controllers and the gateway run.

An EKS managed node group (not a self-managed group like the GPU pools): EKS picks and patches
the AMI, drains nodes through PodDisruptionBudgets on upgrades, replaces unhealthy nodes, and
rebalances spot capacity by itself, so no termination handler or lifecycle hook is needed here.
A launch template adds what the node group alone cannot: the stack's cost-allocation tags on
every instance and volume, IMDSv2 with a hop limit of 1 (pods cannot borrow the node's role;
the controllers have their own through IRSA) and an encrypted gp3 root volume.

The group has its own node role (the same three AWS policies as the GPU nodes' role), so EKS
creates its access entry itself and the GPU nodes' role and entry stay the Cluster component's.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.components._base import (
    TOKEN_PREFIX,
    ComponentArgs,
    InputStr,
    InputStrList,
    encrypted_root_volume,
    instance_and_volume_tags,
)
from infra.components.cluster import NODE_MANAGED_POLICIES
from infra.config import SystemNodesConfig
from infra.platform_values import SYSTEM_NODE_LABEL

# EKS's AMI type for the current EKS-optimised Amazon Linux 2023 image on x86_64.
AMI_TYPE = "AL2023_x86_64_STANDARD"
CAPACITY_TYPE = {"on-demand": "ON_DEMAND", "spot": "SPOT"}


class SystemNodesArgs(ComponentArgs):
    config: SystemNodesConfig
    cluster_name: InputStr
    node_group_name: str
    subnet_ids: InputStrList
    cluster_security_group_id: InputStr
    tags: dict[str, str]


class SystemNodes(pulumi.ComponentResource):
    node_group_name: pulumi.Output[str]
    node_group: aws.eks.NodeGroup

    def __init__(self, name: str, args: SystemNodesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:platform:SystemNodes", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        instance_tags = {**args.tags, "Name": args.node_group_name}
        role = aws.iam.Role(
            f"{name}-node",
            description=f"Nodes of {args.node_group_name}",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
            tags=args.tags,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{arn.rsplit('/', 1)[1]}", role=role.name, policy_arn=arn, opts=child
            )
            for arn in NODE_MANAGED_POLICIES
        ]
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"System nodes of {args.node_group_name} (EKS managed node group)",
            # With custom security groups EKS adds none of its own, so the cluster's is named here.
            vpc_security_group_ids=[args.cluster_security_group_id],
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            block_device_mappings=encrypted_root_volume(cfg.disk_gib),
            tag_specifications=instance_and_volume_tags(instance_tags),
            tags=args.tags,
            opts=child,
        )
        label_key, label_value = SYSTEM_NODE_LABEL
        group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_group_name=args.node_group_name,
            node_role_arn=role.arn,
            subnet_ids=args.subnet_ids,
            ami_type=AMI_TYPE,
            capacity_type=CAPACITY_TYPE[cfg.capacity],
            instance_types=list(cfg.instance_types),
            scaling_config={"min_size": cfg.min_size, "desired_size": cfg.desired_size, "max_size": cfg.max_size},
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            labels={label_key: label_value},
            update_config={"max_unavailable": 1},
            node_repair_config={"enabled": True},
            tags=args.tags,
            # The cluster autoscaler owns the desired size after creation.
            # Nodes join only once their role can pull images and run the CNI.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=attachments, ignore_changes=["scalingConfig.desiredSize"]
            ),
        )
        self.node_group = group
        self.node_group_name = group.node_group_name
        self.register_outputs({"node_group_name": self.node_group_name})
