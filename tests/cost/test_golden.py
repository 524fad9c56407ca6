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


def test_the_html_report_is_self_contained_with_two_well_formed_svg_charts(prod_plan: Plan):
    import re
    import xml.etree.ElementTree as ET

    html = render(estimate_plan(prod_plan, on=PRICED_ON), "html")
    svgs = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert len(svgs) == 2, "cost by component and the savings waterfall"
    for svg in svgs:
        assert ET.fromstring(svg).tag.endswith("svg"), "each chart parses as SVG XML"
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", ""), (
        "no scripts and no external assets"
    )
    bars = ET.fromstring(svgs[1]).findall("{http://www.w3.org/2000/svg}rect")
    assert len(bars) == 4, "baseline, schedule, spot, total"
