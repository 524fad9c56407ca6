"""The program's cost export: a stack transformation records what the program really registers, and
the cost model prices that record; values a preview does not know yet never turn into a guess."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pulumi
import pytest

import infra.registrations as registrations
from infra.cost.estimate import estimate_plan
from infra.offline import RecordingEngine, run_offline
from infra.plan import UNKNOWN, Plan, PlannedResource
from infra.registrations import COST_OUTPUT, UNKNOWN_COST, cost_export


class PreviewEngine(RecordingEngine):
    """The engine of a `pulumi preview` of a new stack: no ids and no computed outputs yet."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return "", dict(args.inputs)


def _recorded(monkeypatch: pytest.MonkeyPatch) -> list[Plan]:
    seen: list[Plan] = []
    real = registrations.cost_export

    def spy(plan: Plan) -> str:
        seen.append(plan)
        return real(plan)

    monkeypatch.setattr(registrations, "cost_export", spy)
    return seen


def _shape(r: PlannedResource) -> tuple[Any, ...]:
    return (r.type, r.name, r.custom, r.parent, r.provider, r.inputs, sorted(r.dependencies))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_recorded_registrations_are_exactly_the_resources_the_engine_received(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _recorded(monkeypatch)
    plan = run_offline(stack)
    # The export prices the whole record; with Slack alerts the forwarder's summary prices the part
    # declared before the alert delivery, a subset of it.
    assert len(seen) in (1, 2), "the export prices the record once (plus the alert summary's part)"
    full = max(seen, key=lambda p: len(p.resources))
    assert all({r.urn for r in p.resources} <= {r.urn for r in full.resources} for p in seen), (
        "the alert summary prices a part of what the export prices, never something else"
    )
    recorded = {r.urn: r for r in full.resources}
    engine = {r.urn: r for r in plan.resources}
    assert recorded.keys() == engine.keys(), (
        f"the transformation saw every registration and no other: {sorted(recorded.keys() ^ engine.keys())}"
    )
    differing = [u for u in engine if _shape(recorded[u]) != _shape(engine[u])]
    assert not differing, f"same type, name, parent, provider, wire inputs and dependencies: {differing[:3]}"


def test_during_a_preview_unknown_ids_do_not_hide_the_cost_and_nothing_is_guessed() -> None:
    offline = run_offline("dev")
    previewed = run_offline("dev", engine=PreviewEngine(), preview=True)
    assert "cluster_endpoint" not in previewed.outputs, "the preview engine really leaves computed values unknown"
    exported = previewed.outputs.get(COST_OUTPUT)
    assert exported is not None, "the cost export is known during a preview: it does not wait for ids"
    assert Decimal(exported) == estimate_plan(offline).total.expected, (
        "unknown ids, ARNs and names (references) change no price: the preview exports the offline total"
    )


@pytest.mark.parametrize(
    ("key", "why"),
    [("desiredCapacity", "an unknown desired size would silently become minSize"), ("minSize", "a size it needs")],
)
def test_an_unknown_input_the_price_depends_on_makes_the_export_unknown(key: str, why: str) -> None:
    plan = run_offline("dev")
    groups = plan.of_type("aws:autoscaling/group:Group")
    assert groups, "dev has a GPU group"
    changed = [
        r.model_copy(update={"inputs": {**r.inputs, key: UNKNOWN}}) if r.urn == groups[0].urn else r
        for r in plan.resources
    ]
    guessed = plan.model_copy(update={"resources": changed})
    assert cost_export(plan) == str(estimate_plan(plan).total.expected), "known inputs: the total"
    assert cost_export(guessed) == UNKNOWN_COST, f"{key} unknown: the export says so ({why})"
