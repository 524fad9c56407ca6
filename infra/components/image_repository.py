"""ImageRepository: the ECR repository of the runtime image (one image, both roles).

Tags are immutable (a tag, once pushed, always names the same image) and every push is scanned
for known vulnerabilities. The lifecycle policy keeps the last 20 images and drops untagged ones
after 7 days, so storage stays a few GB. The stack runs the image by digest from config.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs

KEEP_IMAGES = 20
UNTAGGED_DAYS = 7


def lifecycle_policy() -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"drop untagged images after {UNTAGGED_DAYS} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": UNTAGGED_DAYS,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the last {KEEP_IMAGES} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": KEEP_IMAGES},
                    "action": {"type": "expire"},
                },
            ]
        },
        sort_keys=True,
    )


class ImageRepositoryArgs(ComponentArgs):
    repository_name: str
    tags: dict[str, str]


class ImageRepository(pulumi.ComponentResource):
    repository_url: pulumi.Output[str]

    def __init__(self, name: str, args: ImageRepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:serving:ImageRepository", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        repo = aws.ecr.Repository(
            f"{name}-repo",
            name=args.repository_name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "AES256"}],
            tags=args.tags,
            opts=child,
        )
        aws.ecr.LifecyclePolicy(f"{name}-lifecycle", repository=repo.name, policy=lifecycle_policy(), opts=child)
        self.repository_url = repo.repository_url
        self.register_outputs({"repository_url": self.repository_url})
