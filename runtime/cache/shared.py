"""Sharing the cache across router replicas through Redis.

- Exact entries: one Redis string per entry, `{prefix}:x:{tenant#}:{model#}:{key}`, with the
  entry's remaining TTL, so any replica answers a request another replica has seen.
- Semantic entries: every stored entry (with its vector) is appended to the stream
  `{prefix}:stream`; each replica reads the stream in the background and adds the other replicas'
  entries to its local index. A replica that starts late reads the stream from the beginning
  (at most `redis_stream_maxlen` events) and so catches up. Invalidations travel the same stream.
- Failure: every call has a short timeout; after a failure Redis is skipped for
  `redis_retry_seconds` (no added latency while it is down), the failure is counted in metrics,
  and the caller sees a miss, never an exception.

Depends on the local tier only (local.py): remote entries go in through `LocalTier.insert`, remote
invalidations through `LocalTier.invalidate`; the facade publishes what it stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from runtime.cache.keys import short_hash
from runtime.cache.local import LocalTier
from runtime.cache.records import entry_from_record, entry_to_json
from runtime.cache.store import Entry

T = TypeVar("T")

log = logging.getLogger(__name__)


class SharedTier:
    def __init__(self, local: LocalTier, url: str, replica_id: str) -> None:
        s = local.settings
        self._local = local
        self._metrics = local.metrics
        self._prefix = s.redis_prefix
        self._timeout = s.redis_timeout_ms / 1000.0
        self._retry = s.redis_retry_seconds
        self._maxlen = s.redis_stream_maxlen
        self._replica = replica_id
        self._redis = aioredis.from_url(
            url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout, retry_on_timeout=False
        )
        # the stream reader blocks for up to a second per call: its own connection, longer timeout
        self._reader = aioredis.from_url(url, socket_timeout=5.0, socket_connect_timeout=self._timeout)
        self._down_until = 0.0
        self.last_id = "0-0"
        self.last_error: str | None = None
        self._consumer: asyncio.Task[None] | None = None
        self.stream = f"{self._prefix}:stream"

    # -- health -------------------------------------------------------------------------------

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, op: str, exc: BaseException) -> None:
        """Count a failed operation and skip Redis for `redis_retry_seconds`."""
        self._metrics.redis_errors.labels(op).inc()
        self._metrics.redis_up.set(0)
        self._down_until = time.monotonic() + self._retry
        self.last_error = f"{op}: {type(exc).__name__}: {exc}"
        log.warning("redis %s failed (%s); serving without it for %.1fs", op, exc, self._retry)

    def _ok(self) -> None:
        self._metrics.redis_up.set(1)

    def status(self) -> dict[str, object]:
        return {"available": self._available(), "last_error": self.last_error, "last_id": self.last_id}

    async def _call(self, op: str, coro_fn: Callable[[], Awaitable[T]]) -> T | None:
        if not self._available():
            self._metrics.redis_errors.labels(f"{op}_skipped").inc()
            return None
        try:
            result = await asyncio.wait_for(coro_fn(), self._timeout * 2)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(op, exc)
            return None
        self._ok()
        return result

    # -- exact entries -------------------------------------------------------------------------

    def exact_name(self, tenant: str, model: str, key: str) -> str:
        return f"{self._prefix}:x:{short_hash(tenant)}:{short_hash(model)}:{key}"

    async def get_exact(self, tenant: str, model: str, key: str) -> Entry | None:
        raw = await self._call("get", lambda: self._redis.get(self.exact_name(tenant, model, key)))
        if raw is None:
            return None
        try:
            entry = entry_from_record(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            self._metrics.redis_errors.labels("decode").inc()
            log.warning("undecodable cache entry in redis: %s", exc)
            return None
        if (entry.tenant, entry.model, entry.key) != (tenant, model, key):
            return None  # a hash collision on the name must never serve another tenant's answer
        return entry

    async def publish(self, entry: Entry) -> None:
        """Exact copy with TTL; semantic entries also go on the stream for the other replicas."""
        ttl_ms = int((entry.expires_at - time.time()) * 1000)
        if ttl_ms <= 0:
            return
        record = entry_to_json(entry)
        exact = Entry(
            key=entry.key, tenant=entry.tenant, model=entry.model, tier=entry.tier, body=entry.body,
            prompt_tokens=entry.prompt_tokens, completion_tokens=entry.completion_tokens,
            created_at=entry.created_at, expires_at=entry.expires_at,
        )  # fmt: skip
        await self._call(
            "set",
            lambda: self._redis.set(
                self.exact_name(entry.tenant, entry.model, entry.key), entry_to_json(exact), px=ttl_ms
            ),
        )
        if entry.vector is not None:
            fields: dict[FieldT, EncodableT] = {"t": "add", "r": self._replica, "e": record}
            await self._call(
                "xadd", lambda: self._redis.xadd(self.stream, fields, maxlen=self._maxlen, approximate=True)
            )

    async def invalidate(self, tenant: str | None, model: str | None) -> None:
        pattern = f"{self._prefix}:x:{short_hash(tenant) if tenant else '*'}:{short_hash(model) if model else '*'}:*"

        async def run() -> None:
            async for name in self._redis.scan_iter(match=pattern, count=500):
                await self._redis.unlink(name)
            event: dict[FieldT, EncodableT] = {
                "t": "invalidate", "r": self._replica, "tenant": tenant or "", "model": model or "",
            }  # fmt: skip
            await self._redis.xadd(self.stream, event, maxlen=self._maxlen, approximate=True)

        if not self._available():
            self._metrics.redis_errors.labels("invalidate_skipped").inc()
            return
        try:
            await asyncio.wait_for(run(), max(self._timeout * 20, 2.0))
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("invalidate", exc)

    # -- the stream of semantic entries ----------------------------------------------------------

    async def join(self, timeout_s: float = 10.0) -> None:
        """Catch up on the stream (for at most `timeout_s`), then follow it in the background.

        Never raises: with Redis down at start the cache serves locally and the consumer retries.
        """
        try:
            deadline = time.monotonic() + timeout_s
            while await asyncio.wait_for(self.catch_up(), 2.0) and time.monotonic() < deadline:
                pass
        except Exception as exc:
            self._failed("catch_up", exc)
        self.start()

    def start(self) -> None:
        if self._consumer is None:
            self._consumer = asyncio.get_running_loop().create_task(self._consume(), name="frugal-cache-stream")

    async def stop(self) -> None:
        # bounded: a connection to a dead or restarted server must not hang the shutdown
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.wait({self._consumer}, timeout=1.0)
            self._consumer = None
        for client in (self._redis, self._reader):
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(client.aclose(), 1.0)

    async def catch_up(self, block_ms: int | None = None) -> int:
        """Read everything after last_id once (block_ms waits for new events); returns events applied."""
        response: object = await self._reader.xread({self.stream: self.last_id}, count=1000, block=block_ms)
        applied = 0
        for message_id, fields in _messages(response):
            self.last_id = message_id
            applied += self._apply(fields)
        return applied

    async def _consume(self) -> None:
        while True:
            try:
                while await self.catch_up():
                    pass
                self._ok()
                await self.catch_up(block_ms=1000)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed("stream", exc)
                await asyncio.sleep(max(self._retry, 0.1))
            except Exception:  # a bad event must not kill replication
                log.exception("cache stream consumer error")
                await asyncio.sleep(max(self._retry, 0.1))

    def _apply(self, fields: dict[str, str]) -> int:
        if fields.get("r") == self._replica:
            return 0
        if fields.get("t") == "invalidate":
            self._local.invalidate(fields.get("tenant") or None, fields.get("model") or None)
            return 1
        if fields.get("t") == "add":
            try:
                entry = entry_from_record(json.loads(fields["e"]))
            except (ValueError, KeyError, TypeError) as exc:
                self._metrics.redis_errors.labels("decode").inc()
                log.warning("undecodable stream entry: %s", exc)
                return 0
            if self._local.insert(entry):
                self._metrics.replicated.inc()
                return 1
        return 0


def _messages(response: object) -> list[tuple[str, dict[str, str]]]:
    """XREAD's reply, [[stream, [(id, {field: value})...]]...], as (id, fields) pairs of strings."""
    found: list[tuple[str, dict[str, str]]] = []
    if response is None:
        return found  # nothing new before the block timeout
    streams = response.items() if isinstance(response, dict) else response  # RESP3 answers a map
    if not isinstance(streams, Iterable):
        raise TypeError(f"unexpected XREAD reply {type(response).__name__}")
    for _, messages in streams:
        for message_id, fields in messages:
            found.append((_s(message_id), {_s(k): _s(v) for k, v in fields.items()}))
    return found


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
