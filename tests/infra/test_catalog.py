"""The shipped instance catalog: reproducible from the dated shared snapshots, and what it says of GPUs."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from infra.catalog import CATALOG_PATH, derive_catalog, load_catalog
from tests.paths import SHARED_DATA

AWS = SHARED_DATA / "aws"


def test_the_shipped_catalog_is_exactly_what_derive_makes_from_the_snapshots():
    derived = derive_catalog(AWS / "ec2-on-demand-us-east-1.json", AWS / "spot-advisor-data.json")
    shipped = json.loads(CATALOG_PATH.read_text())
    assert derived == shipped, "run `frugal prices derive` after changing the snapshots or the derivation"


def test_catalog_figures_carry_their_sources_and_dates():
    catalog = load_catalog()
    assert catalog.sources["on_demand"]["as_of"] == "2026-07-20", "on-demand prices are dated"
    assert catalog.sources["spot_advisor"]["as_of"] == "2025-06-28", "spot savings are dated"
    g5 = catalog.get("g5.xlarge")
    assert g5 is not None and g5.on_demand_hourly == Decimal("1.006"), "the EC2 price list snapshot: g5.xlarge $1.006/h"
    assert (g5.spot_saving_pct, g5.interruption_band) == (59, ">20%"), "the Spot Instance Advisor snapshot: 59% / >20%"


@pytest.mark.parametrize(
    "itype, usable",
    [
        ("g5.xlarge", True),
        ("p5.48xlarge", True),
        ("c5.xlarge", False),
        ("g4ad.xlarge", False),
        ("g6f.large", False),
        ("g5g.xlarge", False),
    ],
)
def test_only_whole_nvidia_gpus_on_x86_are_usable(itype: str, usable: bool):
    spec = load_catalog().get(itype)
    assert spec is not None, f"{itype} is in the catalog"
    assert (spec.usable_gpu_reason is None) == usable, f"{itype}: {spec.usable_gpu_reason}"
