"""Decode speed on any GPU, scaled from llama.cpp measured on one H200 (infra/advisor/measured.py).

Single stream. Decoding one token reads every weight once (all but the token-embedding table), so
`bandwidth / bytes per token` bounds it. The measured H200 runs reach only part of that bound (Q4_K
23%, F16 65%): the rest of each token's time is spent in the kernels (dequantizing, launching), not
waiting for memory. How that split carries to another GPU is not measured, so the estimate is a range
between two scalings of the same measurement:
- low: the same fraction of the bound as on the H200 (all time scales with bandwidth; pessimistic
  where memory is slow and the kernels relatively fast, as on GDDR6 cards);
- high: this GPU's bandwidth time plus the H200's measured kernel time per byte (kernel time does not
  scale; optimistic where the GPU computes more slowly than an H200).
The central figure is their geometric mean. On the H200 itself all three equal the measurement.

Concurrency. Aggregate decode at P parallel sequences = single stream x the batching gain measured
at P (llama-batched-bench; interpolated between measured P, held flat beyond 128). The gain was
measured with short sequences (256 cells each); long contexts lower it, which this does not model.

Which measured run stands in for which quantization ("proxy"):
- F16/BF16/F32: F16 with FlashAttention, for both single stream and batching gain;
- Q8_0: Q8_0 single stream (measured only without FlashAttention, so a little low) and the Q4_K
  FlashAttention batching gain (quantized matrix path; Q8_0 and Q4_K scaled alike without FA);
- every other type (K-quants, Q4_0): Q4_K with FlashAttention (all-Q4_K weights).

Several GPUs on one server split the model by layers (llama.cpp's default): they take turns per
token, so one stream is no faster than on one GPU with the same bandwidth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra.advisor.measured import MeasuredType, SpeedData, load_speed

FULL_PRECISION = {"F16", "BF16", "F32"}


@dataclass(frozen=True)
class Speed:
    bound_tps: float
    """Bandwidth bound: GPU bandwidth / weight bytes read per token."""
    single_low: float
    single_high: float
    gain: float
    parallel: int
    single_proxy: str
    gain_proxy: str

    @property
    def single_central(self) -> float:
        return math.sqrt(self.single_low * self.single_high)

    @property
    def aggregate_low(self) -> float:
        return self.single_low * self.gain

    @property
    def aggregate_high(self) -> float:
        return self.single_high * self.gain

    @property
    def aggregate_central(self) -> float:
        return self.single_central * self.gain


def proxies(quant: str, data: SpeedData | None = None) -> tuple[MeasuredType, MeasuredType]:
    """(measured run for the single-stream scaling, measured run for the batching gain) of `quant`."""
    data = data or load_speed()

    def need(weight_type: str, fa: bool) -> MeasuredType:
        m = data.get(weight_type, fa)
        if m is None:
            raise ValueError(f"the measured speed file has no {weight_type} run with FlashAttention {fa}")
        return m

    q = quant.upper()
    if q in FULL_PRECISION:
        return need("F16", True), need("F16", True)
    if q == "Q8_0":
        return need("Q8_0", False), need("Q4_K", True)
    return need("Q4_K", True), need("Q4_K", True)


def _label(m: MeasuredType) -> str:
    return f"{m.weight_type} (FlashAttention {'on' if m.flash_attention else 'off'})"


def estimate(
    quant: str, bytes_per_token: int, bandwidth_bytes_s: float, parallel: int, data: SpeedData | None = None
) -> Speed:
    """Decode speed of a model reading `bytes_per_token` per token on a GPU of `bandwidth_bytes_s`."""
    if bytes_per_token <= 0 or bandwidth_bytes_s <= 0 or parallel < 1:
        raise ValueError("bytes per token, bandwidth and parallel must be positive")
    data = data or load_speed()
    single, batch = proxies(quant, data)
    measured_time = 1.0 / single.single_stream_tps
    measured_memory_time = single.bytes_per_token / data.bandwidth_bytes_s
    fraction = measured_memory_time / measured_time
    kernel_s_per_byte = (measured_time - measured_memory_time) / single.bytes_per_token
    memory_time = bytes_per_token / bandwidth_bytes_s
    return Speed(
        bound_tps=1.0 / memory_time,
        single_low=fraction / memory_time,
        single_high=1.0 / (memory_time + kernel_s_per_byte * bytes_per_token),
        gain=batch.gain(parallel),
        parallel=parallel,
        single_proxy=_label(single),
        gain_proxy=_label(batch),
    )
