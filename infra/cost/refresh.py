"""`frugal prices refresh`: rebuild the EC2 catalog from the live AWS APIs.

- On-demand: the AWS Price List API, `pricing.get_products` (ServiceCode AmazonEC2) through its
  paginator, filtered to the catalog's terms (regionCode, Linux, no
  pre-installed software, capacitystatus Used, Shared tenancy); each PriceList item is a JSON
  *string*; the price is terms.OnDemand.*.priceDimensions.*.pricePerUnit.USD.
- Spot: `ec2.describe_spot_price_history` (Linux/UNIX) over the last N days for the catalog's GPU
  types (or --types); the saving is 1 - mean(spot price records) / on-demand, replacing the
  Spot Instance Advisor's figure. The advisor's interruption bands have no API and are kept, with
  their own date.
Specs (vCPU, memory, GPUs) are kept from the shipped catalog. Needs AWS credentials with
pricing:GetProducts and ec2:DescribeSpotPriceHistory.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

PRICING_REGION = "us-east-1"  # the Price List API is served from us-east-1 (and ap-south-1)
SPOT_PRODUCTS = ["Linux/UNIX"]


def on_demand_filters(region: str) -> list[dict[str, str]]:
    terms = {
        "regionCode": region,
        "operatingSystem": "Linux",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "tenancy": "Shared",
        "productFamily": "Compute Instance",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms.items()]


def parse_price_item(item: str | dict[str, Any]) -> tuple[str, Decimal] | None:
    """(instance type, USD per hour) of one PriceList entry; None when it has no hourly USD price."""
    data = json.loads(item) if isinstance(item, str) else item
    itype = data.get("product", {}).get("attributes", {}).get("instanceType")
    for term in data.get("terms", {}).get("OnDemand", {}).values():
        for dim in term.get("priceDimensions", {}).values():
            usd = dim.get("pricePerUnit", {}).get("USD")
            if itype and usd is not None and dim.get("unit", "Hrs") in ("Hrs", "Hours"):
                value = Decimal(usd)
                if value > 0:
                    return itype, value
    return None


def fetch_on_demand(pricing: Any, region: str) -> dict[str, Decimal]:
    prices: dict[str, Decimal] = {}
    paginator = pricing.get_paginator("get_products")
    for page in paginator.paginate(ServiceCode="AmazonEC2", Filters=on_demand_filters(region), FormatVersion="aws_v1"):
        for item in page.get("PriceList", []):
            parsed = parse_price_item(item)
            if parsed is not None:
                itype, usd = parsed
                # Several SKUs can match (e.g. capacity reservations); the lowest plain rate is the list price.
                prices[itype] = min(usd, prices.get(itype, usd))
    return prices


def fetch_spot_means(ec2: Any, instance_types: Iterable[str], days: int, now: datetime) -> dict[str, Decimal]:
    types = sorted(set(instance_types))
    records: dict[str, list[Decimal]] = defaultdict(list)
    paginator = ec2.get_paginator("describe_spot_price_history")
    # The API takes many types per call; chunks keep requests small.
    for i in range(0, len(types), 50):
        for page in paginator.paginate(
            InstanceTypes=types[i : i + 50],
            ProductDescriptions=SPOT_PRODUCTS,
            StartTime=now - timedelta(days=days),
            EndTime=now,
        ):
            for rec in page.get("SpotPriceHistory", []):
                records[rec["InstanceType"]].append(Decimal(rec["SpotPrice"]))
    return {t: sum(v, Decimal(0)) / len(v) for t, v in records.items() if v}


def refreshed_catalog(
    current: dict[str, Any],
    on_demand: dict[str, Decimal],
    spot_means: dict[str, Decimal] | None,
    *,
    region: str,
    days: int,
    now: datetime,
) -> dict[str, Any]:
    """The catalog document with new prices; specs and interruption bands kept from `current`."""
    if not on_demand:
        raise ValueError("the Price List API returned no on-demand prices; the catalog was not changed")
    today = now.date().isoformat()
    instances = {name: dict(spec) for name, spec in current["instances"].items()}
    for itype, usd in on_demand.items():
        instances.setdefault(itype, {})["on_demand_hourly"] = float(usd)
    sources = dict(current["sources"])
    sources["on_demand"] = {
        **sources.get("on_demand", {}),
        "source": f"AWS Price List API get_products (AmazonEC2, {region}, Linux, Shared, no pre-installed software)",
        "as_of": today,
    }
    if spot_means:
        for itype, mean in spot_means.items():
            od = on_demand.get(itype)
            if od:
                saving = int(((1 - mean / od) * 100).quantize(Decimal(1)))
                instances.setdefault(itype, {})["spot_saving_pct"] = max(0, saving)
        band_date = current["sources"].get("spot_advisor", {}).get("as_of", "unknown")
        sources["spot_advisor"] = {
            "source": f"ec2.describe_spot_price_history (Linux/UNIX, all AZs of {region}): saving = 1 - mean of the "
            f"last {days} days' price records / on-demand; interruption bands from the Spot Instance Advisor "
            f"snapshot of {band_date}",
            "as_of": today,
        }
    return {**current, "region": region, "sources": sources, "instances": dict(sorted(instances.items()))}


def gpu_types(current: dict[str, Any]) -> list[str]:
    return sorted(n for n, s in current["instances"].items() if s.get("gpu"))
