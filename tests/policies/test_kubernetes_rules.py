"""Rules for what runs on the cluster, called with the SDK's real validation args.

Passing cases are the stacks' own Helm releases (offline plan); failing cases are the same
releases with one value changed, or the plan without the interruption queue.
"""

from __future__ import annotations

import pytest

from infra.plan import Plan
from policies import kubernetes_rules as rules
from tests.fakes import DELETE, Violations, one, resource_args, stack_args

RELEASE = "kubernetes:helm.sh/v3:Release"
KEYS = ("nvidia-device-plugin", "cluster-autoscaler", "keda", "aws-node-termination-handler")


def run(rule, args) -> Violations:
    found = Violations()
    rule(args, found)
    return found


def release(plan: Plan, key: str):
    return one(plan, RELEASE, f"controllers-{key}")


@pytest.mark.parametrize("key", KEYS)
def test_every_release_of_both_stacks_passes_every_workload_rule(any_plan: Plan, key: str):
    r = release(any_plan, key)
    for rule in (
        rules.helm_chart_pinned,
        rules.workload_resource_requests,
        rules.workload_runs_as_non_root,
        rules.controllers_on_system_nodes,
    ):
        assert run(rule, resource_args(r, any_plan)) == [], f"{rule.__name__} accepts {r.name}"


@pytest.mark.parametrize("version", ["", "latest", "^9.59.0", "9.x", "~2.20"])
def test_a_chart_version_that_is_not_exact_is_a_violation(dev_plan: Plan, version: str):
    r = release(dev_plan, "keda")
    found = run(rules.helm_chart_pinned, resource_args(r, dev_plan, version=version))
    assert len(found) == 1 and "[helm-chart-pinned]" in found.text(), f"{version!r} is not a pin"
    assert f"version={version!r}" in found.text() and "fix:" in found.text(), "value and fix named"


def test_a_missing_chart_version_and_a_latest_image_tag_are_violations(dev_plan: Plan):
    r = release(dev_plan, "cluster-autoscaler")
    unset = run(rules.helm_chart_pinned, resource_args(r, dev_plan, version=DELETE))
    assert "version=unset" in unset.text(), "an unset version floats to whatever the repository serves"
    latest = run(rules.helm_chart_pinned, resource_args(r, dev_plan, **{"values.image.tag": "latest"}))
    assert "values.image.tag" in latest.text() and "unpinned image" in latest.text(), latest.text()


def test_a_workload_without_requests_is_a_violation_wherever_the_chart_keys_them(dev_plan: Plan):
    ca = release(dev_plan, "cluster-autoscaler")
    found = run(rules.workload_resource_requests, resource_args(ca, dev_plan, **{"values.resources.requests": DELETE}))
    assert "values.resources lacks requests cpu, memory" in found.text(), found.text()
    keda = release(dev_plan, "keda")
    found = run(
        rules.workload_resource_requests,
        resource_args(keda, dev_plan, **{"values.resources.webhooks.requests.memory": DELETE}),
    )
    assert "values.resources.webhooks lacks requests memory" in found.text(), "KEDA's nested workloads count"
    gone = run(rules.workload_resource_requests, resource_args(ca, dev_plan, **{"values.resources": DELETE}))
    assert "no `resources` in the values" in gone.text(), "the chart default is no requests at all"


def test_root_or_privileged_workloads_are_violations_except_the_device_plugin(dev_plan: Plan):
    nth = release(dev_plan, "aws-node-termination-handler")
    found = run(
        rules.workload_runs_as_non_root, resource_args(nth, dev_plan, **{"values.securityContext.runAsUser": 0})
    )
    assert "values.securityContext.runAsUser=0" in found.text(), found.text()
    found = run(
        rules.workload_runs_as_non_root,
        resource_args(nth, dev_plan, **{"values.securityContext.runAsNonRoot": DELETE}),
    )
    assert "no runAsNonRoot: true" in found.text(), "non-root must be said, not assumed from the image"
    plugin = release(dev_plan, "nvidia-device-plugin")
    assert run(rules.workload_runs_as_non_root, resource_args(plugin, dev_plan)) == [], "allow-listed: runs as root"
    found = run(rules.workload_runs_as_non_root, resource_args(plugin, dev_plan, config={"rootAllowedCharts": []}))
    assert "no runAsNonRoot: true" in found.text(), "without the allow-list the device plugin is flagged"


def test_a_controller_off_the_system_nodes_is_a_violation(dev_plan: Plan):
    keda = release(dev_plan, "keda")
    found = run(rules.controllers_on_system_nodes, resource_args(keda, dev_plan, **{"values.nodeSelector": DELETE}))
    assert "nodeSelector(s) unset" in found.text() and "frugal.dev/node-role: system" in found.text(), found.text()
    gpu = {"values.nodeSelector": {"frugal.dev/pool": "small"}}
    found = run(rules.controllers_on_system_nodes, resource_args(keda, dev_plan, **gpu))
    assert "frugal.dev/pool: 'small'" in found.text(), "a GPU-node selector is named"


def test_spot_gpu_groups_without_interruption_handling_are_a_violation(dev_plan: Plan):
    assert run(rules.interruption_queue_for_spot, stack_args(dev_plan)) == [], "dev has the queue, rule and handler"
    stripped = dev_plan.model_copy(
        update={
            "resources": [
                r
                for r in dev_plan.resources
                if r.type not in ("aws:sqs/queue:Queue", "aws:cloudwatch/eventRule:EventRule", RELEASE)
            ]
        }
    )
    found = run(rules.interruption_queue_for_spot, stack_args(stripped))
    text = found.text()
    assert "spot GPU group(s) pool-small-asg" in text, text
    for missing in ("an SQS queue", "EC2 Spot Instance Interruption Warning", "queue-processor mode"):
        assert missing in text, f"{missing} is named: {text}"


def test_on_demand_only_gpu_groups_need_no_interruption_queue(dev_plan: Plan):
    asg = one(dev_plan, "aws:autoscaling/group:Group")
    on_demand = asg.model_copy(
        update={
            "inputs": {
                **asg.inputs,
                "mixedInstancesPolicy": {
                    **asg.inputs["mixedInstancesPolicy"],
                    "instancesDistribution": {
                        **asg.inputs["mixedInstancesPolicy"]["instancesDistribution"],
                        "onDemandPercentageAboveBaseCapacity": 100,
                    },
                },
            }
        }
    )
    plan = dev_plan.model_copy(
        update={
            "resources": [
                on_demand if r.urn == asg.urn else r for r in dev_plan.resources if r.type != "aws:sqs/queue:Queue"
            ]
        }
    )
    assert run(rules.interruption_queue_for_spot, stack_args(plan)) == [], "no spot, nothing to be interrupted"
