"""Shared fixtures of the policy tests: the deliberately bad stack."""

from __future__ import annotations

import pytest

from infra.offline import run_offline
from infra.plan import Plan
from tests.fakes import as_engine_config, bad_stack_values, changed, one, planned

WORLD_SSH = {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}


@pytest.fixture(scope="session")
def bad_plan() -> Plan:
    """The dev stack with lowest-price spot on one type (valid config), then no budget, IMDSv1 and
    world-open SSH (which no valid config produces, so they are put into the plan's resources)."""
    plan = run_offline("dev", config=as_engine_config(bad_stack_values()))
    lt = one(plan, "aws:ec2/launchTemplate:LaunchTemplate", "pool-small-lt")
    imdsv1 = lt.model_copy(update={"inputs": changed(lt.inputs, {"metadataOptions.httpTokens": "optional"})})
    ssh = planned("aws:ec2/securityGroup:SecurityGroup", "debug-ssh", {"vpcId": "vpc-1", "ingress": [WORLD_SSH]})
    kept = [imdsv1 if r.urn == lt.urn else r for r in plan.resources if r.type != "aws:budgets/budget:Budget"]
    return plan.model_copy(update={"resources": [*kept, ssh]})
