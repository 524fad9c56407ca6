"""Run the Pulumi program offline: no CLI, no credentials, no network.

Pulumi's own mock runtime (`pulumi.runtime.set_mocks`) stands in for the engine. A recording monitor
keeps every registration (type, name, parent, provider, inputs), and the engine answers the few
provider calls the program makes (availability zones, the AMI parameter, the caller's account) and
fills the computed outputs other resources read (ARNs, ids, the cluster's OIDC issuer) with
placeholders that say "offline". The result is a `Plan`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.config import PROJECT, ConfigError, load
from infra.plan import Plan, PlannedResource
from infra.tokens import (
    EC2_LAUNCH_TEMPLATE,
    ECR_REPOSITORY,
    EKS_CLUSTER,
    ELASTICACHE_REPLICATION_GROUP,
    IAM_OPEN_ID_CONNECT_PROVIDER,
    S3_BUCKET,
    SQS_QUEUE,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
OFFLINE_ACCOUNT = "123456789012"


class StackFileError(ValueError):
    """A stack that does not exist or whose Pulumi.<stack>.yaml cannot be read."""


class RecordingEngine(pulumi.runtime.Mocks):
    """Answers provider calls and resource registrations the way AWS would, with offline values."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.warnings: list[str] = []
        self.logger = logging.getLogger(__name__)
        self.logger.propagate = False
        self.logger.handlers[:] = [_WarningCollector(self.warnings)]

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The provider call's result and its check failures (none: the offline answers are valid)."""
        return self._answer(args), []

    def _answer(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            letters = "abcdef"
            return {
                "names": [f"{self.region}{x}" for x in letters],
                "zoneIds": [f"use1-az{i + 1}" for i in range(len(letters))],
                "id": self.region,
            }
        if args.token == "aws:ssm/getParameter:getParameter":
            return {"name": args.args["name"], "type": "String", "value": "ami-offline", "id": args.args["name"]}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": OFFLINE_ACCOUNT,
                "arn": f"arn:aws:iam::{OFFLINE_ACCOUNT}:user/offline",
                "userId": "OFFLINE",
                "id": OFFLINE_ACCOUNT,
            }
        raise NotImplementedError(f"the offline engine has no answer for the provider call {args.token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name = args.inputs.get("name") or f"{args.name}-offline"
        service = args.typ.split(":")[1].split("/")[0] if ":" in args.typ else "pulumi"
        state: dict[str, Any] = {
            **args.inputs,
            "name": name,
            "arn": f"arn:aws:{service}:{self.region}:{OFFLINE_ACCOUNT}:{name}",
        }
        if args.typ == EKS_CLUSTER:
            state.update(
                endpoint=f"https://{name}.offline.eks.amazonaws.com",
                certificateAuthority={"data": "T0ZGTElORQ=="},
                identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/OFFLINE"}]}],
                kubernetesNetworkConfig={"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4"},
                vpcConfig={**args.inputs.get("vpcConfig", {}), "clusterSecurityGroupId": "sg-offline"},
            )
        elif args.typ == EC2_LAUNCH_TEMPLATE:
            state["latestVersion"] = 1
        elif args.typ == IAM_OPEN_ID_CONNECT_PROVIDER:
            # IAM's own shape: the issuer without its scheme, which trust policies name.
            host = str(args.inputs.get("url", "")).removeprefix("https://")
            state["arn"] = f"arn:aws:iam::{OFFLINE_ACCOUNT}:oidc-provider/{host}"
        elif args.typ == SQS_QUEUE:
            state["url"] = f"https://sqs.{self.region}.amazonaws.com/{OFFLINE_ACCOUNT}/{name}"
        elif args.typ == ECR_REPOSITORY:
            state["repositoryUrl"] = f"{OFFLINE_ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/{name}"
        elif args.typ == S3_BUCKET:
            state["bucket"] = args.inputs.get("bucket") or f"{args.inputs.get('bucketPrefix', '')}offline"
            state["arn"] = f"arn:aws:s3:::{state['bucket']}"
        elif args.typ == ELASTICACHE_REPLICATION_GROUP:
            state["primaryEndpointAddress"] = f"master.{name}.offline.cache.amazonaws.com"
        return f"{args.name}-offline", state


class _WarningCollector(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Pulumi's mock monitor, keeping what it drops: parents, providers, component outputs."""

    def __init__(self, engine: RecordingEngine) -> None:
        super().__init__(engine)
        self.registrations: list[PlannedResource] = []
        self.stack_urn: str | None = None

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        # pulumi's MockMonitor is not annotated; the request and response are its protobuf messages.
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
            return response
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        self.registrations.append(
            PlannedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent or None,
                # A provider reference is "<provider urn>::<provider id>"; the plan keeps the urn.
                provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
                inputs=_plain(inputs),
                dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            )
        )
        return response


def _plain(value: Any) -> Any:
    """Inputs as JSON-ready data: assets and unknowns become short descriptions."""
    if isinstance(value, dict):
        if value.get(pulumi.runtime.rpc._special_sig_key) == pulumi.runtime.rpc._special_secret_sig:
            return "[secret]"  # the plan, like the CLI, never shows a secret's value
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format has one number type; counts and sizes read better as ints
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, pulumi.FileAsset):
        return {"asset": value.path}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": sorted(value.assets)}
    return repr(value)


def _keep_in(resolved: dict[str, Any], key: str) -> Callable[[Any], None]:
    def keep(value: Any) -> None:
        resolved[key] = value

    return keep


def _no_stack_trace() -> Any:
    from pulumi.runtime.proto import source_pb2

    return source_pb2.StackTrace()


def stack_names(root: Path = REPO_ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def read_stack_config(stack: str, root: Path = REPO_ROOT) -> dict[str, str]:
    """Pulumi.<stack>.yaml as the engine hands config to a program: 'ns:key' -> string (JSON for objects)."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(root)) or "none"
        raise StackFileError(
            f"no stack '{stack}': {path.name} does not exist in {root} (stacks here: {known}); "
            f"fix: pick one of them or create {path.name}"
        )
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path.name} is not valid YAML: {exc}; fix: correct the file") from exc
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name} has no 'config:' mapping; fix: put the stack's keys under config:")
    values: dict[str, str] = {}
    for key, value in config.items():
        if ":" not in key:
            key = f"{PROJECT}:{key}"  # the CLI treats bare keys as the project's own
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = "[secret]"  # ciphertext needs the stack's key; the offline plan never reads secrets
        values[key] = value if isinstance(value, str) else json.dumps(value)
    return values


def run_offline(
    stack: str,
    root: Path = REPO_ROOT,
    config: dict[str, str] | None = None,
    secrets: list[str] | None = None,
    *,
    engine: RecordingEngine | None = None,
    preview: bool = False,
) -> Plan:
    """Run the program for a stack under mocks and return what it would create.

    `secrets` names the config keys the program sees as secrets (default: those the stack file
    stores encrypted). `engine` and `preview` let a test play the engine of a real `pulumi preview`
    (values not known yet); the plan's outputs then hold only the stack outputs that are known.
    Raises StackFileError for a missing/unreadable stack file and ConfigError for invalid config,
    both before any resource is declared.
    """
    values = read_stack_config(stack, root) if config is None else config
    # Pulumi's engine runs on the thread's current event loop; a caller that used asyncio.run()
    # before has none left (asyncio.run unsets it), so give the thread one.
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    region = values.get(f"{PROJECT}:region", "us-east-1")
    engine = engine or RecordingEngine(region=region)
    monitor = RecordingMonitor(engine)
    # A previous run in this process leaves its root Stack resource behind; start from none.
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        engine, project=PROJECT, stack=stack, preview=preview, monitor=monitor, logger=engine.logger
    )
    # Values the stack file stores encrypted arrive as "[secret]" (read_stack_config) unless a caller
    # supplies them; either way the program sees them as secrets, as under the real engine.
    secret_keys = [k for k, v in values.items() if v == "[secret]"] if secrets is None else list(secrets)
    pulumi.runtime.set_all_config(values, secret_keys)
    cfg = load()  # raises ConfigError before anything is registered
    resolved: dict[str, Any] = {}
    names: list[str] = []

    def program() -> Any:
        from infra.program import build

        build(cfg)
        root_stack = pulumi_settings.get_root_resource()
        exported = dict(getattr(root_stack, "outputs", {}))
        names.extend(exported)
        # One output at a time: during a preview, an unknown output must not hide the known ones.
        known = [pulumi.Output.from_input(v).apply(_keep_in(resolved, k)) for k, v in exported.items()]
        return pulumi.Output.all(*known).future()

    # Source positions (a Python stack walk per resource) matter to the real engine's diagnostics,
    # not to a plan; skipping them makes the offline run of prod about 10% faster.
    pulumi_resource._get_stack_trace = _no_stack_trace
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(lambda: _sync_await(program())))
    return Plan(
        project=PROJECT,
        stack=stack,
        source="offline",
        resources=monitor.registrations,
        outputs=_plain({k: resolved[k] for k in names if k in resolved}),
        warnings=list(engine.warnings),
    )


__all__ = ["ConfigError", "RecordingEngine", "RecordingMonitor", "StackFileError", "run_offline"]
