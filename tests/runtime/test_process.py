"""The router as users run it: the CLI, and SIGTERM reaching the llama-servers it supervises."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import runtime
from runtime.assets import small_model
from runtime.supervisor import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_exports_each_name_from_its_module_without_loading_the_server() -> None:
    import importlib

    assert runtime.__all__ == sorted(runtime.__all__), "__all__ is sorted"
    for name, module in runtime._EXPORTS.items():
        assert getattr(runtime, name) is getattr(importlib.import_module(module), name), (
            f"runtime.{name} is {module}.{name}, not a copy or another object"
        )
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = runtime.nope  # type: ignore[attr-defined]
    probe = "import sys, runtime; print(sorted(m for m in ('starlette', 'aiohttp', 'runtime.app') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert loaded.stdout.strip() == "[]", f"importing runtime loads no server module: {loaded.stdout}"


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
def test_sigterm_to_the_router_stops_its_llama_server(tmp_path: Path) -> None:
    cfg = tmp_path / "router.yaml"
    cfg.write_text(
        f"tiers:\n  - name: small\n    local: {{model_path: {small_model()}, parallel: 1, ctx_size: 1024}}\n"
        "    price: {prompt_per_1k: '0.0001', completion_per_1k: '0.0002'}\n"
        f"budget: {{sqlite_path: {tmp_path / 'spend.sqlite3'}}}\n"
    )
    port = free_port()
    env = {**os.environ, "FRUGAL_CACHE_DIR": str(tmp_path / "cache")}
    argv = [sys.executable, "-m", "runtime", "--config", str(cfg), "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "the router is running"
            assert time.monotonic() < deadline, "the router became ready within 120 s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        children = _children(proc.pid)
        assert children, "the router runs a llama-server child"
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises SIGTERM to a handler that lets the process end
        assert proc.wait(30) == 0, "the router exits 0 on SIGTERM after a clean shutdown"
        time.sleep(0.2)
        alive = [
            c for c in children if Path(f"/proc/{c}").exists() and Path(f"/proc/{c}/stat").read_text().split()[2] != "Z"
        ]
        assert alive == [], f"every llama-server stopped with the router: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_server_freezes_its_start_up_objects_and_collects_the_young_generation_less_often() -> None:
    import gc

    from runtime.serve import GC_THRESHOLDS, tune_gc

    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS, f"the server's thresholds are set: {gc.get_threshold()}"
        assert gc.get_freeze_count() > 1000, "what start-up created is frozen out of later collections"
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_local_llama_server_gets_http_threads_for_every_connection_the_router_keeps(tmp_path: Path) -> None:
    from runtime.settings import LocalServer
    from runtime.supervisor import llama_server_argv

    cfg = LocalServer(model_path=tmp_path / "m.gguf", parallel=4)
    argv = llama_server_argv(Path("/bin/llama-server"), cfg, 8080, tmp_path / "key")
    threads = int(argv[argv.index("--threads-http") + 1])
    assert threads >= 2 * 4 + 1, f"{threads} threads cover 4 stream + 4 whole-answer connections and a probe"
