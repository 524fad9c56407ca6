"""Rules for what the stack runs on the cluster: Helm releases and spot-interruption handling.

Helm values are chart-specific, so the workload rules read them structurally: every `resources`
map anywhere in the values, every `runAsNonRoot`/`runAsUser`/`privileged` key, the `nodeSelector`
maps. Charts name the same idea at different depths (KEDA keys `resources.operator`, the
autoscaler `resources`), and the walk finds both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from infra.tokens import AUTOSCALING_GROUP, CLOUDWATCH_EVENT_RULE, KUBERNETES_HELM_RELEASE, SQS_QUEUE
from policies.cost_rules import _runs_spot
from policies.props import get, is_gpu_asg, is_list, is_map, known, message, plain, settings, show

RELEASE = KUBERNETES_HELM_RELEASE
QUEUE = SQS_QUEUE
EVENT_RULE = CLOUDWATCH_EVENT_RULE
ASG = AUTOSCALING_GROUP
SPOT_WARNING = "EC2 Spot Instance Interruption Warning"
# An exact chart version: 1.2.3 or v1.2.3 with an optional pre-release; no ranges, no 'latest'.
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")

PINNED_CONFIG: dict[str, dict[str, Any]] = {}
REQUESTS_CONFIG: dict[str, dict[str, Any]] = {
    "requiredRequests": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["cpu", "memory"],
        "description": "resources every `resources.requests` in a release's values must name",
    }
}
NON_ROOT_CONFIG: dict[str, dict[str, Any]] = {
    "rootAllowedCharts": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["nvidia-device-plugin"],
        "description": "charts allowed to run as root (the device plugin writes the kubelet's socket directory)",
    }
}
SYSTEM_NODES_CONFIG: dict[str, dict[str, Any]] = {
    "systemNodeLabel": {
        "type": "string",
        "default": "frugal.dev/node-role=system",
        "description": "the label (key=value) of the system nodes controllers must select",
    },
    "perNodeCharts": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["nvidia-device-plugin"],
        "description": "charts that run on every (GPU) node by design: DaemonSets exempt from the rule",
    },
}


def _chart(props: Any) -> str:
    """The chart's short name: 'keda', or the last path part of an OCI reference."""
    chart = get(props, "chart", default="")
    return str(chart).rstrip("/").rsplit("/", 1)[-1]


def _values(props: Any) -> Any:
    ok, values = known(props, "values")
    if not ok:
        return None
    values = plain(values)
    if isinstance(values, str):  # some callers pass values as a JSON/YAML string
        try:
            values = json.loads(values)
        except ValueError:
            return None
    return values if isinstance(values, dict) else None


def _walk(node: Any, path: str = "values") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) for every key of every map in the values."""
    if is_map(node):
        for key in node:
            value = node[key]
            yield path, key, value
            yield from _walk(value, f"{path}.{key}")
    elif is_list(node):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _latest_images(values: Any) -> list[str]:
    found = []
    for path, key, value in _walk(values):
        if key == "tag" and isinstance(value, str) and value.strip().lower() == "latest":
            found.append(f"{path}.tag")
        elif key == "image" and isinstance(value, str) and (value.endswith(":latest") or ":" not in value):
            found.append(f"{path}.image={value}")
    return found


def helm_chart_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Helm releases pin an exact chart version and no image runs the `latest` tag."""
    if args.resource_type != RELEASE:
        return
    ok, version = known(args.props, "version")
    if ok and (not isinstance(version, str) or not EXACT_VERSION.match(version.strip())):
        report_violation(
            message(
                "helm-chart-pinned",
                f"release '{args.name}' (chart {_chart(args.props)}) has version={show(version)}",
                "an exact chart version such as 1.2.3 (no range, no 'latest', never unset)",
                "set version= to the chart version you reviewed (infra/platform_versions.py)",
            ),
            None,
        )
    if latest := _latest_images(_values(args.props)):
        report_violation(
            message(
                "helm-chart-pinned",
                f"release '{args.name}' runs an unpinned image at {', '.join(latest)}",
                "every image tag pinned",
                "remove the tag override (the pinned chart's appVersion applies) or set an exact tag",
            ),
            None,
        )


def workload_resource_requests(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every workload a release runs sets CPU and memory requests, so the scheduler and autoscaler can plan."""
    if args.resource_type != RELEASE:
        return
    values = _values(args.props)
    if values is None:
        return
    wanted = settings(args.get_config(), REQUESTS_CONFIG)["requiredRequests"]
    blocks = [(path, value) for path, key, value in _walk(values) if key == "resources" and is_map(value)]
    problems: list[str] = []
    # A chart with several workloads keys them one level down (resources.operator, ...).
    for path, block in blocks:
        nested = [block[k] for k in block if k not in ("requests", "limits") and is_map(block[k])]
        parts = [(f"{path}.resources", block)] if not nested else [(f"{path}.resources.{k}", block[k]) for k in block]
        for where, res in parts:
            requests = get(res, "requests", default={})
            missing = [r for r in wanted if not (is_map(requests) and requests.get(r))]
            if missing:
                problems.append(f"{where} lacks requests {', '.join(missing)}")
    if not blocks:
        problems.append("no `resources` in the values (the chart's default is usually none)")
    if problems:
        report_violation(
            message(
                "workload-resource-requests",
                f"release '{args.name}' (chart {_chart(args.props)}): {'; '.join(problems)}",
                f"requests for {', '.join(wanted)} on every workload (config requiredRequests)",
                "set resources.requests in the release's values builder (infra/platform_values.py)",
            ),
            None,
        )


def workload_runs_as_non_root(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Workloads run as non-root, unprivileged, unless their chart is allow-listed (the GPU device plugin)."""
    if args.resource_type != RELEASE:
        return
    values = _values(args.props)
    if values is None:
        return
    allowed = settings(args.get_config(), NON_ROOT_CONFIG)["rootAllowedCharts"]
    if _chart(args.props) in allowed:
        return
    found: list[str] = []
    non_root = False
    for path, key, value in _walk(values):
        if key == "runAsNonRoot":
            non_root = non_root or value is True
            if value is False:
                found.append(f"{path}.runAsNonRoot=false")
        elif key == "runAsUser" and value == 0:
            found.append(f"{path}.runAsUser=0")
        elif key in ("privileged", "allowPrivilegeEscalation") and value is True:
            found.append(f"{path}.{key}=true")
    if not non_root:
        found.append("no runAsNonRoot: true anywhere in the values")
    if found:
        report_violation(
            message(
                "workload-runs-as-non-root",
                f"release '{args.name}' (chart {_chart(args.props)}): {'; '.join(found)}",
                "runAsNonRoot: true, no UID 0, no privileged containers (config rootAllowedCharts exempts charts)",
                "set the chart's pod/container securityContext to runAsNonRoot: true and "
                "allowPrivilegeEscalation: false",
            ),
            None,
        )


def controllers_on_system_nodes(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Controllers run on the system nodes, never on GPU nodes they would keep from scaling down."""
    if args.resource_type != RELEASE:
        return
    values = _values(args.props)
    if values is None:
        return
    cfg = settings(args.get_config(), SYSTEM_NODES_CONFIG)
    if _chart(args.props) in cfg["perNodeCharts"]:
        return
    key, _, value = str(cfg["systemNodeLabel"]).partition("=")
    selectors = [sel for _, k, sel in _walk(values) if k == "nodeSelector" and is_map(sel)]
    if not any(sel.get(key) == value for sel in selectors):
        report_violation(
            message(
                "controllers-on-system-nodes",
                f"release '{args.name}' (chart {_chart(args.props)}) has nodeSelector(s) "
                f"{show(selectors) if selectors else 'unset'}",
                f"a nodeSelector {key}: {value} (config systemNodeLabel)",
                "set nodeSelector from infra/platform_values.system_node_selector() in its values",
            ),
            None,
        )


def _patterns_name(rule: Any, detail_type: str) -> bool:
    ok, pattern = known(rule.props, "eventPattern")
    if not ok or not isinstance(pattern, str):
        return not ok  # a pattern not known yet cannot be judged; assume it is the one declared
    try:
        doc = json.loads(pattern)
    except ValueError:
        return False
    return detail_type in (doc.get("detail-type") or [])


def interruption_queue_for_spot(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """A stack whose GPU groups run spot has the interruption queue, its spot-warning rule and a handler on it."""
    spot_groups = [
        r.name for r in args.resources if r.resource_type == ASG and is_gpu_asg(r.props) and _runs_spot(r.props)
    ]
    if not spot_groups:
        return
    queues = [r for r in args.resources if r.resource_type == QUEUE]
    rules = [r for r in args.resources if r.resource_type == EVENT_RULE and _patterns_name(r, SPOT_WARNING)]
    handlers = [
        r
        for r in args.resources
        if r.resource_type == RELEASE
        and get(_values(r.props) or {}, "enableSqsTerminationDraining") is True
        and get(_values(r.props) or {}, "queueURL")
    ]
    missing = [
        what
        for what, present in (
            ("an SQS queue", queues),
            (f"an EventBridge rule for '{SPOT_WARNING}'", rules),
            ("a node termination handler in queue-processor mode (enableSqsTerminationDraining, queueURL)", handlers),
        )
        if not present
    ]
    if missing:
        report_violation(
            message(
                "interruption-queue-for-spot",
                f"spot GPU group(s) {', '.join(spot_groups)} but the stack lacks {'; '.join(missing)}",
                "spot capacity only with interruption handling (a 2-minute notice, then the node is gone)",
                "keep the InterruptionQueue and PlatformControllers components in the program (infra/program.py)",
            ),
            None,
        )
