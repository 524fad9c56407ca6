"""What every component shares: the Args base model and the type token prefix."""

from __future__ import annotations

from typing import Annotated, Any

import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict

TOKEN_PREFIX = "frugal"

# Values resolved by the engine later (pulumi.Output) or plain values; pydantic cannot look inside an
# Output, so these fields are typed for the reader and validated by the resources that consume them.
InputStr = Annotated[Any, "pulumi.Input[str]"]
InputStrList = Annotated[Any, "pulumi.Input[list[str]]"]


class ComponentArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def encrypted_root_volume(size_gib: int) -> list[aws.ec2.LaunchTemplateBlockDeviceMappingArgsDict]:
    """A launch template's block device mappings: an encrypted gp3 root volume, gone with the node."""
    return [
        {
            "device_name": "/dev/xvda",
            "ebs": {
                "volume_size": size_gib,
                "volume_type": "gp3",
                "encrypted": "true",
                "delete_on_termination": "true",
            },
        }
    ]


def instance_and_volume_tags(tags: dict[str, str]) -> list[aws.ec2.LaunchTemplateTagSpecificationArgsDict]:
    """Tags on instances and volumes are what Cost Explorer and the budget filter see."""
    return [{"resource_type": kind, "tags": tags} for kind in ("instance", "volume")]
