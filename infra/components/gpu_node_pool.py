"""GpuNodePool: a launch template and an auto-scaling group that mixes spot and on-demand GPU nodes."""

from __future__ import annotations

import base64

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
from infra.config import SPOT_DIVERSITY_ADVICE, PoolConfig
from infra.sizing import gpus_per_instance
from infra.userdata import node_user_data

LIFECYCLE_LABEL = "frugal.dev/lifecycle"


def accelerated_ami_parameter(kubernetes_version: str) -> str:
    """AWS's public SSM parameter for the current EKS-optimised AL2023 NVIDIA AMI of a version."""
    return f"/aws/service/eks/optimized-ami/{kubernetes_version}/amazon-linux-2023/x86_64/nvidia/recommended/image_id"


class GpuNodePoolArgs(ComponentArgs):
    pool: PoolConfig
    cluster_name: str
    kubernetes_version: str
    cluster_endpoint: InputStr
    cluster_certificate_authority: InputStr
    cluster_service_cidr: InputStr
    cluster_security_group_id: InputStr
    node_instance_profile_arn: InputStr
    model_cache_dir: str | None = None
    """Where the node mounts its instance-store NVMe for the model servers' cache (None: no cache)."""
    subnet_ids: InputStrList
    scheduled: bool
    """True when a ScalingSchedule drives this pool's sizes, so Pulumi must not reset them."""
    tags: dict[str, str]
    extra_asg_tags: dict[str, str] = {}
    """Tags for the group and its instances only, such as the termination handler's managed tag."""


class GpuNodePool(pulumi.ComponentResource):
    asg_name: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:gpu:GpuNodePool", name, None, opts)
        pool = args.pool
        child = pulumi.ResourceOptions(parent=self)
        if pool.is_spot and len(pool.instance_types) < SPOT_DIVERSITY_ADVICE:
            pulumi.log.warn(
                f"pool '{pool.name}' can run spot capacity on only {len(pool.instance_types)} instance type(s); "
                f"AWS advises at least {SPOT_DIVERSITY_ADVICE} so price-capacity-optimized finds capacity and "
                "interruptions stay rare. Add similar GPU types to pools[].instance_types.",
                resource=self,
            )

        ami = aws.ssm.get_parameter_output(
            name=accelerated_ami_parameter(args.kubernetes_version), opts=pulumi.InvokeOutputOptions(parent=self)
        )
        node_labels = {**pool.labels, "frugal.dev/pool": pool.name, "frugal.dev/tier": pool.tier}
        user_data = pulumi.Output.all(
            args.cluster_endpoint, args.cluster_certificate_authority, args.cluster_service_cidr
        ).apply(
            lambda v: base64.b64encode(
                node_user_data(
                    cluster_name=args.cluster_name,
                    endpoint=v[0],
                    certificate_authority=v[1],
                    service_cidr=v[2],
                    labels=node_labels,
                    taints=pool.all_taints,
                    lifecycle_label=LIFECYCLE_LABEL,
                    model_cache_dir=args.model_cache_dir,
                ).encode()
            ).decode()
        )
        instance_tags = {**args.tags, "Name": f"{args.cluster_name}-{pool.name}", "frugal.dev/pool": pool.name}
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"GPU nodes of pool {pool.name} ({pool.tier} tier) in {args.cluster_name}",
            image_id=ami.value,
            iam_instance_profile={"arn": args.node_instance_profile_arn},
            vpc_security_group_ids=[args.cluster_security_group_id],
            user_data=user_data,
            update_default_version=True,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",  # IMDSv2 only
                # 2 hops so pods on the node network (aws-node, the GPU operator) still reach IMDS.
                "http_put_response_hop_limit": 2,
            },
            block_device_mappings=encrypted_root_volume(pool.root_volume_gib),
            tag_specifications=instance_and_volume_tags(instance_tags),
            tags=args.tags,
            opts=child,
        )

        asg_tags = {
            **instance_tags,
            # The cluster autoscaler discovers the group by these, and can scale it up from zero
            # because the node-template tags tell it the labels, taints and GPUs a new node will have.
            "k8s.io/cluster-autoscaler/enabled": "true",
            f"k8s.io/cluster-autoscaler/{args.cluster_name}": "owned",
            **{f"k8s.io/cluster-autoscaler/node-template/label/{k}": v for k, v in node_labels.items()},
            **{
                f"k8s.io/cluster-autoscaler/node-template/taint/{t.key}": f"{t.value}:{t.effect}"
                for t in pool.all_taints
            },
            "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu": str(
                min(gpus_per_instance(t) for t in pool.instance_types)
            ),
            **args.extra_asg_tags,
        }
        # Scheduled actions and the cluster autoscaler own the sizes after creation; without this
        # every `pulumi up` would undo them.
        ignored = ["desiredCapacity", *(["minSize", "maxSize"] if args.scheduled else [])]
        group = aws.autoscaling.Group(
            f"{name}-asg",
            vpc_zone_identifiers=args.subnet_ids,
            min_size=pool.min_size,
            max_size=pool.max_size,
            desired_capacity=pool.desired_capacity,
            capacity_rebalance=True,
            health_check_type="EC2",
            mixed_instances_policy={
                "instances_distribution": {
                    "on_demand_base_capacity": pool.on_demand_base_capacity,
                    "on_demand_percentage_above_base_capacity": pool.on_demand_percentage_above_base,
                    "on_demand_allocation_strategy": "lowest-price",
                    "spot_allocation_strategy": pool.spot_allocation_strategy,
                },
                "launch_template": {
                    "launch_template_specification": {
                        "launch_template_id": template.id,
                        "version": template.latest_version.apply(str),
                    },
                    "overrides": [{"instance_type": t} for t in pool.instance_types],
                },
            },
            tags=[{"key": k, "value": v, "propagate_at_launch": True} for k, v in asg_tags.items()],
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=ignored),
        )
        aws.autoscaling.LifecycleHook(
            f"{name}-drain",
            autoscaling_group_name=group.name,
            lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
            # Time for a drainer (aws-node-termination-handler, or `frugal drain` in preStop) to move
            # llama-server's in-flight requests before the instance goes; it completes the hook early.
            heartbeat_timeout=300,
            default_result="CONTINUE",
            opts=child,
        )

        self.asg_name = group.name
        self.launch_template_id = template.id
        self.register_outputs({"asg_name": self.asg_name, "launch_template_id": self.launch_template_id})
