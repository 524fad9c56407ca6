"""A tier's replica set: where its llama-servers are, how many slots each has, and which one gets the next request.

Discovery (each a `Discovery`, an async callable returning base URLs):
- `StaticDiscovery`: a fixed list of URLs from the config;
- `DnsDiscovery`: a headless Service's A records, re-resolved on every refresh (the resolver is a
  seam; production uses the event loop's getaddrinfo, which needs no extra library);
- `LocalDiscovery`: the one supervised local llama-server (single-process mode); its URL is read
  on every refresh because the supervisor picks the port when it starts the process.

Per replica: `slots` from `/props` (`total_slots`, read once it is healthy), the gateway's own
`in_flight` count, `healthy` from `/health`, and `draining`. A replica drains when it disappears
from discovery or when it answers 503 after having been ready (llama-server also answers 503 while
it loads its model: a replica that was never ready is loading, not draining). A draining replica
gets no new requests but keeps its in-flight ones; it is forgotten once gone from discovery and idle.

`pick()` returns the ready replica with the most free slots; ties go round robin so equal replicas
share the load. Probes go through an injectable `Getter` (url, api_key, timeout) -> (status, JSON),
the same shape as runtime.upstream.get_json bound to the app's HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

Getter = Callable[[str, str | None, float], Awaitable[tuple[int, Any]]]
"""(url, api_key, timeout_s) -> (HTTP status, parsed JSON or None); raises on transport failure."""
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> IPv4/IPv6 addresses, in any order."""

PROBE_TIMEOUT_S = 2.0


class Discovery(Protocol):
    async def __call__(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class StaticDiscovery:
    urls: tuple[str, ...]

    async def __call__(self) -> list[str]:
        return list(self.urls)


async def getaddrinfo_resolver(host: str, port: int) -> list[str]:
    """A records (and AAAA) through the loop's resolver: a headless Service answers one per ready pod."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True, slots=True)
class DnsDiscovery:
    host: str
    port: int
    scheme: str = "http"
    resolver: Resolver = getaddrinfo_resolver

    async def __call__(self) -> list[str]:
        addresses = await self.resolver(self.host, self.port)
        return [f"{self.scheme}://{_bracket(a)}:{self.port}" for a in addresses]


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@dataclass(frozen=True, slots=True)
class LocalDiscovery:
    url: Callable[[], str]
    """The supervised server's base URL, or "" before it has a port."""

    async def __call__(self) -> list[str]:
        url = self.url()
        return [url] if url else []


@dataclass(eq=False)
class Replica:
    url: str
    slots: int = 1
    in_flight: int = 0
    healthy: bool = False
    gone: bool = False
    """Absent from the last discovery answer."""
    refusing: bool = False
    """Answered 503 after having been ready: shutting down. Cleared when /health says 200 again."""
    slots_known: bool = False
    was_ready: bool = False

    @property
    def draining(self) -> bool:
        return self.gone or self.refusing

    @property
    def ready(self) -> bool:
        return self.healthy and not self.draining

    @property
    def free(self) -> int:
        return self.slots - self.in_flight


@dataclass(eq=False)
class Lease:
    """One request's hold on a replica's slot; `release()` is idempotent."""

    replica: Replica
    _on_release: Callable[[], None]
    _released: bool = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.replica.in_flight -= 1
            self._on_release()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(eq=False)
class ReplicaSet:
    """The replicas of one tier; `refresh()` discovers and probes, `pick()`/`acquire()` choose."""

    tier: str
    discovery: Discovery
    getter: Getter
    api_key: str | None = None
    default_slots: int = 1
    """Slots assumed for a replica whose /props cannot be read (an older or non-llama server)."""
    on_change: Callable[[], None] = lambda: None
    """Called after a refresh, and when a departed replica's last lease ends (the set changed)."""
    replicas: dict[str, Replica] = field(default_factory=dict)
    _rr: int = 0
    _gone: bool = False
    """Some replica is absent from discovery but still serving (kept until its last lease ends)."""

    # -- choosing -------------------------------------------------------------------------------

    def ready_replicas(self) -> list[Replica]:
        return [r for r in self.replicas.values() if r.ready]

    @property
    def ready_count(self) -> int:
        return sum(1 for r in self.replicas.values() if r.ready)

    @property
    def ready_slots(self) -> int:
        return sum(r.slots for r in self.replicas.values() if r.ready)

    @property
    def in_flight(self) -> int:
        return sum(r.in_flight for r in self.replicas.values())

    def pick(self, exclude: frozenset[str] = frozenset()) -> Replica | None:
        """The ready replica with the most free slots (ties round robin), or None if none is ready.

        `exclude` names replicas (by URL) not to use, e.g. the one that just failed mid-stream.
        A replica is returned even when every one is full: admission, not the picker, bounds load.
        """
        best: list[Replica] = []
        most = 0
        for r in self.replicas.values():
            if not r.ready or r.url in exclude:
                continue
            if not best or r.free > most:
                best, most = [r], r.free
            elif r.free == most:
                best.append(r)
        if not best:
            return None
        self._rr += 1
        return best[self._rr % len(best)]

    def acquire(self, exclude: frozenset[str] = frozenset()) -> Lease | None:
        """pick() and count the request on the replica until the lease is released."""
        replica = self.pick(exclude)
        if replica is None:
            return None
        replica.in_flight += 1
        return Lease(replica, self._released)

    def _released(self) -> None:
        # A lease's end frees a slot of its replica, not of the tier (admission's permit, released
        # in the same scope, pumps the queue); only a departed replica's last lease changes the set.
        if self._gone:
            self._forget_idle_gone()
            self.on_change()

    # -- feedback from the request path ----------------------------------------------------------

    def report_unavailable(self, replica: Replica) -> None:
        """The replica answered a request with 503: draining if it had been ready, else still loading."""
        if replica.was_ready:
            replica.refusing = True
        replica.healthy = False

    def report_failed(self, replica: Replica) -> None:
        """The connection to the replica failed (refused, reset, killed): unhealthy until a probe says otherwise."""
        replica.healthy = False

    # -- discovery and probes --------------------------------------------------------------------

    async def refresh(self) -> None:
        """Discover, then probe every replica still discovered; a discovery failure keeps the last set."""
        try:
            urls: list[str] | None = await self.discovery()
        except (OSError, TimeoutError) as exc:
            log.warning("tier %s: discovery failed (%s); keeping %d known replicas", self.tier, exc, len(self.replicas))
            urls = None
        if urls is not None:
            current = set(urls)
            for url in urls:
                if url not in self.replicas:
                    self.replicas[url] = Replica(url, slots=self.default_slots)
            for r in self.replicas.values():
                r.gone = r.url not in current
        await asyncio.gather(*(self._probe(r) for r in list(self.replicas.values()) if not r.gone))
        self._forget_idle_gone()
        self.on_change()

    def _forget_idle_gone(self) -> None:
        for url, r in list(self.replicas.items()):
            if r.gone and r.in_flight == 0:
                del self.replicas[url]
        self._gone = any(r.gone for r in self.replicas.values())

    async def _probe(self, r: Replica) -> None:
        try:
            status, _ = await self.getter(r.url + "/health", self.api_key, PROBE_TIMEOUT_S)
        except Exception as exc:  # any transport failure means "not reachable now"; never kill the loop
            log.debug("tier %s: %s/health failed: %s", self.tier, r.url, exc)
            r.healthy = False
            return
        if status == 200:
            if not r.slots_known:
                await self._read_slots(r)
            r.healthy = True
            r.refusing = False
            r.was_ready = True
            return
        if status == 503 and r.was_ready:
            r.refusing = True
        r.healthy = False

    async def _read_slots(self, r: Replica) -> None:
        with contextlib.suppress(Exception):
            status, props = await self.getter(r.url + "/props", self.api_key, PROBE_TIMEOUT_S)
            total = props.get("total_slots") if isinstance(props, dict) else None
            if status == 200 and isinstance(total, int) and total > 0:
                r.slots = total
                r.slots_known = True

    async def run(self, interval_s: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Refresh forever (a lifespan task); cancel it to stop."""
        while True:
            await self.refresh()
            await sleep(interval_s)

    def snapshot(self) -> Iterator[dict[str, Any]]:
        for r in self.replicas.values():
            yield {
                "url": r.url,
                "slots": r.slots,
                "in_flight": r.in_flight,
                "healthy": r.healthy,
                "draining": r.draining,
            }


__all__ = [
    "Discovery",
    "DnsDiscovery",
    "Getter",
    "Lease",
    "LocalDiscovery",
    "Replica",
    "ReplicaSet",
    "Resolver",
    "StaticDiscovery",
    "getaddrinfo_resolver",
]
