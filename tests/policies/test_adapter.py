"""Plan <-> the SDK's argument types: what the rules see is what the engine would hand them."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UnknownValueError

from infra.plan import Plan
from policies.adapter import plan_from_stack, resource_args, stack_args
from tests.fakes import changed, one


def test_properties_arrive_as_the_engine_sends_them(dev_plan: Plan) -> None:
    asg = one(dev_plan, "aws:autoscaling/group:Group")
    args = resource_args(asg, dev_plan)
    assert args.props["maxSize"] == 2.0 and isinstance(args.props["maxSize"], float), "numbers are Struct doubles"
    assert not isinstance(args.props, dict), "properties are the SDK's read-only proxies, not dicts"
    assert args.provider is not None and args.provider.resource_type == "pulumi:providers:aws", "provider attached"
    assert args.opts.parent == asg.parent, "the parent is in the options, as the engine passes it"


def test_a_plan_unknown_becomes_the_engines_unknown_again(dev_plan: Plan) -> None:
    lt = one(dev_plan, "aws:ec2/launchTemplate:LaunchTemplate", "pool-small-lt")
    unknown = lt.model_copy(update={"inputs": changed(lt.inputs, {"imageId": "<unknown>"})})
    args = resource_args(unknown, dev_plan)
    with pytest.raises(UnknownValueError):
        args.props["imageId"]  # noqa: B018 (the access itself is what raises)


def test_the_stack_links_parents_and_property_dependencies_by_reference(dev_plan: Plan) -> None:
    args = stack_args(dev_plan)
    assert not any(r.resource_type.startswith("pulumi:providers:") for r in args.resources), "no providers"
    schedule = next(r for r in args.resources if r.resource_type == "aws:autoscaling/schedule:Schedule")
    [group] = schedule.property_dependencies["autoscalingGroupName"]
    assert group.resource_type == "aws:autoscaling/group:Group", "the dependency is the group object itself"
    assert group.parent is not None and group.parent.resource_type == "frugal:gpu:GpuNodePool", "parent linked"


def test_a_stack_goes_back_to_the_same_plan_for_the_cost_model(dev_plan: Plan) -> None:
    back = plan_from_stack(stack_args(dev_plan))
    original = [r for r in dev_plan.resources if not r.type.startswith("pulumi:providers:")]
    assert (back.project, back.stack) == (dev_plan.project, dev_plan.stack), "project and stack from the URNs"
    assert [r.urn for r in back.resources] == [r.urn for r in original], "every resource, in order"
    for before, after in zip(original, back.resources, strict=True):
        assert after.inputs == before.inputs, f"{before.name}: inputs survive the round trip"
        assert after.custom == before.custom, f"{before.name}: custom vs component is recovered from the type"
        assert after.property_dependencies == before.property_dependencies, f"{before.name}: dependencies kept"
