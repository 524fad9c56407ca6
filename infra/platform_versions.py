"""Pinned versions of everything the platform installs on the cluster: Helm charts and EKS add-ons.

Pure data (no Pulumi import). A version is pinned here, never resolved at deploy time, so two
`pulumi up` runs a month apart install the same thing; upgrading is a reviewed one-line change.

Charts: the version and repository each chart's own source declares (Chart.yaml in the chart's
repository, read on 2026-11-28 from the upstream snapshots named in `source`).

EKS add-ons: AWS publishes the available builds per Kubernetes version through
`aws eks describe-addon-versions --kubernetes-version <v> --addon-name <name>`. These pins were
not re-checked against that API from this offline build; a stack can override any of them with
`platform.addon_versions` (README, Config reference) without a code change.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repository: str
    """A Helm repository URL, or '' when `name` is a full OCI reference."""
    app_version: str
    source: str


NVIDIA_DEVICE_PLUGIN = Chart(
    name="nvidia-device-plugin",
    version="0.20.0",
    repository="https://nvidia.github.io/k8s-device-plugin",
    app_version="0.20.0",
    source="github.com/NVIDIA/k8s-device-plugin deployments/helm/nvidia-device-plugin/Chart.yaml (2026-08-19)",
)
CLUSTER_AUTOSCALER = Chart(
    name="cluster-autoscaler",
    version="9.59.0",
    repository="https://kubernetes.github.io/autoscaler",
    app_version="1.35.0",
    source="github.com/kubernetes/autoscaler cluster-autoscaler/charts/cluster-autoscaler/Chart.yaml (2026-08-22)",
)
KEDA = Chart(
    name="keda",
    version="2.20.2",
    repository="https://kedacore.github.io/charts",
    app_version="2.20.2",
    source="github.com/kedacore/charts keda/Chart.yaml (2026-08-13)",
)
# The project publishes its chart only as an OCI artifact (its README's install command).
NODE_TERMINATION_HANDLER = Chart(
    name="oci://public.ecr.aws/aws-ec2/helm/aws-node-termination-handler",
    version="0.27.6",
    repository="",
    app_version="1.25.6",
    source="github.com/aws/aws-node-termination-handler config/helm/aws-node-termination-handler/Chart.yaml "
    "(2026-07-21)",
)
CHARTS = (NVIDIA_DEVICE_PLUGIN, CLUSTER_AUTOSCALER, KEDA, NODE_TERMINATION_HANDLER)


def cluster_autoscaler_image_tag(kubernetes_version: str) -> str:
    """The autoscaler release for a cluster version: its minor must match the cluster's (the
    project's compatibility rule), and every minor has a `.0` release; the chart would otherwise
    run its own appVersion whatever the cluster."""
    return f"v{kubernetes_version}.0"


ADDONS = ("vpc-cni", "kube-proxy", "coredns")
# Add-on builds per cluster version (see the module doc for how to confirm them before a deploy).
ADDON_VERSIONS: dict[str, dict[str, str]] = {
    "1.32": {"vpc-cni": "v1.19.2-eksbuild.5", "kube-proxy": "v1.32.0-eksbuild.2", "coredns": "v1.11.4-eksbuild.2"},
    "1.33": {"vpc-cni": "v1.19.5-eksbuild.1", "kube-proxy": "v1.33.0-eksbuild.2", "coredns": "v1.12.1-eksbuild.2"},
    "1.34": {"vpc-cni": "v1.20.1-eksbuild.1", "kube-proxy": "v1.34.0-eksbuild.5", "coredns": "v1.12.3-eksbuild.1"},
    "1.35": {"vpc-cni": "v1.21.0-eksbuild.1", "kube-proxy": "v1.35.0-eksbuild.2", "coredns": "v1.12.4-eksbuild.1"},
}
