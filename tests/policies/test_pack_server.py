"""The pack as the Pulumi CLI runs it: `python -u -m pulumi.policy <engine> .` in policies/, then gRPC.

No Pulumi CLI is installed here, so this test plays the engine's side of the analyzer protocol
against the real server that `policies/__main__.py` starts: it reads the port the pack prints,
asks for the pack's info, configures it as `--policy-pack-config` would, and sends a resource and
a stack for analysis. It shows that `pulumi preview --policy-pack policies` gets our rules, levels
and messages; what it cannot show is the CLI's own rendering of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi.runtime.proto import analyzer_pb2_grpc

from infra.plan import Plan
from policies.evaluate import evaluate, load_pack_config, resolve
from policies.registry import PACK_NAME, RULES, policies
from tests.fakes import changed, one

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    # The engine address is only parsed, never dialled, by a Python pack.
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=POLICY_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PULUMI_CONFIG": "{}"},
    )
    port: list[str] = []
    reader = threading.Thread(target=lambda: port.append(proc.stdout.readline().decode().strip()), daemon=True)
    reader.start()
    reader.join(timeout=60)
    if not port or not port[0].isdigit():
        proc.kill()
        raise AssertionError(f"the pack printed no port: {port}; stderr: {proc.stderr.read().decode()[-2000:]}")
    channel = grpc.insecure_channel(f"127.0.0.1:{port[0]}")
    try:
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        channel.close()
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


def struct(data: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(data)
    return s


def test_the_pack_announces_every_rule_as_mandatory_by_default(analyzer) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME, "the pack's name is what --policy-pack-config files refer to"
    assert [p.name for p in info.policies] == [r.name for r in RULES], "every rule is a policy, in order"
    assert {p.enforcementLevel for p in info.policies} == {pb.MANDATORY}, "without config every rule blocks"
    on_demand = next(p for p in info.policies if p.name == "on-demand-share")
    assert "maxOnDemandPercentAboveBase" in on_demand.configSchema.properties, "thresholds are declared config"


def test_a_configured_pack_reports_imdsv1_as_a_mandatory_violation(analyzer, dev_plan: Plan) -> None:
    analyzer.Configure(
        pb.ConfigureAnalyzerRequest(
            policyConfig={
                "imdsv2-required": pb.PolicyConfig(enforcementLevel=pb.MANDATORY),
                "on-demand-share": pb.PolicyConfig(
                    enforcementLevel=pb.ADVISORY,
                    properties=struct({"maxOnDemandPercentAboveBase": {"default": 0}}),
                ),
            }
        ),
        timeout=30,
    )
    lt = one(dev_plan, "aws:ec2/launchTemplate:LaunchTemplate", "pool-small-lt")
    bad = changed(lt.inputs, {"metadataOptions.httpTokens": "optional"})
    response = analyzer.Analyze(
        pb.AnalyzeRequest(urn=lt.urn, type=lt.type, name=lt.name, properties=struct(bad)), timeout=60
    )
    found = [(d.policyName, d.enforcementLevel, d.message) for d in response.diagnostics]
    assert len(found) == 1, f"only the IMDS rule fires on this template: {found}"
    name, level, text = found[0]
    assert (name, level) == ("imdsv2-required", pb.MANDATORY), "reported as the mandatory IMDS rule"
    assert "[imdsv2-required] 'pool-small-lt' has metadataOptions.httpTokens='optional'" in text, (
        "the engine gets our message after the policy description"
    )

    asg = one(dev_plan, "aws:autoscaling/group:Group")
    on_demand = changed(
        asg.inputs, {"mixedInstancesPolicy.instancesDistribution.onDemandPercentageAboveBaseCapacity": 30}
    )
    response = analyzer.Analyze(
        pb.AnalyzeRequest(urn=asg.urn, type=asg.type, name=asg.name, properties=struct(on_demand)), timeout=60
    )
    levels = {d.policyName: d.enforcementLevel for d in response.diagnostics}
    assert levels == {"on-demand-share": pb.ADVISORY}, "the configured level and threshold reach the rule"


def test_the_stack_analysis_links_resources_and_finds_a_missing_budget(analyzer, dev_plan: Plan) -> None:
    resources = [
        pb.AnalyzerResource(
            urn=r.urn,
            type=r.type,
            name=r.name,
            properties=struct(r.inputs),
            parent=r.parent or "",
            dependencies=r.dependencies,
            propertyDependencies={
                k: pb.AnalyzerPropertyDependencies(urns=v) for k, v in r.property_dependencies.items()
            },
        )
        for r in dev_plan.resources
        # without the model bucket: a stack without buckets, for the not-applicable check below
        if not r.type.startswith(("pulumi:providers:", "aws:s3/")) and r.type != "aws:budgets/budget:Budget"
    ]
    response = analyzer.AnalyzeStack(pb.AnalyzeStackRequest(resources=resources), timeout=120)
    names = sorted(d.policyName for d in response.diagnostics)
    assert names == ["budget-with-alerts"], f"only the budget is missing from this stack: {names}"
    skipped = {n.policy_name for n in response.not_applicable}
    assert "s3-public-access-blocked" in skipped, "a stack without buckets reports the S3 rule as not applicable"


LEVEL = {"advisory": pb.ADVISORY, "mandatory": pb.MANDATORY, "remediate": pb.REMEDIATE, "disabled": pb.DISABLED}


def test_the_server_and_frugal_policy_report_the_same_violations(analyzer, bad_plan: Plan) -> None:
    pack_config = load_pack_config(POLICY_DIR / "config.prod.json")
    configs = {}
    for policy in policies():
        level, config = resolve(policy, pack_config)
        configs[policy.name] = pb.PolicyConfig(enforcementLevel=LEVEL[level.value], properties=struct(config))
    analyzer.Configure(pb.ConfigureAnalyzerRequest(policyConfig=configs), timeout=30)

    served = set()
    for r in bad_plan.resources:
        provider = bad_plan.by_urn(r.provider) if r.provider else None
        request = pb.AnalyzeRequest(urn=r.urn, type=r.type, name=r.name, properties=struct(r.inputs))
        if provider is not None:
            request.provider.CopyFrom(
                pb.AnalyzerProviderResource(
                    type=provider.type, urn=provider.urn, name=provider.name, properties=struct(provider.inputs)
                )
            )
        for d in analyzer.Analyze(request, timeout=60).diagnostics:
            # The engine files a resource policy's violation under the resource it asked about.
            served.add((d.policyName, d.urn or r.urn, d.enforcementLevel, d.message))
    stack = [
        pb.AnalyzerResource(
            urn=r.urn,
            type=r.type,
            name=r.name,
            properties=struct(r.inputs),
            parent=r.parent or "",
            propertyDependencies={
                k: pb.AnalyzerPropertyDependencies(urns=v) for k, v in r.property_dependencies.items()
            },
        )
        for r in bad_plan.resources
        if not r.type.startswith("pulumi:providers:")
    ]
    for d in analyzer.AnalyzeStack(pb.AnalyzeStackRequest(resources=stack), timeout=120).diagnostics:
        served.add((d.policyName, d.urn, d.enforcementLevel, d.message))

    offline = {(d.policy, d.urn, LEVEL[d.enforcement], d.message) for d in evaluate(bad_plan, pack_config).diagnostics}
    assert served == offline, f"only in the server: {served - offline}; only in frugal policy: {offline - served}"
    assert len(offline) == 6, "five rules fire, one of them (tags) on the untagged security group as well"
