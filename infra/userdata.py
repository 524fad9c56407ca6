"""EC2 user data for GPU nodes on the EKS-optimised AL2023 NVIDIA AMI (pure, no Pulumi).

Two MIME parts:
1. a shell script that asks IMDSv2 whether this instance is spot or on-demand and drops a NodeConfig
   with that label into /etc/eks/nodeadm.d/, which `nodeadm-run` merges with the user-data config
   before it starts the kubelet (so the label is there at registration, where NodeRestriction
   allows it);
2. the NodeConfig itself: cluster connection, node labels and taints as kubelet flags.

With a model cache directory, the script first prepares it (`model_cache_script`): the instance-store
NVMe drives, RAID0 across them when there are several, formatted XFS and mounted there; on an
instance without instance store, a directory on the root volume, with a warning in the boot log.
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
    model_cache_dir: str | None = None,
    model_cache_owner: int = 10001,
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
    if model_cache_dir is not None:
        script += model_cache_script(model_cache_dir, model_cache_owner)
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


INSTANCE_STORE_MODEL = "Amazon EC2 NVMe Instance Storage"
RAID_DEVICE = "/dev/md/frugal-models"


def model_cache_script(mount_dir: str, owner_uid: int) -> str:
    """Bash that gives the node a model cache at `mount_dir`, owned by the model servers' user.

    Idempotent (a reboot keeps an instance store's data: an existing filesystem is mounted, not
    formatted again). Instance-store drives are found by their NVMe model name, the way AWS's own
    setup-local-disks does; EBS volumes never match it.
    """
    return f"""
# --- model cache on instance-store NVMe -------------------------------------------------------
MODEL_CACHE={mount_dir}
mkdir -p "$MODEL_CACHE"
if ! mountpoint -q "$MODEL_CACHE"; then
  mapfile -t DISKS < <(lsblk -dpno NAME,MODEL | awk '/{INSTANCE_STORE_MODEL}/ {{print $1}}')
  if [ "${{#DISKS[@]}}" -eq 0 ]; then
    echo "frugal: WARNING: no instance-store NVMe on this instance; the model cache uses the root volume" \
      "($MODEL_CACHE): model loads are slower and large models may not fit" | tee /dev/kmsg >&2 || true
  else
    if [ "${{#DISKS[@]}}" -eq 1 ]; then
      DEVICE="${{DISKS[0]}}"
    else
      DEVICE={RAID_DEVICE}
      if [ ! -e "$DEVICE" ]; then
        mdadm --create "$DEVICE" --run --level=0 --raid-devices="${{#DISKS[@]}}" "${{DISKS[@]}}"
      fi
    fi
    if ! blkid -o value -s TYPE "$DEVICE" | grep -q xfs; then
      mkfs.xfs -f "$DEVICE"
    fi
    mount -o defaults,noatime "$DEVICE" "$MODEL_CACHE"
  fi
fi
chown {owner_uid}:{owner_uid} "$MODEL_CACHE"
chmod 0750 "$MODEL_CACHE"
"""
