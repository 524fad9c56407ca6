"""Security rules over single resources, each called with the SDK's real ResourceValidationArgs.

Passing cases are the dev stack's own resources; failing ones change one input, or declare the
kind of resource our program does not create (security groups, volumes) the way a user might.
"""

from __future__ import annotations

import pytest

from infra.plan import Plan
from policies import security_rules
from tests.fakes import DELETE, Violations, one, planned, resource_args

LT = "aws:ec2/launchTemplate:LaunchTemplate"
GPU_LT = "pool-small-lt"
EKS = "aws:eks/cluster:Cluster"
SG = "aws:ec2/securityGroup:SecurityGroup"


def run(rule, args) -> Violations:
    found = Violations()
    rule(args, found)
    return found


def sg(*ingress: dict) -> object:
    return planned(SG, "web", {"vpcId": "vpc-1", "ingress": list(ingress)})


@pytest.mark.parametrize(
    ("rule", "type_"),
    [
        (security_rules.imdsv2_required, LT),
        (security_rules.ebs_encrypted, LT),
        (security_rules.sns_encrypted, "aws:sns/topic:Topic"),
        (security_rules.no_public_kubernetes_api, EKS),
        (security_rules.eks_secrets_encryption, EKS),
        (security_rules.eks_control_plane_logging, EKS),
    ],
)
def test_the_dev_stacks_resources_pass_the_security_rules(dev_plan: Plan, rule, type_: str) -> None:
    resources = dev_plan.of_type(type_)
    assert resources, f"the dev plan has a {type_}"
    for resource in resources:
        assert run(rule, resource_args(resource, dev_plan)) == [], f"{rule.__name__} must accept {resource.name}"


def test_imdsv1_allowed_by_a_launch_template_is_a_violation(dev_plan: Plan) -> None:
    lt = one(dev_plan, LT, GPU_LT)
    found = run(
        security_rules.imdsv2_required, resource_args(lt, dev_plan, **{"metadataOptions.httpTokens": "optional"})
    )
    assert "metadataOptions.httpTokens='optional'" in found.text(), "the offending setting is quoted"
    assert "http_tokens': 'required'" in found.text(), "the fix shows the setting to use"


def test_a_launch_template_without_metadata_options_is_a_violation(dev_plan: Plan) -> None:
    lt = one(dev_plan, LT, GPU_LT)
    found = run(security_rules.imdsv2_required, resource_args(lt, dev_plan, metadataOptions=DELETE))
    assert "httpTokens=unset (unset: the AMI's default" in found.text(), "unset is called out as the AMI default"


def test_a_disabled_metadata_service_needs_no_tokens(dev_plan: Plan) -> None:
    lt = one(dev_plan, LT, GPU_LT)
    args = resource_args(lt, dev_plan, metadataOptions={"httpEndpoint": "disabled"})
    assert run(security_rules.imdsv2_required, args) == [], "no IMDS at all cannot leak credentials"


def test_unencrypted_ebs_in_a_launch_template_or_a_volume_is_a_violation(dev_plan: Plan) -> None:
    lt = one(dev_plan, LT, GPU_LT)
    found = run(
        security_rules.ebs_encrypted, resource_args(lt, dev_plan, **{"blockDeviceMappings.0.ebs.encrypted": "false"})
    )
    assert "unencrypted EBS: /dev/xvda" in found.text(), "the device is named"
    volume = planned("aws:ebs/volume:Volume", "cache", {"availabilityZone": "us-east-1a", "size": 500})
    assert "the volume" in run(security_rules.ebs_encrypted, resource_args(volume)).text(), "unset means unencrypted"


def test_an_sns_topic_without_a_kms_key_is_a_violation(dev_plan: Plan) -> None:
    topic = one(dev_plan, "aws:sns/topic:Topic")
    found = run(security_rules.sns_encrypted, resource_args(topic, dev_plan, kmsMasterKeyId=DELETE))
    assert "has no kmsMasterKeyId" in found.text(), "the missing key is stated"


def test_a_topic_key_not_known_until_apply_counts_as_set(dev_plan: Plan) -> None:
    topic = one(dev_plan, "aws:sns/topic:Topic")
    args = resource_args(topic, dev_plan, kmsMasterKeyId="<unknown>")
    assert run(security_rules.sns_encrypted, args) == [], "a key ARN computed at apply time is still a key"


def test_ssh_open_to_the_internet_is_a_violation() -> None:
    rule = {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
    found = run(security_rules.no_public_ssh, resource_args(sg(rule)))
    assert "ingress[0] opens port 22 to 0.0.0.0/0" in found.text(), "the entry, port and range are named"


@pytest.mark.parametrize(
    "rule",
    [
        {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]},
        {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
        {"protocol": "udp", "fromPort": 0, "toPort": 65535, "cidrBlocks": ["0.0.0.0/0"]},
    ],
)
def test_ssh_from_known_ranges_and_other_public_ports_pass(rule: dict) -> None:
    assert run(security_rules.no_public_ssh, resource_args(sg(rule))) == [], f"{rule} does not expose SSH"


def test_an_all_traffic_ipv6_rule_and_a_vpc_ingress_rule_also_count() -> None:
    all_traffic = planned(
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "r",
        {"type": "ingress", "protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]},
    )
    ingress = planned(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "r2",
        {"ipProtocol": "tcp", "fromPort": 20, "toPort": 30, "cidrIpv4": "0.0.0.0/0"},
    )
    assert "opens port 22 to ::/0" in run(security_rules.no_public_ssh, resource_args(all_traffic)).text(), (
        "protocol -1 opens every port"
    )
    assert "opens port 22 to 0.0.0.0/0" in run(security_rules.no_public_ssh, resource_args(ingress)).text(), (
        "a port range that contains 22 opens SSH"
    )


def test_a_public_eks_endpoint_open_to_everyone_is_a_violation(dev_plan: Plan) -> None:
    cluster = one(dev_plan, EKS)
    opened = resource_args(cluster, dev_plan, **{"vpcConfig.publicAccessCidrs": ["0.0.0.0/0"]})
    found = run(security_rules.no_public_kubernetes_api, opened)
    assert "public endpoint open to 0.0.0.0/0" in found.text(), "the world-open CIDR is named"
    unset = resource_args(cluster, dev_plan, **{"vpcConfig.publicAccessCidrs": DELETE})
    assert "unset: AWS opens it to 0.0.0.0/0" in run(security_rules.no_public_kubernetes_api, unset).text(), (
        "no CIDR list on a public endpoint is AWS's 0.0.0.0/0"
    )
    private = resource_args(
        cluster, dev_plan, **{"vpcConfig.publicAccessCidrs": DELETE, "vpcConfig.endpointPublicAccess": False}
    )
    assert run(security_rules.no_public_kubernetes_api, private) == [], "a private endpoint is not exposed"


def test_a_security_group_opening_6443_to_everyone_is_a_violation() -> None:
    rule = {"protocol": "tcp", "fromPort": 6443, "toPort": 6443, "cidrBlocks": ["0.0.0.0/0"]}
    found = run(security_rules.no_public_kubernetes_api, resource_args(sg(rule)))
    assert "opens port 6443 to 0.0.0.0/0" in found.text(), "the API port is named"


def test_eks_without_secrets_encryption_is_a_violation(dev_plan: Plan) -> None:
    cluster = one(dev_plan, EKS)
    found = run(security_rules.eks_secrets_encryption, resource_args(cluster, dev_plan, encryptionConfig=DELETE))
    assert "encryptionConfig=unset" in found.text(), "the missing config is stated"


def test_eks_with_too_few_control_plane_logs_is_a_violation(dev_plan: Plan) -> None:
    cluster = one(dev_plan, EKS)
    found = run(
        security_rules.eks_control_plane_logging, resource_args(cluster, dev_plan, enabledClusterLogTypes=["api"])
    )
    assert "missing audit, authenticator" in found.text(), "the missing log types are named"
