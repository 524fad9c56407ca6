"""The pure builders behind the platform: Helm values from typed config, IAM documents, event
patterns and the kubeconfig, checked without any engine."""

from __future__ import annotations

import json

from infra.config import AutoscalerConfig, InterruptionConfig, PoolConfig, Taint
from infra.platform_iam import (
    interruption_event_patterns,
    interruption_queue_policy,
    irsa_trust_policy,
    issuer_host,
)
from infra.platform_values import (
    cluster_autoscaler_values,
    device_plugin_values,
    keda_values,
    kubeconfig,
    node_termination_handler_values,
    system_node_selector,
)
from infra.platform_versions import CHARTS, cluster_autoscaler_image_tag


def pool(name: str, taints: list[Taint] | None = None) -> PoolConfig:
    return PoolConfig(name=name, tier=name, instance_types=["g5.xlarge"], max_size=2, taints=taints or [])


def test_the_device_plugin_tolerates_each_distinct_pool_taint_once():
    dedicated = Taint(key="frugal.dev/dedicated", value="batch", effect="NoExecute")
    values = device_plugin_values([pool("small"), pool("large", [dedicated]), pool("batch", [dedicated])])
    keys = [(t["key"], t["value"], t["effect"]) for t in values["tolerations"]]
    assert keys == [("nvidia.com/gpu", "true", "NoSchedule"), ("frugal.dev/dedicated", "batch", "NoExecute")], (
        "the GPU taint and the extra one, without duplicates, so the plugin reaches every GPU node"
    )
    assert all(t["operator"] == "Equal" for t in values["tolerations"]), "exactly those taints, not everything"


def test_autoscaler_timing_and_image_follow_the_config_and_the_cluster_version():
    values = cluster_autoscaler_values(
        cluster_name="c1",
        region="eu-west-1",
        kubernetes_version="1.34",
        role_arn="arn:aws:iam::1:role/ca",
        config=AutoscalerConfig(scale_down_unneeded_minutes=30, max_node_provision_minutes=20),
    )
    assert values["extraArgs"]["scale-down-unneeded-time"] == "30m", "the configured unneeded time"
    assert values["extraArgs"]["max-node-provision-time"] == "20m", "the configured provision timeout"
    assert values["image"]["tag"] == cluster_autoscaler_image_tag("1.34") == "v1.34.0", "minor matches the cluster"
    assert values["awsRegion"] == "eu-west-1" and values["autoDiscovery"]["clusterName"] == "c1", "region, cluster"


def test_the_handler_gets_a_disruption_budget_only_with_a_second_replica():
    one = node_termination_handler_values(
        region="r", queue_url="q", role_arn="a", config=InterruptionConfig(), replicas=1
    )
    two = node_termination_handler_values(
        region="r", queue_url="q", role_arn="a", config=InterruptionConfig(), replicas=2
    )
    assert "podDisruptionBudget" not in one, "a PDB on one replica would block every node drain"
    assert two["podDisruptionBudget"] == {"maxUnavailable": 1}, "with two, one always keeps handling"
    custom = node_termination_handler_values(
        region="r",
        queue_url="q",
        role_arn="a",
        config=InterruptionConfig(node_grace_seconds=100, pod_grace_seconds=60),
        replicas=1,
    )
    assert (custom["nodeTerminationGracePeriod"], custom["podTerminationGracePeriod"]) == (100, 60), "from config"


def test_keda_runs_every_part_on_system_nodes_with_requests():
    values = keda_values()
    assert values["nodeSelector"] == system_node_selector(), "system nodes"
    assert set(values["resources"]) == {"operator", "metricServer", "webhooks"}, "every KEDA workload"
    assert all(r["requests"]["cpu"] and r["requests"]["memory"] for r in values["resources"].values()), "requests"


def test_the_kubeconfig_execs_aws_eks_get_token_for_the_cluster_and_region():
    config = json.loads(kubeconfig(cluster_name="c1", endpoint="https://e", certificate_authority="Q0E=", region="r1"))
    assert config["current-context"] == "c1", "one context, the cluster's"
    assert config["clusters"][0]["cluster"] == {"server": "https://e", "certificate-authority-data": "Q0E="}
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws" and exec_["args"] == [
        "eks",
        "get-token",
        "--cluster-name",
        "c1",
        "--region",
        "r1",
        "--output",
        "json",
    ], "a fresh token per call"
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1", "the exec API kubectl and Pulumi speak"


def test_the_trust_policy_names_the_issuer_host_without_its_scheme():
    assert issuer_host("https://oidc.eks.r.amazonaws.com/id/X/") == "oidc.eks.r.amazonaws.com/id/X", "no scheme, no /"
    doc = json.loads(irsa_trust_policy("arn:p", "https://oidc.eks.r.amazonaws.com/id/X", "ns", "sa"))
    condition = doc["Statement"][0]["Condition"]["StringEquals"]
    assert condition == {
        "oidc.eks.r.amazonaws.com/id/X:sub": "system:serviceaccount:ns:sa",
        "oidc.eks.r.amazonaws.com/id/X:aud": "sts.amazonaws.com",
    }, "one service account, STS audience"


def test_the_lifecycle_rule_matches_exactly_the_given_groups_and_the_queue_policy_exactly_the_rules():
    patterns = interruption_event_patterns(["b", "a"])
    assert patterns["asg-terminate"]["detail"] == {"AutoScalingGroupName": ["a", "b"]}, "sorted, only these groups"
    assert len(patterns) == 5, "spot, rebalance, state change, scheduled change, lifecycle"
    policy = json.loads(interruption_queue_policy("arn:q", ["arn:r2", "arn:r1"]))
    allow = policy["Statement"][0]
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == ["arn:r1", "arn:r2"], "only these rules"


def test_every_chart_is_pinned_to_an_exact_version_from_a_named_source():
    for chart in CHARTS:
        assert chart.version.count(".") == 2 and chart.version.replace(".", "").isdigit(), f"{chart.name} exact"
        assert chart.repository.startswith("https://") or chart.name.startswith("oci://"), f"{chart.name} located"
        assert chart.source, f"{chart.name} says where its version was read"
