"""Test doubles shared by the suites.

The recording fake engine is the product's own (`infra.offline.RecordingEngine` and
`RecordingMonitor`, a `pulumi.runtime.Mocks` with a monitor that keeps every registration): the
offline plan is a feature, so tests exercise the same engine users run. Helpers here build stack
configs to break in tests.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from infra.config import PROJECT
from infra.offline import read_stack_config


def stack_values(stack: str) -> dict[str, Any]:
    """A stack's config as plain Python values keyed without the namespace, for editing in tests."""
    values: dict[str, Any] = {}
    for key, raw in read_stack_config(stack).items():
        short = key.split(":", 1)[1]
        try:
            values[short] = json.loads(raw)
        except json.JSONDecodeError:
            values[short] = raw
    return copy.deepcopy(values)


def as_engine_config(values: dict[str, Any]) -> dict[str, str]:
    """Plain values back into what the engine hands a program: 'frugal-llm:key' -> JSON string."""
    return {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
