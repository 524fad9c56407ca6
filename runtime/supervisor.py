"""Starts and watches one llama-server per local tier; the router only reads the tier's state.

Each server is bound to 127.0.0.1 on its own port with its own random API key, run with
`--parallel`, `--ctx-size`, `-ngl` and `--metrics`. A tier turns ready once `/health` answers 200
(it is 503 while the model loads), and takes its slot count from `/props` (`total_slots`). A server
that exits is restarted after a backoff of 0.5 s doubling to 30 s (reset after 60 s of good health).
`stop()` sends SIGTERM (the router calls it when it gets SIGTERM itself), then SIGKILL after a grace
period. On Linux each child also gets SIGTERM if the router dies without cleaning up
(PR_SET_PDEATHSIG), so no orphan keeps a port or a GPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import secrets
import signal
import socket
import sys
import time
from collections import deque
from pathlib import Path

from runtime.errors import UpstreamFailure
from runtime.metrics import Metrics
from runtime.routing import TierState
from runtime.settings import LocalServer
from runtime.upstream import Transport, get_json

log = logging.getLogger(__name__)
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
HEALTHY_RESET_S = 60.0
STOP_GRACE_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def llama_server_argv(binary: Path, cfg: LocalServer, port: int, api_key_file: Path) -> list[str]:
    # The key goes in a 0600 file, not argv: argv is readable by every user through /proc.
    argv = [
        str(binary),
        "--model", str(cfg.model_path),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--parallel", str(cfg.parallel),
        # llama-server's HTTP pool is parallel + 2 threads by default and a kept-alive connection
        # holds one while idle; the router keeps up to `parallel` stream and `parallel` whole-answer
        # connections plus its probe, so the pool covers those and two more.
        "--threads-http", str(2 * cfg.parallel + 3),
        "--ctx-size", str(cfg.ctx_size),
        "--n-gpu-layers", str(cfg.n_gpu_layers),
        "--api-key-file", str(api_key_file),
        "--metrics",
        "--no-webui",
    ]  # fmt: skip
    if cfg.embeddings:
        argv.append("--embeddings")
    return argv + list(cfg.extra_args)


class LlamaServer:
    """One supervised llama-server process for one tier."""

    def __init__(self, tier: TierState, binary: Path, upstream: Transport, metrics: Metrics, log_dir: Path) -> None:
        assert tier.cfg.local is not None, "only local tiers are supervised"
        self.tier = tier
        self.cfg: LocalServer = tier.cfg.local
        self.binary = binary
        self.upstream = upstream
        self.metrics = metrics
        self.log_path = log_dir / f"llama-server-{tier.name}.log"
        self.key_path = log_dir / f"llama-server-{tier.name}.key"
        self.port = self.cfg.port or free_port()
        self.api_key = secrets.token_urlsafe(24)
        tier.base_url = f"http://127.0.0.1:{self.port}"
        tier.api_key = self.api_key
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.tail: deque[str] = deque(maxlen=50)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.ready_event = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"supervise-{self.tier.name}")

    def _set_ready(self, ready: bool) -> None:
        self.tier.ready = ready
        self.metrics.ready.labels(self.tier.name).set(1 if ready else 0)
        if ready:
            self.ready_event.set()
        else:
            self.ready_event.clear()

    async def _spawn(self) -> asyncio.subprocess.Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.key_path.touch(mode=0o600)
        self.key_path.chmod(0o600)
        self.key_path.write_text(self.api_key + "\n")
        logf = self.log_path.open("ab")
        try:
            return await asyncio.create_subprocess_exec(
                *llama_server_argv(self.binary, self.cfg, self.port, self.key_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        finally:
            logf.close()

    async def _wait_healthy(self, proc: asyncio.subprocess.Process) -> bool:
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        while time.monotonic() < deadline and proc.returncode is None:
            with contextlib.suppress(UpstreamFailure):
                status, _ = await get_json(self.upstream, self.tier.base_url + "/health", self.api_key, 1.0)
                if status == 200:
                    return True
            await asyncio.sleep(0.1)
        return False

    async def _read_slots(self) -> None:
        with contextlib.suppress(UpstreamFailure):
            status, props = await get_json(self.upstream, self.tier.base_url + "/props", self.api_key)
            if status == 200 and isinstance(props, dict) and isinstance(props.get("total_slots"), int):
                self.tier.slots = max(1, props["total_slots"])
                self.metrics.slots.labels(self.tier.name).set(self.tier.slots)
                self._read_modalities(props)
                return
        self.tier.slots = self.cfg.parallel
        self.metrics.slots.labels(self.tier.name).set(self.tier.slots)

    def _read_modalities(self, props: dict[str, object]) -> None:
        """What the loaded model reads (`modalities` in /props: vision, audio), unless configured,
        so a request with an image never reaches a text-only model."""
        found = props.get("modalities")
        if self.tier.cfg.input_modalities is not None or not isinstance(found, dict):
            return
        kinds = {"text"} | {kind for key, kind in (("vision", "image"), ("audio", "audio")) if found.get(key) is True}
        self.tier.input_modalities = frozenset(kinds)

    async def _run(self) -> None:
        backoff = BACKOFF_START_S
        while not self._stopping:
            started = time.monotonic()
            self.process = proc = await self._spawn()
            log.info("tier %s: llama-server pid %s on port %s", self.tier.name, proc.pid, self.port)
            if await self._wait_healthy(proc):
                await self._read_slots()
                self._set_ready(True)
            elif proc.returncode is None:
                log.error(
                    "tier %s: llama-server not healthy after %ss; restarting",
                    self.tier.name,
                    self.cfg.startup_timeout_s,
                )
                proc.kill()
            code = await proc.wait()
            self._set_ready(False)
            if self._stopping:
                return
            self.restarts += 1
            self.metrics.restarts.labels(self.tier.name).inc()
            if time.monotonic() - started > HEALTHY_RESET_S:
                backoff = BACKOFF_START_S
            log.warning(
                "tier %s: llama-server exited with %s; restart in %.1fs (log: %s)",
                self.tier.name,
                code,
                backoff,
                self.log_path,
            )
            await asyncio.sleep(backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)

    async def stop(self) -> None:
        self._stopping = True
        proc = self.process
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._set_ready(False)


class Supervisor:
    """Owns every local tier's process (remote tiers are not supervised: their circuit breaker guards them)."""

    def __init__(self, servers: list[LlamaServer]) -> None:
        self.servers = {s.tier.name: s for s in servers}

    def start(self) -> None:
        for s in self.servers.values():
            s.start()

    async def wait_ready(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.gather(*(s.ready_event.wait() for s in self.servers.values())), timeout_s)
            return True
        except TimeoutError:
            return False

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.servers.values()))
