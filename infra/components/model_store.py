"""ModelStore: the stack's model bucket and the local GGUF files `pulumi up` uploads into it.

The bucket is encrypted (SSE-S3), versioned (an overwritten model can be restored; old versions
expire after 30 days), blocks every form of public access and refuses requests without TLS. A
local model is uploaded to `models/<sha256>.gguf` with S3's own SHA-256 checksum, so the object
the model servers later verify is named by, and checked against, the digest the plan pinned.
The model servers read through the cluster's S3 gateway endpoint (infra/components/network.py).

The S3 resources are registered under their provider's type tokens with the provider's own (wire)
property names, which is what pulumi_aws's typed classes do: the `pulumi_aws.s3` package imports
its ~100 modules whenever one is touched (about 0.2 s), a fifth of what `frugal plan` may add.
tests/serving/test_program.py checks every input name against pulumi_aws's own Args classes.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.components._base import TOKEN_PREFIX, ComponentArgs
from infra.config import ServingTier
from infra.serving_iam import model_reader_policy, tls_only_bucket_policy
from infra.tokens import (
    S3_BUCKET,
    S3_BUCKET_LIFECYCLE_CONFIGURATION,
    S3_BUCKET_OBJECT_V2,
    S3_BUCKET_POLICY,
    S3_BUCKET_PUBLIC_ACCESS_BLOCK,
    S3_BUCKET_SERVER_SIDE_ENCRYPTION,
    S3_BUCKET_VERSIONING,
)

NONCURRENT_DAYS = 30


class ModelStoreArgs(ComponentArgs):
    name_prefix: str
    tiers: list[ServingTier]
    tags: dict[str, str]


def _s3(type_: str, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions, *outputs: str) -> Any:
    """One S3 resource; `outputs` are the properties the caller reads back (None = computed)."""
    return pulumi.CustomResource(type_, name, {**props, **dict.fromkeys(outputs)}, opts)


class ModelStore(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    model_uris: dict[str, pulumi.Output[str]]
    """Tier name -> s3:// URI of its model (the uploaded object, or the pinned external one)."""
    reader_policy: pulumi.Output[str]

    def __init__(self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:serving:ModelStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket = _s3(
            S3_BUCKET, f"{name}-bucket", {"bucketPrefix": f"{args.name_prefix}-models-", "tags": args.tags}, child,
            "bucket", "arn",
        )  # fmt: skip
        bucket_id = bucket.id
        _s3(
            S3_BUCKET_SERVER_SIDE_ENCRYPTION,
            f"{name}-encryption",
            {
                "bucket": bucket_id,
                "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}, "bucketKeyEnabled": True}],
            },
            child,
        )
        _s3(
            S3_BUCKET_VERSIONING,
            f"{name}-versioning",
            {"bucket": bucket_id, "versioningConfiguration": {"status": "Enabled"}},
            child,
        )
        _s3(
            S3_BUCKET_LIFECYCLE_CONFIGURATION,
            f"{name}-lifecycle",
            {
                "bucket": bucket_id,
                "rules": [
                    {
                        "id": "expire-replaced-models",
                        "status": "Enabled",
                        "filter": {"prefix": "models/"},
                        "noncurrentVersionExpiration": {"noncurrentDays": NONCURRENT_DAYS},
                        "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1},
                    }
                ],
            },
            child,
        )
        block = _s3(
            S3_BUCKET_PUBLIC_ACCESS_BLOCK,
            f"{name}-public-access",
            {
                "bucket": bucket_id,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            child,
        )
        _s3(
            S3_BUCKET_POLICY,
            f"{name}-tls-only",
            {"bucket": bucket_id, "policy": bucket.arn.apply(tls_only_bucket_policy)},
            pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
        uris: dict[str, pulumi.Output[str]] = {}
        external: list[tuple[str, str]] = []
        for tier in args.tiers:
            model = tier.model
            if model.local_path is not None:
                key = f"models/{model.sha256}.gguf"
                _s3(
                    S3_BUCKET_OBJECT_V2,
                    f"{name}-{tier.name}",
                    {
                        "bucket": bucket_id,
                        "key": key,
                        "source": pulumi.FileAsset(model.local_path),
                        "checksumAlgorithm": "SHA256",
                        "contentType": "application/octet-stream",
                        "metadata": {
                            "sha256": str(model.sha256),
                            "size-bytes": str(model.size_bytes),
                            "model": model.name,
                        },
                        "tags": args.tags,
                    },
                    child,
                )
                uris[tier.name] = bucket.bucket.apply(lambda b, key=key: f"s3://{b}/{key}")
            else:
                uris[tier.name] = pulumi.Output.from_input(str(model.s3_uri))
                external.append(model.s3_bucket_and_key)
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.model_uris = uris
        self.reader_policy = bucket.arn.apply(lambda arn: model_reader_policy(arn, external))
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})
