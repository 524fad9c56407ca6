"""The platform over both stacks, run by the recording fake engine: system nodes, add-ons, identities,
the Kubernetes provider, the Helm releases and the interruption queue, with the values that matter."""

from __future__ import annotations

import json

import pytest

from infra.config import PROJECT, parse
from infra.offline import OFFLINE_ACCOUNT
from infra.plan import Plan, PlannedResource
from infra.platform_values import NTH_MANAGED_TAG, SYSTEM_NODE_LABEL
from infra.platform_versions import ADDON_VERSIONS, CLUSTER_AUTOSCALER, KEDA, NODE_TERMINATION_HANDLER
from infra.platform_versions import NVIDIA_DEVICE_PLUGIN as DEVICE_PLUGIN
from infra.program import STACK_TAG_KEY
from tests.fakes import stack_values

RELEASE = "kubernetes:helm.sh/v3:Release"


def one(plan: Plan, type_token: str, name: str) -> PlannedResource:
    matches = [r for r in plan.of_type(type_token) if r.name == name]
    assert len(matches) == 1, f"exactly one {type_token} named {name} in {plan.stack}"
    return matches[0]


def release(plan: Plan, key: str) -> PlannedResource:
    return one(plan, RELEASE, f"controllers-{key}")


def statements(policy: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in json.loads(policy)["Statement"] if "Sid" in s}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_the_system_node_group_is_managed_untainted_labelled_and_sized_per_environment(any_plan: Plan):
    cfg = parse(any_plan.stack, stack_values(any_plan.stack)).platform.system_nodes
    group = one(any_plan, "aws:eks/nodeGroup:NodeGroup", "system-ng")
    i = group.inputs
    assert i["capacityType"] == {"dev": "SPOT", "prod": "ON_DEMAND"}[any_plan.stack], (
        "dev accepts spot system nodes, prod never loses its gateway to a reclaim"
    )
    assert i["instanceTypes"] == cfg.instance_types, "every configured type, in order"
    assert i["scalingConfig"] == {"minSize": cfg.min_size, "desiredSize": cfg.desired_size, "maxSize": cfg.max_size}, (
        "the configured sizes"
    )
    assert "taints" not in i, "system nodes are untainted so CoreDNS and controllers can land"
    assert i["labels"] == dict([SYSTEM_NODE_LABEL]), "the label controllers select"
    assert i["amiType"] == "AL2023_x86_64_STANDARD", "EKS's current AL2023 image"
    template = one(any_plan, "aws:ec2/launchTemplate:LaunchTemplate", "system-lt")
    meta = template.inputs["metadataOptions"]
    assert meta["httpTokens"] == "required" and meta["httpPutResponseHopLimit"] == 1, (
        "IMDSv2 only, and pods cannot reach the node role (controllers use IRSA)"
    )
    ebs = template.inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs["encrypted"] == "true" and ebs["volumeSize"] == cfg.disk_gib, "encrypted root of the configured size"
    tagged = {spec["resourceType"]: spec["tags"] for spec in template.inputs["tagSpecifications"]}
    assert tagged["instance"][STACK_TAG_KEY] == f"{PROJECT}-{any_plan.stack}", "instances carry the cost tags"
    assert i["launchTemplate"]["id"] == "system-lt-offline", "the node group launches from that template"
    assert "NTH" not in json.dumps(i) and NTH_MANAGED_TAG not in i["tags"], "the handler never drains system nodes"


def test_system_nodes_have_their_own_node_role_with_only_the_three_node_policies(any_plan: Plan):
    role = one(any_plan, "aws:iam/role:Role", "system-node")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}], (
        "only EC2 instances assume it"
    )
    attached = sorted(
        a.inputs["policyArn"].rsplit("/", 1)[1]
        for a in any_plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith("system-node-")
    )
    assert attached == [
        "AmazonEC2ContainerRegistryPullOnly",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
    ], "join the cluster, run the CNI, pull images: nothing more"
    group = one(any_plan, "aws:eks/nodeGroup:NodeGroup", "system-ng")
    assert group.inputs["nodeRoleArn"].endswith("system-node-offline"), "the group runs with that role"
    assert not [p for p in any_plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.startswith("system-")], (
        "no inline policy widens it"
    )


def test_add_ons_are_pinned_to_builds_of_the_clusters_version_and_coredns_waits_for_nodes(any_plan: Plan):
    version = parse(any_plan.stack, stack_values(any_plan.stack)).cluster.kubernetes_version
    group = one(any_plan, "aws:eks/nodeGroup:NodeGroup", "system-ng")
    for name in ("vpc-cni", "kube-proxy", "coredns"):
        addon = one(any_plan, "aws:eks/addon:Addon", f"addons-{name}")
        assert addon.inputs["addonVersion"] == ADDON_VERSIONS[version][name], f"{name} is pinned"
        assert addon.inputs["clusterName"] == f"{PROJECT}-{any_plan.stack}", f"{name} goes to this cluster"
        assert addon.inputs["resolveConflictsOnCreate"] == "OVERWRITE", "replaces the self-managed copy"
    coredns = one(any_plan, "aws:eks/addon:Addon", "addons-coredns")
    assert group.urn in coredns.dependencies, "CoreDNS is created once nodes exist to run it"
    assert (
        one(any_plan, "aws:eks/addon:Addon", "addons-kube-proxy").inputs["addonVersion"].startswith(f"v{version}.")
    ), "kube-proxy matches the cluster's minor version"


def test_the_autoscaler_role_trusts_one_service_account_and_resizes_only_this_clusters_groups(any_plan: Plan):
    cluster = f"{PROJECT}-{any_plan.stack}"
    role = one(any_plan, "aws:iam/role:Role", "autoscaler-identity-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert len(trust) == 1 and trust[0]["Action"] == "sts:AssumeRoleWithWebIdentity", "IRSA web identity only"
    assert trust[0]["Principal"]["Federated"].endswith(":oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OFFLINE"), (
        "the cluster's own OIDC provider"
    )
    condition = trust[0]["Condition"]["StringEquals"]
    assert condition["oidc.eks.us-east-1.amazonaws.com/id/OFFLINE:sub"] == (
        "system:serviceaccount:frugal-platform:cluster-autoscaler"
    ), "only the autoscaler's service account"
    assert condition["oidc.eks.us-east-1.amazonaws.com/id/OFFLINE:aud"] == "sts.amazonaws.com", "for STS only"
    policy = statements(one(any_plan, "aws:iam/rolePolicy:RolePolicy", "autoscaler-identity-policy").inputs["policy"])
    write = policy["ResizeOwnGroups"]
    assert sorted(as_list(write["Action"])) == [
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ], "the only write actions"
    assert (
        write["Resource"]
        == f"arn:aws:autoscaling:us-east-1:{OFFLINE_ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/*"
    )
    assert write["Condition"] == {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}}, (
        "writes are scoped to groups tagged for this cluster"
    )
    reads = policy["DiscoverGroupsAndTypes"]
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in as_list(reads["Action"])), (
        "only reads use Resource '*'"
    )
    assert (
        policy["DescribeOwnNodeGroups"]["Resource"] == f"arn:aws:eks:us-east-1:{OFFLINE_ACCOUNT}:nodegroup/{cluster}/*"
    )


def test_the_termination_handler_role_consumes_its_queue_and_completes_only_this_stacks_lifecycle_actions(
    any_plan: Plan,
):
    role = one(any_plan, "aws:iam/role:Role", "termination-handler-identity-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Condition"]["StringEquals"]["oidc.eks.us-east-1.amazonaws.com/id/OFFLINE:sub"] == (
        "system:serviceaccount:frugal-platform:aws-node-termination-handler"
    ), "only the handler's service account"
    policy = statements(
        one(any_plan, "aws:iam/rolePolicy:RolePolicy", "termination-handler-identity-policy").inputs["policy"]
    )
    queue_arn = f"arn:aws:sqs:us-east-1:{OFFLINE_ACCOUNT}:{PROJECT}-{any_plan.stack}-interruptions"
    assert policy["ConsumeInterruptionQueue"]["Resource"] == queue_arn, "receive/delete on its own queue only"
    assert sorted(as_list(policy["ConsumeInterruptionQueue"]["Action"])) == ["sqs:DeleteMessage", "sqs:ReceiveMessage"]
    complete = policy["CompleteOwnLifecycleActions"]
    assert complete["Action"] == "autoscaling:CompleteLifecycleAction", "the one autoscaling write"
    assert complete["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/{STACK_TAG_KEY}": f"{PROJECT}-{any_plan.stack}"}
    }, "scoped by this stack's tag"
    described = as_list(policy["IdentifyInstances"]["Action"])
    assert all(":Describe" in a for a in described) and policy["IdentifyInstances"]["Resource"] == "*", (
        "only Describe calls, which AWS cannot scope, use '*'"
    )


def test_every_kubernetes_object_goes_through_the_stacks_provider_built_from_the_cluster(any_plan: Plan):
    provider = one(any_plan, "pulumi:providers:kubernetes", "kubernetes-k8s")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    cluster = f"{PROJECT}-{any_plan.stack}"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://{cluster}.offline.eks.amazonaws.com", (
        "the endpoint comes from the cluster's outputs"
    )
    assert kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"] == "T0ZGTElORQ==", "and its CA"
    user = kubeconfig["users"][0]["user"]
    assert "token" not in user, "no static token in state"
    assert user["exec"]["command"] == "aws" and user["exec"]["args"][:4] == [
        "eks",
        "get-token",
        "--cluster-name",
        cluster,
    ], "tokens come from `aws eks get-token` for this cluster"
    everything = [r for r in any_plan.resources if r.type.startswith("kubernetes:")]
    assert all(r.provider == provider.urn for r in everything), "serving's objects use the same provider"
    # The serving objects (tests/serving/test_program.py) are the rest.
    kube = [r for r in everything if "frugal:serving:Serving" not in r.urn]
    assert len(kube) == 5, f"four releases and the namespaces: {[r.name for r in kube]}"
    assert all(r.provider == provider.urn for r in kube), "every in-cluster object uses the stack's provider"
    components = {r.urn: r.type for r in any_plan.resources if not r.custom}
    assert all(components.get(r.parent) == "frugal:platform:PlatformControllers" for r in kube), (
        "they sit under their component in `frugal plan`"
    )


@pytest.mark.parametrize(
    ("key", "chart"),
    [
        ("nvidia-device-plugin", DEVICE_PLUGIN),
        ("cluster-autoscaler", CLUSTER_AUTOSCALER),
        ("keda", KEDA),
        ("aws-node-termination-handler", NODE_TERMINATION_HANDLER),
    ],
)
def test_each_release_pins_its_chart_and_waits_for_nodes_add_ons_and_namespaces(any_plan: Plan, key: str, chart):
    r = release(any_plan, key)
    assert r.inputs["chart"] == chart.name and r.inputs["version"] == chart.version, "the pinned chart"
    if chart.repository:
        assert r.inputs["repositoryOpts"]["repo"] == chart.repository, "from its published repository"
    else:
        assert r.inputs["chart"].startswith("oci://") and "repositoryOpts" not in r.inputs, "an OCI chart"
    assert r.inputs["atomic"] is True, "a failed install rolls back instead of leaving half a controller"
    needed = {
        one(any_plan, "aws:eks/nodeGroup:NodeGroup", "system-ng").urn,
        one(any_plan, "aws:eks/addon:Addon", "addons-vpc-cni").urn,
        one(any_plan, "kubernetes:yaml/v2:ConfigGroup", "controllers-namespaces").urn,
    }
    assert needed <= set(r.dependencies), "pods need nodes, a CNI and their namespace first"


def test_the_device_plugin_runs_on_gpu_nodes_only_and_tolerates_every_pool_taint(any_plan: Plan):
    values = release(any_plan, "nvidia-device-plugin").inputs["values"]
    assert release(any_plan, "nvidia-device-plugin").inputs["namespace"] == "nvidia-device-plugin", "own namespace"
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "frugal.dev/pool", "operator": "Exists"}]}], (
        "the GPU pools' label, present from registration (no node-feature-discovery needed)"
    )
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in values[
        "tolerations"
    ], "it tolerates the GPU taint"
    assert "nodeSelector" not in values, "not pinned to system nodes"


def test_the_autoscaler_discovers_this_clusters_groups_with_gpu_scale_down_settings(any_plan: Plan):
    cluster = f"{PROJECT}-{any_plan.stack}"
    values = release(any_plan, "cluster-autoscaler").inputs["values"]
    assert values["autoDiscovery"] == {
        "clusterName": cluster,
        "tags": ["k8s.io/cluster-autoscaler/enabled", f"k8s.io/cluster-autoscaler/{cluster}"],
    }, "auto-discovery by this stack's tags"
    assert values["awsRegion"] == "us-east-1" and values["image"]["tag"] == "v1.35.0", "region; minor = cluster's"
    args = values["extraArgs"]
    assert (args["scale-down-unneeded-time"], args["scale-down-delay-after-add"]) == ("15m", "10m"), "GPU timing"
    assert args["skip-nodes-with-local-storage"] is False, "model caches in emptyDir do not pin GPU nodes"
    assert values["nodeSelector"] == dict([SYSTEM_NODE_LABEL]), "on system nodes"
    annotations = values["rbac"]["serviceAccount"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"].endswith("autoscaler-identity-role-offline"), "IRSA role annotated"
    gpu_groups = [g for g in any_plan.of_type("aws:autoscaling/group:Group")]
    for group in gpu_groups:
        tags = {t["key"]: t["value"] for t in group.inputs["tags"]}
        assert tags[f"k8s.io/cluster-autoscaler/{cluster}"] == "owned", f"{group.name} is discoverable"


def test_the_termination_handler_processes_this_stacks_queue_with_graces_inside_the_notice(any_plan: Plan):
    cfg = parse(any_plan.stack, stack_values(any_plan.stack)).platform
    values = release(any_plan, "aws-node-termination-handler").inputs["values"]
    assert values["enableSqsTerminationDraining"] is True, "queue-processor mode"
    assert values["queueURL"] == (
        f"https://sqs.us-east-1.amazonaws.com/{OFFLINE_ACCOUNT}/{PROJECT}-{any_plan.stack}-interruptions"
    ), "this stack's queue"
    assert values["awsRegion"] == "us-east-1", "its region"
    assert values["checkTagBeforeDraining"] is True and values["managedTag"] == NTH_MANAGED_TAG, "tagged nodes only"
    node, pod = values["nodeTerminationGracePeriod"], values["podTerminationGracePeriod"]
    assert pod < node <= 120, f"pods ({pod} s) stop before the node's drain ends ({node} s), inside the 2-minute notice"
    assert values["replicas"] == min(2, cfg.system_nodes.min_size), "one per system node, two at most"


def test_the_managed_tag_marks_the_gpu_groups_and_nothing_else(any_plan: Plan):
    groups = any_plan.of_type("aws:autoscaling/group:Group")
    assert groups, "the stack has GPU groups"
    for group in groups:
        tags = {t["key"]: t for t in group.inputs["tags"]}
        assert NTH_MANAGED_TAG in tags and tags[NTH_MANAGED_TAG]["propagateAtLaunch"] is True, (
            f"{group.name} and its instances are drained by the handler"
        )
    others = [r.name for r in any_plan.resources if NTH_MANAGED_TAG in json.dumps(r.inputs.get("tags", {}))]
    assert sorted(others) == sorted(g.name for g in groups), f"only GPU groups carry it: {others}"


def test_eventbridge_rules_feed_the_encrypted_queue_which_only_they_may_write(any_plan: Plan):
    prefix = f"{PROJECT}-{any_plan.stack}"
    queue = one(any_plan, "aws:sqs/queue:Queue", "interruptions-queue")
    assert queue.inputs["sqsManagedSseEnabled"] is True, "encrypted at rest"
    assert queue.inputs["messageRetentionSeconds"] == 300, "old interruptions expire"
    patterns = {
        r.name.removeprefix("interruptions-"): json.loads(r.inputs["eventPattern"])
        for r in any_plan.of_type("aws:cloudwatch/eventRule:EventRule")
    }
    assert patterns["spot-interruption"] == {
        "detail-type": ["EC2 Spot Instance Interruption Warning"],
        "source": ["aws.ec2"],
    }
    assert patterns["rebalance"] == {"detail-type": ["EC2 Instance Rebalance Recommendation"], "source": ["aws.ec2"]}
    assert patterns["state-change"]["detail-type"] == ["EC2 Instance State-change Notification"], "state changes"
    assert "running" not in patterns["state-change"]["detail"]["state"], "only the states that end a node"
    assert patterns["scheduled-change"] == {
        "detail": {"eventTypeCategory": ["scheduledChange"], "service": ["EC2"]},
        "detail-type": ["AWS Health Event"],
        "source": ["aws.health"],
    }, "AWS Health scheduled changes for EC2"
    asg_names = sorted(f"{g.name}-offline" for g in any_plan.of_type("aws:autoscaling/group:Group"))
    assert patterns["asg-terminate"] == {
        "detail": {"AutoScalingGroupName": asg_names},
        "detail-type": ["EC2 Instance-terminate Lifecycle Action"],
        "source": ["aws.autoscaling"],
    }, "terminate lifecycle actions of this stack's GPU groups only"
    targets = any_plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 5 and all(t.inputs["arn"].endswith(f"{prefix}-interruptions") for t in targets), (
        "each rule targets the queue"
    )
    policy = json.loads(one(any_plan, "aws:sqs/queuePolicy:QueuePolicy", "interruptions-policy").inputs["policy"])
    allow = next(s for s in policy["Statement"] if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    sources = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(sources) == sorted(
        f"arn:aws:cloudwatch:us-east-1:{OFFLINE_ACCOUNT}:{prefix}-{k}" for k in patterns
    ), "only this stack's five rules may send"
    deny = next(s for s in policy["Statement"] if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, "no plain-HTTP access"


def test_the_plan_table_summarises_the_platform_objects_with_what_matters(prod_plan: Plan):
    from infra.render_plan import summarize

    plugin = summarize(release(prod_plan, "nvidia-device-plugin"))
    assert plugin == (
        f"chart nvidia-device-plugin {DEVICE_PLUGIN.version} from {DEVICE_PLUGIN.repository} into nvidia-device-plugin"
    ), "chart, pinned version, repository and namespace"
    nodes = summarize(one(prod_plan, "aws:eks/nodeGroup:NodeGroup", "system-ng"))
    assert nodes.startswith("ON_DEMAND m6i.large, m7i.large, m5.large; size 2/2/4"), f"capacity and sizes: {nodes}"
    group = summarize(one(prod_plan, "kubernetes:yaml/v2:ConfigGroup", "controllers-namespaces"))
    assert group == "Namespace/frugal-platform, Namespace/nvidia-device-plugin, LimitRange/container-defaults", (
        "the raw objects by kind and name"
    )
