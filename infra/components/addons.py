"""ClusterAddons: the EKS-managed add-ons the cluster's networking and DNS need, at pinned builds.

VPC CNI and kube-proxy run on every node; CoreDNS is a Deployment, so it is created after the
system nodes exist (without a node EKS reports it degraded and the create waits for its timeout).
Conflicts with the self-managed copies EKS installs at cluster creation are resolved in favour of
the add-on; later manual edits to their configuration are kept on update.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStr

NEEDS_NODES = ("coredns",)


class ClusterAddonsArgs(ComponentArgs):
    cluster_name: InputStr
    versions: dict[str, str]
    """Add-on name -> pinned build (PlatformConfig.addon_versions_for)."""
    tags: dict[str, str]
    nodes: Any = None
    """The system node group (a resource): add-ons in NEEDS_NODES are created after it."""


class ClusterAddons(pulumi.ComponentResource):
    addons: dict[str, aws.eks.Addon]

    def __init__(
        self,
        name: str,
        args: ClusterAddonsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{TOKEN_PREFIX}:platform:ClusterAddons", name, None, opts)
        self.addons = {}
        for addon, version in sorted(args.versions.items()):
            after = [args.nodes] if args.nodes is not None and addon in NEEDS_NODES else []
            self.addons[addon] = aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=args.cluster_name,
                addon_name=addon,
                addon_version=version,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="PRESERVE",
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=after),
            )
        self.register_outputs({"versions": dict(args.versions)})
