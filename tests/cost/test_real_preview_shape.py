"""Our own stack as a real `pulumi preview --json` of a first deployment would show it.

The CLI cannot run here, so the offline plan is written out in the CLI's step format with what a
create preview does not know yet: ids and the group names the schedules refer to (the engine's
unknown sentinel), with the schedules' property dependency on their group. Read back through
`infra.readers`, it must price exactly like the offline plan: schedules are matched by dependency.
"""

from __future__ import annotations

import json
from pathlib import Path

from infra.cost.estimate import estimate_plan
from infra.plan import Plan
from infra.readers import UNKNOWN, read_preview_json
from tests.cost.conftest import PRICED_ON

GROUP = "aws:autoscaling/group:Group"


def as_create_preview(plan: Plan) -> dict:
    groups = {f"{r.name}-offline": r for r in plan.of_type(GROUP)}
    steps = []
    for r in plan.resources:
        inputs = json.loads(json.dumps(r.inputs))
        # A real preview records every resource's dependencies, as the engine received them.
        deps: dict[str, list[str]] = {k: list(v) for k, v in r.property_dependencies.items()}
        if r.type == "aws:autoscaling/schedule:Schedule":
            target = groups[inputs["autoscalingGroupName"]]
            inputs["autoscalingGroupName"] = UNKNOWN
            deps["autoscalingGroupName"] = [target.urn]
        if r.type == GROUP:
            inputs["name"] = f"{r.name}-7d3f2a1"  # autonamed during the preview's check: known
            spec = inputs["mixedInstancesPolicy"]["launchTemplate"]["launchTemplateSpecification"]
            spec["launchTemplateId"] = spec["version"] = UNKNOWN
            inputs["vpcZoneIdentifiers"] = UNKNOWN
        state = {
            "urn": r.urn,
            "custom": r.custom,
            "type": r.type,
            "inputs": {**inputs, "__defaults": []},
            "parent": r.parent,
            "provider": f"{r.provider}::{UNKNOWN}" if r.provider else None,
            "propertyDependencies": deps,
            "dependencies": sorted({*r.dependencies, *(u for v in deps.values() for u in v)}),
        }
        steps.append({"op": "create", "urn": r.urn, "newState": state})
    return {"steps": steps, "changeSummary": {"create": len(steps)}}


def test_a_create_preview_of_prod_prices_like_the_offline_plan(prod_plan: Plan, tmp_path: Path):
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(as_create_preview(prod_plan)))
    preview = read_preview_json(path)
    offline_report = estimate_plan(prod_plan, on=PRICED_ON)
    preview_report = estimate_plan(preview, on=PRICED_ON)
    assert preview_report.total == offline_report.total, "unknown group names are matched by dependency"
    assert [p.schedule_actions for p in preview_report.pools] == [17, 17], "every action found its group"
    assert any("matched by its dependency" in a for a in preview_report.assumptions), "and the report says how"
