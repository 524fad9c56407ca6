"""Reading resource properties the way the policy engine hands them over (pure helpers, no rules).

Inside `pulumi preview` the engine passes each resource's inputs as read-only proxies
(`collections.abc.Mapping` / `Sequence`, not dict/list) that raise `UnknownValueError` when a
rule touches a value not known until the update; numbers arrive as floats (protobuf Struct), some
provider booleans as the strings "true"/"false". Rules read through these helpers so that the same
code behaves identically in the engine and in `frugal policy` (which builds the same proxies).
"""

from __future__ import annotations

import importlib
import inspect
import keyword
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from pulumi_policy.proxy import UnknownValueError, _DictProxy, _ListProxy

# The stack's cost-allocation tags (infra/program.py stack_tags): Tags.as_aws() plus frugal-stack.
REQUIRED_TAG_KEYS = ("project", "environment", "owner", "cost-center", "frugal-stack")
ENVIRONMENT_TAG = "environment"
DEFAULT_KEY = "default"
GPU_FAMILY = re.compile(r"^(p|g|gr)\d")
GPU_NODE_TEMPLATE_TAG = "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"


def is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def get(props: Any, *path: str | int, default: Any = None) -> Any:
    """props[path[0]][path[1]]..., or `default` when a step is missing. Unknown values still raise."""
    node = props
    for step in path:
        if isinstance(step, int):
            if not is_list(node) or not -len(node) <= step < len(node):
                return default
        elif not is_map(node) or step not in node:
            return default
        node = node[step]
    return default if node is None else node


def known(props: Any, *path: str | int) -> tuple[bool, Any]:
    """(True, value) when the value is known; (False, None) when the engine does not know it yet."""
    try:
        return True, get(props, *path)
    except UnknownValueError:
        return False, None


def items(value: Any) -> list[Any]:
    """A list property's elements; unknown elements are skipped (the rule cannot judge them)."""
    if not is_list(value):
        return []
    out = []
    for i in range(len(value)):
        try:
            out.append(value[i])
        except UnknownValueError:
            continue
    return out


def number(value: Any) -> int | float | None:
    """A numeric input as int when integral (the engine sends 2.0 for 2), None when absent or not numeric."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float):
        return int(value) if float(value).is_integer() else value
    return None


def flag(value: Any) -> bool | None:
    """A boolean input, also when the provider types it as a string ("true"/"false")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def show(value: Any) -> str:
    """A value as a short, readable string for messages (2.0 -> 2, missing -> 'unset')."""
    if value is None:
        return "unset"
    if (n := number(value)) is not None and not isinstance(value, str):
        return str(n)
    if is_map(value):
        return "{" + ", ".join(f"{k}: {show(value[k])}" for k in value) + "}"
    if is_list(value):
        return "[" + ", ".join(show(v) for v in items(value)) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def plain(value: Any) -> Any:
    """The engine's proxies unwrapped into plain dicts and lists (unknown values stay the engine's sentinels)."""
    if isinstance(value, _DictProxy | _ListProxy):
        value = value["__target"]
    if is_map(value):
        return {k: plain(value[k]) for k in value}
    if is_list(value):
        return [plain(v) for v in value]
    return value


def tags(props: Any, provider_props: Any = None) -> dict[str, str]:
    """A resource's tags as a dict: the `tags` map, or an auto-scaling group's list of {key, value},
    over the provider's `defaultTags` (which AWS applies to every taggable resource of that provider)."""
    merged: dict[str, str] = {}
    ok, default_tags = known(provider_props, "defaultTags", "tags")
    if ok and is_map(default_tags):
        merged.update({k: v for k in default_tags if isinstance(v := known(default_tags, k)[1], str)})
    ok, own = known(props, "tags")
    if ok and is_map(own):
        merged.update({k: v for k in own if isinstance(v := known(own, k)[1], str)})
    elif ok and is_list(own):
        for tag in items(own):
            key, value = known(tag, "key")[1], known(tag, "value")[1]
            if isinstance(key, str) and isinstance(value, str):
                merged[key] = value
    return merged


def asg_tag_propagates(props: Any, key: str) -> bool | None:
    """Whether an auto-scaling group copies the tag `key` to the instances it launches (None: no such tag)."""
    for tag in items(get(props, "tags", default=[])):
        if known(tag, "key")[1] == key:
            return flag(known(tag, "propagateAtLaunch")[1]) is True
    return None


def environment(config: Mapping[str, Any], resource_tags: Mapping[str, str], stack_tags: Mapping[str, str]) -> str:
    """The environment a rule judges for: the pack config's `environment`, else the resource's
    `environment` tag, else the stack's tag of that name, else 'default'."""
    for source in (config, resource_tags, stack_tags):
        value = source.get(ENVIRONMENT_TAG) if source else None
        if isinstance(value, str) and value:
            return value
    return DEFAULT_KEY


def stack_environment(config: Mapping[str, Any], resource_props: list[Any], stack_tags: Mapping[str, str]) -> str:
    """The environment of a whole stack: config, else the most common `environment` tag of its resources."""
    counts = Counter(t[ENVIRONMENT_TAG] for p in resource_props if ENVIRONMENT_TAG in (t := tags(p)))
    most_common = {ENVIRONMENT_TAG: counts.most_common(1)[0][0]} if counts else {}
    return environment(config, most_common, stack_tags)


def per_env(setting: Any, env: str) -> Any:
    """A threshold that is either one value or a map {environment: value, 'default': value}."""
    if is_map(setting):
        return setting.get(env, setting.get(DEFAULT_KEY))
    return setting


def threshold(cfg: Mapping[str, Any], schema: Mapping[str, Mapping[str, Any]], key: str, env: str) -> int | float:
    """A per-environment number from the pack config, else the schema's documented default for `env`.

    A value that is set but not a number is a broken config: it raises rather than letting the rule
    pass silently (the engine then fails the preview with this message)."""
    value = per_env(cfg.get(key), env)
    if value is None:
        value = per_env(schema[key]["default"], env)
    n = number(value)
    if n is None or isinstance(value, str):
        raise ValueError(
            f"policy config {key}={cfg.get(key)!r} gives {value!r} for environment '{env}', not a number; "
            f"fix: a number or a map such as {schema[key]['default']}"
        )
    return n


def settings(config: Mapping[str, Any], schema: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A rule's configuration: the documented defaults of its schema, overridden by the pack config."""
    merged = {k: spec["default"] for k, spec in schema.items() if "default" in spec}
    merged.update({k: v for k, v in (config or {}).items() if k != "enforcementLevel"})
    return merged


def family(instance_type: str) -> str:
    """'g5.2xlarge' -> 'g5'."""
    return instance_type.split(".", 1)[0]


def gpu_instance_type(instance_type: str) -> bool:
    """A GPU type per the shipped catalog, or by EC2's naming of GPU families (p2..p6, g2..g7, gr6),
    which also covers old types the catalog lists without GPU details (p3.2xlarge)."""
    from infra.catalog import load_catalog

    spec = load_catalog().get(instance_type)
    return (spec is not None and spec.gpu is not None) or GPU_FAMILY.match(instance_type) is not None


def asg_instance_types(props: Any) -> list[str]:
    """Every instance type a mixed instances policy may launch (its overrides)."""
    overrides = get(props, "mixedInstancesPolicy", "launchTemplate", "overrides", default=[])
    return [t for o in items(overrides) if isinstance(t := known(o, "instanceType")[1], str)]


def is_gpu_asg(props: Any) -> bool:
    """An auto-scaling group of GPU nodes: a GPU override, or the cluster autoscaler's GPU node-template tag."""
    if any(gpu_instance_type(t) for t in asg_instance_types(props)):
        return True
    return GPU_NODE_TEMPLATE_TAG in tags(props)


@lru_cache(maxsize=512)
def taggable(resource_type: str) -> bool | None:
    """Whether a pulumi-aws resource type accepts `tags`, read from the installed SDK (None: not an aws type)."""
    package, _, rest = resource_type.partition(":")
    if package != "aws" or ":" not in rest:
        return None
    module_path, _, class_name = rest.partition(":")
    module = module_path.split("/", 1)[0]
    module = f"{module}_" if keyword.iskeyword(module) else module
    try:
        mod = importlib.import_module("pulumi_aws" if module == "index" else f"pulumi_aws.{module}")
    except ImportError:
        return None
    cls = getattr(mod, class_name, None)
    init = getattr(cls, "_internal_init", None)
    if init is None:
        return None
    return "tags" in inspect.signature(init).parameters


def message(rule: str, found: str, limit: str, fix: str) -> str:
    """Every violation reads the same way: the rule, what was found, the limit, and how to fix it."""
    return f"[{rule}] {found}; limit: {limit}; fix: {fix}"


def provider_props(args: Any) -> Any:
    provider = getattr(args, "provider", None)
    return getattr(provider, "props", None)
