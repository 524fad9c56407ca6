"""Replica sets: discovery (static, DNS through a resolver seam, local), probes through a fake getter, picking."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.replicas import DnsDiscovery, LocalDiscovery, ReplicaSet, StaticDiscovery, getaddrinfo_resolver

pytestmark = pytest.mark.anyio


class FakeServers:
    """Answers /health and /props per base URL, as llama-servers would; records every probe."""

    def __init__(self) -> None:
        self.health: dict[str, int] = {}
        self.slots: dict[str, int] = {}
        self.down: set[str] = set()
        self.calls: list[str] = []

    async def __call__(self, url: str, api_key: str | None, timeout_s: float) -> tuple[int, Any]:
        self.calls.append(url)
        base, _, path = url.rpartition("/")
        if base in self.down:
            raise ConnectionRefusedError(f"{base} refused")
        if path == "health":
            return self.health.get(base, 200), None
        if path == "props":
            return 200, {"total_slots": self.slots.get(base, 1)}
        return 404, None


class Resolver:
    def __init__(self, answers: list[list[str]]) -> None:
        self.answers = answers

    async def __call__(self, host: str, port: int) -> list[str]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def test_slots_come_from_props_and_pick_prefers_the_replica_with_most_free_slots() -> None:
    fake = FakeServers()
    fake.slots = {"http://a:1": 4, "http://b:1": 2}
    rs = ReplicaSet("small", StaticDiscovery(("http://a:1", "http://b:1")), fake)
    await rs.refresh()
    assert {r.url: r.slots for r in rs.replicas.values()} == {"http://a:1": 4, "http://b:1": 2}, "slots from /props"
    assert rs.ready_slots == 6 and rs.ready_count == 2, "both replicas ready, 6 slots in all"
    leases = [rs.acquire() for _ in range(3)]
    urls = [lease.replica.url if lease else None for lease in leases]
    assert urls[:2] == ["http://a:1", "http://a:1"], f"a (4 free) takes requests while it has more free slots: {urls}"
    assert urls[2] in ("http://a:1", "http://b:1"), "with 2 free each, the third may go to either"
    for lease in leases:
        assert lease is not None, "every request got a replica"
        lease.release()
        lease.release()
    assert rs.in_flight == 0, "releases are counted once each, however often they are called"


async def test_ties_go_round_robin() -> None:
    fake = FakeServers()
    fake.slots = {"http://a:1": 2, "http://b:1": 2}
    rs = ReplicaSet("small", StaticDiscovery(("http://a:1", "http://b:1")), fake)
    await rs.refresh()
    picked = [p.url for p in (rs.pick() for _ in range(4)) if p]
    assert sorted(picked) == ["http://a:1", "http://a:1", "http://b:1", "http://b:1"], f"equal replicas share: {picked}"


async def test_dns_discovery_follows_changing_a_records_and_drains_removed_replicas() -> None:
    fake = FakeServers()
    resolver = Resolver([["10.0.0.1", "10.0.0.2"], ["10.0.0.2", "10.0.0.3"], ["10.0.0.2", "10.0.0.3"]])
    rs = ReplicaSet("small", DnsDiscovery("llama.ns.svc", 8080, resolver=resolver), fake)
    await rs.refresh()
    assert set(rs.replicas) == {"http://10.0.0.1:8080", "http://10.0.0.2:8080"}, "one replica per A record"
    busy = rs.replicas["http://10.0.0.1:8080"]
    busy.in_flight = 1
    await rs.refresh()
    assert busy.draining and not busy.ready, "a replica gone from DNS drains"
    assert "http://10.0.0.1:8080" in rs.replicas, "it is kept while a request is still in flight on it"
    assert rs.pick(frozenset({"http://10.0.0.2:8080"})).url == "http://10.0.0.3:8080", (  # type: ignore[union-attr]
        "the draining replica is never picked; the new one is"
    )
    busy.in_flight = 0
    await rs.refresh()
    assert set(rs.replicas) == {"http://10.0.0.2:8080", "http://10.0.0.3:8080"}, "idle and gone: forgotten"
    assert not any("10.0.0.1" in c for c in fake.calls[-4:]), "a gone replica is not probed"


async def test_a_dns_failure_keeps_the_known_replicas() -> None:
    fake = FakeServers()
    answers: list[list[str] | None] = [["10.0.0.1"], None]

    async def flaky(host: str, port: int) -> list[str]:
        a = answers.pop(0)
        if a is None:
            raise OSError("temporary failure in name resolution")
        return a

    rs = ReplicaSet("small", DnsDiscovery("llama", 80, resolver=flaky), fake)
    await rs.refresh()
    await rs.refresh()
    assert rs.ready_count == 1, "one failed lookup does not empty the tier"


async def test_a_ready_replica_answering_503_drains_but_a_loading_one_is_only_not_ready() -> None:
    fake = FakeServers()
    fake.health = {"http://a:1": 200, "http://b:1": 503}
    rs = ReplicaSet("small", StaticDiscovery(("http://a:1", "http://b:1")), fake)
    await rs.refresh()
    a, b = rs.replicas["http://a:1"], rs.replicas["http://b:1"]
    assert a.ready and not b.ready and not b.draining, "b is loading its model: not ready, not draining"
    assert not b.slots_known, "slots are read only from a healthy server"
    fake.health = {"http://a:1": 503, "http://b:1": 200}
    await rs.refresh()
    assert a.draining and not a.ready, "a was ready and now answers 503: draining"
    assert b.ready and b.slots_known, "b finished loading"
    fake.health["http://a:1"] = 200
    await rs.refresh()
    assert a.ready, "a restarted server that answers 200 again is back in rotation"


async def test_request_path_feedback_takes_a_replica_out_until_the_next_good_probe() -> None:
    fake = FakeServers()
    rs = ReplicaSet("small", StaticDiscovery(("http://a:1", "http://b:1")), fake)
    await rs.refresh()
    a = rs.replicas["http://a:1"]
    rs.report_failed(a)
    assert [rs.pick().url for _ in range(3)] == ["http://b:1"] * 3, "a failed replica is skipped"  # type: ignore[union-attr]
    rs.report_unavailable(rs.replicas["http://b:1"])
    assert rs.pick() is None and rs.acquire() is None, "no ready replica: nothing to pick"
    fake.down.add("http://b:1")
    await rs.refresh()
    assert a.ready and not rs.replicas["http://b:1"].ready, "a probe restores a; b stays out (refused)"


async def test_local_discovery_waits_for_the_supervised_server_to_have_a_url() -> None:
    fake = FakeServers()
    url = {"v": ""}
    changes: list[int] = []
    rs = ReplicaSet("small", LocalDiscovery(lambda: url["v"]), fake, on_change=lambda: changes.append(1))
    await rs.refresh()
    assert rs.ready_count == 0, "no port yet, no replica"
    url["v"] = "http://127.0.0.1:9999"
    await rs.refresh()
    assert rs.ready_count == 1 and len(changes) == 2, "the supervised server joins; each refresh notifies admission"


async def test_the_default_resolver_answers_through_the_loops_getaddrinfo() -> None:
    addresses = await getaddrinfo_resolver("localhost", 8080)
    assert "127.0.0.1" in addresses or "::1" in addresses, f"localhost resolves to loopback: {addresses}"
    urls = await DnsDiscovery("localhost", 8080)()
    assert any(u in ("http://127.0.0.1:8080", "http://[::1]:8080") for u in urls), f"URLs with ports: {urls}"
