"""What every component shares: the Args base model and the type token prefix."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict

TOKEN_PREFIX = "frugal"

# Values resolved by the engine later (pulumi.Output) or plain values; pydantic cannot look inside an
# Output, so these fields are typed for the reader and validated by the resources that consume them.
InputStr = Annotated[Any, "pulumi.Input[str]"]
InputStrList = Annotated[Any, "pulumi.Input[list[str]]"]


class ComponentArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
