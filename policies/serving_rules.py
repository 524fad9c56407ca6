"""Rules for the serving objects: GPU pods, probes, pinned images and pinned models.

Plain `validate(args, report_violation)` functions over `pulumi_policy.ResourceValidationArgs`
(Kubernetes workloads as the plan records them: apiVersion, kind, metadata, spec), assembled into
policies by `policies.registry`.
"""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from infra.tokens import KUBERNETES_DAEMON_SET, KUBERNETES_DEPLOYMENT, KUBERNETES_STATEFUL_SET, S3_BUCKET_OBJECT_V2
from policies.props import get, is_list, is_map, message, show

WORKLOADS = (KUBERNETES_DEPLOYMENT, KUBERNETES_STATEFUL_SET, KUBERNETES_DAEMON_SET)
BUCKET_OBJECT = S3_BUCKET_OBJECT_V2
GPU = "nvidia.com/gpu"
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

IMAGE_CONFIG: dict[str, dict[str, Any]] = {
    "immutableRepositories": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "repositories whose tags cannot move (ECR IMMUTABLE): a tag there pins the image",
    }
}


def _containers(pod: Any) -> list[Any]:
    out: list[Any] = []
    for key in ("initContainers", "containers"):
        found = get(pod, key, default=[])
        if is_list(found):
            out.extend(c for c in found if is_map(c))
    return out


def _pod(args: ResourceValidationArgs) -> Any:
    return get(args.props, "spec", "template", "spec")


def gpu_pods_request_exactly_and_tolerate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A pod that uses GPUs requests exactly the GPUs it is limited to and tolerates the GPU nodes' taint."""
    if args.resource_type not in WORKLOADS or (pod := _pod(args)) is None:
        return
    for c in get(pod, "containers", default=[]):
        requests, limits = get(c, "resources", "requests", GPU), get(c, "resources", "limits", GPU)
        if requests is None and limits is None:
            continue
        name = get(c, "name")
        if requests != limits or limits is None:
            report_violation(
                message(
                    "gpu-pods-exact-and-tolerated",
                    f"container '{name}' of '{args.name}' requests {show(requests)} and limits {show(limits)} GPUs",
                    "requests == limits (a GPU cannot be shared or overcommitted)",
                    f"set resources.requests and resources.limits of {GPU} to the same count",
                ),
                None,
            )
        tolerations = get(pod, "tolerations", default=[])
        tolerated = any(
            get(t, "key") == GPU and (get(t, "operator") == "Exists" or get(t, "effect") in ("NoSchedule", None))
            for t in tolerations
        )
        if not tolerated:
            report_violation(
                message(
                    "gpu-pods-exact-and-tolerated",
                    f"'{args.name}' uses GPUs but does not tolerate the {GPU} taint",
                    "GPU pods tolerate the taint every GPU node carries",
                    f"add a toleration {{key: {GPU}, operator: Equal, value: 'true', effect: NoSchedule}}",
                ),
                None,
            )


def workload_probes(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every long-running container has readiness and liveness probes; a GPU server also a startup probe."""
    if args.resource_type not in WORKLOADS or (pod := _pod(args)) is None:
        return
    for c in get(pod, "containers", default=[]):
        wanted = ["readinessProbe", "livenessProbe"]
        if get(c, "resources", "limits", GPU) is not None:
            wanted.append("startupProbe")  # model load takes minutes; liveness must not kill it meanwhile
        missing = [p for p in wanted if get(c, p) is None]
        if missing:
            report_violation(
                message(
                    "workload-probes",
                    f"container '{get(c, 'name')}' of '{args.name}' has no {', '.join(missing)}",
                    ", ".join(wanted),
                    "add the probes (docs/serving.md, 'Probes')",
                ),
                None,
            )


def images_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every container image is pinned: by digest, or by a tag in a repository whose tags are immutable."""
    if args.resource_type not in WORKLOADS or (pod := _pod(args)) is None:
        return
    immutable = tuple(args.get_config().get("immutableRepositories") or [])
    for c in _containers(pod):
        image = get(c, "image")
        if not isinstance(image, str):
            continue  # not known yet
        if _DIGEST.search(image):
            continue
        repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
        if tag and tag != "latest" and repo in immutable:
            continue
        report_violation(
            message(
                "images-pinned",
                f"container '{get(c, 'name')}' of '{args.name}' runs {image!r}",
                "an image@sha256:<digest>, or a tag (not latest) in a repository with immutable tags",
                "set serving.image.digest to the digest `docker push` printed",
            ),
            None,
        )


def models_pinned_by_sha256(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Model objects are pinned by sha256: the fetch step names a digest and size; uploads carry both."""
    if args.resource_type == BUCKET_OBJECT:
        key = str(get(args.props, "key", default=""))
        if not key.endswith(".gguf"):
            return
        digest = get(args.props, "metadata", "sha256")
        if not (isinstance(digest, str) and _SHA256.match(digest) and digest in key):
            report_violation(
                message(
                    "models-pinned-by-sha256",
                    f"model object '{args.name}' ({key}) has sha256 metadata {show(digest)}",
                    "a model object is stored under its sha256 and carries it",
                    "upload models through ModelStore (key models/<sha256>.gguf)",
                ),
                None,
            )
        if get(args.props, "checksumAlgorithm") != "SHA256":
            report_violation(
                message(
                    "models-pinned-by-sha256",
                    f"model object '{args.name}' is uploaded without a SHA256 checksum",
                    "checksumAlgorithm='SHA256' (S3 verifies the upload)",
                    "set checksum_algorithm='SHA256'",
                ),
                None,
            )
        return
    if args.resource_type not in WORKLOADS or (pod := _pod(args)) is None:
        return
    for c in _containers(pod):
        argv = [*(get(c, "command", default=[]) or []), *(get(c, "args", default=[]) or [])]
        if "runtime.modelfetch" not in argv:
            continue
        digest = argv[argv.index("--sha256") + 1] if "--sha256" in argv[:-1] else None
        size = argv[argv.index("--size") + 1] if "--size" in argv[:-1] else None
        if not (isinstance(digest, str) and _SHA256.match(digest) and isinstance(size, str) and size.isdigit()):
            report_violation(
                message(
                    "models-pinned-by-sha256",
                    f"the model fetch of '{args.name}' pins sha256 {show(digest)} and size {show(size)}",
                    "a 64-hex sha256 and a byte size",
                    "declare the model with sha256 and size_bytes (serving.tiers[].model)",
                ),
                None,
            )
