"""The audit store: append-only rows in SQLite (one instance, the default) or PostgreSQL (several instances).

A row is one AuditEvent. Its content (the AuditEvent, the decision document, the token) is sealed with
AES-GCM (:mod:`attest.audit.sealing`) and stored with the key id; only what follow-up control must search
on is stored in clear, and none of it is a national identity number:

========================  ===============================================================================
``seq``                   insertion order (cursor for paging)
``id``                    the AuditEvent id (uuid)
``verification_id``       groups the events of one verification (one per patient)
``recorded_ms``           unix milliseconds
``decision``, ``outcome``  ``permit``/``deny``; FHIR outcome ``0``/``4``/``8``
``codes``                 the error codes, space-separated (stable codes of the error table only)
``issuer``                the trust-store issuer whose key verified the token (NULL on a token-level deny)
``legal_entity``          the organisation number (9 digits) of ``practitioner.legal_entity``
``practitioner_hpr``      the HPR number (1-9 digits) — a register number, not an identity number
``practitioner_ref``      HMAC of the practitioner's F/D-number (never stored in clear)
``patient_ref``           HMAC of the patient identifier (lookups for follow-up control and the citizen log)
``key_id``, ``sealed``    at-rest key id and the sealed payload
``instance``              the service instance that wrote the row
========================  ===============================================================================

Append-only is enforced by the database as well: triggers refuse UPDATE, DELETE (and TRUNCATE on
PostgreSQL). Every failure to reach or use the database raises
:class:`~attest.errors.DependencyUnavailable` (the service answers 503 and gives no decision). Connections
are pooled (a small, bounded pool per process, for searches and blocking writes); a connection that broke
(database restarted) is dropped and the call retried once on a fresh connection, so the service recovers
without a restart. Inserts are idempotent on ``id``, so that retry cannot duplicate a row.

Writes are group-committed (:meth:`SQLAuditStore.append_async`): an event loop keeps its requests' rows and
has one batch at a time written, one statement and one transaction per batch; the rows that arrive meanwhile
are the next batch. SQLite writes on a writer thread; PostgreSQL on the loop itself, on the loop's own
connection (no thread hand-over per step of the call).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from ..errors import ConfigurationError, DependencyUnavailable

T = TypeVar("T")

COLUMNS = ("id", "verification_id", "recorded_ms", "decision", "outcome", "codes", "issuer", "legal_entity",
           "practitioner_hpr", "practitioner_ref", "patient_ref", "key_id", "sealed", "instance")


@dataclass(frozen=True)
class AuditRow:
    id: str
    verification_id: str
    recorded_ms: int
    decision: str
    outcome: str
    codes: str
    issuer: str | None
    legal_entity: str | None
    practitioner_hpr: str | None
    practitioner_ref: str | None
    patient_ref: str | None
    key_id: str
    sealed: bytes
    instance: str | None = None
    seq: int | None = None

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in COLUMNS)


@dataclass(frozen=True)
class AuditQuery:
    """Filters (all optional, combined with AND). ``*_refs`` match any of the given keyed hashes (one per
    key of the ring). Results are newest first; ``before_seq`` pages on."""

    patient_refs: tuple[str, ...] = ()
    practitioner_refs: tuple[str, ...] = ()
    practitioner_hpr: str | None = None
    legal_entity: str | None = None
    issuer: str | None = None
    decision: str | None = None
    code: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    before_seq: int | None = None
    limit: int = 100


class AuditStore(Protocol):
    url_for_logs: str

    def append(self, rows: Sequence[AuditRow]) -> None:
        """Commit ``rows`` in one transaction before returning (raises DependencyUnavailable)."""
        ...

    async def append_async(self, rows: Sequence[AuditRow]) -> None:
        """As ``append``, awaited on an event loop without holding a thread."""
        ...

    def search(self, query: AuditQuery) -> list[AuditRow]: ...

    def ping(self) -> bool: ...

    def close(self, timeout: float = 30.0) -> None:
        """Wait for writes in flight (at most ``timeout`` s), then close every connection."""
        ...


class _Dialect(Protocol):
    placeholder: str
    errors: tuple[type[BaseException], ...]

    def connect(self) -> Any: ...

    def ensure_schema(self, conn: Any) -> None: ...

    def insert(self, conn: Any, rows: Sequence[AuditRow]) -> None: ...

    def select(self, conn: Any, sql: str, params: list[Any]) -> list[tuple[Any, ...]]: ...

    def ping(self, conn: Any) -> None: ...


class _Job:
    """Rows for the writer thread (one commit, possibly shared with other jobs) and how their write ended:
    ``finish`` is called on the writer thread with None or the error."""

    __slots__ = ("finish", "rows")

    def __init__(self, rows: Sequence[AuditRow], finish: Callable[[DependencyUnavailable | None], None]) -> None:
        self.rows = rows
        self.finish = finish


class _Flight:
    """A batch with the writer: the requests waiting for it, its backstop timer, whether it is settled."""

    __slots__ = ("futures", "settled", "timer")

    def __init__(self, futures: list[asyncio.Future[None]]) -> None:
        self.futures = futures
        self.timer: asyncio.TimerHandle | None = None
        self.settled = False


class _LoopBatch:
    """The group commit of one event loop, kept on that loop (no lock, no thread hand-over per request):
    rows of concurrent requests wait in ``pending``; one batch at a time is with the writer thread, and what
    arrives meanwhile goes into the next one. The writer answers once per batch (one wake-up of the loop),
    and the loop resolves every waiting request of the batch."""

    __slots__ = ("conn", "flush_handle", "inflight", "loop", "pending", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[tuple[Sequence[AuditRow], asyncio.Future[None], float]] = []
        self.inflight = False
        self.flush_handle: asyncio.Handle | None = None
        #: a dialect that can (PostgreSQL): this loop's own connection, and the commit running on it
        self.conn: Any = None
        self.task: asyncio.Task[None] | None = None


class SQLAuditStore:
    """The store over a dialect (SQLite or PostgreSQL) with a small bounded connection pool."""

    def __init__(self, dialect: _Dialect, *, pool_size: int = 4, acquire_timeout: float = 10.0,
                 url_for_logs: str = "", group_commit: bool = True, max_batch_rows: int = 512,
                 commit_wait: float = 0.0) -> None:
        self._d = dialect
        # group commit: appends from concurrent requests are written together, one transaction per batch and
        # one batch in flight per event loop (what arrives meanwhile is the next batch); each caller waits until
        # its own rows are committed
        self._group_commit = group_commit
        self._max_batch_rows = max_batch_rows
        # commit_wait > 0: under load (writes arriving less than commit_wait / 2 apart on average) the first
        # batch after a quiet spell waits until commit_wait after its oldest row, for more rows
        self._commit_wait = commit_wait
        self._gap = 1.0  # moving average of the time between appends (s), each gap counted as at most 1 s
        self._last_append = 0.0
        #: how many commits the writer held open for more rows (for tests and curiosity)
        self.commit_waits = 0
        #: transactions committed and the rows they carried (the service's /metrics: rows per commit)
        self.commits = 0
        self.rows_committed = 0
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._batches: dict[asyncio.AbstractEventLoop, _LoopBatch] = {}
        self._accepting = True
        self._idle: deque[Any] = deque()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._acquire_timeout = acquire_timeout
        self._schema_ready = False
        self._closed = False
        self._inflight = 0
        self._drained = threading.Condition(self._lock)
        self.url_for_logs = url_for_logs

    # --- pool ------------------------------------------------------------------------------------
    def _take(self, fresh: bool) -> tuple[Any, bool]:
        with self._lock:
            if not fresh and self._idle:
                return self._idle.pop(), True
        try:
            conn = self._d.connect()
        except self._d.errors as exc:
            raise DependencyUnavailable(f"audit store unreachable ({type(exc).__name__})") from None
        if not self._schema_ready:
            try:
                self._d.ensure_schema(conn)
            except self._d.errors as exc:
                _close_quietly(conn)
                raise DependencyUnavailable(f"audit store schema not ready ({type(exc).__name__})") from None
            self._schema_ready = True
        return conn, False

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle), deque()
        for c in idle:
            _close_quietly(c)

    def _run(self, work: Callable[[Any], T], *, write: bool = False) -> T:
        with self._lock:
            if self._closed:
                raise DependencyUnavailable("the audit store is shutting down")
            if write:
                self._inflight += 1
        try:
            if not self._slots.acquire(timeout=self._acquire_timeout):
                raise DependencyUnavailable("no audit-store connection became free in time")
            try:
                for attempt in (0, 1):
                    conn, reused = self._take(fresh=attempt > 0)
                    try:
                        result = work(conn)
                    except self._d.errors as exc:
                        _close_quietly(conn)
                        # the database may have restarted: every idle connection is suspect
                        self._drop_idle()
                        if attempt == 0 and reused:
                            continue
                        raise DependencyUnavailable(f"audit store failed ({type(exc).__name__})") from None
                    with self._lock:
                        self._idle.append(conn)
                    return result
                raise AssertionError("unreachable")  # pragma: no cover
            finally:
                self._slots.release()
        finally:
            if write:
                with self._lock:
                    self._inflight -= 1
                    if self._inflight == 0:
                        self._drained.notify_all()

    # --- API ---------------------------------------------------------------------------------------
    def append(self, rows: Sequence[AuditRow]) -> None:
        if not rows:
            return
        if not self._group_commit:
            self._run(lambda conn: self._d.insert(conn, rows), write=True)
            self._committed(len(rows))
            return
        done = threading.Event()
        outcome: list[DependencyUnavailable | None] = []

        def finish(error: DependencyUnavailable | None) -> None:
            outcome.append(error)
            done.set()

        self._submit(_Job(rows, finish))
        if not done.wait(self._write_timeout):
            raise DependencyUnavailable("the audit write did not complete in time")
        if outcome[0] is not None:
            raise outcome[0]

    async def append_async(self, rows: Sequence[AuditRow]) -> None:
        """As :meth:`append`, for an event loop: waits for the group commit without holding a thread."""
        if not rows:
            return
        if not self._group_commit:
            await asyncio.to_thread(self.append, rows)
            return
        if not self._accepting:
            raise DependencyUnavailable("the audit store is shutting down")
        loop = asyncio.get_running_loop()
        batch = self._batches.get(loop)
        if batch is None:
            # loops that are gone (a test client's) are forgotten
            self._batches = {lp: b for lp, b in self._batches.items() if not lp.is_closed()}
            batch = self._batches[loop] = _LoopBatch(loop)
        now = time.monotonic()
        gap = now - self._last_append
        self._last_append = now
        self._gap = 0.8 * self._gap + 0.2 * min(gap, 1.0)
        fut: asyncio.Future[None] = loop.create_future()
        batch.pending.append((rows, fut, now))
        if not batch.inflight and batch.flush_handle is None:
            self._schedule_flush(batch)
        await fut

    def _schedule_flush(self, batch: _LoopBatch) -> None:
        """With no commit in flight: hand the pending rows to the writer at the end of this turn of the loop
        (rows of requests handled in the same turn share the commit) or, under load (appends arriving less than
        half the commit wait apart on average), ``commit_wait`` after the oldest pending row, so that one commit
        (one fsync) carries several requests' rows. Rows that queue while a commit is in flight go as soon as
        it ends (:meth:`_batch_done`)."""
        linger = (batch.pending[0][2] + self._commit_wait - time.monotonic()
                  if self._gap < self._commit_wait / 2 else 0.0)
        if linger > 0:
            self.commit_waits += 1
            batch.flush_handle = batch.loop.call_later(linger, self._flush, batch)
        else:
            batch.flush_handle = batch.loop.call_soon(self._flush, batch)

    def _flush(self, batch: _LoopBatch) -> None:
        """On the batch's loop: one job for the writer with the pending rows (up to ``max_batch_rows``)."""
        batch.flush_handle = None
        if batch.inflight or not batch.pending:
            return
        taken: list[tuple[Sequence[AuditRow], asyncio.Future[None], float]] = []
        n = 0
        while batch.pending and (not taken or n + len(batch.pending[0][0]) <= self._max_batch_rows):
            item = batch.pending.pop(0)
            taken.append(item)
            n += len(item[0])
        flight = _Flight([f for _, f, _ in taken])
        loop = batch.loop

        def finish(error: DependencyUnavailable | None) -> None:  # on the writer thread
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting any more
                loop.call_soon_threadsafe(self._batch_done, batch, flight, error)

        rows = [r for item_rows, _, _ in taken for r in item_rows]
        batch.inflight = True
        # a backstop, should the writer never answer (it gives up on a batch after the connection and retry
        # timeouts): one timer per batch, not per request
        flight.timer = loop.call_later(self._write_timeout, self._expire, batch, flight)
        if hasattr(self._d, "insert_async"):
            # PostgreSQL: the commit runs on this loop, on its own connection (no thread, no hand-over of the
            # GIL between the writer and the loop for each step of the database call)
            batch.task = loop.create_task(self._commit_on_loop(batch, flight, rows))
            return
        try:
            self._submit(_Job(rows, finish))
        except DependencyUnavailable as exc:
            self._batch_done(batch, flight, exc)

    def _expire(self, batch: _LoopBatch, flight: _Flight) -> None:
        if batch.task is not None and not flight.settled:
            batch.task.cancel()
        self._batch_done(batch, flight, DependencyUnavailable("the audit write did not complete in time"))

    async def _commit_on_loop(self, batch: _LoopBatch, flight: _Flight, rows: list[AuditRow]) -> None:
        """One batch in one statement on the loop's connection; a connection that broke (database restarted)
        is replaced and the statement tried once more (ids make it idempotent), as the thread pool does."""
        d: Any = self._d
        error: DependencyUnavailable | None = None
        try:
            if not self._schema_ready:  # created once, through the thread pool's connection
                await asyncio.to_thread(self._run, lambda conn: None)
            for attempt in (0, 1):
                conn, fresh = batch.conn, False
                if conn is None or conn.closed:
                    try:
                        conn = batch.conn = await d.connect_async()
                    except d.errors as exc:
                        raise DependencyUnavailable(f"audit store unreachable ({type(exc).__name__})") from None
                    fresh = True
                try:
                    await d.insert_async(conn, rows)
                    break
                except d.errors as exc:
                    batch.conn = None
                    await _aclose_quietly(conn)
                    if attempt == 0 and not fresh:
                        continue
                    raise DependencyUnavailable(f"audit store failed ({type(exc).__name__})") from None
            self._committed(len(rows))
        except DependencyUnavailable as exc:
            error = exc
        except asyncio.CancelledError:  # the backstop gave up on it: the connection is not trusted any more
            conn, batch.conn = batch.conn, None
            if conn is not None:
                _finish_quietly(conn)
            raise
        except Exception as exc:
            error = DependencyUnavailable(f"audit write failed ({type(exc).__name__})")
        finally:
            if batch.task is asyncio.current_task():
                batch.task = None
        self._batch_done(batch, flight, error)

    async def aclose(self) -> None:
        """Close this event loop's own database connection (call it on the loop before the loop ends)."""
        batch = self._batches.get(asyncio.get_running_loop())
        if batch is not None and batch.conn is not None:
            conn, batch.conn = batch.conn, None
            await _aclose_quietly(conn)

    def _batch_done(self, batch: _LoopBatch, flight: _Flight, error: DependencyUnavailable | None) -> None:
        """On the batch's loop: the batch is committed (or failed, or the backstop fired): its requests go on,
        and the next batch goes to the writer. Only the first of these calls for a batch counts."""
        if flight.settled:
            return
        flight.settled = True
        if flight.timer is not None:
            flight.timer.cancel()
        for fut in flight.futures:
            if not fut.done():  # (a request cancelled meanwhile no longer waits)
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)
        batch.inflight = False
        if batch.pending and batch.flush_handle is None:
            # what queued during that commit has waited long enough: it goes now, without the commit wait
            batch.flush_handle = batch.loop.call_soon(self._flush, batch)

    @property
    def write_timeout(self) -> float:
        """How long a write may take before the store gives up on it (seconds)."""
        return self._write_timeout

    @property
    def _write_timeout(self) -> float:
        # the writer gives up on a batch after the connection and retry timeouts; wait a little longer
        return self._acquire_timeout * 3 + 30

    def _submit(self, job: _Job) -> None:
        with self._writer_lock:
            if not self._accepting:
                raise DependencyUnavailable("the audit store is shutting down")
            self._jobs.put(job)
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="attest-audit-writer", daemon=True)
                self._writer.start()

    def _write_loop(self) -> None:
        """The writer thread: every job queued when it looks is written in one transaction (blocking callers'
        and each loop's batch alike); None stops it, after the jobs queued before."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            jobs = [job]
            n = len(job.rows)
            stop = False
            while n < self._max_batch_rows:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
                n += len(more.rows)
            rows = [r for j in jobs for r in j.rows]
            error: DependencyUnavailable | None = None
            try:
                self._run(lambda conn, rows=rows: self._d.insert(conn, rows), write=True)  # type: ignore[misc]
                self._committed(len(rows))
            except DependencyUnavailable as exc:
                error = exc
            except Exception as exc:
                error = DependencyUnavailable(f"audit write failed ({type(exc).__name__})")
            for j in jobs:
                j.finish(error)
            if stop:
                return

    def _committed(self, rows: int) -> None:
        with self._lock:
            self.commits += 1
            self.rows_committed += rows

    def search(self, query: AuditQuery) -> list[AuditRow]:
        ph = self._d.placeholder
        where: list[str] = []
        params: list[Any] = []

        def any_of(column: str, values: tuple[str, ...]) -> None:
            where.append(f"{column} IN ({', '.join([ph] * len(values))})")
            params.extend(values)

        if query.patient_refs:
            any_of("patient_ref", query.patient_refs)
        if query.practitioner_refs:
            any_of("practitioner_ref", query.practitioner_refs)
        for column, value in (("practitioner_hpr", query.practitioner_hpr),
                              ("legal_entity", query.legal_entity),
                              ("issuer", query.issuer), ("decision", query.decision)):
            if value is not None:
                where.append(f"{column} = {ph}")
                params.append(value)
        if query.code is not None:
            where.append(f"(' ' || codes || ' ') LIKE {ph}")
            params.append(f"% {query.code} %")
        if query.since_ms is not None:
            where.append(f"recorded_ms >= {ph}")
            params.append(query.since_ms)
        if query.until_ms is not None:
            where.append(f"recorded_ms < {ph}")
            params.append(query.until_ms)
        if query.before_seq is not None:
            where.append(f"seq < {ph}")
            params.append(query.before_seq)
        # only column names and placeholders are formatted in; every value is a bound parameter
        sql = f"SELECT seq, {', '.join(COLUMNS)} FROM attest_audit_event"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY seq DESC LIMIT {ph}"
        params.append(max(1, min(int(query.limit), 10_000)))
        rows = self._run(lambda conn: self._d.select(conn, sql, params))
        out = []
        for r in rows:
            d = dict(zip(("seq", *COLUMNS), r, strict=True))
            d["sealed"] = bytes(d["sealed"])
            out.append(AuditRow(**d))
        return out

    def ping(self) -> bool:
        try:
            self._run(self._d.ping)
        except DependencyUnavailable:
            return False
        return True

    def close(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._writer_lock:
            self._accepting = False  # no new appends; the writer writes what is queued, then stops
            writer = self._writer
            self._jobs.put(None)
        if writer is not None:
            writer.join(max(0.0, deadline - time.monotonic()))
        for batch in list(self._batches.values()):  # connections of loops that did not close theirs
            conn, batch.conn = batch.conn, None
            if conn is not None:
                _finish_quietly(conn)
        with self._lock:
            self._closed = True
            while self._inflight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._drained.wait(left)
        self._drop_idle()


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):  # the connection is being thrown away anyway
        conn.close()


async def _aclose_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):  # the connection is being thrown away anyway
        await conn.close()


def _finish_quietly(conn: Any) -> None:
    """Close an asyncio connection without its loop (the socket only: nothing is awaited)."""
    with contextlib.suppress(Exception):
        conn.pgconn.finish()


# --- SQLite -------------------------------------------------------------------------------------------

_SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS attest_audit_event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    verification_id TEXT NOT NULL,
    recorded_ms INTEGER NOT NULL,
    decision TEXT NOT NULL,
    outcome TEXT NOT NULL,
    codes TEXT NOT NULL,
    issuer TEXT,
    legal_entity TEXT,
    practitioner_hpr TEXT,
    practitioner_ref TEXT,
    patient_ref TEXT,
    key_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    instance TEXT
);
CREATE INDEX IF NOT EXISTS attest_audit_patient ON attest_audit_event (patient_ref, seq);
CREATE INDEX IF NOT EXISTS attest_audit_practitioner ON attest_audit_event (practitioner_ref, seq);
CREATE INDEX IF NOT EXISTS attest_audit_hpr ON attest_audit_event (practitioner_hpr, seq);
CREATE INDEX IF NOT EXISTS attest_audit_legal_entity ON attest_audit_event (legal_entity, seq);
CREATE INDEX IF NOT EXISTS attest_audit_recorded ON attest_audit_event (recorded_ms);
CREATE TRIGGER IF NOT EXISTS attest_audit_no_update BEFORE UPDATE ON attest_audit_event
BEGIN SELECT RAISE(ABORT, 'attest_audit_event is append-only'); END;
CREATE TRIGGER IF NOT EXISTS attest_audit_no_delete BEFORE DELETE ON attest_audit_event
BEGIN SELECT RAISE(ABORT, 'attest_audit_event is append-only'); END;
"""


#: rows per INSERT statement: 14 columns each stay under 999 parameters, SQLite's limit before 3.32
_SQLITE_ROWS_PER_STATEMENT = 999 // len(COLUMNS)


@lru_cache(maxsize=_SQLITE_ROWS_PER_STATEMENT + 1)
def _sqlite_insert_sql(n: int) -> str:
    row = f"({', '.join('?' * len(COLUMNS))})"
    return (f"INSERT OR IGNORE INTO attest_audit_event ({', '.join(COLUMNS)}) VALUES "  # noqa: S608
            + ", ".join([row] * n))


class SQLiteDialect:
    placeholder = "?"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the file is created owner-only (SQLite gives its -wal and -shm files the database file's mode): the
        # records are sealed, but the lookup hashes and metadata are nobody else's business
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        conn = sqlite3.connect(self.path, timeout=15.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # an audit record is durable before the response
        conn.execute("PRAGMA busy_timeout=15000")
        return conn

    def ensure_schema(self, conn: sqlite3.Connection) -> None:
        conn.executescript(_SQLITE_DDL)

    def insert(self, conn: sqlite3.Connection, rows: Sequence[AuditRow]) -> None:
        # Multi-row INSERTs: a batch of up to _SQLITE_ROWS_PER_STATEMENT rows is one statement, which is its
        # own transaction (all rows or none) and runs as one sqlite3_step, so the writer thread gives the
        # GIL up and takes it back once per batch instead of once per row plus BEGIN and COMMIT (each
        # hand-over costs the event loop's thread time under load). Larger batches: one transaction.
        n = _SQLITE_ROWS_PER_STATEMENT
        statements = [(_sqlite_insert_sql(len(chunk)), [v for r in chunk for v in r.values()])
                      for chunk in (rows[i:i + n] for i in range(0, len(rows), n))]
        if len(statements) == 1:
            conn.execute(*statements[0])
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def select(self, conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return list(conn.execute(sql, params).fetchall())

    def ping(self, conn: sqlite3.Connection) -> None:
        conn.execute("SELECT 1 FROM attest_audit_event LIMIT 1").fetchall()


# --- PostgreSQL ---------------------------------------------------------------------------------------

_PG_DDL = """
CREATE TABLE IF NOT EXISTS attest_audit_event (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    verification_id TEXT NOT NULL,
    recorded_ms BIGINT NOT NULL,
    decision TEXT NOT NULL,
    outcome TEXT NOT NULL,
    codes TEXT NOT NULL,
    issuer TEXT,
    legal_entity TEXT,
    practitioner_hpr TEXT,
    practitioner_ref TEXT,
    patient_ref TEXT,
    key_id TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    instance TEXT
);
CREATE INDEX IF NOT EXISTS attest_audit_patient ON attest_audit_event (patient_ref, seq);
CREATE INDEX IF NOT EXISTS attest_audit_practitioner ON attest_audit_event (practitioner_ref, seq);
CREATE INDEX IF NOT EXISTS attest_audit_hpr ON attest_audit_event (practitioner_hpr, seq);
CREATE INDEX IF NOT EXISTS attest_audit_legal_entity ON attest_audit_event (legal_entity, seq);
CREATE INDEX IF NOT EXISTS attest_audit_recorded ON attest_audit_event (recorded_ms);
CREATE OR REPLACE FUNCTION attest_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'attest_audit_event is append-only'; END $$;
CREATE OR REPLACE TRIGGER attest_audit_no_change BEFORE UPDATE OR DELETE ON attest_audit_event
    FOR EACH ROW EXECUTE FUNCTION attest_audit_append_only();
CREATE OR REPLACE TRIGGER attest_audit_no_truncate BEFORE TRUNCATE ON attest_audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION attest_audit_append_only();
"""
_PG_TYPES = {"recorded_ms": "bigint", "sealed": "bytea"}
_PG_INSERT = (f"INSERT INTO attest_audit_event ({', '.join(COLUMNS)}) SELECT * FROM unnest("  # noqa: S608
              + ", ".join(f"%b::{_PG_TYPES.get(c, 'text')}[]" for c in COLUMNS) + ") ON CONFLICT (id) DO NOTHING")
def _pg_columns(rows: Sequence[AuditRow]) -> list[list[Any]]:
    """The batch as one list per column (the arrays that ``_PG_INSERT`` unnests)."""
    return [list(column) for column in zip(*(r.values() for r in rows), strict=True)]


#: serialises schema creation between instances starting at the same time
_PG_SCHEMA_LOCK = 0x61747465  # "atte"


class PostgresDialect:
    placeholder = "%s"

    def __init__(self, url: str, *, connect_timeout: float = 3.0, statement_timeout_ms: int = 10_000) -> None:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - depends on the installation
            raise ConfigurationError("DATABASE_URL names PostgreSQL but psycopg is not installed "
                                     "(pip install 'attest[postgres]')") from None
        self._psycopg = psycopg
        self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        self.url = url
        self.connect_timeout = max(1, int(connect_timeout))
        self.statement_timeout_ms = statement_timeout_ms

    def connect(self) -> Any:
        return self._psycopg.connect(self.url, connect_timeout=self.connect_timeout,
                                     options=f"-c statement_timeout={self.statement_timeout_ms}",
                                     application_name="attest", autocommit=True)

    async def connect_async(self) -> Any:
        """A connection for an event loop (the group commit of that loop runs on it)."""
        return await self._psycopg.AsyncConnection.connect(
            self.url, connect_timeout=self.connect_timeout, options=f"-c statement_timeout={self.statement_timeout_ms}",
            application_name="attest", autocommit=True)

    def ensure_schema(self, conn: Any) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_SCHEMA_LOCK,))
            conn.execute(_PG_DDL)

    def insert(self, conn: Any, rows: Sequence[AuditRow]) -> None:
        # One statement for the whole batch, whatever its size: each column's values as one array (binary),
        # unnested into rows. In autocommit mode the statement is its own transaction (all rows or none):
        # one round trip and one commit per batch, where BEGIN, a statement per row and COMMIT took three
        # round trips and a hand-over of the GIL each. Prepared once per connection.
        conn.execute(_PG_INSERT, _pg_columns(rows), prepare=True)

    async def insert_async(self, conn: Any, rows: Sequence[AuditRow]) -> None:
        """:meth:`insert` on an asyncio connection."""
        await conn.execute(_PG_INSERT, _pg_columns(rows), prepare=True)

    def select(self, conn: Any, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def ping(self, conn: Any) -> None:
        conn.execute("SELECT 1").fetchall()


def redact_url(url: str) -> str:
    """A database/redis URL without its password, for logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def open_store(database_url: str | None, data_dir: Path, *, pool_size: int = 4,
               connect_timeout: float = 3.0, commit_wait: float = 0.0) -> SQLAuditStore:
    """``None`` → SQLite at ``data_dir/audit.sqlite``; ``sqlite:///relative`` or ``sqlite:////absolute``;
    ``postgresql://…`` (or ``postgres://…``) → PostgreSQL. Connects lazily: a database that is down at
    start makes the service unready, not dead."""
    if not database_url:
        path = data_dir / "audit.sqlite"
        return SQLAuditStore(SQLiteDialect(path), pool_size=pool_size, url_for_logs=f"sqlite:///{path}",
                             commit_wait=commit_wait)
    if database_url.startswith("sqlite:///"):
        path = Path(database_url[len("sqlite:///"):])
        return SQLAuditStore(SQLiteDialect(path), pool_size=pool_size, url_for_logs=database_url,
                             commit_wait=commit_wait)
    scheme = database_url.split(":", 1)[0].lower()
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        url = "postgresql:" + database_url.split(":", 1)[1]
        return SQLAuditStore(PostgresDialect(url, connect_timeout=connect_timeout), pool_size=pool_size,
                             url_for_logs=redact_url(url), commit_wait=commit_wait)
    raise ConfigurationError("DATABASE_URL must start with postgresql:// or sqlite:///")
