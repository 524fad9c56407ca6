from __future__ import annotations

from datetime import date

import pytest

# Golden files and export checks price on a fixed day: EKS support status depends on the date.
PRICED_ON = date(2026, 11, 24)


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
