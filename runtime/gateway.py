"""The gateway's per-tier machinery, wired for the dispatch pipeline: replicas, admission, drain.

One `Gate` per tier holds the tier's `ReplicaSet` (runtime/replicas.py) and `Admission`
(runtime/admission.py). Where its replicas come from:

- `replicas: {urls: [...]}` or `replicas: {dns: host:port}`: probed every `refresh_s` (/health,
  /props), failures reported from the request path take a replica out until a good probe;
- `local:` the supervised llama-server, found by `LocalDiscovery` while the supervisor says it runs;
- `url:` one remote OpenAI-compatible endpoint (which may have no /health): never probed, always
  in rotation, guarded by the tier's circuit breaker as before.

`Gate.admit` takes an admission permit (429/503 with Retry-After past the queue or the wake time);
`Gate.post`/`Gate.open` call a replica (the one with the most free slots) and, on a 503 or a
connection failure, report it and try another replica of the tier, at most `attempts` calls,
before the pipeline moves on to the fallback tier. The lease of the replica in use, and the permit,
join the attempt's resource scope (runtime/pipeline.py AttemptScope).

`Gateway` owns the gates, the refresh tasks, the drain (runtime/drain.py) and the continuation
counter. Its HTTP side (the drain guard middleware and the /internal routes) is
runtime/gateway_http.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter

from runtime.admission import Admission, AdmissionMetrics, Permit
from runtime.disconnect import Receive as DisconnectReceive
from runtime.disconnect import cancel_on_disconnect
from runtime.drain import Drain, install_signal_handlers
from runtime.errors import (
    UpstreamFailure,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from runtime.metrics import Metrics
from runtime.replicas import DnsDiscovery, Getter, Lease, LocalDiscovery, ReplicaSet, StaticDiscovery
from runtime.routing import TierState
from runtime.settings import Settings
from runtime.singleflight import SingleFlight
from runtime.upstream import Transport, UpstreamStream, get_json, open_stream, post_json

log = logging.getLogger(__name__)
LOCAL_REFRESH_S = 1.0
REMOTE_DEFAULT_SLOTS = 8


def base_url(url: str) -> str:
    """A tier URL without a trailing slash or `/v1` (the router appends the API path)."""
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


async def _always_up(url: str, api_key: str | None, timeout_s: float) -> tuple[int, Any]:
    """The 'probe' of a single remote endpoint: it may have no /health; its circuit breaker guards it."""
    return 200, None


@dataclass(eq=False)
class Gate:
    tier: TierState
    replicas: ReplicaSet
    admission: Admission
    probed: bool
    refresh_s: float
    attempts: int
    _refreshing: asyncio.Task[None] | None = None
    _views: dict[str, TierState] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.replicas.ready_count > 0

    async def refresh_now(self) -> None:
        """One refresh shared by every caller that asks while it runs (a cold tier gets a burst)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self.replicas.refresh())
        await asyncio.shield(self._refreshing)

    async def admit(self, receive: DisconnectReceive | None, priority: int = 0) -> Permit:
        """A slot of this tier: at once, after a queue wait, or Rejected/TierAsleep (Retry-After)."""
        if self.probed and not self.ready and self.tier.cfg.local is not None and self.tier.ready:
            # The supervisor saw the server turn healthy before the next periodic probe did.
            await self.refresh_now()
        entry = self.admission.enter(priority)
        if entry.permit is not None:
            return entry.permit
        with cancel_on_disconnect(receive):
            return await entry.wait()

    def view(self, lease: Lease) -> TierState:
        """The tier as the Transport sees it for one call: the leased replica's base URL (one copy per
        replica, kept while the tier's key is unchanged: a copy per call measured in the overhead)."""
        url = lease.replica.url
        v = self._views.get(url)
        if v is None or v.api_key != self.tier.api_key:
            v = copy.copy(self.tier)
            v.base_url = url
            if len(self._views) > 4 * max(1, len(self.replicas.replicas)):
                self._views.clear()  # replicas come and go (DNS): do not keep the departed ones
            self._views[url] = v
        return v

    def report(self, lease: Lease, exc: UpstreamFailure) -> None:
        """A replica failed a call: take it out of rotation until a probe says it is back."""
        if not self.probed:
            return
        if isinstance(exc, UpstreamUnavailable):
            self.replicas.report_unavailable(lease.replica)
        elif not isinstance(exc, UpstreamTimeout):
            self.replicas.report_failed(lease.replica)

    def _retry(self, exc: UpstreamFailure) -> bool:
        # A timeout is not retried on another replica: the whole call's time is already spent.
        return self.probed and exc.retryable and not isinstance(exc, UpstreamTimeout)

    def acquire(self, exclude: set[str], releases: list[Callable[[], None]]) -> Lease | None:
        lease = self.replicas.acquire(frozenset(exclude))
        if lease is not None:
            releases.append(lease.release)
        return lease

    async def post(
        self, transport: Transport, path: str, body: bytes, releases: list[Callable[[], None]]
    ) -> tuple[bytes, dict[str, Any]]:
        """A whole answer from a replica, retried whole on another one after a 503/connection failure."""
        exclude: set[str] = set()
        last: UpstreamFailure | None = None
        for _ in range(self.attempts):
            lease = self.acquire(exclude, releases)
            if lease is None:
                break
            try:
                return await post_json(transport, self.view(lease), path, body)
            except UpstreamFailure as exc:
                self.report(lease, exc)
                lease.release()
                if not self._retry(exc):
                    raise
                exclude.add(lease.replica.url)
                last = exc
        raise last if last is not None else self.no_replica()

    async def open(
        self, transport: Transport, path: str, body: bytes, releases: list[Callable[[], None]]
    ) -> tuple[UpstreamStream, AsyncIterator[bytes], bytes, Lease]:
        """An open stream and its first event from a replica, retried on another before the first byte."""
        exclude: set[str] = set()
        last: UpstreamFailure | None = None
        for _ in range(self.attempts):
            lease = self.acquire(exclude, releases)
            if lease is None:
                break
            up: UpstreamStream | None = None
            try:
                up = await open_stream(transport, self.view(lease), path, body)
                events = up.events()
                first = await events.__anext__()
                return up, events, first, lease
            except UpstreamFailure as exc:
                if up is not None:
                    up.close()
                self.report(lease, exc)
                lease.release()
                if not self._retry(exc):
                    raise
                exclude.add(lease.replica.url)
                last = exc
        raise last if last is not None else self.no_replica()

    def no_replica(self) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"tier {self.tier.name!r} has no ready replica; retry shortly")

    def figures(self) -> dict[str, Any]:
        return {**self.admission.figures(), "replicas": list(self.replicas.snapshot())}


@dataclass(eq=False)
class Gateway:
    gates: dict[str, Gate]
    drain: Drain
    continuations: Counter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    flights: SingleFlight[str, Any] = field(default_factory=SingleFlight)
    """Identical deterministic requests in flight share one call, whole or streamed (runtime/flights.py)."""
    trigger_drain: Callable[[], asyncio.Task[None]] | None = None

    def gate(self, tier: str) -> Gate:
        return self.gates[tier]

    def usable(self, chain: list[TierState]) -> list[TierState]:
        """The chain without open circuits; tiers with a ready replica first (a tier at zero replicas
        is still tried last: its requests queue while it wakes, they are not refused)."""
        allowed = [t for t in chain if t.breaker.allows()]
        # A local tier the supervisor already saw healthy counts as up before the next periodic probe.
        up = {t.name for t in allowed if self.gates[t.name].ready or (t.cfg.local is not None and t.ready)}
        return [t for t in allowed if t.name in up] + [t for t in allowed if t.name not in up]

    async def start(self) -> None:
        """A first probe of every tier (remote endpoints count as up at once), then the refresh loops."""
        await asyncio.gather(*(g.replicas.refresh() for g in self.gates.values() if g.tier.cfg.local is None))
        for g in self.gates.values():
            if g.probed:
                self.tasks.append(asyncio.create_task(g.replicas.run(g.refresh_s), name=f"replicas-{g.tier.name}"))

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self.tasks.clear()


def build_gateway(settings: Settings, tiers: dict[str, TierState], transport: Transport, metrics: Metrics) -> Gateway:
    """One gate per configured tier (call inside the running loop; nothing is started yet)."""
    adm_metrics = AdmissionMetrics.create(metrics.registry)
    gates: dict[str, Gate] = {}

    for t in settings.tiers:
        state = tiers[t.name]

        getter: Getter = _getter(transport)
        probed = True
        refresh_s = LOCAL_REFRESH_S
        attempts = 1
        if t.replicas is not None:
            src = t.replicas
            if src.dns is not None:
                host, _, port = src.dns.rpartition(":")
                discovery: Any = DnsDiscovery(host, int(port), src.scheme)
            else:
                discovery = StaticDiscovery(tuple(base_url(u) for u in src.urls or ()))
            refresh_s, attempts = src.refresh_s, src.attempts
            slots = t.slots or 1
        elif t.local is not None:
            discovery = LocalDiscovery(_local_url(state))
            slots = t.slots or t.local.parallel
        else:
            assert t.url is not None, "validated by Settings"
            discovery = StaticDiscovery((base_url(t.url),))
            getter = _always_up
            probed = False
            slots = t.slots or REMOTE_DEFAULT_SLOTS
        rs = ReplicaSet(t.name, discovery, getter, api_key=state.api_key, default_slots=slots)
        admission = Admission(
            t.name,
            capacity=_slots_of(rs),
            ready_replicas=_ready_of(rs),
            max_queue=t.admission.max_queue,
            max_wait_s=t.admission.max_wait_s,
            wake_s=t.admission.wake_s,
            metrics=adm_metrics,
        )
        gate = Gate(state, rs, admission, probed, refresh_s, attempts)
        rs.on_change = _on_change(gate, metrics)
        gates[t.name] = gate
    continuations = Counter(
        "frugal_continuations",
        "Streams continued on another replica or tier after a failure mid-answer",
        ["tier"],
        registry=metrics.registry,
    )
    d = settings.drain
    return Gateway(gates, Drain(grace_s=d.grace_s, retry_after_s=d.retry_after_s), continuations)


def _getter(transport: Transport) -> Getter:
    async def get(url: str, api_key: str | None, timeout_s: float) -> tuple[int, Any]:
        return await get_json(transport, url, api_key, timeout_s)

    return get


def _slots_of(rs: ReplicaSet) -> Callable[[], int]:
    return lambda: rs.ready_slots


def _ready_of(rs: ReplicaSet) -> Callable[[], int]:
    return lambda: rs.ready_count


def _local_url(tier: TierState) -> Callable[[], str]:
    # Only while the supervisor has it healthy: a restarting server is not a replica to send to.
    return lambda: tier.base_url if tier.ready else ""


def _on_change(gate: Gate, metrics: Metrics) -> Callable[[], None]:
    def changed() -> None:
        rs, tier = gate.replicas, gate.tier
        if tier.cfg.local is None:
            # Replicated and remote tiers are as ready as their replicas (the supervisor sets local ones).
            tier.ready = rs.ready_count > 0
            tier.slots = max(1, rs.ready_slots) if tier.ready else tier.slots
            metrics.ready.labels(tier.name).set(1 if tier.ready else 0)
            metrics.slots.labels(tier.name).set(rs.ready_slots)
        gate.admission.pump()

    return changed


def install_drain(gateway: Gateway, on_drained: Callable[[bool], None] | None) -> None:
    """With `on_drained` (the server's exit), SIGTERM starts the drain when this is the main thread
    (uvicorn in a test thread cannot take signals). Without it, SIGTERM stays the server's own
    (plain `uvicorn app:factory` shuts down as usual). POST /internal/drain works either way."""
    loop = asyncio.get_running_loop()
    done = on_drained or (lambda drained: None)
    if on_drained is not None:
        try:
            gateway.trigger_drain = install_signal_handlers(loop, gateway.drain, done)
            return
        except (ValueError, RuntimeError, NotImplementedError):
            pass
    gateway.trigger_drain = install_signal_handlers(loop, gateway.drain, done, signals=())


__all__ = ["Gate", "Gateway", "base_url", "build_gateway", "install_drain"]
