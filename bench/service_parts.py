"""Where a verification request's CPU goes in ``attest serve`` (issue 16 item 3), measured by taking parts away.

The service's ASGI app is called in process (no HTTP server, no sockets: what uvicorn adds is the same for
attest and the baseline) with 16 concurrent requests on uvloop, every request a distinct valid ES256 token with
context, as in bench/service.py, and the defaults of ``attest serve`` (SQLite audit trail committed before the
answer, in-memory replay cache, one JSON log line per request, here written to /dev/null). Each variant runs
in a fresh process; the variants are interleaved round by round (the order rotated), and each reports the event
loop thread's CPU time per request (what bounds one worker's throughput) and the whole process's (with the
audit writer thread):

* ``baseline``: bench/baseline_app.py's FastAPI ``async def`` endpoint (``jwt.decode``), the reference;
* ``attest``: the whole app;
* ``endpoint only``: the app from its innermost layer (middleware.DirectRoutes): without the middleware stack
  (FastAPI's and Starlette's entry, the TCP peer, proxy headers, the request id and access log line, the body
  limit);
* ``no access log``: the access log's level raised above INFO;
* ``no audit write``: the AuditEvent built and sealed, but not handed to the store (no group commit, no writer
  thread);
* ``no audit trail``: nothing built, sealed or stored;
* ``no verification``: the first request's decision answered again for every request (no parse, signature or
  rules; the audit trail as usual);
* ``audit process``: the app with ``ATTEST_AUDIT_PROCESS=1`` (the AuditEvents built, sealed and committed by a
  child process of the worker, each request waiting for its commit; a setting, not a part taken away);
  "whole process" includes the child.

A part's cost is the whole app's time minus the time without it, median of the rounds (parts overlap: they
need not add up). The parts removed are measuring instruments here, never options of the service.

``--callgrind`` counts instructions instead (valgrind's callgrind, as bench/callgrind.py does for the
library): each chosen variant runs N and 3N requests under callgrind, counting only while the event loop runs
(libuv's ``uv_run``) and in threads Python started (the audit writer), per thread; the difference over 2N
requests is the count per request, start-up and token signing cancelled out. The same code gives the same
count to ~0.3 % (the group commit's batch sizes follow the threads' scheduling), so a change of a percent in
a request's work shows where wall-clock rounds cannot show it. They are not time, and callgrind sees no kernel
work (WAL writes, fsyncs, system calls): compare them with the CPU times above.

    python bench/service_parts.py [--requests N] [--rounds R] [--json PATH]
    python bench/service_parts.py --callgrind [--requests N] [--variants baseline,attest]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

VARIANTS = {
    "baseline": "FastAPI `async def` + jwt.decode (reference)",
    "attest": "attest, the whole app",
    "endpoint": "attest, endpoint only (no middleware stack)",
    "no-log": "attest, no access log line",
    "no-write": "attest, AuditEvent built and sealed, not stored",
    "no-audit": "attest, no audit trail",
    "no-verify": "attest, no verification (a decision answered again)",
    "audit-process": "attest, ATTEST_AUDIT_PROCESS=1 (the audit trail in a child process)",
}
CONCURRENCY = 16


def _scope(app: Any, body: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/v1/verify", "raw_path": b"/v1/verify", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080), "state": {}, "app": app}


async def _request(app: Any, target: Any, body: bytes) -> None:
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # never: the body is read once
        return {"type": "http.disconnect"}

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await target(_scope(app, body), receive, send)
    if status != [200]:
        raise RuntimeError(f"answer {status}")


def _app(variant: str, work: Path, trust: Path, public_pem: Path) -> Any:
    from library import AUD, ISS

    if variant == "baseline":
        os.environ.update(BASELINE_KEY=str(public_pem), BASELINE_ISS=ISS, BASELINE_AUD=AUD)
        import baseline_app

        return baseline_app.app
    os.environ.update(ATTEST_TRUST_STORE=str(trust), ATTEST_CONTEXT_REQUIRED="true", ATTEST_LOG_LEVEL="INFO",
                      ATTEST_DATA_DIR=str(work / "data"))
    if variant == "audit-process":
        os.environ["ATTEST_AUDIT_PROCESS"] = "1"
    from attest.service import logs
    from attest.service.app import create_app

    logs.configure("INFO")
    app = create_app()
    handler = logging.getLogger("attest").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the life of the process
    return app


def _take_away(variant: str, app: Any) -> int | None:
    """Remove the part ``variant`` names (after start-up, so that the app is built as attest serve builds it);
    the audit process's pid for ``audit-process``."""
    if variant in ("baseline", "attest", "endpoint"):
        return None
    if variant == "audit-process":
        child = app.state.runtime.audit_process._child  # started with the app
        return int(child.proc.pid)
    runtime = app.state.runtime
    if variant == "no-log":
        logging.getLogger("attest.service.access").setLevel(logging.WARNING)
    elif variant == "no-write":
        async def append_async(rows: Any) -> None:
            return None

        runtime.trail.store.append_async = append_async
    elif variant == "no-audit":
        async def record_async(*args: Any, **kwargs: Any) -> list[str]:
            return ["not-recorded"]

        runtime.trail.record_async = record_async
    elif variant == "no-verify":
        import attest.service.decide as decide

        verify_async, first = decide.verify_async, []

        async def again(token: str, *args: Any, **kwargs: Any) -> Any:
            if not first:
                first.append(await verify_async(token, *args, **kwargs))
            return first[0]

        decide.verify_async = again  # type: ignore[assignment]
    return None


def child(variant: str, requests: int, work: Path) -> dict[str, float]:
    import uvloop
    from service import cpu_seconds, make_issuer, write_bodies

    trust, public_pem, key, jwk = make_issuer(work)
    lines = write_bodies(work / "bodies.jsonl", key, jwk, requests + 300, f"parts-{variant}").read_text()
    bodies = [line.encode() for line in lines.splitlines()]
    app = _app(variant, work, trust, public_pem)

    async def main() -> dict[str, float]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        lifespan = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                             inbox.get, outbox.put))
        started = await outbox.get()
        if started["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"start-up failed: {started}")
        target = app
        if variant == "endpoint":
            target = app.middleware_stack
            while type(target).__name__ != "DirectRoutes":
                target = target.app
        helper = _take_away(variant, app)
        it = iter(bodies)
        for _, body in zip(range(300), it, strict=False):  # warm-up
            await _request(app, target, body)

        async def worker() -> None:
            for body in it:
                await _request(app, target, body)

        helper0 = cpu_seconds([helper]) if helper else 0.0
        t0, main0, all0 = time.perf_counter(), time.thread_time(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        wall, main_cpu, all_cpu = time.perf_counter() - t0, time.thread_time() - main0, time.process_time() - all0
        if helper:
            all_cpu += cpu_seconds([helper]) - helper0
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan
        return {"rps": requests / wall, "main_us": main_cpu / requests * 1e6, "process_us": all_cpu / requests * 1e6}

    return uvloop.run(main())


def run(requests: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    order = list(VARIANTS)
    for r in range(rounds):
        shift = r % len(order)
        for variant in order[shift:] + order[:shift]:
            with tempfile.TemporaryDirectory(prefix="attest-parts-") as tmp:
                out = subprocess.run([sys.executable, __file__, "--child", variant, "--requests", str(requests),  # noqa: S603
                                      "--work", tmp], capture_output=True, text=True, timeout=600, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"{variant}: {out.stderr[-2000:]}")
            runs[variant].append(json.loads(out.stdout.splitlines()[-1]))
        print(f"  round {r + 1}: " + "  ".join(f"{v} {runs[v][-1]['main_us']:.0f}" for v in order), flush=True)
    return runs


def report(runs: dict[str, list[dict[str, float]]], requests: int) -> list[str]:
    def med(v: str, k: str) -> float:
        return statistics.median(x[k] for x in runs[v])

    def spread(v: str, k: str) -> str:
        xs = [x[k] for x in runs[v]]
        return f"{min(xs):.0f}–{max(xs):.0f}"

    rounds = len(runs["attest"])
    lines = [f"In process, {requests} requests per run, {CONCURRENCY} concurrent, {rounds} interleaved rounds; "
             "CPU µs per request, median [lowest–highest round].", "",
             "| variant | event loop thread | whole process | requests/s |", "|---|---|---|---|"]
    for v, label in VARIANTS.items():
        lines.append(f"| {label} | {med(v, 'main_us'):.0f} [{spread(v, 'main_us')}] | "
                     f"{med(v, 'process_us'):.0f} [{spread(v, 'process_us')}] | {med(v, 'rps'):.0f} |")
    whole = med("attest", "main_us")
    lines += ["", "| part | event loop thread µs per request (whole app − without it) |", "|---|---|"]
    for v, part in (("endpoint", "middleware stack"), ("no-log", "access log line"),
                    ("no-write", "handing the rows to the store and awaiting the group commit"),
                    ("no-audit", "audit trail (build, seal, store)"), ("no-verify", "verification")):
        lines.append(f"| {part} | {whole - med(v, 'main_us'):.0f} |")
    lines.append(f"| whole app − baseline | {whole - med('baseline', 'main_us'):.0f} |")
    return lines


def _callgrind_totals(out: Path) -> dict[int, int]:
    """Instructions counted per thread (callgrind writes one file per thread: ``out-01``, ``out-02``, ...)."""
    from callgrind import totals

    per_thread = {int(f.name.rsplit("-", 1)[1]): totals(f) for f in out.parent.glob(out.name + "-*")}
    return {thread: n for thread, n in per_thread.items() if n is not None}


def callgrind(variants: list[str], requests: int = 300) -> dict[str, Any]:
    """Instructions per request of the event loop thread and of the whole process, per variant (N and 3N
    requests under callgrind, the two counts of a variant run side by side)."""
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is not installed (apt-get install valgrind)"}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="attest-parts-cg-") as tmp:
        base = Path(tmp)
        for variant in variants:
            t0 = time.monotonic()
            procs: list[tuple[subprocess.Popen[bytes], Path]] = []
            try:
                for m in (1, 3):
                    work = base / f"{variant}-{m}"
                    work.mkdir()
                    cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--toggle-collect=uv_run",
                           "--toggle-collect=thread_run", f"--callgrind-out-file={base / f'{variant}.{m}.out'}",
                           sys.executable, __file__, "--child", variant, "--requests", str(m * requests),
                           "--work", str(work)]
                    with (work / "stderr").open("wb") as err:
                        procs.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,  # noqa: S603
                                                       env={**os.environ, "PYTHONHASHSEED": "0"}), work / "stderr"))
                for proc, err_path in procs:
                    if proc.wait(timeout=1800) != 0:
                        raise RuntimeError(f"{variant} under callgrind: "
                                           f"{err_path.read_text(errors='replace')[-2000:]}")
            finally:  # a failure or a timeout (or SIGTERM through run.py) leaves no valgrind behind
                for proc, _ in procs:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
            few, many = _callgrind_totals(base / f"{variant}.1.out"), _callgrind_totals(base / f"{variant}.3.out")
            loop = (many.get(1, 0) - few.get(1, 0)) // (2 * requests)
            process = (sum(many.values()) - sum(few.values())) // (2 * requests)
            # nothing counted on the loop (uv_run not found: a stripped uvloop) or, for attest, no writer thread
            # (thread_run not found: a Python without its symbol table) would be a wrong number, not a small one
            if loop <= 0 or (variant != "baseline" and process <= loop):
                raise RuntimeError(f"{variant} under callgrind: nothing counted on the event loop or in the audit "
                                   f"writer thread (threads counted: {sorted(many)}); are uvloop's and Python's "
                                   "symbols (uv_run, thread_run) available?")
            rows.append({"variant": variant, "loop": loop, "process": process})
            print(f"  {variant:10} {loop:>11,} instructions per request on the event loop thread, "
                  f"{process:>11,} in the process ({time.monotonic() - t0:.0f} s)", flush=True)
    return {"requests": requests, "rows": rows}


def callgrind_report(result: dict[str, Any]) -> list[str]:
    title = "## Service in process: instruction counts (callgrind)"
    if "skipped" in result:
        return [title, "", f"Not measured: {result['skipped']}.", ""]
    rows = result["rows"]
    ref = next((r for r in rows if r["variant"] == "baseline"), None)
    lines = [title, "",
             "Instructions per request, from `bench/service_parts.py --callgrind`: the ASGI app called in process "
             f"(no HTTP server; {CONCURRENCY} concurrent requests, distinct ES256 tokens with context, "
             f"`attest serve`'s defaults), {result['requests']} and {3 * result['requests']} requests under "
             "callgrind, start-up and token signing cancelled out, counted while the event loop runs and in the "
             "threads Python started. "
             "Not time: a signature's vector code retires several instructions per cycle, dictionary-heavy Python "
             "and thread hand-overs far fewer.", "",
             "| variant | event loop thread | whole process | × baseline (event loop) |", "|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['loop'] / ref['loop']:.2f}" if ref and ref["loop"] else ""
        lines.append(f"| {VARIANTS[r['variant']]} | {r['loop']:,} | {r['process']:,} | {ratio} |")
    return [*lines, ""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=None, help="per run (default 4000; 300 with --callgrind)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the runs here")
    ap.add_argument("--callgrind", action="store_true", help="count instructions instead (valgrind)")
    ap.add_argument("--variants", default="baseline,attest", help="with --callgrind: which variants")
    ap.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    requests = args.requests or (300 if args.callgrind else 4000)
    if args.child:
        print(json.dumps(child(args.child, requests, args.work)))
        return 0
    from attest import BUILD

    print(f"verification path: {BUILD}; load average {os.getloadavg()[0]:.2f}", flush=True)
    if args.callgrind:
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            ap.error(f"unknown variants {unknown} (known: {', '.join(VARIANTS)})")
        if "audit-process" in variants:
            ap.error("audit-process cannot be counted: valgrind does not follow its child process")
        result = callgrind(variants, requests)
        print("\n".join(callgrind_report(result)))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    runs = run(requests, args.rounds)
    print("\n".join(report(runs, requests)))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
