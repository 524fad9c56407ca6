from __future__ import annotations

import pytest
from hypothesis import settings

from infra.offline import run_offline
from infra.plan import Plan
from tests.redis_server import redis_server  # noqa: F401  (a fixture for every suite)

# Wall-clock deadlines make property tests flaky on a shared 2-core machine; correctness is what they test.
settings.register_profile("frugal", deadline=None)
settings.load_profile("frugal")


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return run_offline("dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return run_offline("prod")


@pytest.fixture(params=["dev", "prod"])
def any_plan(request: pytest.FixtureRequest, dev_plan: Plan, prod_plan: Plan) -> Plan:
    return {"dev": dev_plan, "prod": prod_plan}[request.param]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite golden files (tests/cost/golden/) instead of comparing"
    )
