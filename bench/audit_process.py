"""Would the audit trail's work in another process raise one worker's throughput? (issue 16 item 3)

An experiment, not a design of the service. ``bench/service_parts.py`` showed that the audit trail is the
largest part of the event loop's CPU per request that the `async def` baseline does not have; this measures
what taking it out of the event loop's process gives. The app of ``attest serve`` is built as usual and its
``AuditTrail.record_async`` replaced: each decision's document, context and token are sent (pickled, one
message per turn of the loop) over a socket pair to a child process, which builds, seals and commits the
AuditEvents with attest's own ``AuditTrail`` and SQLite store (every batch it reads is one commit), and
answers with the batch's sequence numbers; a request answers only after its batch is committed, as in
``attest serve`` (a child that is gone or failed fails its requests with 503). No restart, no back-pressure,
no readiness check: only what the measurement needs.

Two views, each against the baseline in the same run:

* in process (``service_parts.py``'s harness, variant ``audit-process``: the ASGI app called directly, 16
  concurrent requests): the event loop thread's CPU per request, which the child takes work from;
* over HTTP (this script): ``bench/baseline_app.py``, ``attest serve`` and the app with the audit process under
  uvicorn (one worker each, attest serve's settings), wrk with 16 connections and distinct tokens, rounds
  interleaved; requests/s, p99 and the CPU per request of the server's whole process tree (the child included).

    python bench/audit_process.py [--rounds 3] [--duration 6]
    python bench/service_parts.py --rounds 3          # has the in-process variant ``audit-process``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import pickle
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

_FRAME = struct.Struct("<I")


def _frames(buf: bytearray) -> list[Any]:
    """The complete messages at the start of ``buf`` (removed from it)."""
    out = []
    while len(buf) >= _FRAME.size:
        (n,) = _FRAME.unpack_from(buf)
        if len(buf) < _FRAME.size + n:
            break
        out.append(pickle.loads(bytes(buf[_FRAME.size:_FRAME.size + n])))  # noqa: S301 - our own child
        del buf[:_FRAME.size + n]
    return out


def _frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME.pack(len(data)) + data


def child_main(fd: int) -> None:
    """The audit process: settings from the environment (as the app's), every batch read is one commit."""
    from attest.audit.store import open_store
    from attest.audit.trail import AuditTrail
    from attest.service.settings import Settings, resolve

    sock = socket.socket(fileno=fd)
    resolved = resolve(Settings.from_env())
    store = open_store(None, resolved.settings.data_dir)
    trail = AuditTrail(store, resolved.keyring, instance=resolved.settings.instance)
    buf = bytearray()
    while data := sock.recv(1 << 20):
        buf += data
        batch = [m for frame in _frames(buf) for m in frame]
        if not batch:
            continue
        rows, seqs = [], []
        for seq, doc, issuer, codes, decision, ctx, token, recorded in batch:
            # what AuditTrail.prepare reads of a Decision and a VerifyContext
            d = SimpleNamespace(issuer=SimpleNamespace(iss=issuer) if issuer else None,
                                errors=[SimpleNamespace(code=c) for c in codes], decision=decision)
            rows.extend(trail.prepare(d, SimpleNamespace(**ctx), token, recorded, doc))  # type: ignore[arg-type]
            seqs.append(seq)
        try:
            store.append(rows)
            ok = True
        except Exception:
            ok = False
        sock.sendall(_frame((seqs, ok)))


def install(app: Any) -> subprocess.Popen[bytes]:
    """Start the audit process and route ``app``'s audit trail through it (call on the app's event loop)."""
    from attest import DependencyUnavailable
    from attest.context import VerifyContext
    from attest.identifiers import random_id

    fields = [f.name for f in dataclasses.fields(VerifyContext)]
    runtime = app.state.runtime
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(theirs.fileno())],  # noqa: S603
                            pass_fds=(theirs.fileno(),))
    theirs.close()
    ours.setblocking(False)
    pending: list[Any] = []
    waiting: dict[int, asyncio.Future[None]] = {}
    state = {"seq": 0, "scheduled": False}
    buf = bytearray()

    def fail_all() -> None:
        loop.remove_reader(ours.fileno())
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(DependencyUnavailable("the audit process is gone"))
        waiting.clear()

    def flush() -> None:
        state["scheduled"] = False
        try:
            ours.sendall(_frame(pending))  # small frames: the socket buffer takes them
        except OSError:
            fail_all()
        pending.clear()

    def on_read() -> None:
        try:
            data = ours.recv(1 << 20)
        except BlockingIOError:
            return
        if not data:
            fail_all()
            return
        buf.extend(data)
        for seqs, ok in _frames(buf):
            for s in seqs:
                fut = waiting.pop(s, None)
                if fut is not None and not fut.done():
                    if ok:
                        fut.set_result(None)
                    else:
                        fut.set_exception(DependencyUnavailable("the audit process could not commit"))

    loop.add_reader(ours.fileno(), on_read)

    async def record_async(decision: Any, context: Any, token: str | None = None, recorded: float | None = None,
                           doc: dict[str, Any] | None = None) -> list[str]:
        recorded = time.time() if recorded is None else recorded
        doc = decision.to_dict() if doc is None else doc
        state["seq"] += 1
        seq = state["seq"]
        pending.append((seq, doc, decision.issuer.iss if decision.issuer else None,
                        [f.code for f in decision.errors], decision.decision,
                        {k: getattr(context, k) for k in fields}, token, recorded))
        if not state["scheduled"]:
            state["scheduled"] = True
            loop.call_soon(flush)
        fut = waiting[seq] = loop.create_future()
        await fut
        return [random_id(uuid=True)]  # (the child makes the event ids; the log line only needs an id here)

    runtime.trail.record_async = record_async
    return proc


# --- over HTTP -------------------------------------------------------------------------------------------------


def serve(port: int) -> None:
    """The app of attest serve (its logging and GIL settings) with the audit process, under uvicorn."""
    import uvicorn

    from attest.service import logs
    from attest.service.app import create_app
    from attest.service.serve import _share_the_gil

    logs.configure("INFO")
    _share_the_gil()
    inner = create_app()
    started: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not started and scope["type"] == "http":
            started.append(install(inner))
        await inner(scope, receive, send)

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, server_header=False)


def _start(name: str, argv: list[str], env: dict[str, str], work: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    from tests.support.servers import free_port

    port = free_port()
    with open(work / f"{name}.log", "ab") as log:
        proc = subprocess.Popen([*argv, str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"{name} did not start: " + (work / f"{name}.log").read_text()[-2000:])


def http(rounds: int, duration: float) -> int:
    from service import BaselineServer, cpu_seconds, load_wrk, make_issuer, tree, warm_up, write_bodies

    work = Path(tempfile.mkdtemp(prefix="attest-auditproc-"))
    trust, public_pem, key, jwk = make_issuer(work)
    env = {**os.environ, "ATTEST_TRUST_STORE": str(trust), "ATTEST_CONTEXT_REQUIRED": "true",
           "ATTEST_LOG_LEVEL": "INFO"}
    attest_bin = str(Path(sys.executable).with_name("attest"))
    baseline = BaselineServer(work, public_pem)
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        baseline.start()
        assert baseline.proc is not None
        servers["baseline (async def + jwt.decode)"] = (baseline.proc, baseline.url)
        servers["attest serve"] = _start("attest", [attest_bin, "serve", "--port"],
                                         {**env, "ATTEST_DATA_DIR": str(work / "attest")}, work)
        servers["attest, audit in another process"] = _start(
            "audit-process", [sys.executable, __file__, "--serve"],
            {**env, "ATTEST_DATA_DIR": str(work / "audit-process")}, work)
        names = list(servers)
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                proc, url = servers[name]
                bodies = write_bodies(work / f"bodies-{r}-{names.index(name)}.jsonl", key, jwk, 30_000,
                                      f"ap{r}-{names.index(name)}")
                warm_up(url, "/v1/verify", bodies)
                before = cpu_seconds(tree([proc.pid]))
                out = load_wrk(url, "/v1/verify", bodies, duration, work)
                out["cpu_us"] = (cpu_seconds(tree([proc.pid])) - before) / max(out["requests"], 1) * 1e6
                if out["non_2xx"]:
                    raise RuntimeError(f"{name}: {out['non_2xx']:.0f} answers were not 200")
                runs[name].append(out)
                print(f"  round {r + 1} {name:36} {out['rps']:7.0f} req/s  p99 {out['p99_ms']:5.1f} ms  "
                      f"{out['cpu_us']:4.0f} µs CPU/request", flush=True)
    finally:
        for proc, _ in servers.values():
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(30)
    ref = runs[names[0]]
    print("\n| server | req/s | p99 ms | × baseline (rounds) | CPU µs/request (process tree) |\n|---|---|---|---|---|")
    for name in names:
        ratios = [a["rps"] / b["rps"] for a, b in zip(runs[name], ref, strict=True)]
        print(f"| {name} | {statistics.median(x['rps'] for x in runs[name]):,.0f} | "
              f"{statistics.median(x['p99_ms'] for x in runs[name]):.1f} | {statistics.median(ratios):.2f} "
              f"({min(ratios):.2f}–{max(ratios):.2f}) | {statistics.median(x['cpu_us'] for x in runs[name]):.0f} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=6.0, help="seconds of load per round and server")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child_main(args.child)
        return 0
    if args.serve is not None:
        serve(args.serve)
        return 0
    from attest import BUILD

    print(f"verification path: {BUILD}; load average {os.getloadavg()[0]:.2f}", flush=True)
    return http(args.rounds, args.duration)


if __name__ == "__main__":
    sys.exit(main())
