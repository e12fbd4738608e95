"""Group commit for the SQLite store's one write connection.

Writes are jobs (a function of the connection). Jobs submitted while a group is being
committed wait and form the next group: one transaction, one COMMIT (one fsync) for all.

Where each step runs, and why:
- the statements of a group run on the event loop that submitted the jobs. Every SQLite call
  releases the GIL; a thread running them has to win the GIL back from the busy event loop
  after each statement, which made a group's statements take ~10x their CPU time under load
  (bench/README.md). On the loop they cost their CPU time only (tens of microseconds a job),
  like the store's reads, which already run there;
- BEGIN IMMEDIATE is tried on the loop without waiting (busy_timeout 0); when another process
  holds the write lock, the group is handed to the thread, which waits for the lock there;
- COMMIT (the fsync) runs in the writer thread, so the loop serves requests meanwhile;
- a job submitted `in_thread` (one that may run long, like deleting a distribution with all
  its invalidations: 100,000 of them stalled the loop for 0.43 s) takes its group to the
  thread, whose statements release the GIL while SQLite works.

A job that raises before writing anything (a refused create, a missing distribution) leaves
nothing to undo. When a job raises after it wrote, the transaction is rolled back and the
whole group run again with one SAVEPOINT per job, so the failed job's writes are undone alone.
Callers' futures are settled after COMMIT only: nothing is acknowledged before it is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from invalidator.domain.errors import ServiceUnavailable

T = TypeVar("T")
log = logging.getLogger("invalidator.store")
MAX_GROUP = 256
_LOCK_RETRY = 0.001  # seconds before a loop tries again for a connection another loop holds
_Job = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", bool]  # bool: in_thread
_Outcome = tuple[bool, Any]


@dataclass
class _LoopQueue:
    """The jobs of one event loop that have not started, and whether a group is under way."""

    loop: asyncio.AbstractEventLoop
    pending: list[_Job] = field(default_factory=list)
    busy: bool = False  # a group of this loop is queued, or between BEGIN and its settling
    drained: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass
class _Work:
    """What the thread is asked to do for a group: COMMIT (`outcomes` known), or all of it."""

    queue: _LoopQueue
    group: list[_Job]
    outcomes: list[_Outcome] | None


class GroupCommitWriter:
    """The single writer of one connection (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
        self._conn = conn
        self._busy_timeout_ms = busy_timeout_ms
        conn.execute("PRAGMA busy_timeout = 0")  # the loop never waits for the lock
        self._conn_lock = threading.Lock()  # held from BEGIN to the end of COMMIT
        self._queues: dict[asyncio.AbstractEventLoop, _LoopQueue] = {}
        self._stopped = False
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._failures = _FailureLog()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    # -- the loop's side ------------------------------------------------------------------

    def submit(
        self, job: Callable[[sqlite3.Connection], T], *, in_thread: bool = False
    ) -> asyncio.Future[T]:
        """Queue `job`; the future resolves once its group has committed. `in_thread`: the
        job may run long (a delete cascading over many rows), so its group runs in the thread
        and the loop goes on serving meanwhile."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._stopped:
            future.set_exception(ServiceUnavailable())
            return future
        lq = self._queues.get(loop)
        if lq is None:
            lq = self._queues[loop] = _LoopQueue(loop)
        lq.pending.append((job, future, in_thread))
        if not lq.busy:  # else the running group's end starts the next one
            lq.busy = True
            loop.call_soon(self._start, lq)  # jobs submitted in this loop pass join the group
        return future

    async def drain(self) -> None:
        """Wait until every job this loop submitted is settled."""
        lq = self._queues.get(asyncio.get_running_loop())
        if lq is not None:
            waiter = lq.loop.create_future()
            lq.drained.append(waiter)
            await waiter

    def stop(self) -> None:
        """Finish the thread's work and close the connection (after `drain`); later jobs fail
        with ServiceUnavailable."""
        self._stopped = True
        with self._conn_lock:  # a group under way queues its COMMIT before the stop
            self._work.put(None)
        self._thread.join()

    def _start(self, lq: _LoopQueue) -> None:
        if not lq.pending:
            self._idle(lq)
            return
        if not self._conn_lock.acquire(blocking=False):  # another loop's group, or stop()
            lq.loop.call_later(_LOCK_RETRY, self._start, lq)
            return
        # From here the lock is ours until the group's COMMIT ended: released by the thread,
        # or here when the group fails on the loop.
        if self._stopped:  # submitted before, started after the stop: nothing will run them
            self._conn_lock.release()
            group, lq.pending = lq.pending, []
            self._finish(lq, group, [(False, ServiceUnavailable())] * len(group))
            return
        group, lq.pending = lq.pending[:MAX_GROUP], lq.pending[MAX_GROUP:]
        if any(in_thread for _, _, in_thread in group):
            self._work.put(_Work(lq, group, None))
            return
        try:
            self._begin()
            outcomes = self._run_group(group)
        except _Busy:  # another process writes: wait for it in the thread
            self._rollback()
            self._work.put(_Work(lq, group, None))
            return
        except BaseException as exc:  # the group's callers are answered, the writer goes on
            self._rollback()
            self._conn_lock.release()
            self._finish(lq, group, self._failed(group, exc))
            if not isinstance(exc, sqlite3.Error):  # not the database's: the loop hears of it
                raise
            return
        self._work.put(_Work(lq, group, outcomes))

    def _finish(self, lq: _LoopQueue, group: list[_Job], outcomes: list[_Outcome]) -> None:
        try:
            for (_, future, _), (ok, value) in zip(group, outcomes, strict=True):
                if future.done():  # the caller stopped waiting
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        finally:
            self._start(lq)

    def _idle(self, lq: _LoopQueue) -> None:
        lq.busy = False
        self._queues.pop(lq.loop, None)  # no reference to a loop that may end
        for waiter in lq.drained:
            if not waiter.done():
                waiter.set_result(None)

    # -- the thread's side ----------------------------------------------------------------

    def _run(self) -> None:
        while (work := self._work.get()) is not None:
            try:
                if work.outcomes is None:
                    outcomes = self._whole_group(work.group)
                else:
                    outcomes = self._commit(work.group, work.outcomes)
            except BaseException as exc:  # the thread must outlive any job
                outcomes = self._failed(work.group, exc)
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                work.queue.loop.call_soon_threadsafe(self._finish, work.queue, work.group, outcomes)
        self._conn.close()

    def _commit(self, group: list[_Job], outcomes: list[_Outcome]) -> list[_Outcome]:
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            return self._failed(group, exc)
        finally:
            self._conn_lock.release()
        return outcomes

    def _whole_group(self, group: list[_Job]) -> list[_Outcome]:
        """BEGIN (waiting up to the busy timeout), the jobs and COMMIT, all in this thread;
        the connection's lock was handed over with the group."""
        conn = self._conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            self._begin()
            outcomes = self._run_group(group)
            conn.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            return self._failed(group, exc)
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA busy_timeout = 0")
            self._conn_lock.release()
        return outcomes

    # -- either side, holding the connection ----------------------------------------------

    def _run_group(self, group: list[_Job]) -> list[_Outcome]:
        """Inside BEGIN: every job's outcome (with savepoints when a job failed after writing)."""
        outcomes = self._run_jobs(group, savepoints=False)
        if outcomes is None:
            self._conn.execute("ROLLBACK")
            self._begin()  # another process may take the lock in between
            outcomes = self._run_jobs(group, savepoints=True)
            assert outcomes is not None
        return outcomes

    def _run_jobs(self, group: list[_Job], *, savepoints: bool) -> list[_Outcome] | None:
        """Each job's outcome; None when (without savepoints) a job raised after writing."""
        conn = self._conn
        outcomes: list[_Outcome] = []
        for job, _, _ in group:
            if savepoints:
                conn.execute("SAVEPOINT job")
            changes = conn.total_changes
            try:
                outcome: _Outcome = (True, job(conn))
            except StopIteration as exc:  # a future cannot carry it
                outcome = (False, RuntimeError(f"a store job raised {exc!r}"))
            except Exception as exc:  # a refused write rolls back alone
                outcome = (False, exc)
            if not conn.in_transaction:  # SQLite rolled it all back (disk full, I/O error):
                # the rest of the group must not run in autocommit; the group fails
                cause = f": {outcome[1]}" if not outcome[0] else ""
                raise sqlite3.OperationalError(
                    f"the group's transaction was rolled back by SQLite{cause}"
                )
            if savepoints:
                if not outcome[0]:
                    conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            elif not outcome[0] and conn.total_changes != changes:
                return None
            outcomes.append(outcome)
        return outcomes

    def _failed(self, group: list[_Job], exc: BaseException) -> list[_Outcome]:
        """Every job of a group that could not commit: ServiceUnavailable, caused by `exc`
        (logged: the callers only see a 503, the operator must learn why, e.g. a full disk)."""
        self._failures.note(exc, len(group))
        failure = ServiceUnavailable()
        failure.__cause__ = exc
        return [(False, failure)] * len(group)

    def _begin(self) -> None:
        """BEGIN IMMEDIATE; `_Busy` when another connection holds the write lock (on the
        loop, where the busy timeout is 0)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise _Busy() from exc
            raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")


class _Busy(sqlite3.OperationalError):
    """Another connection holds the database's write lock."""


class _FailureLog:
    """Logs store write failures at most once a second, with how many writes failed since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the loop and the writer thread both note failures
        self._logged_at = 0.0
        self._unlogged = 0

    def note(self, exc: BaseException, writes: int) -> None:
        with self._lock:
            self._unlogged += writes
            now = time.monotonic()
            if now - self._logged_at < 1.0:
                return
            failed, self._unlogged, self._logged_at = self._unlogged, 0, now
        log.error(
            "store writes failed: answered 503",
            extra={"error": f"{type(exc).__name__}: {exc}"[:300], "writes_failed": failed},
        )
