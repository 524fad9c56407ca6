"""ModelStore: the stack's model bucket and the local GGUF files `pulumi up` uploads into it.

The bucket is encrypted (SSE-S3), versioned (an overwritten model can be restored; old versions
expire after 30 days), blocks every form of public access and refuses requests without TLS. A
local model is uploaded to `models/<sha256>.gguf` with S3's own SHA-256 checksum, so the object
the model servers later verify is named by, and checked against, the digest the plan pinned.
The model servers read through the cluster's S3 gateway endpoint (infra/components/network.py).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs
from infra.config import ServingTier
from infra.serving_iam import model_reader_policy, tls_only_bucket_policy

NONCURRENT_DAYS = 30


class ModelStoreArgs(ComponentArgs):
    name_prefix: str
    tiers: list[ServingTier]
    tags: dict[str, str]


class ModelStore(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    model_uris: dict[str, pulumi.Output[str]]
    """Tier name -> s3:// URI of its model (the uploaded object, or the pinned external one)."""
    reader_policy: pulumi.Output[str]

    def __init__(self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:serving:ModelStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            f"{name}-bucket", bucket_prefix=f"{args.name_prefix}-models-", tags=args.tags, opts=child
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}, "bucket_key_enabled": True}
            ],
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-replaced-models",
                    "status": "Enabled",
                    "filter": {"prefix": "models/"},
                    "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_DAYS},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                }
            ],
            opts=child,
        )
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(tls_only_bucket_policy),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
        uris: dict[str, pulumi.Output[str]] = {}
        external: list[tuple[str, str]] = []
        for tier in args.tiers:
            model = tier.model
            if model.local_path is not None:
                key = f"models/{model.sha256}.gguf"
                obj = aws.s3.BucketObjectv2(
                    f"{name}-{tier.name}",
                    bucket=bucket.id,
                    key=key,
                    source=pulumi.FileAsset(model.local_path),
                    checksum_algorithm="SHA256",
                    content_type="application/octet-stream",
                    metadata={"sha256": str(model.sha256), "size-bytes": str(model.size_bytes), "model": model.name},
                    tags=args.tags,
                    opts=child,
                )
                uris[tier.name] = pulumi.Output.all(bucket.bucket, obj.key).apply(lambda v: f"s3://{v[0]}/{v[1]}")
            else:
                uris[tier.name] = pulumi.Output.from_input(str(model.s3_uri))
                external.append(model.s3_bucket_and_key)
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.model_uris = uris
        self.reader_policy = bucket.arn.apply(lambda arn: model_reader_policy(arn, external))
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})
