"""The node's model cache script, run by bash with the disk tools replaced by recorders: what it
formats, assembles and mounts for zero, one and several instance-store drives."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from infra.userdata import RAID_DEVICE, model_cache_script, node_user_data

TOOLS = ("mountpoint", "mdadm", "blkid", "mkfs.xfs", "mount", "chown")


def _run(tmp_path: Path, lsblk: str) -> tuple[list[str], str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in TOOLS:
        exit_code = 1 if tool == "mountpoint" else 0  # not mounted yet
        (bin_dir / tool).write_text(f'#!/bin/bash\necho "{tool} $*" >> {log}\nexit {exit_code}\n')
    (bin_dir / "lsblk").write_text(f"#!/bin/bash\ncat <<'EOF'\n{lsblk}\nEOF\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    cache = tmp_path / "models"
    script = "set -euo pipefail\n" + model_cache_script(str(cache), os.getuid())
    r = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert r.returncode == 0, f"the script succeeds: {r.stderr}"
    assert cache.is_dir(), "the cache directory exists"
    return (log.read_text().splitlines() if log.exists() else []), r.stderr


ROOT = "/dev/nvme0n1 Amazon Elastic Block Store"


def test_one_instance_store_drive_is_formatted_and_mounted(tmp_path: Path):
    calls, _ = _run(tmp_path, f"{ROOT}\n/dev/nvme1n1 Amazon EC2 NVMe Instance Storage")
    assert "mkfs.xfs -f /dev/nvme1n1" in calls, f"the instance store is formatted, never the EBS root: {calls}"
    assert any(c.startswith("mount -o defaults,noatime /dev/nvme1n1 ") for c in calls), calls
    assert not any(c.startswith("mdadm") for c in calls), "no RAID for one drive"


def test_several_drives_become_one_raid0(tmp_path: Path):
    lines = [ROOT] + [f"/dev/nvme{i}n1 Amazon EC2 NVMe Instance Storage" for i in (1, 2)]
    calls, _ = _run(tmp_path, "\n".join(lines))
    mdadm = [c for c in calls if c.startswith("mdadm")]
    assert mdadm and "--level=0 --raid-devices=2 /dev/nvme1n1 /dev/nvme2n1" in mdadm[0], f"RAID0 of both: {calls}"
    assert f"mkfs.xfs -f {RAID_DEVICE}" in calls, "the array is formatted"


def test_no_instance_store_falls_back_to_the_root_volume_with_a_warning(tmp_path: Path):
    calls, stderr = _run(tmp_path, ROOT)
    assert not any(c.startswith(("mkfs", "mount ", "mdadm")) for c in calls), f"nothing is formatted: {calls}"
    assert "WARNING: no instance-store NVMe" in stderr, f"the boot log says why loads will be slower: {stderr}"


@pytest.mark.parametrize("with_cache", [True, False])
def test_user_data_carries_the_cache_script_only_when_asked(with_cache: bool):
    data = node_user_data(
        cluster_name="c",
        endpoint="https://e",
        certificate_authority="Q0E=",
        service_cidr="172.20.0.0/16",
        labels={"frugal.dev/pool": "small"},
        taints=[],
        lifecycle_label="frugal.dev/lifecycle",
        model_cache_dir="/mnt/frugal-models" if with_cache else None,
    )
    assert ("MODEL_CACHE=/mnt/frugal-models" in data) == with_cache, "the cache script is opt-in"
    assert "kind: NodeConfig" in data, "the node still joins the cluster"
