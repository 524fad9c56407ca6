"""Security rules that judge one resource at a time: IMDSv2, encryption, public admin ports, EKS.

Plain `validate(args, report_violation)` functions over `pulumi_policy.ResourceValidationArgs`,
assembled into policies by `policies.registry`. Rules that need several resources at once (the
node role's policies, S3 public access blocks) live in `policies.stack_rules`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from infra.tokens import (
    EBS_VOLUME,
    EC2_INSTANCE,
    EC2_LAUNCH_TEMPLATE,
    EC2_SECURITY_GROUP,
    EC2_SECURITY_GROUP_RULE,
    EKS_CLUSTER,
    SNS_TOPIC,
    VPC_SECURITY_GROUP_INGRESS_RULE,
)
from policies.props import flag, get, items, known, message, number, settings, show

# What AWS does when an EKS cluster's public endpoint has no CIDR list.
AWS_DEFAULT_PUBLIC_ACCESS_CIDRS = ("0.0.0.0/0",)

SSH_CONFIG: dict[str, dict[str, Any]] = {
    "ports": {"type": "array", "items": {"type": "integer"}, "default": [22], "description": "SSH ports"},
}
K8S_API_CONFIG: dict[str, dict[str, Any]] = {
    "ports": {
        "type": "array",
        "items": {"type": "integer"},
        "default": [6443],
        "description": "Kubernetes API ports checked on security groups (443 is left to load balancers; "
        "the EKS endpoint is checked through its publicAccessCidrs)",
    },
}
EKS_LOGGING_CONFIG: dict[str, dict[str, Any]] = {
    "requiredLogTypes": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["api", "audit", "authenticator"],
        "description": "control-plane log types that must be enabled",
    }
}


def imdsv2_required(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Instances answer the metadata service only with session tokens (IMDSv2), which blocks SSRF credential theft."""
    if args.resource_type not in (EC2_LAUNCH_TEMPLATE, EC2_INSTANCE):
        return
    options = get(args.props, "metadataOptions", default={})
    if get(options, "httpEndpoint") == "disabled":
        return  # no metadata service at all
    tokens = get(options, "httpTokens")
    if tokens != "required":
        report_violation(
            message(
                "imdsv2-required",
                f"'{args.name}' has metadataOptions.httpTokens={show(tokens)}"
                + ("" if tokens else " (unset: the AMI's default, IMDSv1 on many)"),
                "httpTokens='required' (IMDSv2 only)",
                "set metadata_options={'http_endpoint': 'enabled', 'http_tokens': 'required', "
                "'http_put_response_hop_limit': 2}",
            ),
            None,
        )


def _encrypted(container: Any, *path: str) -> bool:
    """True when encryption is on, or not known yet (the rule cannot judge a value the engine lacks)."""
    is_known, value = known(container, *path)
    return not is_known or flag(value) is True


def _unencrypted_ebs(props: Any, resource_type: str) -> list[str]:
    if resource_type == EBS_VOLUME:
        return [] if flag(get(props, "encrypted")) else ["the volume"]
    if resource_type == EC2_LAUNCH_TEMPLATE:
        mappings = items(get(props, "blockDeviceMappings", default=[]))
        return [
            str(get(m, "deviceName", default=f"mapping {i}"))
            for i, m in enumerate(mappings)
            if get(m, "ebs") is not None and not _encrypted(m, "ebs", "encrypted")
        ]
    if resource_type == EC2_INSTANCE:
        bad = []
        root = get(props, "rootBlockDevice")
        if root is not None and not _encrypted(root, "encrypted"):
            bad.append("the root block device")
        for i, device in enumerate(items(get(props, "ebsBlockDevices", default=[]))):
            if not _encrypted(device, "encrypted"):
                bad.append(str(get(device, "deviceName", default=f"ebs block device {i}")))
        return bad
    return []


def ebs_encrypted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """EBS volumes (model caches, root disks) are encrypted at rest."""
    bad = _unencrypted_ebs(args.props, args.resource_type)
    if bad:
        report_violation(
            message(
                "ebs-encrypted",
                f"'{args.name}' declares unencrypted EBS: {', '.join(bad)}",
                "encrypted=true on every EBS volume and block device mapping",
                "set ebs.encrypted='true' (optionally kms_key_id) on each mapping or volume",
            ),
            None,
        )


def sns_encrypted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """SNS topics (budget and alarm alerts) are encrypted with a KMS key."""
    if args.resource_type != SNS_TOPIC:
        return
    is_known, key = known(args.props, "kmsMasterKeyId")
    if is_known and not key:
        report_violation(
            message(
                "sns-encrypted",
                f"SNS topic '{args.name}' has no kmsMasterKeyId",
                "server-side encryption with a KMS key on every topic",
                "set kms_master_key_id to a customer managed key whose policy lets the publishing services "
                "use it (see infra/components/budget_alarms.py), or 'alias/aws/sns'",
            ),
            None,
        )


def _world(cidrs: list[Any]) -> list[str]:
    out = []
    for cidr in cidrs:
        try:
            if isinstance(cidr, str) and ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
                out.append(cidr)
        except ValueError:
            continue
    return out


def _covers(protocol: Any, from_port: Any, to_port: Any, port: int) -> bool:
    proto = str(protocol).lower() if protocol is not None else "tcp"
    if proto in ("-1", "all"):
        return True
    if proto not in ("tcp", "6"):
        return False
    low, high = number(from_port), number(to_port)
    if low is None or high is None:
        return False
    return low <= port <= high


def _open_ingress(args: ResourceValidationArgs, ports: list[int]) -> list[str]:
    """Ingress entries of this resource that open one of `ports` to 0.0.0.0/0 or ::/0, described."""
    props, found = args.props, []

    def check(where: str, protocol: Any, low: Any, high: Any, cidrs: list[Any]) -> None:
        world = _world(cidrs)
        hit = [p for p in ports if _covers(protocol, low, high, p)]
        if world and hit:
            found.append(f"{where} opens port {', '.join(show(p) for p in hit)} to {', '.join(world)}")

    if args.resource_type == EC2_SECURITY_GROUP:
        for i, rule in enumerate(items(get(props, "ingress", default=[]))):
            cidrs = items(get(rule, "cidrBlocks", default=[])) + items(get(rule, "ipv6CidrBlocks", default=[]))
            check(f"ingress[{i}]", get(rule, "protocol"), get(rule, "fromPort"), get(rule, "toPort"), cidrs)
    elif args.resource_type == EC2_SECURITY_GROUP_RULE and get(props, "type") == "ingress":
        cidrs = items(get(props, "cidrBlocks", default=[])) + items(get(props, "ipv6CidrBlocks", default=[]))
        check("the rule", get(props, "protocol"), get(props, "fromPort"), get(props, "toPort"), cidrs)
    elif args.resource_type == VPC_SECURITY_GROUP_INGRESS_RULE:
        cidrs = [c for c in (get(props, "cidrIpv4"), get(props, "cidrIpv6")) if c]
        check("the rule", get(props, "ipProtocol"), get(props, "fromPort"), get(props, "toPort"), cidrs)
    return found


def no_public_ssh(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No security group opens SSH to the whole internet."""
    cfg = settings(args.get_config(), SSH_CONFIG)
    for finding in _open_ingress(args, list(cfg["ports"])):
        report_violation(
            message(
                "no-public-ssh",
                f"'{args.name}': {finding}",
                "SSH only from known ranges (or none: use SSM Session Manager)",
                "replace 0.0.0.0/0 with your VPN/bastion CIDR, or drop the rule and use `aws ssm start-session`",
            ),
            None,
        )


def no_public_kubernetes_api(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Neither the EKS endpoint nor a security group exposes the Kubernetes API to the whole internet."""
    if args.resource_type == EKS_CLUSTER:
        vpc = get(args.props, "vpcConfig", default={})
        public = get(vpc, "endpointPublicAccess")
        if public is not None and flag(public) is False:
            return
        is_known, cidrs = known(vpc, "publicAccessCidrs")
        if not is_known:
            return
        listed = items(cidrs) if cidrs is not None else []
        world = _world(listed or list(AWS_DEFAULT_PUBLIC_ACCESS_CIDRS))
        if world:
            unset = "" if listed else " (publicAccessCidrs unset: AWS opens it to 0.0.0.0/0)"
            report_violation(
                message(
                    "no-public-kubernetes-api",
                    f"EKS cluster '{args.name}' has a public endpoint open to {', '.join(world)}{unset}",
                    "a private endpoint, or a public one restricted to known CIDRs",
                    "set vpc_config.public_access_cidrs to your office/VPN/CI egress ranges "
                    "(frugal: cluster.endpoint_public_access_cidrs) or endpoint_public_access=False",
                ),
                None,
            )
        return
    cfg = settings(args.get_config(), K8S_API_CONFIG)
    for finding in _open_ingress(args, list(cfg["ports"])):
        report_violation(
            message(
                "no-public-kubernetes-api",
                f"'{args.name}': {finding}",
                "the Kubernetes API reachable only from known ranges",
                "replace 0.0.0.0/0 with your VPN/CI CIDRs",
            ),
            None,
        )


def eks_secrets_encryption(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """EKS envelope-encrypts Kubernetes secrets with a KMS key."""
    if args.resource_type != EKS_CLUSTER:
        return
    config = get(args.props, "encryptionConfig")
    resources = items(get(config, "resources", default=[])) if config is not None else []
    has_key, key = known(config, "provider", "keyArn") if config is not None else (True, None)
    if "secrets" not in resources or (has_key and not key):
        report_violation(
            message(
                "eks-secrets-encryption",
                f"EKS cluster '{args.name}' has encryptionConfig={show(config)}",
                "encryptionConfig with resources ['secrets'] and provider.keyArn",
                "set encryption_config={'provider': {'key_arn': key.arn}, 'resources': ['secrets']} "
                "with a rotating KMS key (frugal's Cluster component does)",
            ),
            None,
        )


def eks_control_plane_logging(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """EKS control-plane logs (at least api, audit, authenticator) go to CloudWatch."""
    if args.resource_type != EKS_CLUSTER:
        return
    cfg = settings(args.get_config(), EKS_LOGGING_CONFIG)
    enabled = set(items(get(args.props, "enabledClusterLogTypes", default=[])))
    missing = [t for t in cfg["requiredLogTypes"] if t not in enabled]
    if missing:
        report_violation(
            message(
                "eks-control-plane-logging",
                f"EKS cluster '{args.name}' logs {', '.join(sorted(enabled)) or 'nothing'}; "
                f"missing {', '.join(missing)}",
                f"enabledClusterLogTypes include {', '.join(cfg['requiredLogTypes'])} (config requiredLogTypes)",
                "add them to enabled_cluster_log_types (frugal: cluster.log_types) and keep a log group "
                "with a retention",
            ),
            None,
        )
