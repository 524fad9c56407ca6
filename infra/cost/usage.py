"""Usage-based quantities (NAT data, log ingestion, ...), Infracost-style: a YAML usage file.

Defaults are deliberately conservative (on the high side of what this project's stacks do), so a
preview without a usage file over- rather than under-states usage-based cost:

- NAT gateway data: 100 GB a month per gateway. Every GPU node that starts pulls the CUDA llama.cpp
  image (several GB) and often model weights through NAT; with a daily scale-from-zero schedule
  that alone is tens of GB a month.
- CloudWatch Logs ingestion: 10 GB a month per log group of an EKS control plane with all five log
  types (the audit log dominates), 1 GB for any other log group.
- Lambda: 10,000 invocations a month of 1 s at its configured memory (alert forwarders run rarely).
- Load balancers: 1 LCU (ALB) / 1 NLCU (NLB) on average.
- SQS: 10,000 requests a month per queue (alerts: send, receive, delete, visibility changes); a
  Lambda event source polls its queue even when it is empty: 700,000 requests a month assumed
  (5 pollers x 20 s long polls = 657,000 in a 730-hour month, rounded up; AWS does not publish the
  idle poller count, so measure it from the queue's NumberOfEmptyReceives and override).
- DynamoDB on-demand: 10,000 writes and 10,000 reads a month, 1 GB stored, per table.
- SQS queues that an in-cluster worker long-polls (the termination handler's: an EventBridge target
  that no Lambda consumes): 300,000 requests a month, messages and deletes included. The handler
  long-polls 20 s at a time, about 130,000 receives a month per replica; two replicas plus the rare
  messages and deletes stay below.
- Serving: 10 GB of runtime images in ECR (20 kept, sharing the CUDA base layers); 10,000 S3 GET
  requests a month on the model bucket (a model pull is a few ranged GETs; plus listings); 50 GB a
  month of model pulls through the S3 gateway endpoint (a low estimate on purpose: it is shown as a
  saving, and a conservative preview under-states savings).

File format (`--usage FILE`), every key optional:

    version: 1
    defaults: {nat_gateway_gb_per_month: 50, log_ingestion_gb_per_month: 2, ...}
    resources:
      net-nat-0: {nat_gateway_gb_per_month: 400}     # by resource name (or full URN)
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULTS: dict[str, Decimal] = {
    "nat_gateway_gb_per_month": Decimal(100),
    "eks_log_ingestion_gb_per_month": Decimal(10),
    "log_ingestion_gb_per_month": Decimal(1),
    "lambda_requests_per_month": Decimal(10_000),
    "lambda_duration_seconds": Decimal(1),
    "lb_capacity_units": Decimal(1),
    "sqs_requests_per_month": Decimal(10_000),
    "sqs_poll_requests_per_month": Decimal(700_000),
    "dynamodb_writes_per_month": Decimal(10_000),
    "dynamodb_reads_per_month": Decimal(10_000),
    "dynamodb_storage_gb": Decimal(1),
    "sqs_worker_poll_requests_per_month": Decimal(300_000),
    "ecr_storage_gb": Decimal(10),
    "s3_get_requests_per_month": Decimal(10_000),
    "model_pull_gb_per_month": Decimal(50),
}


class UsageError(ValueError):
    """A usage file that cannot be used; the message says what and how to fix it."""


class UsageFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(default=1, ge=1, le=1)
    defaults: dict[str, Decimal] = {}
    resources: dict[str, dict[str, Decimal]] = {}


class Usage:
    def __init__(self, data: UsageFile | None = None, source: str = "built-in defaults") -> None:
        self.data = data or UsageFile()
        self.source = source
        for key in [*self.data.defaults, *(k for r in self.data.resources.values() for k in r)]:
            if key not in DEFAULTS:
                raise UsageError(f"{source}: unknown usage key {key!r}; fix: use one of {', '.join(sorted(DEFAULTS))}")
        self.used: dict[str, tuple[Decimal, str]] = {}

    def get(self, key: str, name: str, urn: str | None = None) -> tuple[Decimal, str]:
        """The quantity for a resource, and where it came from ('usage file' or 'default')."""
        for ident in (urn, name):
            if ident and key in self.data.resources.get(ident, {}):
                return self.data.resources[ident][key], f"usage file ({self.source})"
        if key in self.data.defaults:
            return self.data.defaults[key], f"usage file defaults ({self.source})"
        return DEFAULTS[key], "built-in default (docs/cost-preview.md)"


def load_usage(path: Path | None) -> Usage:
    if path is None:
        return Usage()
    if not path.is_file():
        raise UsageError(f"usage file {path} does not exist; fix: pass an existing YAML file to --usage")
    try:
        raw: Any = yaml.safe_load(path.read_text()) or {}
        return Usage(UsageFile.model_validate(raw), source=str(path))
    except yaml.YAMLError as exc:
        raise UsageError(f"usage file {path} is not valid YAML: {exc}; fix: correct the file") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"usage file {path}: {problems}; fix: see docs/cost-preview.md 'Usage file'") from exc
