"""Where the shared reference data lives: ../shared beside the repo, or FRUGAL_SHARED_DIR."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FRUGAL_SHARED_DIR", REPO.parent / "shared"))
