"""The program over both stacks, run by the recording fake engine: what each component declares."""

from __future__ import annotations

import base64
import importlib
import inspect
import json

import pytest

from infra.config import PROJECT, parse
from infra.offline import run_offline
from infra.plan import Plan, PlannedResource
from infra.program import STACK_TAG_KEY
from tests.fakes import as_engine_config, stack_values

COST_TAGS = {"project", "environment", "owner", "cost-center", STACK_TAG_KEY}


def one(plan: Plan, type_token: str, name: str) -> PlannedResource:
    matches = [r for r in plan.of_type(type_token) if r.name == name]
    assert len(matches) == 1, f"exactly one {type_token} named {name} in {plan.stack}"
    return matches[0]


def args_class(type_token: str):
    """The pulumi_aws Args class for a type token like aws:ec2/vpc:Vpc (None for non-aws types)."""
    if not type_token.startswith("aws:"):
        return None
    module, cls = type_token.split(":")[1].split("/")[0], type_token.split(":")[2]
    module = {"lambda": "lambda_"}.get(module, module)
    return getattr(importlib.import_module(f"pulumi_aws.{module}"), f"{cls}Args", None)


def test_every_resource_sits_under_one_of_our_components(any_plan: Plan):
    components = {r.urn for r in any_plan.resources if r.type.startswith("frugal:")}
    assert len(components) >= 5, "network, cluster, pool(s), schedule and budget components exist"
    stray = [
        r.urn
        for r in any_plan.resources
        if not r.type.startswith("frugal:") and r.parent not in components and r.name != "aws"
    ]
    assert stray == [], f"only the stack-wide aws provider may live outside a component: {stray}"


def test_every_taggable_resource_carries_the_cost_allocation_tags(any_plan: Plan):
    checked = 0
    for r in any_plan.resources:
        cls = args_class(r.type)
        if cls is None or "tags" not in inspect.signature(cls.__init__).parameters:
            continue
        if r.type == "aws:autoscaling/group:Group":
            tags = {t["key"]: t["value"] for t in r.inputs["tags"] if t["propagateAtLaunch"]}
        else:
            tags = r.inputs.get("tags", {})
        missing = COST_TAGS - set(tags)
        assert not missing, f"{r.type} {r.name} lacks cost-allocation tags {missing}"
        assert tags[STACK_TAG_KEY] == f"{PROJECT}-{any_plan.stack}", "the stack tag names this stack alone"
        checked += 1
    assert checked > 20, f"the check covered the stack's taggable resources (got {checked})"


def test_gpu_groups_mix_spot_and_on_demand_over_every_instance_type(any_plan: Plan):
    cfg = parse(any_plan.stack, stack_values(any_plan.stack))
    for pool in cfg.pools:
        asg = one(any_plan, "aws:autoscaling/group:Group", f"pool-{pool.name}-asg")
        mip = asg.inputs["mixedInstancesPolicy"]
        dist = mip["instancesDistribution"]
        assert dist["onDemandBaseCapacity"] == pool.on_demand_base_capacity, "the on-demand base is configured"
        assert dist["onDemandPercentageAboveBaseCapacity"] == pool.on_demand_percentage_above_base, "the share too"
        assert dist["spotAllocationStrategy"] == "price-capacity-optimized", "AWS's recommended spot strategy"
        overrides = [o["instanceType"] for o in mip["launchTemplate"]["overrides"]]
        assert overrides == pool.instance_types, "every configured type is an override, in order"
        assert asg.inputs["capacityRebalance"] is True, "rebalance replaces spot nodes before interruption"
        assert (asg.inputs["minSize"], asg.inputs["maxSize"]) == (pool.min_size, pool.max_size), "pool sizes"
        tags = {t["key"]: t["value"] for t in asg.inputs["tags"]}
        assert tags["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"] == "true:NoSchedule", (
            "the autoscaler can scale from zero knowing new nodes carry the GPU taint"
        )


def test_dev_runs_spot_only_and_prod_keeps_an_on_demand_base(dev_plan: Plan, prod_plan: Plan):
    dev = one(dev_plan, "aws:autoscaling/group:Group", "pool-small-asg").inputs["mixedInstancesPolicy"]
    assert dev["instancesDistribution"]["onDemandPercentageAboveBaseCapacity"] == 0, "dev: all spot"
    assert dev["instancesDistribution"]["onDemandBaseCapacity"] == 0, "dev: no on-demand base"
    for name in ("pool-small-asg", "pool-large-asg"):
        prod = one(prod_plan, "aws:autoscaling/group:Group", name).inputs["mixedInstancesPolicy"]
        assert prod["instancesDistribution"]["onDemandBaseCapacity"] >= 1, "prod: an on-demand floor"
    assert len(prod_plan.of_type("aws:ec2/natGateway:NatGateway")) == 3, "prod: a NAT gateway per AZ"
    assert len(dev_plan.of_type("aws:ec2/natGateway:NatGateway")) == 1, "dev: one NAT gateway"


def test_each_pool_drains_before_termination(any_plan: Plan):
    for asg in any_plan.of_type("aws:autoscaling/group:Group"):
        hooks = [h for h in any_plan.of_type("aws:autoscaling/lifecycleHook:LifecycleHook") if h.parent == asg.parent]
        assert len(hooks) == 1, f"{asg.name} has one lifecycle hook"
        hook = hooks[0].inputs
        assert hook["lifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING", "it holds terminations"
        assert hook["defaultResult"] == "CONTINUE" and hook["heartbeatTimeout"] == 300, "bounded wait, then go"


def gpu_templates(plan: Plan) -> list[PlannedResource]:
    """The GPU pools' launch templates (the system node group has its own, checked in test_platform.py)."""
    return [lt for lt in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate") if lt.name.startswith("pool-")]


def test_launch_templates_require_imdsv2_and_encrypt_the_root_volume(any_plan: Plan):
    templates = gpu_templates(any_plan)
    assert templates, "every pool has a launch template"
    for lt in templates:
        meta = lt.inputs["metadataOptions"]
        assert meta["httpTokens"] == "required", "IMDSv1 is refused"
        assert meta["httpPutResponseHopLimit"] == 2, "hop limit 2 lets node-network pods reach IMDS"
        ebs = lt.inputs["blockDeviceMappings"][0]["ebs"]
        assert ebs["encrypted"] == "true" and ebs["volumeType"] == "gp3", "encrypted gp3 root"
        assert lt.inputs["imageId"] == "ami-offline", "the AMI comes from the SSM parameter lookup"


def test_the_ami_is_the_accelerated_al2023_image_of_the_cluster_version(any_plan: Plan):
    from infra.components.gpu_node_pool import accelerated_ami_parameter

    assert accelerated_ami_parameter("1.33") == (
        "/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/nvidia/recommended/image_id"
    ), "AWS's public parameter for the NVIDIA AL2023 EKS AMI"


def test_user_data_joins_the_cluster_with_labels_taints_and_the_lifecycle_label(any_plan: Plan):
    for lt in gpu_templates(any_plan):
        text = base64.b64decode(lt.inputs["userData"]).decode()
        assert "kind: NodeConfig" in text and "name: frugal-llm-" in text, "nodeadm joins the right cluster"
        assert "--register-with-taints=nvidia.com/gpu=true:NoSchedule" in text, "only GPU pods land here"
        assert "frugal.dev/tier=" in text and "frugal.dev/pool=" in text, "tier and pool labels"
        assert "instance-life-cycle" in text and "frugal.dev/lifecycle=$LIFECYCLE" in text, (
            "each node labels itself spot or on-demand from instance metadata"
        )
        assert "X-aws-ec2-metadata-token" in text, "metadata is read with an IMDSv2 token"


def test_schedule_actions_compile_periods_with_cron_time_zone_and_unchanged_sizes(prod_plan: Plan):
    actions = {a.name: a.inputs for a in prod_plan.of_type("aws:autoscaling/schedule:Schedule")}
    assert len(actions) == 8, "4 periods x 2 pools"
    peak = actions["schedule-peak-small"]
    assert peak["recurrence"] == "0 8 * * MON-FRI" and peak["timeZone"] == "America/New_York", "cron + zone"
    assert (peak["minSize"], peak["desiredCapacity"]) == (2, 4), "the period's sizes"
    assert peak["maxSize"] == -1, "an omitted max is -1 (unchanged), never the provider's default 0"
    weekend = actions["schedule-weekend-large"]
    assert weekend["recurrence"] == "0 8 * * SUN,SAT" and weekend["desiredCapacity"] == 0, "weekend scale-down"


def test_dev_schedule_scales_to_zero_outside_working_hours(dev_plan: Plan):
    actions = {a.name: a.inputs for a in dev_plan.of_type("aws:autoscaling/schedule:Schedule")}
    assert actions["schedule-work-small"]["desiredCapacity"] == 1, "one node in working hours"
    assert actions["schedule-nights-small"]["desiredCapacity"] == 0, "none at night"
    assert actions["schedule-weekend-days-small"]["desiredCapacity"] == 0, "none at weekends"


def test_scheduled_groups_let_the_schedule_own_their_sizes(dev_plan: Plan):
    # ignore_changes is an option, not an input; the plan shows the group keeps its configured sizes
    # and the schedule targets it by name.
    asg = one(dev_plan, "aws:autoscaling/group:Group", "pool-small-asg")
    targets = {a.inputs["autoscalingGroupName"] for a in dev_plan.of_type("aws:autoscaling/schedule:Schedule")}
    assert targets == {"pool-small-asg-offline"}, "every action targets the pool's group"
    assert asg.name == "pool-small-asg", "the group itself is declared once"


def test_budget_notifies_actual_and_forecasted_spend_to_email_and_the_topic(any_plan: Plan):
    cfg = parse(any_plan.stack, stack_values(any_plan.stack))
    budget = one(any_plan, "aws:budgets/budget:Budget", "budget-monthly").inputs
    assert budget["budgetType"] == "COST" and budget["timeUnit"] == "MONTHLY", "a monthly cost budget"
    assert budget["limitAmount"] == str(cfg.budget.monthly_limit_usd), "the configured limit"
    assert budget["costFilters"] == [
        {"name": "TagKeyValue", "values": [f"user:{STACK_TAG_KEY}${PROJECT}-{any_plan.stack}"]}
    ], "the budget counts this stack's tagged spend only"
    kinds = [(n["notificationType"], n["threshold"]) for n in budget["notifications"]]
    assert kinds == [("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100)], "alert ladder"
    topic = one(any_plan, "aws:sns/topic:Topic", "budget-alerts")
    for n in budget["notifications"]:
        assert n["subscriberEmailAddresses"] == cfg.budget.subscribers, "every alert reaches the subscribers"
        assert n["subscriberSnsTopicArns"] == [f"arn:aws:sns:us-east-1:123456789012:{topic.name}-offline"], (
            "and the topic"
        )
    emails = [
        s.inputs["endpoint"]
        for s in any_plan.of_type("aws:sns/topicSubscription:TopicSubscription")
        if s.inputs["protocol"] == "email"
    ]
    # Registration order follows when each subscription's inputs resolve, not declaration order.
    assert sorted(emails) == sorted(cfg.budget.subscribers), "each subscriber is subscribed to the topic"


def test_the_alert_topic_is_encrypted_and_lets_only_the_alert_services_publish(any_plan: Plan):
    topic = one(any_plan, "aws:sns/topic:Topic", "budget-alerts")
    assert topic.inputs["kmsMasterKeyId"], "the topic is KMS-encrypted"
    key_policy = json.loads(one(any_plan, "aws:kms/key:Key", "budget-alerts").inputs["policy"])
    services = key_policy["Statement"][1]["Principal"]["Service"]
    assert "budgets.amazonaws.com" in services and "costalerts.amazonaws.com" in services, (
        "an encrypted topic only accepts messages from services allowed to use its key"
    )
    topic_policy = json.loads(one(any_plan, "aws:sns/topicPolicy:TopicPolicy", "budget-alerts").inputs["policy"])
    publish = topic_policy["Statement"][0]
    assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}, "confused-deputy guard"


def test_billing_alarm_and_alert_resources_live_in_us_east_1(any_plan: Plan):
    alarm = one(any_plan, "aws:cloudwatch/metricAlarm:MetricAlarm", "budget-estimated-charges")
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/Billing", "EstimatedCharges"), "billing"
    provider = any_plan.by_urn(alarm.provider or "")
    assert provider is not None and provider.inputs["region"] == "us-east-1", "the billing metric exists only there"
    main_provider = next(r for r in any_plan.resources if r.type == "pulumi:providers:aws" and r.name == "aws")
    vpc = any_plan.of_type("aws:ec2/vpc:Vpc")[0]
    assert vpc.provider == main_provider.urn, "the rest of the stack uses the stack's own regional provider"


def test_anomaly_detection_watches_this_stack_and_alerts_immediately(any_plan: Plan):
    monitor = one(any_plan, "aws:costexplorer/anomalyMonitor:AnomalyMonitor", "budget-anomalies").inputs
    spec = json.loads(monitor["monitorSpecification"])
    assert spec["Tags"] == {"Key": STACK_TAG_KEY, "Values": [f"{PROJECT}-{any_plan.stack}"], "MatchOptions": ["EQUALS"]}
    sub = one(any_plan, "aws:costexplorer/anomalySubscription:AnomalySubscription", "budget-anomalies").inputs
    assert sub["frequency"] == "IMMEDIATE", "SNS delivery requires IMMEDIATE"
    assert sub["subscribers"][0]["type"] == "SNS", "anomalies go to the alert topic"
    assert sub["thresholdExpression"]["dimension"]["key"] == "ANOMALY_TOTAL_IMPACT_ABSOLUTE", "a dollar threshold"
    activated = {t.inputs["tagKey"] for t in any_plan.of_type("aws:costexplorer/costAllocationTag:CostAllocationTag")}
    assert activated == COST_TAGS, "every cost-allocation tag is activated"


def test_the_cluster_encrypts_secrets_logs_and_restricts_its_endpoint(any_plan: Plan):
    cluster = one(any_plan, "aws:eks/cluster:Cluster", "cluster-eks").inputs
    assert cluster["encryptionConfig"]["resources"] == ["secrets"], "envelope encryption of secrets"
    assert set(cluster["enabledClusterLogTypes"]) == {
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    }, "control-plane logging on"
    assert "0.0.0.0/0" not in cluster["vpcConfig"]["publicAccessCidrs"], "the public endpoint is restricted"
    assert cluster["vpcConfig"]["endpointPrivateAccess"] is True, "nodes reach the API privately"
    node_policies = sorted(
        a.inputs["policyArn"].rsplit("/", 1)[1]
        for a in any_plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith("cluster-node-")
    )
    assert node_policies == [
        "AmazonEC2ContainerRegistryPullOnly",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
    ], "nodes get only what they need"
    entry = one(any_plan, "aws:eks/accessEntry:AccessEntry", "cluster-nodes").inputs
    assert entry["type"] == "EC2_LINUX", "nodes join through an access entry"
    oidc = one(any_plan, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "cluster-oidc").inputs
    assert oidc["clientIdLists"] == ["sts.amazonaws.com"], "service-account roles via OIDC"


def test_a_spot_pool_with_few_instance_types_warns_about_diversification():
    values = stack_values("dev")
    values["pools"][0]["instance_types"] = ["g5.xlarge", "g6.xlarge", "g4dn.xlarge"]
    plan = run_offline("dev", config=as_engine_config(values))
    assert any("only 3 instance type(s)" in w and "at least 10" in w for w in plan.warnings), (
        f"AWS's diversification advice is surfaced as a warning: {plan.warnings}"
    )


def test_the_slack_forwarder_exists_only_when_a_secret_name_is_configured(dev_plan: Plan, prod_plan: Plan):
    assert not dev_plan.of_type("aws:lambda/function:Function"), "dev has no Slack webhook configured"
    fn = one(prod_plan, "aws:lambda/function:Function", "budget-delivery-forwarder").inputs
    variables = fn["environment"]["variables"]
    assert variables["SLACK_WEBHOOK_SECRET_NAME"] == "frugal/prod/slack-webhook-url", (
        "the function gets the secret's name, never the URL"
    )
    assert not any("hooks.slack.com" in str(v) for v in variables.values()), "no webhook URL in config or state"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_exports_what_users_and_later_tools_read(stack: str, dev_plan: Plan, prod_plan: Plan):
    plan = {"dev": dev_plan, "prod": prod_plan}[stack]
    for key in (
        "cluster_name",
        "cluster_endpoint",
        "vpc_id",
        "node_pool_asg_names",
        "alert_topic_arn",
        "budget_monthly_limit_usd",
    ):
        assert key in plan.outputs, f"stack output {key} is exported"
    assert plan.outputs["cluster_name"] == f"{PROJECT}-{stack}", "the cluster is named after the stack"


def test_prod_shares_an_encrypted_cache_reachable_only_from_the_cluster(dev_plan: Plan, prod_plan: Plan):
    assert not dev_plan.of_type("aws:elasticache/replicationGroup:ReplicationGroup"), "dev has no shared cache"
    rg = one(prod_plan, "aws:elasticache/replicationGroup:ReplicationGroup", "cache-rg").inputs
    assert rg["engine"] == "valkey" and rg["nodeType"] == "cache.t4g.small", "the configured engine and size"
    assert rg["numCacheClusters"] == 2 and rg["automaticFailoverEnabled"] is True, "primary + replica, failover"
    assert rg["atRestEncryptionEnabled"] is True and rg["transitEncryptionEnabled"] is True, "encrypted"
    ingress = prod_plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert len(ingress) == 1 and ingress[0].inputs["referencedSecurityGroupId"] == "sg-offline", (
        "only the cluster's security group may connect"
    )
    assert "cidrIpv4" not in ingress[0].inputs, "no CIDR-wide access"
    assert "shared_cache_endpoint" in prod_plan.outputs, "the router reads the endpoint from the stack"
