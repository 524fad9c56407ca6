"""`frugal drain`: tell a running gateway to drain, for a Kubernetes preStop hook or an operator.

    frugal drain [--url http://127.0.0.1:8080] [--wait 90]     # POST /internal/drain
    frugal drain --pid 1234 | --pid-file PATH [--wait 90]      # SIGTERM to the process

The gateway then answers /readyz with 503, refuses new requests with 503 + Retry-After, and lets
the requests it holds finish (runtime/drain.py). With `--wait S` the command returns only once the
gateway reports it is drained (endpoint mode: GET /internal/drain) or its process has exited (pid
mode), or S seconds passed: a preStop hook that blocks keeps the pod in Terminating, with its
endpoints removed, until the answers in flight are done.

Exit status: 0 drained (or, without --wait, the drain was started); 1 the gateway could not be
reached or was not drained within --wait; 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_URL = "http://127.0.0.1:8080"
ENDPOINT = "/internal/drain"
POLL_S = 0.5


def configure(p: argparse.ArgumentParser) -> None:
    target = p.add_mutually_exclusive_group()
    target.add_argument("--url", default=DEFAULT_URL, help=f"the gateway's base URL (default {DEFAULT_URL})")
    target.add_argument("--pid", type=int, help="send SIGTERM to this process instead of calling the endpoint")
    target.add_argument("--pid-file", type=Path, help="read the pid to signal from this file")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait until drained, at most this long")
    p.add_argument("--timeout", type=float, default=5.0, help="per HTTP call, in seconds (default 5)")


def _request(url: str, method: str, timeout: float) -> dict[str, object]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = json.loads(resp.read() or b"{}")
    return body if isinstance(body, dict) else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


def _pid(args: argparse.Namespace) -> int | None:
    if args.pid is not None:
        return int(args.pid)
    if args.pid_file is not None:
        text = Path(args.pid_file).read_text().strip()
        if not text.isdigit():
            raise ValueError(f"{args.pid_file} does not hold a process id (got {text[:40]!r})")
        return int(text)
    return None


def run(args: argparse.Namespace) -> int:
    """Drain a running gateway (endpoint or SIGTERM); optionally wait until it is drained."""
    if args.wait < 0 or args.timeout <= 0:
        print("frugal drain: --wait must be >= 0 and --timeout > 0 seconds")
        return EXIT_USAGE
    try:
        pid = _pid(args)
    except (OSError, ValueError) as exc:
        print(f"frugal drain: {exc}; fix: pass --pid or a --pid-file written by the gateway")
        return EXIT_USAGE
    deadline = time.monotonic() + args.wait
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            print(f"frugal drain: no process {pid} (already gone)")
            return EXIT_OK
        except PermissionError:
            print(f"frugal drain: not allowed to signal process {pid}; fix: run as the gateway's user")
            return EXIT_FAILED
        while _alive(pid):
            if time.monotonic() >= deadline:
                return EXIT_OK if args.wait == 0 else _report_timeout(args.wait)
            time.sleep(POLL_S)
        print(f"frugal drain: process {pid} drained and exited")
        return EXIT_OK
    url = args.url.rstrip("/") + ENDPOINT
    try:
        status = _request(url, "POST", args.timeout)
        while not status.get("drained"):
            if time.monotonic() >= deadline:
                if args.wait == 0:
                    print(f"frugal drain: draining, {status.get('in_flight')} requests in flight")
                    return EXIT_OK
                return _report_timeout(args.wait)
            time.sleep(POLL_S)
            status = _request(url, "GET", args.timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"frugal drain: {url}: {exc}; fix: check --url (the gateway's listen address)")
        return EXIT_FAILED
    print("frugal drain: drained")
    return EXIT_OK


def _report_timeout(wait: float) -> int:
    print(f"frugal drain: not drained within {wait:g}s (requests still in flight)")
    return EXIT_FAILED
