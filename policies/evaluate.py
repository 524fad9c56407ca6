"""Run the pack over a `Plan` without the Pulumi CLI, with the engine's semantics.

What the analyzer server does per policy, done here the same way: the enforcement level comes from
the pack config (policy name, else "all", else the policy's own); DISABLED policies are skipped and
REMEDIATE counts as MANDATORY; a violation's message is the policy description, a newline, then the
rule's message; a rule that touches a value unknown during preview yields an ADVISORY "can't run
policy" diagnostic; `args.not_applicable(...)` is recorded, not reported. Like the CLI, a policy's
config is its schema's defaults overridden by the pack config file (`--policy-pack-config`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel, Policy, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError

from infra.plan import Plan
from policies.adapter import resource_args, stack_args
from policies.registry import PACK_NAME, RULES_BY_NAME, policies

ALL = "all"
LEVELS = {level.value: level for level in EnforcementLevel}
POLICY_DIR = Path(__file__).resolve().parent


class PackConfigError(ValueError):
    """A policy pack config file the CLI would refuse."""


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    area: str
    severity: str
    enforcement: str
    urn: str
    resource_type: str | None
    resource_name: str | None
    description: str
    message: str
    """As the engine reports it: the policy description, a newline, the rule's message."""

    @property
    def detail(self) -> str:
        return self.message.split("\n", 1)[-1]


@dataclass(frozen=True)
class NotApplicable:
    policy: str
    urn: str | None
    reason: str


@dataclass
class Report:
    pack: str
    project: str
    stack: str
    source: str
    config_path: str | None
    resources: int
    policies: int
    diagnostics: list[Diagnostic] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def of_level(self, level: EnforcementLevel) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.enforcement == level.value]

    @property
    def mandatory(self) -> list[Diagnostic]:
        return self.of_level(EnforcementLevel.MANDATORY)

    @property
    def advisory(self) -> list[Diagnostic]:
        return self.of_level(EnforcementLevel.ADVISORY)

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = {
            "mandatory": len(self.mandatory),
            "advisory": len(self.advisory),
            "not_applicable": len(self.not_applicable),
        }
        return {"schema": "frugal.policy-report/v1", **data}


def plan_environment(plan: Plan) -> str | None:
    """The most common `environment` tag of the plan's resources."""
    from policies.props import ENVIRONMENT_TAG, tags

    counts = Counter(t[ENVIRONMENT_TAG] for r in plan.resources if ENVIRONMENT_TAG in (t := tags(r.inputs)))
    return counts.most_common(1)[0][0] if counts else None


def default_config_path(plan: Plan) -> Path | None:
    """policies/config.<environment>.json for the plan's environment, if the pack ships one."""
    env = plan_environment(plan)
    path = POLICY_DIR / f"config.{env}.json" if env else None
    return path if path is not None and path.is_file() else None


def load_pack_config(path: Path) -> dict[str, Any]:
    """A `--policy-pack-config` file: {"all"|policy name: level string or {"enforcementLevel": ..., props}}."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise PackConfigError(f"{path}: not valid JSON ({exc}); fix: correct the file") from exc
    if not isinstance(data, dict):
        raise PackConfigError(f"{path}: the top level must be an object keyed by policy name or 'all'")
    problems = []
    for key, value in data.items():
        if key != ALL and key not in RULES_BY_NAME:
            problems.append(f"{key!r} is not a policy of {PACK_NAME} (policies: {', '.join(RULES_BY_NAME)})")
            continue
        level = value if isinstance(value, str) else value.get("enforcementLevel") if isinstance(value, dict) else 0
        if level is not None and level not in LEVELS:
            problems.append(f"{key}: enforcement level {level!r} is not one of {', '.join(LEVELS)}")
        if isinstance(value, dict) and key != ALL:
            schema = RULES_BY_NAME[key].config
            for prop, setting in value.items():
                if prop == "enforcementLevel":
                    continue
                if prop not in schema:
                    problems.append(f"{key}: unknown property {prop!r} (known: {', '.join(schema) or 'none'})")
                else:
                    problems += schema_problems(setting, schema[prop], f"{key}.{prop}")
    if problems:
        raise PackConfigError(f"{path}: " + "; ".join(problems) + "; fix: correct the file (docs/policy-pack.md)")
    return data


_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def schema_problems(value: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    """What the CLI's JSON-schema check of a policy's config would refuse (the subset our schemas use)."""
    if "oneOf" in schema:
        if any(not schema_problems(value, option, where) for option in schema["oneOf"]):
            return []
        return [f"{where}: {value!r} matches none of {[o.get('type') for o in schema['oneOf']]}"]
    kind = schema.get("type")
    if kind in _TYPES and (not isinstance(value, _TYPES[kind]) or (kind != "boolean" and isinstance(value, bool))):
        return [f"{where}: {value!r} is not of type {kind}"]
    problems: list[str] = []
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        problems.append(f"{where}: {value!r} is below the minimum {schema['minimum']}")
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            problems += schema_problems(item, schema["items"], f"{where}[{i}]")
    if kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        for k, item in value.items():
            problems += schema_problems(item, schema["additionalProperties"], f"{where}.{k}")
    return problems


def _level(value: Any) -> EnforcementLevel | None:
    if isinstance(value, str):
        return LEVELS[value]
    if isinstance(value, Mapping) and value.get("enforcementLevel"):
        return LEVELS[value["enforcementLevel"]]
    return None


def resolve(policy: Policy, pack_config: Mapping[str, Any]) -> tuple[EnforcementLevel, dict[str, Any]]:
    """The policy's enforcement level and config for this run, as the CLI computes them."""
    level = _level(pack_config.get(policy.name)) or _level(pack_config.get(ALL)) or policy.enforcement_level
    assert level is not None, f"policy {policy.name} has no enforcement level"
    config: dict[str, Any] = {}
    if policy.config_schema is not None:
        config = {k: s["default"] for k, s in policy.config_schema.properties.items() if "default" in s}
    own = pack_config.get(policy.name)
    if isinstance(own, Mapping):
        config.update({k: v for k, v in own.items() if k != "enforcementLevel"})
    return level, config


def evaluate(
    plan: Plan,
    pack_config: Mapping[str, Any] | None = None,
    *,
    config_path: str | None = None,
    stack_tags: Mapping[str, str] | None = None,
) -> Report:
    """Every policy of the pack over every resource of the plan, then over the stack."""
    pack_config = pack_config or {}
    pack = policies()
    report = Report(
        pack=PACK_NAME,
        project=plan.project,
        stack=plan.stack,
        source=plan.source,
        config_path=config_path,
        resources=len(plan.resources),
        policies=len(pack),
        warnings=list(plan.warnings),
    )
    by_urn = {r.urn: r for r in plan.resources}
    for policy in pack:
        level, config = resolve(policy, pack_config)
        if level == EnforcementLevel.DISABLED:
            continue
        if level == EnforcementLevel.REMEDIATE:
            level = EnforcementLevel.MANDATORY
        run = _Run(policy, level, report, by_urn)
        if isinstance(policy, ResourceValidationPolicy):
            for resource in plan.resources:
                run(resource_args(resource, plan, config, stack_tags), resource.urn)
        elif isinstance(policy, StackValidationPolicy):
            run(stack_args(plan, config, stack_tags), None)
    return report


class _Run:
    """One policy's validate call with a report_violation that records what the engine would."""

    def __init__(self, policy: Policy, level: EnforcementLevel, report: Report, by_urn: dict[str, Any]) -> None:
        self.policy, self.level, self.report, self.by_urn = policy, level, report, by_urn
        self.rule = RULES_BY_NAME[policy.name]

    def record(self, msg: str, urn: str | None, level: EnforcementLevel, prefixed: bool = True) -> None:
        target = self.by_urn.get(urn or "")
        description = self.policy.description
        self.report.diagnostics.append(
            Diagnostic(
                policy=self.policy.name,
                area=self.rule.area,
                severity=self.rule.severity.value,
                enforcement=level.value,
                urn=urn or "",
                resource_type=target.type if target else None,
                resource_name=target.name if target else None,
                description=description,
                message=(f"{description}\n{msg}" if msg else description) if prefixed else msg,
            )
        )

    def __call__(self, args: Any, resource_urn: str | None) -> None:
        def report_violation(msg: str, urn: str | None = None) -> None:
            # A resource policy's violation always belongs to the resource under validation.
            self.record(msg, resource_urn or urn, self.level)

        try:
            self.policy.validate(args, report_violation)  # type: ignore[attr-defined]
        except UnknownValueError as exc:
            self.record(
                f"can't run policy '{self.policy.name}' from policy pack '{PACK_NAME}' during preview: {exc.message}",
                resource_urn,
                EnforcementLevel.ADVISORY,
                prefixed=False,
            )
        except _NotApplicableError as exc:
            self.report.not_applicable.append(
                NotApplicable(self.policy.name, resource_urn, exc.reason or "Policy does not apply")
            )
