"""Two real llama-servers on the embedded small model, as two replicas of one tier."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from runtime.assets import llama_server_binary, small_model
from runtime.supervisor import free_port


class LlamaProcess:
    def __init__(self, binary: Path, model: Path, parallel: int, log: Path) -> None:
        self.binary, self.model, self.parallel, self.log = binary, model, parallel, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [str(self.binary), "--model", str(self.model), "--host", "127.0.0.1", "--port", str(self.port),
                "--parallel", str(self.parallel), "--ctx-size", str(1024 * self.parallel), "--no-webui"]  # fmt: skip
        with self.log.open("ab") as logf:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_healthy(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.alive(), f"llama-server exited while starting; see {self.log}"
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"llama-server not healthy within {timeout_s}s; see {self.log}")

    def kill(self, sig: int = signal.SIGKILL, wait: bool = True) -> None:
        assert self.proc is not None, "started"
        os.kill(self.proc.pid, sig)
        if wait:
            self.proc.wait(30)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class LlamaPair:
    """Replicas a and b (2 and 3 slots unless told); `ensure()` restarts whichever a test killed."""

    def __init__(self, tmp: Path, slots: tuple[int, int] = (2, 3), name: str = "llama") -> None:
        binary, model = llama_server_binary(), small_model()
        self.a = LlamaProcess(binary, model, slots[0], tmp / f"{name}-a.log")
        self.b = LlamaProcess(binary, model, slots[1], tmp / f"{name}-b.log")

    def ensure(self) -> LlamaPair:
        for p in (self.a, self.b):
            if not p.alive():
                p.port = free_port()
                p.start()
        for p in (self.a, self.b):
            p.wait_healthy()
        return self

    def stop(self) -> None:
        for p in (self.a, self.b):
            p.stop()


async def aiohttp_getter(session: aiohttp.ClientSession, url: str, api_key: str | None, timeout_s: float) -> Any:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
        raw = await resp.read()
        return resp.status, (await resp.json(content_type=None)) if raw else None
