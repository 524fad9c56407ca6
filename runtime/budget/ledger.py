"""The budget ledger's contract: reservations, spend, the store protocol and the reservation scope.

A call reserves its worst-case cost before it starts and settles the actual cost after it ends
(runtime/accounting.py computes both). `reserved(...)` is the only way the router opens a
reservation: an async context manager that settles the recorded charge on exit, or releases the
reservation (settles zero) when the call failed before a charge was recorded, so no reservation
outlives its call. Only a store's `reserve` raises BudgetExceeded.

Amounts are integer nano-dollars (the accounting quantum, 1e-9 USD), so sums are exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Protocol

from runtime.auth import TenantInfo
from runtime.errors import BudgetExceeded

NANO = Decimal("1e9")
DAY_S = 86400


def to_nano(usd: Decimal) -> int:
    return int((usd * NANO).to_integral_value(rounding=ROUND_CEILING))


def from_nano(n: int) -> Decimal:
    return (Decimal(n) / NANO).quantize(Decimal("0.000000001"))


def periods(now: float) -> tuple[str, str]:
    """(day, month) keys in UTC: budgets reset at 00:00 UTC and on the 1st of the month."""
    d = datetime.fromtimestamp(now, UTC)
    return d.strftime("%Y-%m-%d"), d.strftime("%Y-%m")


def seconds_until_reset(code: str | None, now: float) -> int:
    """Seconds until the budget a `daily_budget_exceeded`/`monthly_budget_exceeded` refusal names resets."""
    d = datetime.fromtimestamp(now, UTC)
    if code == "monthly_budget_exceeded":
        first = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC)
        return max(1, math.ceil(first.timestamp() - now))
    return max(1, math.ceil(DAY_S - now % DAY_S))


class PeriodClock:
    """periods(wall()) without formatting dates on every call: recomputed once a UTC day."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self.wall = wall
        self._until = 0.0
        self._from = 0.0
        self._keys = ("", "")

    def now(self) -> tuple[str, str]:
        t = self.wall()
        if not self._from <= t < self._until:
            self._keys = periods(t)
            self._from = t // DAY_S * DAY_S
            self._until = self._from + DAY_S
        return self._keys


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    tenant: str
    day: str
    month: str
    amount_nano: int


@dataclass(frozen=True, slots=True)
class Spend:
    day_usd: Decimal
    month_usd: Decimal


class BudgetStore(Protocol):
    async def reserve(self, tenant: TenantInfo, amount: Decimal) -> Reservation:
        """Hold `amount` against the tenant's limits atomically, or raise BudgetExceeded."""
        ...

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        """Replace the hold by the actual cost (zero releases it); completes even if the caller is
        cancelled while it waits."""
        ...

    async def spend(self, tenant: str) -> Spend:
        """Spent plus held, for today and this month."""
        ...

    async def close(self) -> None: ...


def remaining_usd(tenant: TenantInfo, spend: Spend) -> Decimal | None:
    """The smaller of what is left today and this month; None if the tenant has no budget."""
    left = [
        limit - used
        for limit, used in ((tenant.daily_budget_usd, spend.day_usd), (tenant.monthly_budget_usd, spend.month_usd))
        if limit is not None
    ]
    return max(Decimal(0), min(left)) if left else None


def exceeded(tenant: TenantInfo, period: str, limit: Decimal, used: int, amount: int) -> BudgetExceeded:
    """The refusal a store raises when `used + amount` nano-dollars would pass `limit`."""
    return BudgetExceeded(
        f"tenant {tenant.name!r} {period} budget ${limit} cannot cover this request: "
        f"${from_nano(used)} spent or reserved, this request may cost up to ${from_nano(amount)}; "
        "fix: lower max_tokens, pick a cheaper model, or wait for the budget to reset (00:00 UTC / the 1st)",
        code=f"{period}_budget_exceeded",
    )


def check_limits(tenant: TenantInfo, used_day: int, used_month: int, amount: int) -> None:
    """Raise BudgetExceeded if `amount` more nano-dollars would pass the daily or monthly limit."""
    for period, limit, used in (
        ("daily", tenant.daily_budget_usd, used_day),
        ("monthly", tenant.monthly_budget_usd, used_month),
    ):
        if limit is not None and used + amount > to_nano(limit):
            raise exceeded(tenant, period, limit, used, amount)


class Hold:
    """An open reservation inside `reserved(...)`; `charge(cost)` records what the call cost."""

    __slots__ = ("reservation", "cost")

    def __init__(self, reservation: Reservation | None) -> None:
        self.reservation = reservation
        self.cost: Decimal | None = None

    def charge(self, cost: Decimal) -> None:
        self.cost = cost


class reserved:  # noqa: N801 - used like a function: `async with reserved(store, tenant, amount) as hold`
    """Reserve `amount` for a tenant with a budget on entry (BudgetExceeded if it does not fit); on
    exit, settle the charge recorded on the Hold, or zero if none was. Tenants without a budget
    reserve nothing. A class rather than a generator: it is on every request's path."""

    __slots__ = ("store", "tenant", "amount", "hold")

    def __init__(self, store: BudgetStore, tenant: TenantInfo, amount: Decimal) -> None:
        self.store = store
        self.tenant = tenant
        self.amount = amount
        self.hold: Hold | None = None

    async def __aenter__(self) -> Hold:
        self.hold = Hold(await self.store.reserve(self.tenant, self.amount) if self.tenant.has_budget else None)
        return self.hold

    async def __aexit__(self, *exc_info: object) -> None:
        hold, self.hold = self.hold, None
        if hold is not None and hold.reservation is not None:
            # Never settle more than was reserved (runtime/accounting.py caps charges; this is the
            # ledger's side of the same invariant). Each store shields its own write, so a cancelled
            # request still settles what it spent.
            await self.store.settle(hold.reservation, min(hold.cost or Decimal(0), self.amount))
