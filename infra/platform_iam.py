"""IAM documents and EventBridge patterns of the platform, as plain data (no Pulumi import).

Workload identity is IRSA: each controller that calls AWS has a role trusted only by its own
service account through the cluster's OIDC provider (the provider already exists in
infra/components/cluster.py). Permissions follow the controllers' documented minimum; write
actions are scoped to this stack's resources by tag or ARN, and only the Describe calls that AWS
does not scope by resource use "*".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

VERSION = "2012-10-17"
STS_AUDIENCE = "sts.amazonaws.com"
ASG_ARN = "arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/*"

# The termination handler's sources (its README's EventBridge rules), by rule suffix.
SPOT_INTERRUPTION = "spot-interruption"
REBALANCE = "rebalance"
STATE_CHANGE = "state-change"
SCHEDULED_CHANGE = "scheduled-change"
ASG_TERMINATE = "asg-terminate"
# NTH drains on these states only; the others (pending, running) would just be deleted unread.
STOPPING_STATES = ["stopping", "stopped", "shutting-down", "terminated"]


def issuer_host(issuer_url: str) -> str:
    """The issuer as IAM condition keys name it: without its scheme (oidc.eks.<region>.amazonaws.com/id/<ID>)."""
    return issuer_url.removeprefix("https://").rstrip("/")


def irsa_trust_policy(oidc_provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> str:
    """Only this service account's projected token may assume the role."""
    host = issuer_host(issuer_url)
    return _doc(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{host}:aud": STS_AUDIENCE,
                    }
                },
            }
        ]
    )


def cluster_autoscaler_policy(*, region: str, account: str, cluster_name: str) -> str:
    """Read groups and instance types anywhere; resize and terminate only this cluster's groups."""
    return _doc(
        [
            {
                "Sid": "DiscoverGroupsAndTypes",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                "Sid": "DescribeOwnNodeGroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": f"arn:aws:eks:{region}:{account}:nodegroup/{cluster_name}/*",
            },
            {
                "Sid": "ResizeOwnGroups",
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": ASG_ARN.format(region=region, account=account),
                # The auto-discovery tag names this cluster alone (EKS cluster names are unique per
                # account and region); EKS puts it on managed node groups' ASGs too.
                "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
            },
        ]
    )


def node_termination_handler_policy(*, region: str, account: str, queue_arn: str, stack_tag: tuple[str, str]) -> str:
    """Consume this stack's queue; complete lifecycle actions only on this stack's groups."""
    key, value = stack_tag
    return _doc(
        [
            {
                "Sid": "ConsumeInterruptionQueue",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
                "Resource": queue_arn,
            },
            {
                "Sid": "CompleteOwnLifecycleActions",
                "Effect": "Allow",
                "Action": "autoscaling:CompleteLifecycleAction",
                "Resource": ASG_ARN.format(region=region, account=account),
                "Condition": {"StringEquals": {f"aws:ResourceTag/{key}": value}},
            },
            {
                "Sid": "IdentifyInstances",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeInstances",
                ],
                "Resource": "*",
            },
        ]
    )


def interruption_event_patterns(asg_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The EventBridge pattern of each rule that feeds the termination handler's queue."""
    return {
        SPOT_INTERRUPTION: {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
        REBALANCE: {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
        STATE_CHANGE: {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": STOPPING_STATES},
        },
        SCHEDULED_CHANGE: {
            "source": ["aws.health"],
            "detail-type": ["AWS Health Event"],
            "detail": {"service": ["EC2"], "eventTypeCategory": ["scheduledChange"]},
        },
        ASG_TERMINATE: {
            "source": ["aws.autoscaling"],
            "detail-type": ["EC2 Instance-terminate Lifecycle Action"],
            "detail": {"AutoScalingGroupName": sorted(asg_names)},
        },
    }


def interruption_queue_policy(queue_arn: str, rule_arns: Sequence[str]) -> str:
    """Only this stack's rules may send to the queue, and nobody over plain HTTP."""
    return _doc(
        [
            {
                "Sid": "EventBridgeRulesOfThisStack",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}},
            },
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ]
    )


def _doc(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": VERSION, "Statement": statements}, sort_keys=True)
