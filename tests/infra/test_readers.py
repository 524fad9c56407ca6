"""Readers of the real Pulumi CLI's JSON (samples written by the CLI, in shared/data/pulumi-cli-samples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.readers import CliJsonError, parse_urn, read_preview_json, read_stack_export
from tests.paths import SHARED_DATA

SAMPLES = SHARED_DATA / "pulumi-cli-samples"


def test_urn_types_joined_along_the_parent_chain_give_the_own_type_last():
    urn = "urn:pulumi:dev::sample::aws:s3/bucket:Bucket$aws:s3:BucketEventSubscription$aws:iam/role:Role::docsHandler"
    assert parse_urn(urn) == ("dev", "sample", "aws:iam/role:Role", "docsHandler"), "own type is the last $ part"


def test_a_preview_of_creates_lists_every_created_resource_with_parents_and_providers():
    plan = read_preview_json(SAMPLES / "sample-preview-creates.json")
    assert (plan.stack, plan.project, plan.source) == ("dev", "sample", "pulumi-preview"), "identity from URNs"
    assert len(plan.resources) == 15, "16 creates minus the Stack resource itself"
    bucket = next(r for r in plan.resources if r.type == "aws:s3/bucket:Bucket")
    assert bucket.inputs == {"acl": "private", "bucket": "docs-32c8f2c", "forceDestroy": False}, (
        "inputs keep provider-defaulted values but drop the __defaults bookkeeping list"
    )
    assert bucket.provider == "urn:pulumi:dev::sample::pulumi:providers:aws::default_6_63_0", "provider urn, no id"
    subscription = next(r for r in plan.resources if r.type == "aws:s3:BucketEventSubscription")
    assert not subscription.custom and subscription.parent == bucket.urn, "component parent is kept"
    role = next(r for r in plan.resources if r.type == "aws:iam/role:Role")
    assert role.parent == subscription.urn, "children of a component point at it"
    assert all(r.op == "create" for r in plan.resources), "every step of this preview is a create"


def test_an_update_preview_gives_both_the_plan_before_and_after():
    path = SAMPLES / "sample-preview-update.json"
    after, before = read_preview_json(path), read_preview_json(path, before=True)
    assert len(after.resources) == len(before.resources) == 15, "--show-sames keeps unchanged resources"
    fn_after = next(r for r in after.resources if r.type == "aws:lambda/function:Function")
    fn_before = next(r for r in before.resources if r.type == "aws:lambda/function:Function")
    assert fn_after.op == "update", "the changed function is marked"
    assert fn_after.inputs != fn_before.inputs, "before and after differ where the update is"
    assert isinstance(fn_after.inputs["code"], dict) and "archive" in fn_after.inputs["code"], "archives summarised"
    assert after.warnings == [], "a preview with same steps raises no --show-sames warning"


def test_a_delete_preview_drops_deleted_resources_from_the_plan_after():
    path = SAMPLES / "sample-preview-deletes.json"
    after, before = read_preview_json(path), read_preview_json(path, before=True)
    assert [r.type for r in after.resources] == ["aws:s3/bucket:Bucket"], "only the unchanged bucket remains"
    assert len(before.resources) == 15, "the plan before still holds everything being deleted"


def test_a_stack_export_reads_state_with_dependencies_and_provider_resources():
    plan = read_stack_export(SAMPLES / "sample-export.json")
    assert plan.source == "pulumi-export" and plan.stack == "dev", "identity from URNs"
    types = [r.type for r in plan.resources]
    assert "pulumi:providers:aws" in types, "the default provider is part of the state"
    assert "pulumi:pulumi:Stack" not in types, "the stack itself is not a resource to price or police"
    fn = next(r for r in plan.resources if r.type == "aws:lambda/function:Function")
    assert fn.dependencies and fn.property_dependencies, "dependencies survive for matching resources"


def test_a_preview_without_sames_is_flagged(tmp_path: Path):
    data = json.loads((SAMPLES / "sample-preview-update.json").read_text())
    data["steps"] = [s for s in data["steps"] if s["op"] != "same"]
    path = tmp_path / "no-sames.json"
    path.write_text(json.dumps(data))
    plan = read_preview_json(path)
    assert any("--show-sames" in w for w in plan.warnings), "missing unchanged resources would skew a cost"


def test_the_wrong_kind_of_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(CliJsonError, match="pulumi preview --json"):
        read_preview_json(SAMPLES / "sample-export.json")
    with pytest.raises(CliJsonError, match="pulumi stack export"):
        read_stack_export(SAMPLES / "sample-preview-creates.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CliJsonError, match="not readable JSON"):
        read_preview_json(broken)
