"""`frugal prices derive|refresh`: rebuild the EC2 catalog (infra/data/aws-catalog.json) from the
shared AWS snapshots, or refresh it through the AWS Price List and spot price history APIs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from frugal.exit_codes import EXIT_OK, EXIT_USAGE

_REFERENCE = Path(__file__).resolve().parents[2] / "data" / "shared"


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    derive = sub.add_parser("derive", help="rebuild infra/data/aws-catalog.json from the shared AWS snapshots")
    derive.add_argument("--on-demand", type=Path, default=_REFERENCE / "aws" / "ec2-on-demand-us-east-1.json")
    derive.add_argument("--spot-advisor", type=Path, default=_REFERENCE / "aws" / "spot-advisor-data.json")
    derive.add_argument("--spot-as-of", default="2025-06-28", help="date of the spot advisor snapshot")
    refresh = sub.add_parser(
        "refresh", help="refresh infra/data/aws-catalog.json from the AWS Price List and spot APIs"
    )
    refresh.add_argument("--region", default="us-east-1")
    refresh.add_argument("--spot-days", type=int, default=30, help="days of spot price history to average (max 90)")
    refresh.add_argument("--types", help="comma-separated instance types for spot history (default: every GPU type)")
    refresh.add_argument("--no-spot", action="store_true", help="refresh on-demand prices only")
    refresh.add_argument("--output", type=Path, help="write here instead of the shipped catalog")


def run(args: argparse.Namespace) -> int:
    """Rebuild or refresh the EC2 price catalog (infra/data/aws-catalog.json)."""
    if args.action == "refresh":
        return refresh_command(args)
    from infra.catalog import CATALOG_PATH, derive_catalog

    for path in (args.on_demand, args.spot_advisor):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; fix: pass --on-demand/--spot-advisor with the snapshot paths")
    data = derive_catalog(args.on_demand, args.spot_advisor, spot_as_of=args.spot_as_of)
    CATALOG_PATH.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {CATALOG_PATH} ({len(data['instances'])} instance types)")
    return EXIT_OK


def refresh_command(args: argparse.Namespace, pricing: Any = None, ec2: Any = None) -> int:
    """Injectable clients (tests pass stubbed ones); by default boto3's, with the usual credential chain."""
    from datetime import UTC, datetime

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from infra.catalog import CATALOG_PATH
    from infra.cost import refresh

    if not 1 <= args.spot_days <= 90:
        print("frugal prices refresh: --spot-days must be 1-90 (the API keeps 90 days)", file=sys.stderr)
        return EXIT_USAGE
    out = args.output or CATALOG_PATH
    current = json.loads(CATALOG_PATH.read_text())
    now = datetime.now(UTC)
    try:
        pricing = pricing or boto3.client("pricing", region_name=refresh.PRICING_REGION)
        on_demand = refresh.fetch_on_demand(pricing, args.region)
        spot = None
        if not args.no_spot:
            ec2 = ec2 or boto3.client("ec2", region_name=args.region)
            types = args.types.split(",") if args.types else refresh.gpu_types(current)
            spot = refresh.fetch_spot_means(ec2, types, args.spot_days, now)
        data = refresh.refreshed_catalog(current, on_demand, spot, region=args.region, days=args.spot_days, now=now)
    except (BotoCoreError, ClientError, ValueError) as exc:
        print(
            f"frugal prices refresh: {exc}; the catalog was not changed. Fix: AWS credentials with "
            "pricing:GetProducts and ec2:DescribeSpotPriceHistory (e.g. AWS_PROFILE), and network access",
            file=sys.stderr,
        )
        return 1
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}: {len(on_demand)} on-demand prices, {len(spot or {})} spot averages")
    return EXIT_OK
