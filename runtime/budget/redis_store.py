"""The ledger on Redis: Lua scripts do the check-and-reserve and the settlement atomically on the
server, so any number of router processes share one budget. An unsettled reservation stays counted
until its period key expires (two days, or two months for the monthly key)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from runtime.auth import TenantInfo
from runtime.budget.ledger import Reservation, Spend, exceeded, from_nano, periods, to_nano

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
        self.ttl = int(reservation_ttl_s)
        self.prefix = prefix
        self.wall = wall
        self._reserve = client.register_script(_RESERVE_LUA)
        self._settle = client.register_script(_SETTLE_LUA)

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
        day, month = periods(self.wall())
        n = to_nano(amount)
        rid = uuid.uuid4().hex
        lim_d = to_nano(tenant.daily_budget_usd) if tenant.daily_budget_usd is not None else -1
        lim_m = to_nano(tenant.monthly_budget_usd) if tenant.monthly_budget_usd is not None else -1
        which, used = await self._reserve(
            keys=self._keys(tenant.name, day, month, rid), args=[n, lim_d, lim_m, self.ttl]
        )
        if int(which) == 1:
            raise exceeded(tenant, "daily", tenant.daily_budget_usd or Decimal(0), int(used), n)
        if int(which) == 2:
            raise exceeded(tenant, "monthly", tenant.monthly_budget_usd or Decimal(0), int(used), n)
        return Reservation(rid, tenant.name, day, month, n)

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        r = reservation
        await asyncio.shield(self._settle(keys=self._keys(r.tenant, r.day, r.month, r.id), args=[to_nano(actual)]))

    async def spend(self, tenant: str) -> Spend:
        day, month = periods(self.wall())
        keys = self._keys(tenant, day, month, "-")[:4]
        values = [int(v or 0) for v in await self.r.mget(keys)]
        return Spend(from_nano(values[0] + values[2]), from_nano(values[1] + values[3]))

    async def close(self) -> None:
        await self.r.aclose()
