"""Per-tenant daily and monthly USD budgets: atomic reservation before a call, settlement after.

`reserve` checks spent + open reservations + the new amount against each limit and records the
reservation in ONE write transaction, so concurrent requests (in this process or in other workers
sharing the database) can never together pass a limit. `settle` replaces the reservation by the
actual cost. Amounts are stored as integer nano-dollars (the accounting quantum, 1e-9 USD), so sums
are exact. A reservation never settled (the process died mid-call) expires after
`budget.reservation_ttl_s`; spent money is never lost because it is written when settled.

Backends: SQLite (default, WAL, one file) and Redis (a Lua script does the same check-and-reserve
atomically on the server); both persist, so a restart loses nothing.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from runtime.auth import TenantInfo
from runtime.errors import BudgetExceeded

NANO = Decimal("1e9")


def to_nano(usd: Decimal) -> int:
    return int((usd * NANO).to_integral_value(rounding="ROUND_CEILING"))


def from_nano(n: int) -> Decimal:
    return (Decimal(n) / NANO).quantize(Decimal("0.000000001"))


def periods(now: float) -> tuple[str, str]:
    """(day, month) keys in UTC: budgets reset at 00:00 UTC and on the 1st of the month."""
    d = datetime.fromtimestamp(now, UTC)
    return d.strftime("%Y-%m-%d"), d.strftime("%Y-%m")


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
    async def reserve(self, tenant: TenantInfo, amount: Decimal) -> Reservation: ...

    async def settle(self, reservation: Reservation, actual: Decimal) -> None: ...

    async def spend(self, tenant: str) -> Spend: ...

    async def close(self) -> None: ...


def remaining_usd(tenant: TenantInfo, spend: Spend) -> Decimal | None:
    """The smaller of what is left today and this month; None if the tenant has no budget."""
    left = [
        limit - used
        for limit, used in ((tenant.daily_budget_usd, spend.day_usd), (tenant.monthly_budget_usd, spend.month_usd))
        if limit is not None
    ]
    return max(Decimal(0), min(left)) if left else None


def _exceeded(tenant: TenantInfo, period: str, limit: Decimal, used: int, amount: int) -> BudgetExceeded:
    return BudgetExceeded(
        f"tenant {tenant.name!r} {period} budget ${limit} cannot cover this request: "
        f"${from_nano(used)} spent or reserved, this request may cost up to ${from_nano(amount)}; "
        "fix: lower max_tokens, pick a cheaper model, or wait for the budget to reset (00:00 UTC / the 1st)",
        code=f"{period}_budget_exceeded",
    )


class BudgetStoreBusy(RuntimeError):
    """The SQLite ledger is held by another process (exclusive mode)."""


class SQLiteBudgetStore:
    """The ledger in one SQLite file (WAL). Two modes:

    - exclusive (default): this process is the file's only user (SQLite's EXCLUSIVE locking mode
      makes a second process fail to open it, loudly). Reservations live in memory, and the check
      plus the reservation run without an await between them, so on one event loop they are atomic;
      each settlement is one SQL statement that adds the cost to the day and month rows, so spent
      money is on disk before the response is sent. Open reservations die with the process, which
      is right: they were never spent.
    - shared: several router processes use the file; reserve and settle are `BEGIN IMMEDIATE`
      transactions holding SQLite's write lock, with reservations in a table.
    """

    def __init__(self, path: Path, reservation_ttl_s: float = 900, *, shared: bool = False) -> None:
        self.path = path
        self.ttl = reservation_ttl_s
        self.shared = shared
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, or the BEGIN IMMEDIATE we issue ourselves.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute(f"PRAGMA busy_timeout={5000 if shared else 1000}")
        try:
            if not shared:
                self.db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._create()
        except sqlite3.OperationalError as exc:
            self.db.close()
            raise BudgetStoreBusy(
                f"budget ledger {path} is in use by another process ({exc}); fix: give each router its own "
                "budget.sqlite_path, set budget.shared: true for several router processes on one host, "
                "or use budget.backend: redis"
            ) from exc
        # exclusive mode: spent per (tenant, period) as read from / written to disk, and open holds
        self._spent: dict[tuple[str, str], int] = {}
        self._held: dict[tuple[str, str], int] = {}
        self._periods = _PeriodClock()
        self._ids = itertools.count(1)

    def _create(self) -> None:
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS spend (
                tenant TEXT NOT NULL, period TEXT NOT NULL, nano INTEGER NOT NULL,
                PRIMARY KEY (tenant, period));
            CREATE TABLE IF NOT EXISTS reservations (
                id TEXT PRIMARY KEY, tenant TEXT NOT NULL, day TEXT NOT NULL, month TEXT NOT NULL,
                nano INTEGER NOT NULL, expires REAL NOT NULL);
            CREATE INDEX IF NOT EXISTS reservations_tenant ON reservations (tenant, month);
            CREATE INDEX IF NOT EXISTS reservations_expires ON reservations (expires);
            """
        )

    def _spent_of(self, tenant: str, period: str) -> int:
        key = (tenant, period)
        v = self._spent.get(key)
        if v is None:
            row = self.db.execute("SELECT nano FROM spend WHERE tenant=? AND period=?", key).fetchone()
            v = self._spent[key] = row[0] if row else 0
        return v

    def _used_memory(self, tenant: str, day: str, month: str) -> tuple[int, int]:
        d, m = "d:" + day, "m:" + month
        return (
            self._spent_of(tenant, d) + self._held.get((tenant, d), 0),
            self._spent_of(tenant, m) + self._held.get((tenant, m), 0),
        )

    def _used_db(self, tenant: str, day: str, month: str) -> tuple[int, int]:
        q = self.db.execute
        spent_d = q("SELECT nano FROM spend WHERE tenant=? AND period=?", (tenant, "d:" + day)).fetchone()
        spent_m = q("SELECT nano FROM spend WHERE tenant=? AND period=?", (tenant, "m:" + month)).fetchone()
        res = q(
            "SELECT COALESCE(SUM(CASE WHEN day=? THEN nano END), 0), COALESCE(SUM(nano), 0) "
            "FROM reservations WHERE tenant=? AND month=?",
            (day, tenant, month),
        ).fetchone()
        return (spent_d[0] if spent_d else 0) + res[0], (spent_m[0] if spent_m else 0) + res[1]

    @staticmethod
    def _check(tenant: TenantInfo, used_d: int, used_m: int, n: int) -> None:
        for period, limit, used in (
            ("daily", tenant.daily_budget_usd, used_d),
            ("monthly", tenant.monthly_budget_usd, used_m),
        ):
            if limit is not None and used + n > to_nano(limit):
                raise _exceeded(tenant, period, limit, used, n)

    async def reserve(self, tenant: TenantInfo, amount: Decimal) -> Reservation:
        day, month = self._periods.now()
        n = to_nano(amount)
        if not self.shared:
            rid = str(next(self._ids))  # ids only need to be unique within this process
            # No await between the check and the hold: atomic on the event loop.
            self._check(tenant, *self._used_memory(tenant.name, day, month), n)
            for period in ("d:" + day, "m:" + month):
                self._held[(tenant.name, period)] = self._held.get((tenant.name, period), 0) + n
            return Reservation(rid, tenant.name, day, month, n)
        rid = uuid.uuid4().hex
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM reservations WHERE expires < ?", (now,))
            self._check(tenant, *self._used_db(tenant.name, day, month), n)
            self.db.execute(
                "INSERT INTO reservations VALUES (?,?,?,?,?,?)", (rid, tenant.name, day, month, n, now + self.ttl)
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return Reservation(rid, tenant.name, day, month, n)

    _ADD = (
        "INSERT INTO spend VALUES (?,?,?),(?,?,?) ON CONFLICT(tenant, period) DO UPDATE SET nano = nano + excluded.nano"
    )

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        n = to_nano(actual)
        r = reservation
        d, m = "d:" + r.day, "m:" + r.month
        if not self.shared:
            for period in (d, m):
                key = (r.tenant, period)
                self._held[key] -= r.amount_nano
                if n:
                    self._spent[key] = self._spent_of(r.tenant, period) + n
            if n:
                self.db.execute(self._ADD, (r.tenant, d, n, r.tenant, m, n))
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM reservations WHERE id=?", (r.id,))
            if n:
                self.db.execute(self._ADD, (r.tenant, d, n, r.tenant, m, n))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    async def spend(self, tenant: str) -> Spend:
        day, month = self._periods.now()
        used_d, used_m = self._used_memory(tenant, day, month) if not self.shared else self._used_db(tenant, day, month)
        return Spend(from_nano(used_d), from_nano(used_m))

    async def close(self) -> None:
        self.db.close()


class _PeriodClock:
    """periods(time.time()) without formatting dates on every call: recomputed once a UTC day."""

    def __init__(self) -> None:
        self._until = 0.0
        self._keys = ("", "")

    def now(self) -> tuple[str, str]:
        t = time.time()
        if t >= self._until:
            self._keys = periods(t)
            self._until = (t // 86400 + 1) * 86400
        return self._keys


_RESERVE_LUA = """
local spent_d = tonumber(redis.call('GET', KEYS[1]) or '0')
local spent_m = tonumber(redis.call('GET', KEYS[2]) or '0')
local res_d = tonumber(redis.call('GET', KEYS[3]) or '0')
local res_m = tonumber(redis.call('GET', KEYS[4]) or '0')
local n = tonumber(ARGV[1])
local lim_d = tonumber(ARGV[2])
local lim_m = tonumber(ARGV[3])
if lim_d >= 0 and spent_d + res_d + n > lim_d then return {1, spent_d + res_d} end
if lim_m >= 0 and spent_m + res_m + n > lim_m then return {2, spent_m + res_m} end
redis.call('INCRBY', KEYS[3], n)
redis.call('EXPIRE', KEYS[3], 172800)
redis.call('INCRBY', KEYS[4], n)
redis.call('EXPIRE', KEYS[4], 5356800)
redis.call('SET', KEYS[5], n, 'EX', ARGV[4])
return {0, 0}
"""

_SETTLE_LUA = """
local held = tonumber(redis.call('GET', KEYS[5]) or '-1')
if held >= 0 then
  redis.call('DECRBY', KEYS[3], held)
  redis.call('DECRBY', KEYS[4], held)
  redis.call('DEL', KEYS[5])
end
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('INCRBY', KEYS[1], n)
  redis.call('EXPIRE', KEYS[1], 172800)
  redis.call('INCRBY', KEYS[2], n)
  redis.call('EXPIRE', KEYS[2], 5356800)
end
return 0
"""


class RedisBudgetStore:
    """Same contract on Redis; an unsettled reservation stays counted until its period key expires."""

    def __init__(self, client: object, reservation_ttl_s: float = 900, prefix: str = "frugal:budget:") -> None:
        self.r = client
        self.ttl = int(reservation_ttl_s)
        self.prefix = prefix
        self._reserve = client.register_script(_RESERVE_LUA)  # type: ignore[attr-defined]
        self._settle = client.register_script(_SETTLE_LUA)  # type: ignore[attr-defined]

    def _keys(self, tenant: str, day: str, month: str, rid: str) -> list[str]:
        p = f"{self.prefix}{tenant}:"
        return [
            p + "spent:d:" + day,
            p + "spent:m:" + month,
            p + "res:d:" + day,
            p + "res:m:" + month,
            p + "resv:" + rid,
        ]

    async def reserve(self, tenant: TenantInfo, amount: Decimal) -> Reservation:
        day, month = periods(time.time())
        n = to_nano(amount)
        rid = uuid.uuid4().hex
        lim_d = to_nano(tenant.daily_budget_usd) if tenant.daily_budget_usd is not None else -1
        lim_m = to_nano(tenant.monthly_budget_usd) if tenant.monthly_budget_usd is not None else -1
        which, used = await self._reserve(
            keys=self._keys(tenant.name, day, month, rid), args=[n, lim_d, lim_m, self.ttl]
        )
        if int(which) == 1:
            raise _exceeded(tenant, "daily", tenant.daily_budget_usd or Decimal(0), int(used), n)
        if int(which) == 2:
            raise _exceeded(tenant, "monthly", tenant.monthly_budget_usd or Decimal(0), int(used), n)
        return Reservation(rid, tenant.name, day, month, n)

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        r = reservation
        await self._settle(keys=self._keys(r.tenant, r.day, r.month, r.id), args=[to_nano(actual)])

    async def spend(self, tenant: str) -> Spend:
        day, month = periods(time.time())
        keys = self._keys(tenant, day, month, "-")[:4]
        values = [int(v or 0) for v in await self.r.mget(keys)]  # type: ignore[attr-defined]
        return Spend(from_nano(values[0] + values[2]), from_nano(values[1] + values[3]))

    async def close(self) -> None:
        await self.r.aclose()  # type: ignore[attr-defined]
