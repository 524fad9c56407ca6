"""`make demo`'s router part: start `frugal serve` on the embedded small model, send one chat
request through the official `openai` client, print the answer with its tier and cost, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import openai

from runtime.supervisor import free_port

QUESTION = "In one sentence: why is the sky blue?"


def main() -> int:
    port = free_port()
    router = subprocess.Popen(
        [sys.executable, "-m", "runtime", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if router.poll() is not None:
                err = router.stderr.read().decode() if router.stderr else ""
                print(f"demo: the router exited with {router.returncode}:\n{err[-2000:]}", file=sys.stderr)
                return 1
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                print("demo: the router was not ready within 180 s", file=sys.stderr)
                return 1
            time.sleep(0.2)
        client = openai.OpenAI(base_url=base + "/v1", api_key="local-no-auth", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": QUESTION}], max_tokens=24
        )
        answer = raw.parse()
        usage = answer.usage
        print(f"\nrouter demo (frugal serve, embedded Gemma 3 270M on llama-server) at {base}")
        print(f"  question: {QUESTION}")
        text = " ".join((answer.choices[0].message.content or "").split())
        print(f"  answer:   {text[:200]}")
        print("            (a 270M model on CPU: the answer shows the plumbing, not the quality)")
        print(
            f"  tier: {raw.headers['x-frugal-tier']} (route: {raw.headers.get('x-frugal-route')}, "
            f"complexity {raw.headers.get('x-frugal-complexity')}); "
            f"tokens: {usage.prompt_tokens if usage else '?'} prompt + {usage.completion_tokens if usage else '?'} "
            f"completion; cost: ${raw.headers['x-frugal-cost-usd']} "
            "(price derived from an assumed T4 throughput: see `frugal serve --check`)"
        )
        return 0
    finally:
        router.send_signal(signal.SIGTERM)
        try:
            router.wait(30)
        except subprocess.TimeoutExpired:
            router.kill()


if __name__ == "__main__":
    raise SystemExit(main())
