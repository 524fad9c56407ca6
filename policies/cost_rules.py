"""Cost rules that judge one resource at a time: GPU auto-scaling groups, instance families, tags.

Each rule is a plain `validate(args, report_violation)` over `pulumi_policy.ResourceValidationArgs`;
`policies.registry` turns them into `ResourceValidationPolicy` objects. Thresholds come from the
rule's pack config (its `*_CONFIG` schema holds the documented defaults); a threshold may be one
value or a map per environment ({"prod": 50, "default": 0}), the environment being the resource's
`environment` tag unless the pack config names one.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from infra.tokens import AUTOSCALING_GROUP, EC2_INSTANCE, EC2_LAUNCH_TEMPLATE
from policies.props import (
    REQUIRED_TAG_KEYS,
    asg_instance_types,
    asg_tag_propagates,
    environment,
    family,
    get,
    gpu_instance_type,
    is_gpu_asg,
    message,
    number,
    provider_props,
    settings,
    show,
    taggable,
    tags,
    threshold,
)

# What AWS does when a mixed instances policy leaves these unset.
AWS_DEFAULT_SPOT_STRATEGY = "lowest-price"
AWS_DEFAULT_ON_DEMAND_PCT = 100

PER_ENV_INT: dict[str, Any] = {
    "oneOf": [
        {"type": "integer", "minimum": 0},
        {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
    ]
}
ENVIRONMENT: dict[str, Any] = {
    "type": "string",
    "description": "judge every resource as this environment (default: its 'environment' tag)",
}

SPOT_STRATEGY_CONFIG: dict[str, dict[str, Any]] = {
    "forbiddenStrategies": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["lowest-price"],
        "description": "spot allocation strategies that raise interruptions (AWS recommends price-capacity-optimized)",
    }
}
ON_DEMAND_SHARE_CONFIG: dict[str, dict[str, Any]] = {
    "maxOnDemandPercentAboveBase": {
        **PER_ENV_INT,
        "default": {"prod": 50, "default": 0},
        "description": "highest on-demand percentage above the on-demand base, per environment",
    },
    "environment": ENVIRONMENT,
}
SPOT_DIVERSITY_CONFIG: dict[str, dict[str, Any]] = {
    "minSpotInstanceTypes": {
        **PER_ENV_INT,
        "default": {"prod": 10, "default": 5},
        "description": "fewest instance types a group that runs spot may choose from (AWS advises >= 10)",
    },
    "environment": ENVIRONMENT,
}
MAX_SIZE_CONFIG: dict[str, dict[str, Any]] = {
    "maxSizeCap": {
        **PER_ENV_INT,
        "default": {"prod": 20, "staging": 8, "default": 4},
        "description": "largest max_size of a GPU auto-scaling group, per environment",
    },
    "environment": ENVIRONMENT,
}
GPU_FAMILIES_CONFIG: dict[str, dict[str, Any]] = {
    "allowedFamilies": {
        "type": "array",
        "items": {"type": "string"},
        "default": [
            "g4dn",
            "g5",
            "g6",
            "g6e",
            "gr6",
            "g7",
            "g7e",
            "p4d",
            "p4de",
            "p5",
            "p5e",
            "p5en",
            "p6-b200",
            "p6-b300",
        ],
        "description": "instance families GPU nodes may use (current NVIDIA generations with a CUDA AMI)",
    }
}
TAGS_CONFIG: dict[str, dict[str, Any]] = {
    "requiredTags": {
        "type": "array",
        "items": {"type": "string"},
        "default": list(REQUIRED_TAG_KEYS),
        "description": "tag keys every taggable resource carries (the stack's cost-allocation tags)",
    }
}


def _distribution(props: Any) -> Any:
    return get(props, "mixedInstancesPolicy", "instancesDistribution", default={})


def _on_demand_pct(props: Any) -> int | float:
    pct = number(get(_distribution(props), "onDemandPercentageAboveBaseCapacity"))
    return AWS_DEFAULT_ON_DEMAND_PCT if pct is None else pct


def _runs_spot(props: Any) -> bool:
    return get(props, "mixedInstancesPolicy") is not None and _on_demand_pct(props) < 100


def _env(args: ResourceValidationArgs, cfg: dict[str, Any]) -> str:
    return environment(cfg, tags(args.props, provider_props(args)), args.stack_tags)


def gpu_asg_mixed_instances(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """GPU auto-scaling groups use a mixed instances policy (spot and on-demand over several types)."""
    if args.resource_type != AUTOSCALING_GROUP or not is_gpu_asg(args.props):
        return
    if get(args.props, "mixedInstancesPolicy") is not None:
        return
    source = next((k for k in ("launchTemplate", "launchConfiguration") if get(args.props, k)), None)
    report_violation(
        message(
            "gpu-asg-mixed-instances",
            f"GPU auto-scaling group '{args.name}' launches from {source or 'a single configuration'} "
            "with no mixedInstancesPolicy, so it runs one on-demand instance type",
            "a mixedInstancesPolicy with instancesDistribution and launchTemplate.overrides",
            "declare mixed_instances_policy (frugal's GpuNodePool does: set pools[] in Pulumi.<stack>.yaml)",
        ),
        None,
    )


def spot_allocation_strategy(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Spot capacity is not allocated by `lowest-price`, which concentrates it in the pools interrupted most."""
    if args.resource_type != AUTOSCALING_GROUP or not is_gpu_asg(args.props) or not _runs_spot(args.props):
        return
    cfg = settings(args.get_config(), SPOT_STRATEGY_CONFIG)
    strategy = get(_distribution(args.props), "spotAllocationStrategy")
    effective = strategy or AWS_DEFAULT_SPOT_STRATEGY
    if effective in cfg["forbiddenStrategies"]:
        unset = "" if strategy else f" (unset, so AWS uses {AWS_DEFAULT_SPOT_STRATEGY})"
        report_violation(
            message(
                "spot-allocation-strategy",
                f"auto-scaling group '{args.name}' allocates spot with {effective!r}{unset}",
                f"not one of {', '.join(cfg['forbiddenStrategies'])}",
                "set spotAllocationStrategy to 'price-capacity-optimized' "
                "(frugal: pools[].spot_allocation_strategy: price-capacity-optimized)",
            ),
            None,
        )


def on_demand_share(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """The on-demand share above the base stays within the environment's maximum (non-prod: 0%)."""
    if (
        args.resource_type != AUTOSCALING_GROUP
        or not is_gpu_asg(args.props)
        or get(args.props, "mixedInstancesPolicy") is None
    ):
        return
    cfg = settings(args.get_config(), ON_DEMAND_SHARE_CONFIG)
    env = _env(args, cfg)
    limit = threshold(cfg, ON_DEMAND_SHARE_CONFIG, "maxOnDemandPercentAboveBase", env)
    pct = _on_demand_pct(args.props)
    if pct > limit:
        unset = (
            ""
            if number(get(_distribution(args.props), "onDemandPercentageAboveBaseCapacity")) is not None
            else (" (unset, so AWS uses 100)")
        )
        report_violation(
            message(
                "on-demand-share",
                f"auto-scaling group '{args.name}' runs {show(pct)}% on-demand above its base{unset} "
                f"in environment '{env}'",
                f"at most {limit}% in '{env}' (config maxOnDemandPercentAboveBase)",
                f"set onDemandPercentageAboveBaseCapacity to at most {limit} and keep the reliable floor in "
                "onDemandBaseCapacity (frugal: pools[].on_demand_percentage_above_base)",
            ),
            None,
        )


def spot_instance_diversity(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A group that runs spot can choose from at least N instance types, so spot finds capacity."""
    if args.resource_type != AUTOSCALING_GROUP or not is_gpu_asg(args.props) or not _runs_spot(args.props):
        return
    cfg = settings(args.get_config(), SPOT_DIVERSITY_CONFIG)
    env = _env(args, cfg)
    minimum = threshold(cfg, SPOT_DIVERSITY_CONFIG, "minSpotInstanceTypes", env)
    types = sorted(set(asg_instance_types(args.props)))
    if len(types) < minimum:
        report_violation(
            message(
                "spot-instance-diversity",
                f"auto-scaling group '{args.name}' runs spot on {len(types)} instance type(s) "
                f"({', '.join(types) or 'no overrides'}) in environment '{env}'",
                f"at least {minimum} types in '{env}' (config minSpotInstanceTypes)",
                "add similar GPU types to launchTemplate.overrides, e.g. g5/g6 sizes with the same GPU memory "
                "(frugal: pools[].instance_types)",
            ),
            None,
        )


def capacity_rebalance(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Groups that run spot replace at-risk instances early (capacity rebalancing on)."""
    if args.resource_type != AUTOSCALING_GROUP or not is_gpu_asg(args.props) or not _runs_spot(args.props):
        return
    value = get(args.props, "capacityRebalance")
    if value is not True:
        report_violation(
            message(
                "capacity-rebalance",
                f"auto-scaling group '{args.name}' runs spot with capacityRebalance={show(value)}",
                "capacityRebalance=true on every group that runs spot",
                "set capacity_rebalance=True so a replacement starts at the rebalance recommendation, "
                "minutes before the 2-minute interruption notice",
            ),
            None,
        )


def asg_max_size(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A GPU group's max_size stays within the environment's cap (a runaway scale-out is the costly failure)."""
    if args.resource_type != AUTOSCALING_GROUP or not is_gpu_asg(args.props):
        return
    cfg = settings(args.get_config(), MAX_SIZE_CONFIG)
    env = _env(args, cfg)
    cap = threshold(cfg, MAX_SIZE_CONFIG, "maxSizeCap", env)
    size = number(get(args.props, "maxSize"))
    if size is not None and size > cap:
        report_violation(
            message(
                "asg-max-size",
                f"GPU auto-scaling group '{args.name}' has maxSize={size} in environment '{env}'",
                f"maxSize <= {cap} in '{env}' (config maxSizeCap)",
                f"lower pools[].max_size to {cap} or less, or raise maxSizeCap for '{env}' in the policy config",
            ),
            None,
        )


def gpu_instance_families(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """GPU nodes use instance types from the allow-listed families only."""
    cfg = settings(args.get_config(), GPU_FAMILIES_CONFIG)
    allowed = list(cfg["allowedFamilies"])
    if args.resource_type == AUTOSCALING_GROUP:
        if not is_gpu_asg(args.props):
            return
        candidates = asg_instance_types(args.props)
    elif args.resource_type in (EC2_LAUNCH_TEMPLATE, EC2_INSTANCE):
        itype = get(args.props, "instanceType")
        candidates = [itype] if isinstance(itype, str) and gpu_instance_type(itype) else []
    else:
        return
    bad = sorted({t for t in candidates if family(t) not in allowed})
    if bad:
        report_violation(
            message(
                "gpu-instance-families",
                f"'{args.name}' uses instance type(s) {', '.join(bad)} from families outside the allow-list",
                f"families {', '.join(allowed)} (config allowedFamilies)",
                "replace them with current-generation NVIDIA types (e.g. g5/g6/g6e), or extend allowedFamilies",
            ),
            None,
        )


def cost_allocation_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every taggable resource carries the stack's cost-allocation tags, so Cost Explorer and the budget see it."""
    if not taggable(args.resource_type):
        return
    cfg = settings(args.get_config(), TAGS_CONFIG)
    present = tags(args.props, provider_props(args))
    missing = [k for k in cfg["requiredTags"] if not present.get(k)]
    if missing:
        report_violation(
            message(
                "cost-allocation-tags",
                f"'{args.name}' ({args.resource_type}) lacks tag(s) {', '.join(missing)} "
                f"(has: {', '.join(sorted(present)) or 'none'})",
                f"tags {', '.join(cfg['requiredTags'])} on every taggable resource (config requiredTags)",
                "pass tags=stack_tags(cfg) (infra/program.py) or set them as the provider's default_tags",
            ),
            None,
        )
    if args.resource_type == AUTOSCALING_GROUP:
        unpropagated = [k for k in cfg["requiredTags"] if k in present and asg_tag_propagates(args.props, k) is False]
        if unpropagated:
            report_violation(
                message(
                    "cost-allocation-tags",
                    f"auto-scaling group '{args.name}' does not copy tag(s) {', '.join(unpropagated)} to its "
                    "instances, which is where the GPU cost lands",
                    "propagateAtLaunch=true for every required tag",
                    "set propagate_at_launch=True on those tags",
                ),
                None,
            )
