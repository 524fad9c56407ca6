"""IAM documents for serving (pure, no Pulumi): the model bucket's TLS-only policy and what the
model servers may read.

The model servers' role reads objects and nothing else: `s3:GetObject` on this stack's model
bucket and on each external model object the stack pins (by its exact ARN), no listing, no write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence


def tls_only_bucket_policy(bucket_arn: str) -> str:
    """Refuse every request to the bucket that does not use TLS (AWS's aws:SecureTransport rule)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        },
        sort_keys=True,
    )


def model_reader_policy(bucket_arn: str, external_objects: Sequence[tuple[str, str]]) -> str:
    """GetObject on the stack's model bucket and on each pinned external object (bucket, key)."""
    resources = [f"{bucket_arn}/models/*", *(f"arn:aws:s3:::{b}/{k}" for b, k in external_objects)]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ReadPinnedModels", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": resources}
            ],
        },
        sort_keys=True,
    )
