"""The speed model: read from the measured data file, reproduces the measurement, and brackets published points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.advisor import memory
from infra.advisor.families import family
from infra.advisor.measured import SPEED_PATH, derive_speed_file, load_speed
from infra.advisor.speed import estimate
from tests.paths import SHARED_DATA

RAW = [SHARED_DATA / "gpu" / "llama-cpp-h200-8b-fa-on.json", SHARED_DATA / "gpu" / "llama-cpp-h200-8b-fa-off.json"]


def _raw(fa: str) -> dict:  # type: ignore[type-arg]
    return json.loads((SHARED_DATA / "gpu" / f"llama-cpp-h200-8b-fa-{fa}.json").read_text())


def test_the_shipped_speed_file_is_derived_from_the_raw_benchmark_files() -> None:
    shipped = json.loads(SPEED_PATH.read_text())
    assert shipped == derive_speed_file(*RAW), (
        "infra/data/llama-cpp-speed.json must equal derive_speed_file(data/shared/gpu/*.json); regenerate it"
    )


def test_the_estimate_reads_the_data_file_so_a_different_measurement_gives_a_different_answer(tmp_path: Path) -> None:
    data = json.loads(SPEED_PATH.read_text())
    for run in data["runs"]:
        run["single_stream_tps"] *= 2
    changed = tmp_path / "speed.json"
    changed.write_text(json.dumps(data))
    bpt = 4_000_000_000
    base = estimate("Q4_K_M", bpt, 600e9, 1, load_speed())
    doubled = estimate("Q4_K_M", bpt, 600e9, 1, load_speed(changed))
    assert doubled.single_low == pytest.approx(2 * base.single_low), "the low scaling follows the measured speed"
    assert doubled.single_high > base.single_high, "so does the high one"


def test_on_the_measured_gpu_the_estimate_reproduces_the_measurement() -> None:
    for fa, quant, measured_type in (("on", "Q4_K_M", "Q4_K"), ("on", "F16", "F16"), ("off", "Q8_0", "Q8_0")):
        raw = _raw(fa)
        bpt = raw["models"][measured_type]["bytes_per_token"]
        s = estimate(quant, bpt, raw["gpu"]["bw_tbs"] * 1e12, 1)
        tg = raw["bench"][measured_type]["tg_tps"]
        assert s.single_low == pytest.approx(tg) and s.single_high == pytest.approx(tg), f"{quant}: {tg} t/s"
        assert s.bound_tps == pytest.approx(raw["bench"][measured_type]["tg_bound_tps"]), "same bandwidth bound"


def test_the_estimate_keeps_what_the_measurement_shows_about_quantization_and_batching() -> None:
    on = _raw("on")
    bw = on["gpu"]["bw_tbs"] * 1e12
    q4 = lambda p: estimate("Q4_K_M", on["models"]["Q4_K"]["bytes_per_token"], bw, p)  # noqa: E731
    f16 = lambda p: estimate("F16", on["models"]["F16"]["bytes_per_token"], bw, p)  # noqa: E731
    one = q4(1).single_central / f16(1).single_central
    assert 1.2 < one < 1.4, f"one stream: Q4_K only ~1.3x F16 (not 3.5x): {one:.2f}"
    many = f16(128).aggregate_central / q4(128).aggregate_central
    assert 1.7 < many < 1.9, f"128 sequences: F16 serves ~1.8x Q4_K: {many:.2f}"
    gain = f16(128).gain
    assert gain == pytest.approx(on["batched"]["F16"]["rows"][-1]["speedup"]), "F16 batching gain 49x at 128"


def test_the_batching_gain_interpolates_between_measured_points_and_never_extrapolates() -> None:
    m = load_speed().get("Q4_K", True)
    assert m is not None, "the Q4_K FlashAttention run is in the data file"
    gains = [m.gain(p) for p in (1, 2, 3, 4, 48, 64, 128, 512)]
    assert gains == sorted(gains), f"more sequences never lower the gain here: {gains}"
    assert m.gain(4) < m.gain(6) < m.gain(8), "between measured points the gain is interpolated"
    assert m.gain(512) == m.gain(128), "beyond 128 sequences the gain is held at 128's"


# Published llama.cpp single-stream decode for Llama-3-8B Q4_K_M (XiongjieDai/GPU-Benchmarks-on-LLM-Inference
# README, aa72e0e, 2024-05), on GPUs whose datasheet bandwidth the advisor records.
PUBLISHED_8B_Q4_K_M = [("l40s", 864e9, 115.6), ("a100 sxm 80GB", 2039e9, 135.0)]


@pytest.mark.parametrize(("gpu", "bandwidth", "published"), PUBLISHED_8B_Q4_K_M)
def test_published_single_stream_speeds_on_other_gpus_fall_inside_the_estimated_range(
    gpu: str, bandwidth: float, published: float
) -> None:
    plan = memory.plan(family("llama-3-8b"), "Q4_K_M", ctx_per_slot=512, parallel=1)
    s = estimate("Q4_K_M", plan.bytes_per_token, bandwidth, 1)
    assert s.single_low <= published <= s.single_high, (
        f"{gpu}: published {published} t/s within [{s.single_low:.1f}, {s.single_high:.1f}]"
    )
    assert s.single_high < s.bound_tps, "never above the bandwidth bound"
