"""Gateway drain: readiness, refusals, waiting on a controlled clock, SIGTERM, and `frugal drain`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from frugal.commands import drain as drain_command
from runtime.drain import Drain, Draining, install_signal_handlers
from tests.runtime.balancer.conftest import FakeClock

pytestmark = pytest.mark.anyio


class Grace:
    """A sleep that ends only when the test says the grace is over."""

    def __init__(self) -> None:
        self.over = asyncio.Event()
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.over.wait()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_draining_turns_readiness_off_at_once_and_refuses_new_requests_with_retry_after(
    clock: FakeClock,
) -> None:
    d = Drain(grace_s=30, clock=clock, sleep=Grace())
    held = d.enter()
    assert d.ready, "ready before the drain"
    d.start()
    assert not d.ready and d.draining, "not ready as soon as the drain starts"
    with pytest.raises(Draining) as info:
        d.enter()
    assert info.value.status == 503 and info.value.headers == {"Retry-After": "2"}, "503 with Retry-After"
    assert d.in_flight == 1, "the refused request was not counted"
    held.release()


async def test_wait_resolves_when_the_last_request_finishes(clock: FakeClock) -> None:
    grace = Grace()
    d = Drain(grace_s=30, clock=clock, sleep=grace)
    tickets = [d.enter(), d.enter()]
    clock.advance(5)
    d.start()
    clock.advance(10)
    waiter = asyncio.ensure_future(d.wait())
    await settle()
    assert grace.asked == [20.0], "30 s of grace minus the 10 s since start(), read on the clock"
    tickets[0].release()
    await settle()
    assert not waiter.done(), "one request is still in flight"
    tickets[1].release()
    tickets[1].release()
    assert await waiter is True and d.in_flight == 0, "drained: every request finished"
    assert d.status() == {"draining": True, "in_flight": 0, "drained": True, "grace_s": 30, "elapsed_s": 10.0}


async def test_wait_gives_up_when_the_grace_runs_out(clock: FakeClock) -> None:
    grace = Grace()
    d = Drain(grace_s=30, clock=clock, sleep=grace)
    ticket = d.enter()
    d.start()
    waiter = asyncio.ensure_future(d.wait())
    await settle()
    grace.over.set()
    assert await waiter is False, "not drained: a request is still in flight at the end of the grace"
    ticket.release()


async def test_waiting_without_a_drain_is_a_clear_error_and_a_negative_grace_is_refused() -> None:
    with pytest.raises(RuntimeError, match="before Drain.start"):
        await Drain().wait()
    with pytest.raises(ValueError, match="grace_s must be >= 0"):
        Drain(grace_s=-1)


async def test_sigterm_starts_the_drain_and_reports_when_it_is_done() -> None:
    loop = asyncio.get_running_loop()
    d = Drain(grace_s=30)
    outcome: list[bool] = []
    ticket = d.enter()
    trigger = install_signal_handlers(loop, d, outcome.append)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        await settle()
        assert d.draining and not d.ready, "SIGTERM started the drain"
        assert trigger() is trigger(), "one drain task, however often it is triggered"
        ticket.release()
        await trigger()
        assert outcome == [True], "on_drained ran once, with drained=True"
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


# -- frugal drain ----------------------------------------------------------------------------------


@pytest.fixture
def gateway() -> Iterator[tuple[str, Drain]]:
    """An HTTP endpoint over a real Drain; each GET lets one held request finish."""
    d = Drain(grace_s=30)
    tickets = [d.enter(), d.enter()]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            d.start()
            self._send()

        def do_GET(self) -> None:
            if tickets:
                tickets.pop().release()
            self._send()

        def _send(self) -> None:
            body = json.dumps(d.status()).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", d
    server.shutdown()
    server.server_close()


def command(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    drain_command.configure(p)
    return p.parse_args(list(argv))


def test_frugal_drain_posts_to_the_endpoint_and_waits_until_drained(
    gateway: tuple[str, Drain], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, d = gateway
    monkeypatch.setattr(drain_command, "POLL_S", 0.01)
    assert drain_command.run(command("--url", url, "--wait", "30")) == 0, "exit 0 once drained"
    assert d.draining and d.in_flight == 0, "the gateway drained"
    assert "drained" in capsys.readouterr().out, "it says so"


def test_frugal_drain_reports_an_unreachable_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    from runtime.supervisor import free_port

    assert drain_command.run(command("--url", f"http://127.0.0.1:{free_port()}")) == 1, "exit 1: not reachable"
    assert "fix: check --url" in capsys.readouterr().out, "the message says what to check"


def test_frugal_drain_by_pid_signals_the_process_and_waits_for_it_to_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drain_command, "POLL_S", 0.01)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert drain_command.run(command("--pid", str(child.pid), "--wait", "30")) == 0, "exit 0: it exited"
        assert child.wait(10) == -signal.SIGTERM, "it got SIGTERM"
    finally:
        if child.poll() is None:
            child.kill()


def test_frugal_drain_by_pid_gives_up_after_wait_when_the_process_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drain_command, "POLL_S", 0.01)
    ignore = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", ignore], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n", "the child ignores SIGTERM now"
        assert drain_command.run(command("--pid", str(child.pid), "--wait", "0.2")) == 1, "exit 1: not drained in time"
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]


def test_frugal_drain_refuses_a_pid_file_without_a_pid(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    bad = Path(str(tmp_path)) / "gateway.pid"
    bad.write_text("not-a-pid\n")
    assert drain_command.run(command("--pid-file", str(bad))) == 2, "bad usage"
    assert "does not hold a process id" in capsys.readouterr().out, "the message names the problem"
