"""Per-tenant daily and monthly USD budgets: atomic reservation before a call, settlement after.

`reserve` checks spent + open reservations + the new amount against each limit and records the
reservation atomically, so concurrent requests (in this process or in other workers sharing the
ledger) can never together pass a limit. `settle` replaces the reservation by the actual cost.
Spent money is written when settled, so a restart loses nothing.

Modules: `ledger` (the contract and the `reserved` scope every call goes through), `sqlite`
(one file, exclusive or shared), `redis_store` (Lua scripts on a shared Redis).
"""

from __future__ import annotations

from runtime.budget.ledger import BudgetStore, Hold, Reservation, Spend, remaining_usd, reserved
from runtime.budget.redis_store import RedisBudgetStore
from runtime.budget.sqlite import BudgetStoreBusy, ExclusiveSQLiteStore, SharedSQLiteStore

__all__ = [
    "BudgetStore",
    "BudgetStoreBusy",
    "ExclusiveSQLiteStore",
    "Hold",
    "RedisBudgetStore",
    "Reservation",
    "SharedSQLiteStore",
    "Spend",
    "remaining_usd",
    "reserved",
]
