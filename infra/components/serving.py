"""Serving: the model servers of every tier and the gateway, as Kubernetes objects on the cluster.

The manifests come from the pure builders in infra/serving_manifests.py; this component only
resolves what the cloud knows later (the image's registry, the model objects, the reader role, the
cache endpoint, the tenant keys) and registers each object with the stack's Kubernetes provider.

Objects are registered under their provider's own type tokens (`kubernetes:apps/v1:Deployment`,
...) as generic custom resources, exactly what pulumi_kubernetes' typed classes register: the typed
`core.v1` module alone takes about a second to import, which would put `frugal plan` over its
budget, and the manifests are already complete dicts validated against the Kubernetes schema.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import yaml

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStr
from infra.config import StackConfig
from infra.serving_common import ServingInputs
from infra.serving_gateway import router_config
from infra.serving_gateway_objects import tenant_keys_secret
from infra.serving_manifests import all_manifests

IMAGE, ROLE, REDIS, CONFIG_SHA = "__FRUGAL_IMAGE__", "__FRUGAL_ROLE__", "__FRUGAL_REDIS__", "__FRUGAL_CONFIG_SHA__"


def _uri_placeholder(tier: str) -> str:
    return f"__FRUGAL_MODEL_URI_{tier}__"


def substitute(value: Any, mapping: dict[str, str]) -> Any:
    """The value with every placeholder string replaced (inside strings too: a URL, a YAML file)."""
    if isinstance(value, dict):
        return {k: substitute(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, mapping) for v in value]
    if isinstance(value, str):
        for placeholder, real in mapping.items():
            value = value.replace(placeholder, real)
    return value


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_placeholder(v) for v in value)
    return isinstance(value, str) and "__FRUGAL_" in value


def type_token(obj: dict[str, Any]) -> str:
    api = obj["apiVersion"]
    group_version = f"core/{api}" if "/" not in api else api
    return f"kubernetes:{group_version}:{obj['kind']}"


class ServingArgs(ComponentArgs):
    stack: StackConfig
    image: InputStr
    model_uris: dict[str, InputStr]
    model_reader_role_arn: InputStr
    redis_url: InputStr | None = None
    tenant_keys: InputStr | None = None
    """A secret Output of the tenant-keys JSON, or None (a gateway without API keys)."""
    system_node_selector: dict[str, str]
    provider: Any
    """The stack's Kubernetes provider."""
    wait_for: list[Any] = []


class Serving(pulumi.ComponentResource):
    objects: dict[str, pulumi.CustomResource]
    """Registered objects by '<kind>/<namespace>/<name>'."""

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:serving:Serving", name, None, opts)
        cfg = args.stack
        serving = cfg.serving
        assert serving is not None, "Serving needs the stack's serving section"
        inputs = ServingInputs(
            cfg=cfg,
            image=IMAGE,
            model_uris={t.name: _uri_placeholder(t.name) for t in serving.tiers},
            model_reader_role_arn=ROLE,
            system_node_selector=dict(args.system_node_selector),
            has_tenant_keys=args.tenant_keys is not None,
        )
        router_yaml = yaml.safe_dump(router_config(cfg, REDIS if args.redis_url is not None else None), sort_keys=False)
        manifests = all_manifests(inputs, router_yaml, CONFIG_SHA)
        tiers = [t.name for t in serving.tiers]

        def mapping(values: list[Any]) -> dict[str, str]:
            image, role, redis, *uris = values
            out = {IMAGE: str(image), ROLE: str(role), REDIS: str(redis or "")}
            out.update({_uri_placeholder(t): str(u) for t, u in zip(tiers, uris, strict=True)})
            # The gateway's pods roll when the config they read changes, whatever changed it.
            out[CONFIG_SHA] = hashlib.sha256(substitute(router_yaml, out).encode()).hexdigest()
            return out

        resolved = pulumi.Output.all(
            args.image, args.model_reader_role_arn, args.redis_url, *[args.model_uris[t] for t in tiers]
        ).apply(mapping)
        within = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.wait_for))
        self.objects = {}
        namespaces: list[pulumi.CustomResource] = []

        def register(obj: dict[str, Any], extra: pulumi.ResourceOptions | None = None) -> pulumi.CustomResource:
            def resolve(value: Any) -> Any:
                return resolved.apply(lambda m: substitute(value, m)) if _has_placeholder(value) else value

            props = {k: resolve(v) for k, v in obj.items()}
            meta = obj["metadata"]
            key = f"{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}"
            logical = f"{name}-{obj['kind'].lower()}-{meta.get('namespace', 'cluster')}-{meta['name']}"
            options = pulumi.ResourceOptions.merge(
                within, pulumi.ResourceOptions(depends_on=[*args.wait_for, *namespaces])
            )
            if extra is not None:
                options = pulumi.ResourceOptions.merge(options, extra)
            resource = pulumi.CustomResource(type_token(obj), logical, props, options)
            self.objects[key] = resource
            return resource

        for obj in manifests:
            if obj["kind"] == "Namespace":
                namespaces.append(register(obj))
        if args.tenant_keys is not None:
            secret = tenant_keys_secret(serving.namespace, "")
            files = list(secret["stringData"])
            secret["stringData"] = pulumi.Output.secret(args.tenant_keys).apply(lambda keys: dict.fromkeys(files, keys))
            register(secret, pulumi.ResourceOptions(additional_secret_outputs=["data", "stringData"]))
        for obj in manifests:
            if obj["kind"] == "Namespace":
                continue
            # KEDA owns a model server's replica count once the ScaledObject exists.
            scaled = obj["kind"] == "Deployment" and obj["metadata"]["name"] != "gateway"
            register(obj, pulumi.ResourceOptions(ignore_changes=["spec.replicas"]) if scaled else None)
        self.register_outputs({})
