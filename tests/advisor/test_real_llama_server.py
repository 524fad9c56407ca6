"""The memory plan against what the real llama-server reports for the embedded small model.

llama-server logs (at -lv 4) its model buffers, each KV cache (cells, layers, slots, MiB) and its
compute buffer. The advisor's weight and KV figures must equal them to the 0.01 MiB the log prints;
its compute-buffer estimate must not be below the reported one. This machine has no GPU, so the
buffers are the CPU's; the weights and KV cache are the same bytes on a GPU. Marked slow; skipped only
when the llama-server binary is absent.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from infra.advisor import memory
from infra.advisor.gguf_meta import read_gguf

pytestmark = pytest.mark.slow
MIB = 1024**2


@pytest.fixture(scope="module")
def binary() -> Path:
    from runtime.assets import AssetError, llama_server_binary

    try:
        return llama_server_binary()
    except AssetError as exc:
        pytest.skip(f"llama-server is not built here: {exc}")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_log(binary: Path, model: Path, ctx_size: int, parallel: int, log: Path) -> str:
    argv = [str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(_port()),
            "--ctx-size", str(ctx_size), "--parallel", str(parallel), "--no-webui", "-lv", "4"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while "listening on" not in log.read_text(errors="replace"):
                assert proc.poll() is None, f"llama-server exited early:\n{log.read_text(errors='replace')[-2000:]}"
                assert time.monotonic() < deadline, "llama-server loaded the model within 180 s"
                time.sleep(0.2)
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return log.read_text(errors="replace")


def _mib(pattern: str, text: str) -> list[float]:
    return [float(m) for m in re.findall(pattern, text)]


@pytest.mark.parametrize(("ctx_per_slot", "parallel"), [(1024, 2), (700, 3)])
def test_weights_and_kv_cache_equal_what_llama_server_allocates(
    binary: Path, small_model_path: Path, tmp_path: Path, ctx_per_slot: int, parallel: int
) -> None:
    facts = read_gguf(small_model_path)
    plan = memory.plan(facts, None, ctx_per_slot=ctx_per_slot, parallel=parallel)
    text = _server_log(binary, small_model_path, plan.server_ctx_size, parallel, tmp_path / "server.log")

    model_lines = re.findall(r"(\S+) model buffer size =\s+([\d.]+) MiB", text)
    # REPACK is an extra CPU-only copy of some tensors in a faster layout, not the model's own bytes.
    weights = sum(float(mib) for name, mib in model_lines if "REPACK" not in name)
    assert model_lines and weights == pytest.approx(plan.weights_bytes / MIB, abs=0.011), (
        f"weights: llama-server {weights} MiB, advisor {plan.weights_bytes / MIB:.2f} MiB ({model_lines})"
    )

    kv_line = r"llama_kv_cache: size =\s+([\d.]+) MiB \(\s*(\d+) cells,\s+(\d+) layers,\s+(\d+)/\d+ seqs"
    caches = re.findall(kv_line, text)
    assert len(caches) == 2, f"Gemma 3 has a full-context and a sliding-window cache: {caches}"
    reported = {int(layers): (float(mib), int(cells) * int(seqs)) for mib, cells, layers, seqs in caches}
    full_layers, swa_layers = facts.layers - sum(facts.swa_layers), sum(facts.swa_layers)
    assert reported[full_layers][1] == plan.kv.cells_full, f"full-context cells: {reported}, advisor {plan.kv}"
    assert reported[swa_layers][1] == plan.kv.cells_swa, f"sliding-window cells: {reported}, advisor {plan.kv}"
    kv_total = sum(mib for mib, _ in reported.values())
    assert kv_total == pytest.approx(plan.kv.bytes / MIB, abs=0.011), (
        f"KV cache: llama-server {kv_total} MiB, advisor {plan.kv.bytes / MIB:.2f} MiB"
    )

    compute = sum(_mib(r"compute buffer size =\s+([\d.]+) MiB", text))
    assert 0 < compute * MIB <= plan.compute_bytes, (
        f"compute buffer: llama-server {compute} MiB within the advisor's estimate {plan.compute_bytes / MIB:.1f} MiB"
    )
