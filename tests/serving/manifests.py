"""Build the serving manifests of a stack the way the program does, with placeholders for what only
the cloud resolves (the image's registry, the bucket, the role)."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from infra.config import StackConfig, parse
from infra.serving_common import ServingInputs
from infra.serving_gateway import router_config
from infra.serving_gateway_objects import tenant_keys_secret
from infra.serving_manifests import all_manifests
from tests.fakes import stack_values

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/frugal-llm-dev-runtime@sha256:" + "ab" * 32
ROLE = "arn:aws:iam::123456789012:role/model-reader"


def stack(name: str) -> StackConfig:
    return parse(name, stack_values(name))


def inputs_for(cfg: StackConfig) -> ServingInputs:
    assert cfg.serving is not None
    uris = {t.name: t.model.s3_uri or f"s3://models-bucket/models/{t.model.sha256}.gguf" for t in cfg.serving.tiers}
    return ServingInputs(cfg=cfg, image=IMAGE, model_uris=uris, model_reader_role_arn=ROLE)


def manifests_for(cfg: StackConfig, redis_url: str | None = None) -> list[dict[str, Any]]:
    router_yaml = yaml.safe_dump(router_config(cfg, redis_url), sort_keys=False)
    digest = hashlib.sha256(router_yaml.encode()).hexdigest()
    assert cfg.serving is not None
    objs = all_manifests(inputs_for(cfg), router_yaml, digest)
    return [*objs, tenant_keys_secret(cfg.serving.namespace, '{"t": "0123456789abcdef0123"}')]


def find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"exactly one {kind} {name}"
    return found[0]
