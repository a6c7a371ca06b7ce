"""The audit trail in a process of its own (``ATTEST_AUDIT_PROCESS=1``).

Building, sealing and committing a decision's AuditEvents is about 40 % of the event loop's CPU per request
(docs/performance.md). A thread cannot take that work off the loop (it needs the GIL); a child process can:
the loop sends each decision's :class:`~attest.audit.trail.AuditInput` (pickled, one message per turn of the
loop) over a socket pair; the child builds and seals the rows with the service's own key ring, commits them
with the service's own store (every batch it reads is one commit) and answers with each decision's event ids.
A request still answers only after its rows are committed, as without the child.

Failing closed: a child that is gone (killed, crashed), answers that a batch could not be committed, or does
not answer within the store's write timeout and 10 s more fails the requests waiting for it with
:class:`~attest.errors.DependencyUnavailable` (503, no decision); the next request starts a new child (at most
one start a second). The parent keeps its own store connection for searches and the readiness check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from ..context import VerifyContext
from ..errors import DependencyUnavailable
from ..verify import Decision
from .sealing import KeyRing
from .store import AuditStore
from .trail import AuditInput, AuditTrail

log = logging.getLogger("attest.service")

_FRAME = struct.Struct("<I")
#: what the parent lets queue for a child that does not read (then requests fail rather than memory grow)
MAX_UNSENT_BYTES = 64 * 1024 * 1024
#: a new child at most this often (seconds) after one has gone
RESTART_INTERVAL = 1.0


class ChildConfig(NamedTuple):
    """What the child needs to open the same store and seal with the same keys (sent over the socket pair,
    never on a command line or in the environment)."""

    database_url: str | None
    data_dir: str
    pool_size: int
    connect_timeout: float
    instance: str
    key_material: list[tuple[str, bytes, bytes]]

    def __repr__(self) -> str:  # never the keys, nor a database URL's password
        return f"ChildConfig(data_dir={self.data_dir!r}, kids={[k for k, _, _ in self.key_material]!r})"


#: what the child keeps of the worker's environment: the interpreter's and the C libraries' own settings (libpq's
#: PG* variables among them); not the service's settings (at-rest keys, admin token, database URL), which it
#: gets over the socket pair as far as it needs them
_CHILD_ENV_PREFIXES = ("PYTHON", "LC_", "PG", "SSL_", "ATTEST_PURE_PYTHON")
_CHILD_ENV_NAMES = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR", "LD_LIBRARY_PATH", "SYSTEMROOT"})


def _child_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in _CHILD_ENV_NAMES or k.startswith(_CHILD_ENV_PREFIXES)}


def _frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME.pack(len(data)) + data


def _frames(buf: bytearray) -> list[Any]:
    """The complete messages at the start of ``buf`` (taken out of it)."""
    out = []
    while len(buf) >= _FRAME.size:
        (n,) = _FRAME.unpack_from(buf)
        if len(buf) < _FRAME.size + n:
            break
        out.append(pickle.loads(bytes(buf[_FRAME.size:_FRAME.size + n])))  # noqa: S301 - our own child/parent
        del buf[:_FRAME.size + n]
    return out


class _Child:
    """One running child: its process, the parent's end of the socket pair, what is unsent and unanswered."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.proc = proc
        self.sock = sock
        self.out = bytearray()
        self.inbox = bytearray()
        self.waiting: dict[int, asyncio.Future[list[str]]] = {}
        #: recorded in this turn of the loop, sent at its end (one message)
        self.pending: list[tuple[int, AuditInput]] = []
        self.flush_scheduled = False
        #: (deadline, seqs) of each message sent and not wholly answered, oldest first (answers come in order)
        self.flights: deque[tuple[float, list[int]]] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.writing = False
        self.gone = False


class AuditProcess:
    """The parent's side (one per event loop's app): starts the child, sends, resolves the waiting requests."""

    def __init__(self, config: ChildConfig, *, timeout: float) -> None:
        self._config = config
        self._timeout = timeout
        self._child: _Child | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seq = 0
        self._last_start = float("-inf")
        self._closing = False
        #: commits and rows the child reported (the service's /metrics, as the store's own counters)
        self.commits = 0
        self.rows_committed = 0

    # --- the child's life ------------------------------------------------------------------------------
    def alive(self) -> bool:
        c = self._child
        return c is not None and not c.gone and c.proc.poll() is None

    def start(self) -> None:
        """Start the child now (the app's start-up), on the running loop; one that cannot start is tried
        again (the worker starts unready: /readyz says so, requests get 503)."""
        self._closing = False
        loop = asyncio.get_running_loop()
        self._loop = loop
        if not self.alive():
            try:
                self._start(loop)
            except DependencyUnavailable as exc:
                log.warning("audit process not started", extra={"reason": str(exc)})
                loop.call_later(RESTART_INTERVAL, self._restart)

    def _restart(self) -> None:
        """After a child has gone: a new one, so that readiness and the next request find one running."""
        if self._closing or self.alive() or self._loop is None or self._loop.is_closed():
            return
        try:
            self._start(self._loop)
        except DependencyUnavailable:
            self._loop.call_later(RESTART_INTERVAL, self._restart)

    def _start(self, loop: asyncio.AbstractEventLoop) -> _Child:
        if self._closing:
            raise DependencyUnavailable("the audit process is shutting down")
        if time.monotonic() - self._last_start < RESTART_INTERVAL:
            raise DependencyUnavailable("the audit process is restarting")
        self._last_start = time.monotonic()
        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                # -P: not the working directory first on the module path (the child holds the keys)
                [sys.executable, "-P", "-m", "attest.audit.process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=_child_environment())
        except OSError as exc:
            ours.close()
            raise DependencyUnavailable(f"the audit process could not start ({type(exc).__name__})") from None
        finally:
            theirs.close()
        child = _Child(proc, ours)
        try:
            ours.sendall(_frame(self._config))  # before the socket turns non-blocking: a few hundred bytes
        except OSError as exc:  # it ended at once
            ours.close()
            proc.kill()
            raise DependencyUnavailable(f"the audit process could not start ({type(exc).__name__})") from None
        ours.setblocking(False)
        loop.add_reader(ours.fileno(), self._on_read, child)
        self._child, self._loop = child, loop
        log.info("audit process started", extra={"pid": proc.pid})
        return child

    def _fail(self, child: _Child, why: str, *, shutting_down: bool = False) -> None:
        """The child is of no more use: every request waiting for it fails (503), its socket closes; it is
        stopped and replaced, unless the service is shutting down (then it ends by itself on end of input)."""
        if child.gone:
            return
        child.gone = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(child.sock.fileno())
            if child.writing:
                with contextlib.suppress(Exception):
                    loop.remove_writer(child.sock.fileno())
        for fut in child.waiting.values():
            if not fut.done():
                fut.set_exception(DependencyUnavailable(why))
        child.waiting.clear()
        child.pending.clear()
        child.flights.clear()
        child.out = bytearray()
        if child.timer is not None:
            child.timer.cancel()
        child.sock.close()
        if shutting_down:
            return
        if child.proc.poll() is None:
            child.proc.kill()
        log.warning("audit process gone", extra={"pid": child.proc.pid, "reason": why})
        if loop is not None and not self._closing and self._child is child:
            loop.call_later(RESTART_INTERVAL, self._restart)

    # --- sending ---------------------------------------------------------------------------------------
    async def record(self, inp: AuditInput) -> list[str]:
        """Send ``inp`` to the child and wait for its rows to be committed; their event ids."""
        loop = asyncio.get_running_loop()
        child = self._child
        if child is None or child.gone or child.proc.poll() is not None:
            if child is not None and not child.gone:
                self._fail(child, "the audit process has ended")
            child = self._start(loop)
        self._seq += 1
        seq = self._seq
        fut: asyncio.Future[list[str]] = loop.create_future()
        child.waiting[seq] = fut
        child.pending.append((seq, inp))
        if not child.flush_scheduled:
            child.flush_scheduled = True
            loop.call_soon(self._flush, child)
        return await fut

    def _flush(self, child: _Child) -> None:
        """One message with what this turn of the loop recorded; a backstop timer for its answer."""
        child.flush_scheduled = False
        batch, child.pending = child.pending, []
        if child.gone or not batch:  # (their futures failed with the child)
            return
        if len(child.out) > MAX_UNSENT_BYTES:
            self._fail(child, "the audit process does not keep up")
            return
        try:
            frame = _frame(batch)
        except Exception:  # one decision that does not pickle fails alone (503), not the others of its turn
            sendable = []
            for seq, inp in batch:
                try:
                    pickle.dumps(inp, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as exc:
                    fut = child.waiting.pop(seq, None)
                    if fut is not None and not fut.done():
                        fut.set_exception(DependencyUnavailable(
                            f"the audit record could not be sent ({type(exc).__name__})"))
                else:
                    sendable.append((seq, inp))
            if not sendable:
                return
            batch, frame = sendable, _frame(sendable)
        assert self._loop is not None
        child.flights.append((self._loop.time() + self._timeout, [seq for seq, _ in batch]))
        if child.timer is None:
            child.timer = self._loop.call_at(child.flights[0][0], self._expire, child)
        child.out += frame
        self._write(child)

    def _write(self, child: _Child) -> None:
        if child.gone:
            return
        try:
            n = child.sock.send(child.out)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self._fail(child, f"the audit process cannot be reached ({type(exc).__name__})")
            return
        del child.out[:n]
        assert self._loop is not None
        if child.out and not child.writing:
            child.writing = True
            self._loop.add_writer(child.sock.fileno(), self._write, child)
        elif not child.out and child.writing:
            child.writing = False
            self._loop.remove_writer(child.sock.fileno())

    def _expire(self, child: _Child) -> None:
        """The oldest message's deadline: still unanswered means the child is stuck (fail it); else the timer
        moves on to the next message's deadline."""
        child.timer = None
        if child.gone:
            return
        assert self._loop is not None
        self._settle(child)
        if child.flights and child.flights[0][0] <= self._loop.time():
            self._fail(child, "the audit process did not answer in time")
        elif child.flights:
            child.timer = self._loop.call_at(child.flights[0][0], self._expire, child)

    @staticmethod
    def _settle(child: _Child) -> None:
        """Forget the messages (oldest first) whose every request has its answer."""
        while child.flights and not any(seq in child.waiting for seq in child.flights[0][1]):
            child.flights.popleft()

    # --- answers ---------------------------------------------------------------------------------------
    def _on_read(self, child: _Child) -> None:
        try:
            data = child.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._fail(child, "the audit process has ended")
            return
        child.inbox += data
        try:
            answers = _frames(child.inbox)
        except Exception:  # a garbled answer: nothing it says can be trusted
            self._fail(child, "the audit process answered garbage")
            return
        for results, commits, rows in answers:
            self.commits += commits
            self.rows_committed += rows
            for seq, ids in results:
                fut = child.waiting.pop(seq, None)
                if fut is None or fut.done():
                    continue
                if isinstance(ids, list):
                    fut.set_result(ids)
                else:
                    fut.set_exception(DependencyUnavailable(str(ids)))
        self._settle(child)

    async def aclose(self) -> None:
        """Close the socket (the child commits what it has read, answers and ends) and wait for the child."""
        self._closing = True
        child, self._child = self._child, None
        if child is None or child.gone:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while (not child.gone and loop.time() < deadline
               and any(not f.done() for f in child.waiting.values())):
            await asyncio.sleep(0.01)  # requests in flight are answered first (uvicorn waits for them)
        if not child.gone:
            # closing the socket pair ends the child once it has answered what it read; a request still
            # waiting here (its answer overdue) gets 503
            self._fail(child, "the service is shutting down", shutting_down=True)
        try:
            await asyncio.to_thread(child.proc.wait, self._timeout)
        except subprocess.TimeoutExpired:
            child.proc.kill()

    def close(self) -> None:
        """From outside a loop (the runtime's close): stop a child still running."""
        self._closing = True
        child, self._child = self._child, None
        if child is not None and child.proc.poll() is None:
            with contextlib.suppress(OSError):
                child.sock.close()
            try:
                child.proc.wait(self._timeout)
            except subprocess.TimeoutExpired:
                child.proc.kill()


class ProcessAuditTrail(AuditTrail):
    """An :class:`AuditTrail` whose records are built, sealed and committed by :class:`AuditProcess`; reads
    (search, citizen log, readiness) use this process's own store connection."""

    def __init__(self, store: AuditStore, keyring: KeyRing, process: AuditProcess, instance: str = "attest") -> None:
        super().__init__(store, keyring, instance)
        self.process = process

    async def record_async(self, decision: Decision, context: VerifyContext, token: str | None = None,
                           recorded: float | None = None, doc: dict[str, Any] | None = None) -> list[str]:
        return await self.process.record(AuditInput.of(decision, context, token, recorded, doc))


# --- the child ---------------------------------------------------------------------------------------------


def _serve(sock: socket.socket, inbox: bytearray, first: list[Any], prepare: Callable[[AuditInput], list[Any]],
           store: Any) -> None:
    """Read what has arrived, build and seal it, commit it in one transaction, answer; until end of input."""
    messages = first
    while True:
        batch = [item for message in messages for item in message]
        if not batch:
            data = sock.recv(1 << 20)
            if not data:
                return
            inbox += data
            messages = _frames(inbox)
            continue
        messages = []
        rows: list[Any] = []
        results: list[tuple[int, list[str] | str]] = []
        for seq, inp in batch:
            try:
                made = prepare(inp)
            except Exception as exc:  # this decision cannot be recorded: its request fails (503), not others
                results.append((seq, f"the audit record could not be made ({type(exc).__name__})"))
                continue
            rows.extend(made)
            results.append((seq, [r.id for r in made]))
        committed = 0
        try:
            store.append(rows)
            committed = 1 if rows else 0
        except DependencyUnavailable as exc:
            results = [(seq, str(exc)) for seq, _ in results]
            rows = []
        except Exception as exc:
            results = [(seq, f"audit write failed ({type(exc).__name__})") for seq, _ in results]
            rows = []
        sock.sendall(_frame((results, committed, len(rows))))


def child_main(fd: int) -> int:
    from pathlib import Path

    from .store import open_store

    # the service's process ends this one by closing the socket pair (after its requests in flight are
    # answered): a Ctrl-C or SIGTERM sent to the whole process group must not end it before that
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    inbox = bytearray()
    while not (messages := _frames(inbox)):
        data = sock.recv(1 << 16)
        if not data:
            return 0
        inbox += data
    config: ChildConfig = messages[0]
    # its commits are the batches it reads (ATTEST_AUDIT_COMMIT_WAIT_MS holds the event loop's commits only)
    store = open_store(config.database_url, Path(config.data_dir), pool_size=config.pool_size,
                       connect_timeout=config.connect_timeout)
    trail = AuditTrail(store, KeyRing.from_material(config.key_material), instance=config.instance)
    try:
        _serve(sock, inbox, messages[1:], trail.prepare_input, store)
    finally:
        store.close(timeout=30.0)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(child_main(int(sys.argv[1])))
    except Exception as exc:  # only the kind: a message could quote data (the parent fails closed on EOF)
        print(f"attest audit process ended: {type(exc).__name__}", file=sys.stderr)
        sys.exit(1)
