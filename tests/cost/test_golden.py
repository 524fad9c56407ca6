"""Every output format for dev and prod, against reviewed golden files (`pytest --update-golden` rewrites)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.cost.estimate import estimate_plan
from infra.cost.render import render
from infra.plan import Plan
from tests.cost.conftest import PRICED_ON

GOLDEN = Path(__file__).parent / "golden"
EXT = {"table": "txt", "json": "json", "markdown": "md", "html": "html"}


@pytest.mark.parametrize("fmt", sorted(EXT))
def test_each_format_matches_its_reviewed_golden_file(any_plan: Plan, fmt: str, update_golden: bool):
    text = render(estimate_plan(any_plan, on=PRICED_ON), fmt)
    path = GOLDEN / f"{any_plan.stack}.{EXT[fmt]}"
    if update_golden:
        path.write_text(text)
    assert path.is_file(), f"{path} is missing; create it with `pytest tests/cost --update-golden` and review it"
    assert text == path.read_text(), f"{fmt} output of {any_plan.stack} changed; review and run --update-golden"
