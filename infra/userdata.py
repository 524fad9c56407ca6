"""EC2 user data for GPU nodes on the EKS-optimised AL2023 NVIDIA AMI (pure, no Pulumi).

Two MIME parts:
1. a shell script that asks IMDSv2 whether this instance is spot or on-demand and drops a NodeConfig
   with that label into /etc/eks/nodeadm.d/, which `nodeadm-run` merges with the user-data config
   before it starts the kubelet (so the label is there at registration, where NodeRestriction
   allows it);
2. the NodeConfig itself: cluster connection, node labels and taints as kubelet flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

BOUNDARY = "FRUGAL-BOUNDARY"


class TaintLike(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def effect(self) -> str: ...


def node_user_data(
    *,
    cluster_name: str,
    endpoint: str,
    certificate_authority: str,
    service_cidr: str,
    labels: Mapping[str, str],
    taints: Sequence[TaintLike],
    lifecycle_label: str,
) -> str:
    label_flag = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    taint_flag = ",".join(f"{t.key}={t.value}:{t.effect}" for t in taints)
    script = f"""#!/bin/bash
set -euo pipefail
# IMDSv2: a session token first (the launch template refuses IMDSv1).
TOKEN=$(curl -sS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
LIFECYCLE=$(curl -sS -H "X-aws-ec2-metadata-token: $TOKEN" \\
  http://169.254.169.254/latest/meta-data/instance-life-cycle)   # "spot" or "on-demand"
mkdir -p /etc/eks/nodeadm.d
cat > /etc/eks/nodeadm.d/50-frugal-lifecycle.yaml <<NODECONFIG
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  kubelet:
    flags:
      - --node-labels={label_flag},{lifecycle_label}=$LIFECYCLE
NODECONFIG
"""
    node_config = f"""apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    name: {cluster_name}
    apiServerEndpoint: {endpoint}
    certificateAuthority: {certificate_authority}
    cidr: {service_cidr}
  kubelet:
    flags:
      - --node-labels={label_flag}
      - --register-with-taints={taint_flag}
"""
    return (
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"\n\n'
        f"--{BOUNDARY}\n"
        'Content-Type: text/x-shellscript; charset="us-ascii"\n\n'
        f"{script}\n"
        f"--{BOUNDARY}\n"
        "Content-Type: application/node.eks.aws\n\n"
        f"{node_config}\n"
        f"--{BOUNDARY}--\n"
    )
