"""The ledger on Redis: Lua scripts check, reserve and settle atomically on the server, so any number
of router processes share one budget.

Holds are members of a sorted set per tenant and period, scored by their expiry (the server's own
clock, `TIME`, so pods with skewed clocks agree). The amount held is computed from the live members
on every reservation and every read, and expired members are dropped in the same script: a hold is
released by its settlement or by its expiry, whatever happened to the process that took it, and
there is no running total to leak. Settlement is idempotent (a `settled:<id>` marker), so a
settlement retried after a timeout or replayed from the local journal (runtime/budget/guard.py) is
counted once. Spend is a plain counter per tenant and period.

Durability is Redis's: with `appendonly yes` and `appendfsync always` a restart loses nothing; with
`everysec`, up to a second; without persistence, everything (docs/runtime.md, "Budgets").
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from runtime.auth import TenantInfo
from runtime.budget.ledger import Reservation, Spend, exceeded, from_nano, periods, to_nano

DAY_KEY_TTL_S = 172_800
MONTH_KEY_TTL_S = 5_356_800

_NOW_AND_HELD = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function held(key, drop)
  if drop then redis.call('ZREMRANGEBYSCORE', key, '-inf', now) end
  local total = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf')) do
    total = total + tonumber(string.match(m, ':(%d+)$'))
  end
  return total
end
"""

_RESERVE_LUA = (
    _NOW_AND_HELD
    + """
local spent_d = tonumber(redis.call('GET', KEYS[1]) or '0')
local spent_m = tonumber(redis.call('GET', KEYS[2]) or '0')
local res_d = held(KEYS[3], true)
local res_m = held(KEYS[4], true)
local n = tonumber(ARGV[1])
local lim_d = tonumber(ARGV[2])
local lim_m = tonumber(ARGV[3])
if lim_d >= 0 and spent_d + res_d + n > lim_d then return {1, spent_d + res_d} end
if lim_m >= 0 and spent_m + res_m + n > lim_m then return {2, spent_m + res_m} end
local member = ARGV[5] .. ':' .. ARGV[1]
local expires = now + tonumber(ARGV[4]) * 1000
redis.call('ZADD', KEYS[3], expires, member)
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('ZADD', KEYS[4], expires, member)
redis.call('EXPIRE', KEYS[4], ARGV[7])
return {0, 0}
"""
)

_SETTLE_LUA = """
if not redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('INCRBY', KEYS[1], n)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('INCRBY', KEYS[2], n)
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return 1
"""

_SPEND_LUA = (
    _NOW_AND_HELD
    + """
local spent_d = tonumber(redis.call('GET', KEYS[1]) or '0')
local spent_m = tonumber(redis.call('GET', KEYS[2]) or '0')
return {spent_d + held(KEYS[3], false), spent_m + held(KEYS[4], false)}
"""
)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class RedisBudgetStore:
    """The BudgetStore contract on a `redis.asyncio` client."""

    def __init__(
        self,
        client: Any,
        reservation_ttl_s: float = 900,
        prefix: str = "frugal:budget:",
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.r = client
        self.ttl = max(1, int(reservation_ttl_s))
        self.prefix = prefix
        self.wall = wall
        self._reserve = client.register_script(_RESERVE_LUA)
        self._settle = client.register_script(_SETTLE_LUA)
        self._spend = client.register_script(_SPEND_LUA)

    def _keys(self, tenant: str, day: str, month: str) -> list[str]:
        p = f"{self.prefix}{tenant}:"
        return [p + "spent:d:" + day, p + "spent:m:" + month, p + "holds:d:" + day, p + "holds:m:" + month]

    async def reserve(self, tenant: TenantInfo, amount: Decimal) -> Reservation:
        day, month = periods(self.wall())
        n = to_nano(amount)
        rid = uuid.uuid4().hex
        lim_d = to_nano(tenant.daily_budget_usd) if tenant.daily_budget_usd is not None else -1
        lim_m = to_nano(tenant.monthly_budget_usd) if tenant.monthly_budget_usd is not None else -1
        day_ttl, month_ttl = DAY_KEY_TTL_S + self.ttl, MONTH_KEY_TTL_S + self.ttl
        which, used = await self._reserve(
            keys=self._keys(tenant.name, day, month), args=[n, lim_d, lim_m, self.ttl, rid, day_ttl, month_ttl]
        )
        if int(which) == 1:
            raise exceeded(tenant, "daily", tenant.daily_budget_usd or Decimal(0), int(used), n)
        if int(which) == 2:
            raise exceeded(tenant, "monthly", tenant.monthly_budget_usd or Decimal(0), int(used), n)
        return Reservation(rid, tenant.name, day, month, n)

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        r = reservation
        keys = [*self._keys(r.tenant, r.day, r.month), f"{self.prefix}{r.tenant}:settled:{r.id}"]
        member = f"{r.id}:{r.amount_nano}"
        # Shielded so a cancelled caller still settles; the outcome is retrieved either way, since a
        # caller that stopped waiting (runtime/budget/guard.py) journals the settlement itself.
        task = asyncio.ensure_future(
            self._settle(keys=keys, args=[to_nano(actual), member, DAY_KEY_TTL_S, MONTH_KEY_TTL_S])
        )
        task.add_done_callback(_retrieve)
        await asyncio.shield(task)

    async def spend(self, tenant: str) -> Spend:
        day, month = periods(self.wall())
        d, m = await self._spend(keys=self._keys(tenant, day, month))
        return Spend(from_nano(int(d)), from_nano(int(m)))

    async def close(self) -> None:
        await self.r.aclose()
