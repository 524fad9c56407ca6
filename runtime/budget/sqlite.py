"""The ledger in one SQLite file (WAL), in two classes by who else uses the file.

- ExclusiveSQLiteStore: this process is the file's only user (SQLite's EXCLUSIVE locking mode makes
  a second process fail to open it, loudly). Spend and reservations live in memory, which is the
  authority while the process runs: the check plus the hold run without an await between them, so
  on one event loop they are atomic. Each settlement updates memory at once and queues its addition
  to the day and month rows; every FLUSH_DELAY_S the ledger's thread writes everything queued in
  one transaction (group commit), so the event loop never waits for the disk. `close()` (the app's
  shutdown) writes what is still queued. A crash loses only settlements still queued (at most
  the last FLUSH_DELAY_S plus one write); an await per settlement would keep even those but cost
  each request a thread round trip (measured: bench/router_overhead.py, docs/benchmarks.md). Open
  reservations die with the process, which is right: they were never spent.
- SharedSQLiteStore: several router processes use the file; reserve and settle are `BEGIN IMMEDIATE`
  transactions holding SQLite's write lock, with reservations in a table (they expire after
  `reservation_ttl_s` if a process died mid-call).

Every SQLite call runs on the store's own single thread (a one-worker executor): the event loop
never blocks on the disk or on another process's lock, and the connection is used by one thread at
a time, in order. Shared-mode writes are shielded from cancellation: a request cancelled while its
settlement is queued still has it written.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from runtime.auth import TenantInfo
from runtime.budget.ledger import PeriodClock, Reservation, Spend, check_limits, from_nano, to_nano

T = TypeVar("T")
log = logging.getLogger(__name__)
FLUSH_DELAY_S = 0.005
"""How long settlements gather before one transaction writes them (exclusive mode): waking the
ledger's thread per settlement measured slower than the request itself on a busy host."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    tenant TEXT NOT NULL, period TEXT NOT NULL, nano INTEGER NOT NULL,
    PRIMARY KEY (tenant, period));
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, day TEXT NOT NULL, month TEXT NOT NULL,
    nano INTEGER NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS reservations_tenant ON reservations (tenant, month);
CREATE INDEX IF NOT EXISTS reservations_expires ON reservations (expires);
CREATE TABLE IF NOT EXISTS settled (id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
"""
JOURNAL_ROTATE_BYTES = 1 << 20
"""A journal file is retired once this big; it is deleted when the write after that commits."""
SETTLED_KEEP_S = 3 * 86400
"""How long a settlement's id is remembered, so a retried settlement is counted once."""
_ADD = "INSERT INTO spend VALUES (?,?,?),(?,?,?) ON CONFLICT(tenant, period) DO UPDATE SET nano = nano + excluded.nano"
_ADD_ONE = "INSERT INTO spend VALUES (?,?,?) ON CONFLICT(tenant, period) DO UPDATE SET nano = nano + excluded.nano"
_SPENT = "SELECT nano FROM spend WHERE tenant=? AND period=?"


class BudgetStoreBusy(RuntimeError):
    """The SQLite ledger is held by another process (exclusive mode)."""


class _SQLiteFile:
    """One connection, one thread. Opening blocks (it runs before the app serves)."""

    def __init__(self, path: Path, *, exclusive: bool, wall: Callable[[], float]) -> None:
        self.path = path
        self.wall = wall
        self._periods = PeriodClock(wall)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="frugal-ledger")
        self.db = self._pool.submit(self._open, path, exclusive).result()

    @staticmethod
    def _open(path: Path, exclusive: bool) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, or the BEGIN IMMEDIATE issued explicitly.
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout={1000 if exclusive else 5000}")
        try:
            if exclusive:
                db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.OperationalError as exc:
            db.close()
            raise BudgetStoreBusy(
                f"budget ledger {path} is in use by another process ({exc}); fix: give each router its own "
                "budget.sqlite_path, set budget.shared: true for several router processes on one host, "
                "or use budget.backend: redis"
            ) from exc
        return db

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _write(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.shield(asyncio.get_running_loop().run_in_executor(self._pool, fn, *args))

    def _spent_row(self, tenant: str, period: str) -> int:
        row = self.db.execute(_SPENT, (tenant, period)).fetchone()
        return int(row[0]) if row else 0

    async def close(self) -> None:
        await self._run(self.db.close)
        self._pool.shutdown(wait=False)


class ExclusiveSQLiteStore(_SQLiteFile):
    """The only process on the file: holds in memory, settlements written through (see the module)."""

    def __init__(self, path: Path, *, wall: Callable[[], float] = time.time) -> None:
        super().__init__(path, exclusive=True, wall=wall)
        self._spent: dict[tuple[str, str], int] = {}
        """Spent per (tenant, period) as read from or written to disk."""
        self._held: dict[tuple[str, str], int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._queued: dict[tuple[str, str], int] = {}
        """Additions settled in memory, not yet written; swapped out whole by the ledger's thread."""
        self._flush_pending = False
        self._closed = False
        self._seq = self._pool.submit(self._recover).result()
        """Sequence number of the last journalled settlement (the journal's records are numbered)."""
        self._queued_seq = 0
        self._journal_no = 0
        self._journal_fd, self._journal_bytes = self._open_journal()
        self._retired: list[tuple[int, Path]] = []

    def _journal_path(self, no: int) -> Path:
        return self.path.with_name(f"{self.path.name}.journal.{no}")

    def _open_journal(self) -> tuple[int, int]:
        self._journal_no += 1
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        return os.open(self._journal_path(self._journal_no), flags, 0o600), 0

    def _recover(self) -> int:
        """On the ledger's thread, at open: apply the journalled settlements a crash kept from the file
        (records numbered after the last committed one), then delete the journal files."""
        row = self.db.execute("SELECT v FROM meta WHERE k='applied_seq'").fetchone()
        applied = int(row[0]) if row else 0
        files = sorted(self.path.parent.glob(self.path.name + ".journal.*"))
        top = applied
        adds: dict[tuple[str, str], int] = {}
        for f in files:
            for line in f.read_bytes().split(b"\n"):
                fields = line.split(b"\t")
                if len(fields) != 5:
                    continue  # a record torn by the crash was never acknowledged
                seq, tenant, day, month, n = int(fields[0]), fields[1].decode(), fields[2], fields[3], int(fields[4])
                if seq <= applied:
                    continue
                top = max(top, seq)
                for period in ("d:" + day.decode(), "m:" + month.decode()):
                    adds[(tenant, period)] = adds.get((tenant, period), 0) + n
        if adds:
            log.warning("budget ledger %s: recovered %d settlements from the journal", self.path, top - applied)
        self._commit(adds, top)
        for f in files:
            f.unlink()
        return top

    def _commit(self, batch: dict[tuple[str, str], int], seq: int) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(_ADD_ONE, [(tenant, period, n) for (tenant, period), n in batch.items()])
        self.db.execute(
            "INSERT INTO meta VALUES ('applied_seq', ?) ON CONFLICT(k) DO UPDATE SET v = MAX(v, excluded.v)", (seq,)
        )
        self.db.execute("COMMIT")

    async def _load(self, tenant: str, day: str, month: str) -> None:
        for period in ("d:" + day, "m:" + month):
            if (tenant, period) not in self._spent:
                value = await self._run(self._spent_row, tenant, period)
                # setdefault: a settlement that ran while this read waited already holds the newer sum.
                self._spent.setdefault((tenant, period), value)

    def _used(self, tenant: str, day: str, month: str) -> tuple[int, int]:
        d, m = (tenant, "d:" + day), (tenant, "m:" + month)
        return self._spent[d] + self._held.get(d, 0), self._spent[m] + self._held.get(m, 0)

    async def reserve(self, tenant: TenantInfo, amount: Decimal) -> Reservation:
        day, month = self._periods.now()
        if (tenant.name, "m:" + month) not in self._spent or (tenant.name, "d:" + day) not in self._spent:
            await self._load(tenant.name, day, month)
        n = to_nano(amount)
        # No await between the check and the hold: atomic on the event loop.
        check_limits(tenant, *self._used(tenant.name, day, month), n)
        for period in ("d:" + day, "m:" + month):
            self._held[(tenant.name, period)] = self._held.get((tenant.name, period), 0) + n
        return Reservation(str(next(self._ids)), tenant.name, day, month, n)

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        n = to_nano(actual)
        r = reservation
        d, m = "d:" + r.day, "m:" + r.month
        for period in (d, m):
            key = (r.tenant, period)
            self._held[key] -= r.amount_nano
            if n:
                self._spent[key] += n
        if n:
            with self._lock:
                # The journal makes the settlement survive a crash before the group commit: one
                # append (no fsync: the page cache outlives the process, as SQLite's WAL does with
                # synchronous=NORMAL), written before the answer's last bytes leave.
                self._seq += 1
                record = f"{self._seq}\t{r.tenant}\t{r.day}\t{r.month}\t{n}\n".encode()
                os.write(self._journal_fd, record)
                self._journal_bytes += len(record)
                if self._journal_bytes >= JOURNAL_ROTATE_BYTES:
                    self._retired.append((self._journal_fd, self._journal_path(self._journal_no)))
                    self._journal_fd, self._journal_bytes = self._open_journal()
                self._queued_seq = self._seq
                for period in (d, m):
                    self._queued[(r.tenant, period)] = self._queued.get((r.tenant, period), 0) + n
                start = not self._flush_pending
                self._flush_pending = True
            if start:
                asyncio.get_running_loop().call_later(FLUSH_DELAY_S, self._submit_flush)

    def _submit_flush(self) -> None:
        if not self._closed:  # close() writes what is queued itself
            self._pool.submit(self._flush)

    def _flush(self) -> None:
        """On the ledger's thread: write every queued addition in one transaction."""
        with self._lock:
            batch, self._queued = self._queued, {}
            seq, retired, self._retired = self._queued_seq, self._retired, []
            self._flush_pending = False
        if not batch:
            return
        try:
            self._commit(batch, seq)
            for fd, path in retired:  # every record in them was queued before this batch was taken
                os.close(fd)
                path.unlink(missing_ok=True)
        except sqlite3.Error:
            log.exception(
                "budget ledger %s: writing %d settlements failed; kept for the next write", self.path, len(batch)
            )
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            with self._lock:
                for key, n in batch.items():
                    self._queued[key] = self._queued.get(key, 0) + n
                self._retired = retired + self._retired

    async def close(self) -> None:
        self._closed = True
        await self._run(self._flush)
        with self._lock:
            clean = not self._queued
            os.close(self._journal_fd)
        if clean:  # everything journalled is in the file
            for no in range(1, self._journal_no + 1):
                self._journal_path(no).unlink(missing_ok=True)
        await super().close()

    async def spend(self, tenant: str) -> Spend:
        day, month = self._periods.now()
        await self._load(tenant, day, month)
        used_d, used_m = self._used(tenant, day, month)
        return Spend(from_nano(used_d), from_nano(used_m))


class SharedSQLiteStore(_SQLiteFile):
    """Several processes on one file: every reserve and settle is one write transaction."""

    def __init__(self, path: Path, reservation_ttl_s: float = 900, *, wall: Callable[[], float] = time.time) -> None:
        super().__init__(path, exclusive=False, wall=wall)
        self.ttl = reservation_ttl_s
        self._settle_count = itertools.count(1)

    def _used(self, tenant: str, day: str, month: str, now: float) -> tuple[int, int]:
        # Expired holds never count, whether or not a reservation has purged them yet.
        res = self.db.execute(
            "SELECT COALESCE(SUM(CASE WHEN day=? THEN nano END), 0), COALESCE(SUM(nano), 0) "
            "FROM reservations WHERE tenant=? AND month=? AND expires >= ?",
            (day, tenant, month, now),
        ).fetchone()
        return self._spent_row(tenant, "d:" + day) + res[0], self._spent_row(tenant, "m:" + month) + res[1]

    def _transaction(self, body: Callable[[], None]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            body()
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _reserve(self, tenant: TenantInfo, r: Reservation, now: float) -> None:
        def body() -> None:
            self.db.execute("DELETE FROM reservations WHERE expires < ?", (now,))
            check_limits(tenant, *self._used(tenant.name, r.day, r.month, now), r.amount_nano)
            self.db.execute(
                "INSERT INTO reservations VALUES (?,?,?,?,?,?)",
                (r.id, r.tenant, r.day, r.month, r.amount_nano, now + self.ttl),
            )

        self._transaction(body)

    async def reserve(self, tenant: TenantInfo, amount: Decimal) -> Reservation:
        day, month = self._periods.now()
        r = Reservation(uuid.uuid4().hex, tenant.name, day, month, to_nano(amount))
        await self._run(self._reserve, tenant, r, self.wall())
        return r

    def _settle(self, r: Reservation, n: int, now: float) -> None:
        def body() -> None:
            # Idempotent: a settlement retried after a timeout (runtime/budget/guard.py) counts once.
            if self.db.execute("INSERT OR IGNORE INTO settled VALUES (?, ?)", (r.id, now)).rowcount == 0:
                return
            self.db.execute("DELETE FROM reservations WHERE id=?", (r.id,))
            if n:
                self.db.execute(_ADD, (r.tenant, "d:" + r.day, n, r.tenant, "m:" + r.month, n))
            if next(self._settle_count) % 1000 == 0:
                self.db.execute("DELETE FROM settled WHERE at < ?", (now - SETTLED_KEEP_S,))

        self._transaction(body)

    async def settle(self, reservation: Reservation, actual: Decimal) -> None:
        await self._write(self._settle, reservation, to_nano(actual), self.wall())

    async def spend(self, tenant: str) -> Spend:
        day, month = self._periods.now()
        used_d, used_m = await self._run(self._used, tenant, day, month, self.wall())
        return Spend(from_nano(used_d), from_nano(used_m))
