"""The OpenAI-compatible router in front of llama-server (docs/runtime.md).

Public names are loaded on first use, so importing `runtime.cache` does not pull in the server.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ChatRequest": "runtime.schema",
    "FrugalError": "runtime.errors",
    "Settings": "runtime.settings",
    "SettingsError": "runtime.settings",
    "create_app": "runtime.app",
    "load_settings": "runtime.settings",
    "settings_from_dict": "runtime.settings",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'runtime' has no attribute {name!r}")
