"""Where the reference data lives: the copy shipped in data/shared/, or FRUGAL_SHARED_DIR's data/."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = (
    Path(os.environ["FRUGAL_SHARED_DIR"]) / "data" if "FRUGAL_SHARED_DIR" in os.environ else (REPO / "data" / "shared")
)
