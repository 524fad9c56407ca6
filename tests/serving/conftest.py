"""Fixtures for the serving tests: the real small GGUF (from the model package, never downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_gguf() -> Path:
    from runtime.assets import AssetError, small_model

    try:
        return small_model()
    except AssetError as exc:
        pytest.skip(f"the small model package is not installed: {exc}")
