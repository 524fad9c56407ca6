"""`frugal prices refresh` against botocore's Stubber (the pricing API) and moto (spot history)."""

from __future__ import annotations

import json
from argparse import Namespace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from frugal.commands.prices import refresh_command
from infra.catalog import CATALOG_PATH
from infra.cost import refresh

NOW = datetime(2026, 11, 24, tzinfo=UTC)
FAKE = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def price_item(itype: str, usd: str, unit: str = "Hrs") -> str:
    """One PriceList entry as the API returns it: a JSON document serialised into a string."""
    sku, term = "JRTCKXETXF4DQWG7", "JRTCKXETXF"
    return json.dumps(
        {
            "product": {
                "productFamily": "Compute Instance",
                "attributes": {
                    "instanceType": itype,
                    "regionCode": "us-east-1",
                    "operatingSystem": "Linux",
                    "tenancy": "Shared",
                    "preInstalledSw": "NA",
                    "capacitystatus": "Used",
                },
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {
                    f"{sku}.{term}": {
                        "priceDimensions": {
                            f"{sku}.{term}.6YS6EN2CT7": {
                                "unit": unit,
                                "endRange": "Inf",
                                "description": f"${usd} per On Demand Linux {itype} Instance Hour",
                                "appliesTo": [],
                                "rateCode": f"{sku}.{term}.6YS6EN2CT7",
                                "beginRange": "0",
                                "pricePerUnit": {"USD": usd},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-11-01T00:00:00Z",
                        "offerTermCode": term,
                        "termAttributes": {},
                    }
                }
            },
            "version": "20261101000000",
            "publicationDate": "2026-11-01T00:00:00Z",
        }
    )


def stubbed_pricing(pages: list[list[str]]):  # noqa: ANN201
    client = boto3.client("pricing", **FAKE)
    stub = Stubber(client)
    for i, items in enumerate(pages):
        expected = {"ServiceCode": "AmazonEC2", "Filters": ANY, "FormatVersion": "aws_v1"}
        if i:
            expected["NextToken"] = f"page-{i}"
        response = {"FormatVersion": "aws_v1", "PriceList": items}
        if i < len(pages) - 1:
            response["NextToken"] = f"page-{i + 1}"
        stub.add_response("get_products", response, expected)
    stub.activate()
    return client, stub


def test_on_demand_prices_are_read_from_every_page_of_json_string_items():
    client, stub = stubbed_pricing(
        [
            [price_item("g5.xlarge", "1.0060000000")],
            [price_item("g6.xlarge", "0.8048000000"), price_item("g6.xlarge", "0", "Hrs")],
        ]
    )
    prices = refresh.fetch_on_demand(client, "us-east-1")
    stub.assert_no_pending_responses()
    assert prices == {"g5.xlarge": Decimal("1.006"), "g6.xlarge": Decimal("0.8048")}, "both pages, zero rates skipped"


def test_filters_follow_the_catalog_terms():
    fields = {f["Field"]: f["Value"] for f in refresh.on_demand_filters("us-east-1")}
    assert fields == {
        "regionCode": "us-east-1",
        "operatingSystem": "Linux",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "tenancy": "Shared",
        "productFamily": "Compute Instance",
    }, fields


def test_spot_history_averages_records_into_a_saving_and_keeps_interruption_bands():
    ec2 = boto3.client("ec2", **FAKE)
    stub = Stubber(ec2)
    stub.add_response(
        "describe_spot_price_history",
        {
            "SpotPriceHistory": [
                {
                    "AvailabilityZone": "us-east-1a",
                    "InstanceType": "g5.xlarge",
                    "ProductDescription": "Linux/UNIX",
                    "SpotPrice": "0.400000",
                    "Timestamp": NOW,
                },
                {
                    "AvailabilityZone": "us-east-1b",
                    "InstanceType": "g5.xlarge",
                    "ProductDescription": "Linux/UNIX",
                    "SpotPrice": "0.500000",
                    "Timestamp": NOW,
                },
            ]
        },
        {"InstanceTypes": ["g5.xlarge"], "ProductDescriptions": ["Linux/UNIX"], "StartTime": ANY, "EndTime": NOW},
    )
    stub.activate()
    means = refresh.fetch_spot_means(ec2, ["g5.xlarge"], 30, NOW)
    assert means == {"g5.xlarge": Decimal("0.45")}, "simple mean of the records"
    current = json.loads(CATALOG_PATH.read_text())
    data = refresh.refreshed_catalog(
        current, {"g5.xlarge": Decimal("1.0")}, means, region="us-east-1", days=30, now=NOW
    )
    g5 = data["instances"]["g5.xlarge"]
    assert (g5["on_demand_hourly"], g5["spot_saving_pct"]) == (1.0, 55), "1 - 0.45/1.0 = 55%"
    assert g5["interruption_band"] == current["instances"]["g5.xlarge"]["interruption_band"], "bands kept"
    assert data["sources"]["on_demand"]["as_of"] == "2026-11-24", "the new date is recorded"
    assert "2025-06-28" in data["sources"]["spot_advisor"]["source"], "the bands' own date stays visible"


def test_spot_history_pagination_works_against_moto():
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        ec2 = boto3.client("ec2", **FAKE)
        means = refresh.fetch_spot_means(ec2, ["g5.xlarge", "g6.xlarge"], 30, datetime.now(UTC))
    assert set(means) == {"g5.xlarge", "g6.xlarge"}, "moto answers for each requested type, through the paginator"
    assert all(v > 0 for v in means.values()), "prices are positive"


def test_no_prices_leaves_the_catalog_unchanged_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    client, _ = stubbed_pricing([[]])
    out = tmp_path / "catalog.json"
    args = Namespace(region="us-east-1", spot_days=30, types=None, no_spot=True, output=out)
    assert refresh_command(args, pricing=client) == 1, "an empty answer is a failure"
    assert not out.exists(), "nothing written"
    assert "no on-demand prices" in capsys.readouterr().err, "the reason is printed"


def test_refresh_writes_a_catalog_that_loads(tmp_path: Path):
    from infra.catalog import load_catalog

    client, _ = stubbed_pricing([[price_item("g5.xlarge", "1.1000000000")]])
    out = tmp_path / "catalog.json"
    args = Namespace(region="us-east-1", spot_days=30, types=None, no_spot=True, output=out)
    assert refresh_command(args, pricing=client) == 0, "refresh succeeds"
    catalog = load_catalog(out)
    assert catalog.get("g5.xlarge").on_demand_hourly == Decimal("1.1"), "the new price is in the written catalog"
    assert catalog.get("g6.xlarge").on_demand_hourly == Decimal("0.8048"), "types not returned keep their price"
