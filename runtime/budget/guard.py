"""A ledger that may be unreachable (Redis, a shared SQLite file), made to degrade honestly.

Policy when the ledger cannot be reached: **fail closed**. A reservation (or the spend read that
routing does first) that fails or takes longer than `call_timeout_s` is a 503
`budget_ledger_unavailable` with `Retry-After`, and for `unavailable_retry_s` afterwards requests of
tenants with a budget get that answer at once instead of each waiting out the timeout. Tenants
without a budget and cache hits never touch the ledger and are served as usual.

Why not fail open with a local allowance: a budget is a promise that spend never passes a limit,
and N router pods each granting an allowance the others cannot see overspend by N x the allowance
for as long as the ledger is down, which is exactly when nobody can see the spend. A short 503 that
says when to retry is visible and honest; an overspend found at reconciliation is neither.

No unbilled answer: a settlement that fails (the answer was already generated) is written to a
local journal (SQLite, `synchronous=FULL`) before the call returns, and replayed until the ledger
accepts it; the stores' settlements are idempotent by reservation id, so a replay after a
settlement that did land (a timeout on the way back) counts once. While a tenant has a settlement
in the journal, its new reservations are refused (503) unless the replay gets through first: its
spend is not yet where the limit check can see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from runtime.auth import TenantInfo
from runtime.budget.ledger import BudgetStore, Reservation, Spend, from_nano, to_nano
from runtime.errors import BudgetExceeded, LedgerUnavailable

log = logging.getLogger(__name__)

_JOURNAL = """
CREATE TABLE IF NOT EXISTS pending (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, day TEXT NOT NULL, month TEXT NOT NULL,
    reserved_nano INTEGER NOT NULL, actual_nano INTEGER NOT NULL);
"""


class SettlementJournal:
    """Settlements the ledger did not take yet, on local disk, one thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="frugal-journal")
        self.db = self._pool.submit(self._open).result()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_JOURNAL)
        return db

    async def _run(self, fn: Callable[[], object]) -> object:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def add(self, r: Reservation, actual_nano: int) -> None:
        def write() -> None:
            self.db.execute(
                "INSERT OR REPLACE INTO pending VALUES (?,?,?,?,?,?)",
                (r.id, r.tenant, r.day, r.month, r.amount_nano, actual_nano),
            )

        await asyncio.shield(self._run(write))

    async def all(self) -> list[tuple[Reservation, int]]:
        def read() -> list[tuple[str, str, str, str, int, int]]:
            return list(self.db.execute("SELECT * FROM pending"))

        rows = await self._run(read)
        assert isinstance(rows, list), "rows"
        return [(Reservation(i, t, d, m, rn), an) for i, t, d, m, rn, an in rows]

    async def remove(self, rid: str) -> None:
        await asyncio.shield(self._run(lambda: self.db.execute("DELETE FROM pending WHERE id=?", (rid,))))

    async def close(self) -> None:
        await self._run(self.db.close)
        self._pool.shutdown(wait=False)


class GuardedLedger:
    """Bounded time on every call of `store`, fail-closed reservations, journalled settlements."""

    def __init__(
        self,
        store: BudgetStore,
        journal: SettlementJournal,
        *,
        call_timeout_s: float,
        retry_s: float,
        on_error: Callable[[str], None] = lambda op: None,
        on_pending: Callable[[int], None] = lambda n: None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.journal = journal
        self.timeout = call_timeout_s
        self.retry_s = retry_s
        self.on_error = on_error
        self.on_pending = on_pending
        self.monotonic = monotonic
        self._down_until = 0.0
        self._pending: dict[str, int] = {}
        """Journalled settlements per tenant."""
        self._replayer: asyncio.Task[None] | None = None
        self._replaying = asyncio.Lock()

    async def start(self) -> None:
        for r, _ in await self.journal.all():
            self._pending[r.tenant] = self._pending.get(r.tenant, 0) + 1
        self.on_pending(sum(self._pending.values()))
        self._replayer = asyncio.create_task(self._replay_forever())

    def _unavailable(self, why: str) -> LedgerUnavailable:
        wait = max(self._down_until - self.monotonic(), 1.0)
        err = LedgerUnavailable(
            f"the budget ledger is unreachable ({why}); requests of tenants with a budget are refused "
            "until it answers, so no budget can be overspent; retry after the Retry-After delay"
        )
        err.retry_after_s = math.ceil(wait)
        return err

    def _failed(self, op: str, exc: BaseException) -> LedgerUnavailable:
        self._down_until = self.monotonic() + self.retry_s
        self.on_error(op)
        what = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        log.warning("budget ledger %s failed: %s", op, what)
        return self._unavailable(what)

    async def reserve(self, tenant: TenantInfo, amount: Decimal) -> Reservation:
        if self.monotonic() < self._down_until:
            raise self._unavailable("it failed moments ago")
        if self._pending.get(tenant.name):
            await self.replay()
            if self._pending.get(tenant.name):
                raise self._unavailable("this tenant has settlements it has not recorded yet")
        try:
            async with asyncio.timeout(self.timeout):
                return await self.store.reserve(tenant, amount)
        except BudgetExceeded:
            raise
        except Exception as exc:
            raise self._failed("reserve", exc) from None

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        # Shielded whole: a request cancelled while its settlement waits still gets it recorded.
        await asyncio.shield(self._settle(reservation, actual))

    async def _settle(self, reservation: Reservation, actual: Decimal) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.store.settle(reservation, actual)
            return
        except Exception as exc:
            self._failed("settle", exc)
        await self.journal.add(reservation, to_nano(actual))
        self._pending[reservation.tenant] = self._pending.get(reservation.tenant, 0) + 1
        self.on_pending(sum(self._pending.values()))
        log.warning("budget ledger: settlement of $%s for tenant %r journalled for replay", actual, reservation.tenant)

    async def spend(self, tenant: str) -> Spend:
        if self.monotonic() < self._down_until:
            raise self._unavailable("it failed moments ago")
        try:
            async with asyncio.timeout(self.timeout):
                return await self.store.spend(tenant)
        except Exception as exc:
            raise self._failed("spend", exc) from None

    async def replay(self) -> int:
        """Settle what the journal holds; returns how many are still pending."""
        async with self._replaying:
            if not self._pending:
                return 0
            for r, actual in await self.journal.all():
                try:
                    async with asyncio.timeout(self.timeout):
                        await self.store.settle(r, from_nano(actual))
                except Exception as exc:
                    self._failed("replay", exc)
                    break
                await self.journal.remove(r.id)
                left = self._pending.get(r.tenant, 1) - 1
                if left:
                    self._pending[r.tenant] = left
                else:
                    self._pending.pop(r.tenant, None)
            self.on_pending(sum(self._pending.values()))
            return sum(self._pending.values())

    async def _replay_forever(self) -> None:
        while True:
            await asyncio.sleep(self.retry_s)
            if self._pending and self.monotonic() >= self._down_until:
                await self.replay()

    async def close(self) -> None:
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
        if self._pending:
            left = await self.replay()
            if left:
                log.warning("budget ledger: %d settlements stay journalled for the next start", left)
        await self.journal.close()
        await self.store.close()
