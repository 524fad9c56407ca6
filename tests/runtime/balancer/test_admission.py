"""Admission: slots, the bounded queue, priority, deadlines on a fake clock, scale from zero, metrics, KEDA."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from runtime.admission import Admission, AdmissionMetrics, Rejected, TierAsleep, queue_figures
from tests.runtime.balancer.conftest import FakeClock

pytestmark = pytest.mark.anyio


class Tier:
    """Capacity as a replica set would report it."""

    def __init__(self, slots: int, replicas: int = 1) -> None:
        self.slots = slots
        self.replicas = replicas


def make(tier: Tier, clock: FakeClock, **kw: object) -> tuple[Admission, CollectorRegistry]:
    registry = CollectorRegistry()
    a = Admission(
        "small",
        lambda: tier.slots,
        lambda: tier.replicas,
        clock=clock,
        metrics=AdmissionMetrics.create(registry),
        **kw,  # type: ignore[arg-type]
    )
    return a, registry


async def test_requests_within_the_slots_are_granted_at_once_and_the_next_ones_queue(clock: FakeClock) -> None:
    a, _ = make(Tier(2), clock, max_queue=2)
    first, second = a.enter(), a.enter()
    assert first.permit and second.permit, "two slots: two immediate permits"
    third = a.enter()
    assert third.permit is None and a.queued == 1, "the third waits in the queue"
    waiter = asyncio.ensure_future(third.wait())
    await asyncio.sleep(0)
    assert not waiter.done(), "no slot has freed yet"
    first.permit.release()
    permit = await waiter
    assert a.in_flight == 2 and a.queued == 0, "the freed slot went to the queued request"
    permit.release()
    second.permit.release()
    assert a.in_flight == 0, "every slot is back"


async def test_a_full_queue_is_refused_synchronously_with_retry_after_from_observed_service_time(
    clock: FakeClock,
) -> None:
    a, registry = make(Tier(2), clock, max_queue=1)
    p = a.enter().permit
    assert p is not None, "a slot is free"
    clock.advance(6.0)
    p.release()  # one observed service of 6 s
    a.enter(), a.enter()
    a.enter()  # queued
    with pytest.raises(Rejected) as info:
        a.enter()
    exc = info.value
    assert exc.status == 429 and exc.reason == "queue_full", "a full queue is a 429"
    assert exc.retry_after_s == 6, "(1 queued + 1) x 6 s / 2 slots = 6 s"
    assert exc.headers == {"Retry-After": "6"}, "the header the error boundary sends"
    assert exc.body()["error"]["type"] == "rate_limit_error", "OpenAI's shape for rate limits"
    rejected = registry.get_sample_value("frugal_admission_rejections_total", {"tier": "small", "reason": "queue_full"})
    assert rejected == 1, "the refusal is counted by reason"
    assert registry.get_sample_value("frugal_admission_queued", {"tier": "small"}) == 1, "queue depth is exported"


async def test_a_queued_request_past_its_wait_is_refused_with_429(clock: FakeClock) -> None:
    a, registry = make(Tier(1), clock, max_wait_s=10.0)
    assert a.enter().permit is not None, "the one slot is free"
    entry = a.enter()
    waiter = asyncio.ensure_future(entry.wait())
    await asyncio.sleep(0)
    clock.advance(9.0)
    assert a.expire() == 0 and not waiter.done(), "within its wait it keeps its place"
    clock.advance(1.5)
    assert a.expire() == 1, "past its deadline it is expired"
    with pytest.raises(Rejected) as info:
        await waiter
    assert info.value.reason == "wait_timeout" and info.value.status == 429, "refused as overloaded"
    assert a.queued == 0, "it left the queue"
    labels = {"tier": "small", "reason": "wait_timeout"}
    timed_out = registry.get_sample_value("frugal_admission_rejections_total", labels)
    assert timed_out == 1, "the expiry is counted as a wait timeout"


async def test_higher_priority_goes_first_and_equal_priority_is_fifo(clock: FakeClock) -> None:
    a, _ = make(Tier(1), clock, max_queue=10)
    held = a.enter().permit
    assert held is not None, "the one slot is free"
    order: list[str] = []

    async def go(name: str, priority: int) -> None:
        p = await a.enter(priority).wait()
        order.append(name)
        p.release()

    tasks = [asyncio.ensure_future(go(n, pr)) for n, pr in [("low1", 0), ("low2", 0), ("high", 5), ("low3", 0)]]
    await asyncio.sleep(0)
    held.release()
    await asyncio.gather(*tasks)
    assert order == ["high", "low1", "low2", "low3"], f"priority first, then arrival order: {order}"


async def test_a_cancelled_waiter_leaves_the_queue_without_taking_a_slot(clock: FakeClock) -> None:
    a, _ = make(Tier(1), clock)
    held = a.enter().permit
    assert held is not None, "the one slot is free"
    task = asyncio.ensure_future(a.admit())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.queued == 0, "the cancelled request left the queue"
    held.release()
    assert a.in_flight == 0, "no slot was granted to the departed waiter"


async def test_a_tier_at_zero_replicas_queues_for_the_wake_time_then_answers_503_not_404(clock: FakeClock) -> None:
    tier = Tier(0, replicas=0)
    a, registry = make(tier, clock, max_wait_s=5.0, wake_s=240.0)
    entry = a.enter()
    assert entry.permit is None and entry.asleep, "no replica: the request waits for one"
    assert queue_figures({"small": a}) == {
        "tiers": {"small": {"queued": 1, "in_flight": 0, "slots": 0, "ready_replicas": 0}}
    }, "KEDA sees the waiting request, which is what wakes the tier"
    waiter = asyncio.ensure_future(entry.wait())
    await asyncio.sleep(0)
    clock.advance(60.0)
    assert a.expire() == 0, "the wake time, not the normal wait, applies while the tier is asleep"
    clock.advance(200.0)
    a.expire()
    with pytest.raises(TierAsleep) as info:
        await waiter
    assert info.value.status == 503 and info.value.retry_after_s == 120, "503 with Retry-After (capped at 120 s)"
    asleep = registry.get_sample_value("frugal_admission_rejections_total", {"tier": "small", "reason": "asleep"})
    assert asleep == 1, "the wake timeout is counted as asleep"


async def test_a_tier_waking_up_serves_its_queued_requests(clock: FakeClock) -> None:
    tier = Tier(0, replicas=0)
    a, registry = make(tier, clock, wake_s=240.0)
    waiters = [asyncio.ensure_future(a.admit()) for _ in range(3)]
    await asyncio.sleep(0)
    clock.advance(90.0)
    tier.slots, tier.replicas = 2, 1
    a.pump()  # the replica set's on_change after the new replica's first good probe
    assert a.in_flight == 2 and a.queued == 1, "pump grants synchronously"
    for _ in range(5):  # let the granted waiters' tasks resume (no time passes)
        await asyncio.sleep(0)
    done = [w for w in waiters if w.done()]
    assert len(done) == 2 and a.queued == 1, "two slots: two of three admitted, the third still queued"
    assert registry.get_sample_value("frugal_admission_wait_seconds_sum", {"tier": "small"}) == 180.0, (
        "each admitted request waited 90 s, and that is what the histogram shows"
    )
    done[0].result().release()
    await asyncio.gather(*waiters)
    assert a.in_flight == 2, "the third got the released slot"


async def test_a_waiter_that_would_expire_in_real_time_is_refused_without_a_timer(clock: FakeClock) -> None:
    a, _ = make(Tier(1), clock, max_wait_s=0.0)
    assert a.enter().permit is not None, "the one slot is free"
    with pytest.raises(Rejected, match="waited 0.0s"):
        await a.admit()
    assert a.queued == 0, "a zero wait leaves nothing behind"


async def test_waiters_that_give_up_while_the_tier_is_asleep_do_not_pile_up(clock: FakeClock) -> None:
    a, _ = make(Tier(0, replicas=0), clock, max_queue=4)
    for _ in range(100):
        task = asyncio.ensure_future(a.admit())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert a.queued == 0, "every departed waiter left the count"
    assert len(a._heap) <= 2 * 4 + 16 + 1, f"the queue's storage stays bounded: {len(a._heap)} entries"
