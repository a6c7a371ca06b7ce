"""Capacity model (issue 16 item 4): what one decision costs the shared dependencies, what they sustain, and a
load test of several stateless `attest serve` instances sharing one PostgreSQL and one Redis on loopback.

Three measurements, each bounded in time:

1. **PostgreSQL commit rate.** The audit store's own insert (``PostgresDialect.insert``: one statement per
   batch, its own transaction) with rows of the real shape (the sealed payload of the realistic token's
   decision, compressed and encrypted as the audit trail does, ~3.8 KB; the lookup hashes),
   against PostgreSQL with its production durability (fsync and synchronous_commit on), for several rows per
   commit (the group commit's batch) and several concurrent committers (instances): commits/s, rows/s,
   PostgreSQL CPU per row, WAL bytes per row; and the disk's fsync latency (``pg_test_fsync``).
2. **Redis operation rate.** The replay check (``SET key 1 NX EXAT``, one per decision) from the service's
   own asyncio client, pipelined: commands/s and Redis CPU per command.
3. **Instances.** N = 1, 2, 3, 4 ``attest serve`` processes (one worker each) sharing the PostgreSQL and the
   Redis, each driven by its own wrk (8 connections), all at once: decisions/s in total, PostgreSQL commits/s
   and decisions per commit, CPU per decision of attest, PostgreSQL and Redis.

On a two-core machine the instances, the databases and the load generator share the same two cores, so the
third measurement shows the model's shape (throughput flat once the cores are busy, commits/s roughly flat
while decisions per commit grow), not a cluster's real limit; the model (docs/performance.md) combines the
per-decision costs of 1 and 2 with the instance throughput.

``python bench/capacity.py [--quick]`` writes ``bench/out/capacity.json`` and the capacity section of
``bench/RESULTS.md``; ``python bench/run.py --capacity`` runs it with the other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from service import attest_counters, cpu_seconds, make_issuer, tree, write_bodies  # noqa: E402

from attest.audit.store import AuditRow, PostgresDialect  # noqa: E402
from tests.support.servers import AttestServer, PostgresServer, RedisServer  # noqa: E402


@functools.cache
def realistic_sealed_bytes() -> int:
    """The size of the sealed payload (AuditEvent, decision document, context and token, compressed and
    encrypted) that the audit trail writes for the realistic token of bench/service.py."""
    from library import AUD, HPR, PATIENT, PID, make_case

    from attest import VerifyContext, load_profile, verify
    from attest.audit.sealing import KeyRing
    from attest.audit.trail import AuditTrail

    now = int(time.time())
    case = make_case("ES256", now)
    decision = verify(case.token, case.trust, load_profile("tillitsrammeverk-1.1"), case.context)
    context = VerifyContext(audience=AUD, authenticated_pid=PID, authenticated_hpr=HPR, patient_id=PATIENT)
    rows = AuditTrail(None, KeyRing([("bench", os.urandom(32))])).prepare(decision, context, case.token)  # type: ignore[arg-type]
    return len(rows[0].sealed)


BEGIN, END = "<!-- capacity:begin -->", "<!-- capacity:end -->"


def _row(i: int, tag: str) -> AuditRow:
    return AuditRow(id=f"{tag}-{i}-{os.urandom(8).hex()}", verification_id=os.urandom(16).hex(),
                    recorded_ms=int(time.time() * 1000), decision="permit", outcome="0", codes="",
                    issuer="https://epj.fagersta.example", legal_entity="993467049", practitioner_hpr="9144897",
                    practitioner_ref=os.urandom(32).hex(), patient_ref=os.urandom(32).hex(), key_id="bench",
                    sealed=os.urandom(realistic_sealed_bytes()), instance=tag)  # ciphertext: incompressible


def fsync_latency_us(workdir: Path, pg: PostgresServer) -> float | None:
    """The disk's fdatasync latency for one 8 kB write (pg_test_fsync, 1 s)."""
    assert pg.bin is not None
    with contextlib.suppress(Exception):
        out = subprocess.run([str(pg.bin / "pg_test_fsync"), "-s", "1", "-f", str(workdir / "fsync.probe")],  # noqa: S603
                             capture_output=True, text=True, timeout=60).stdout
        m = re.search(r"fdatasync\s+[\d.]+ ops/sec\s+(\d+) usecs/op", out)
        if m:
            return float(m.group(1))
    return None


def wal_bytes(conn: Any) -> int:
    return int(conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()[0])


def measure_commits(pg: PostgresServer, batch: int, committers: int, seconds: float) -> dict[str, float]:
    """``committers`` threads, each with its own connection, committing batches of ``batch`` rows for
    ``seconds``: commits/s, rows/s, PostgreSQL CPU µs per row, WAL bytes per row, commit latency."""
    dialect = PostgresDialect(pg.url)
    conns = [dialect.connect() for _ in range(committers)]
    dialect.ensure_schema(conns[0])
    pools = [[[_row(i, f"c{batch}x{committers}") for i in range(batch)] for _ in range(8)] for _ in conns]
    for conn, pool in zip(conns, pools, strict=True):  # prepared, warm
        dialect.insert(conn, pool[0])
    counts = [0] * committers
    latencies: list[list[float]] = [[] for _ in conns]
    stop = time.monotonic() + seconds
    pg_pids = tree([pg.pid])
    cpu0, wal0 = cpu_seconds(pg_pids), wal_bytes(conns[0])

    def run(k: int) -> None:
        n = 0
        while time.monotonic() < stop:
            # fresh ids (the insert skips ids it has seen: ON CONFLICT DO NOTHING)
            rows = [dataclasses.replace(r, id=f"{r.id}-{n}") for r in pools[k][n % 8]]
            t0 = time.perf_counter()
            dialect.insert(conns[k], rows)
            latencies[k].append(time.perf_counter() - t0)
            n += 1
        counts[k] = n

    t0 = time.monotonic()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(committers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    cpu1, wal1 = cpu_seconds(tree([pg.pid])), wal_bytes(conns[0])
    for c in conns:
        c.close()
    commits = sum(counts)
    rows = commits * batch
    lat = sorted(x for ls in latencies for x in ls)
    return {"batch": batch, "committers": committers, "commits_per_s": commits / elapsed,
            "rows_per_s": rows / elapsed, "pg_cpu_us_per_row": (cpu1 - cpu0) / rows * 1e6,
            "wal_bytes_per_row": (wal1 - wal0) / rows,
            "commit_ms_p50": lat[len(lat) // 2] * 1e3 if lat else float("nan")}


def measure_redis(redis: RedisServer, seconds: float, concurrency: int = 64) -> dict[str, float]:
    """The replay check's own client (one pipelined connection), ``concurrency`` checks in flight."""
    from attest.replay import RedisReplayCache

    cache = RedisReplayCache(redis.url, timeout=2)
    pids = tree([redis.proc.pid if redis.proc else None])

    async def main() -> tuple[int, float, float]:
        count = 0
        stop = time.monotonic() + seconds
        exp = int(time.time()) + 600

        async def worker(w: int) -> None:
            nonlocal count
            i = 0
            while time.monotonic() < stop:
                await cache.check_and_store_async("https://capacity.example", f"{w}-{i}", exp)
                i += 1
                count += 1

        await cache.check_and_store_async("https://capacity.example", "warm", exp)
        cpu0, t0 = cpu_seconds(pids), time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed, cpu1 = time.monotonic() - t0, cpu_seconds(pids)
        await cache.aclose()
        return count, elapsed, cpu1 - cpu0

    count, elapsed, cpu = asyncio.run(main())
    cache.close()
    return {"ops_per_s": count / elapsed, "redis_cpu_us_per_op": cpu / count * 1e6,
            "note": "one Python client process, one connection: the client, not Redis, is the limit"}


def measure_instances(work: Path, pg: PostgresServer, redis: RedisServer, counts: list[int], seconds: float,
                      connections: int = 8) -> list[dict[str, Any]]:
    """N instances sharing ``pg`` and ``redis``, each with its own wrk, all at once."""
    import shutil

    trust, _pub, key, jwk = make_issuer(work)
    script = work / "bodies.lua"
    from service import LUA

    script.write_text(LUA)
    n_max = max(counts)
    env = {"ATTEST_TRUST_STORE": str(trust), "ATTEST_CONTEXT_REQUIRED": "true", "DATABASE_URL": pg.url,
           "REDIS_URL": redis.url}
    servers = [AttestServer(work / f"i{k}", env=env, name=f"instance-{k}") for k in range(n_max)]
    results = []
    try:
        for s in servers:
            s.start()
        per_file = int(seconds * 2500) + 200
        for round_no, n in enumerate(counts, 1):
            files = [write_bodies(work / f"n{n}-{k}.jsonl", key, jwk, per_file, f"cap{round_no}i{k}")
                     for k in range(n)]
            active = servers[:n]
            for s, f in zip(active, files, strict=True):  # warm: imports, pools, prepared statements
                _warm(s.url, f)
            pids = {s.name: tree([s.proc.pid if s.proc else None]) for s in active}
            pg_pids, redis_pids = tree([pg.pid]), tree([redis.proc.pid if redis.proc else None])
            m0 = [attest_counters(s.url) for s in active]
            cpu0 = {k: cpu_seconds(v) for k, v in pids.items()}
            pg0, rd0 = cpu_seconds(pg_pids), cpu_seconds(redis_pids)
            t0 = time.monotonic()
            commands = [["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), s.url, "--", str(f),
                         "/v1/verify"] for s, f in zip(active, files, strict=True)] if shutil.which("wrk") else []
            procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # noqa: S603
                     for c in commands]
            outs = [p.communicate(timeout=seconds + 120)[0] for p in procs]
            elapsed = time.monotonic() - t0
            m1 = [attest_counters(s.url) for s in active]
            cpu1 = {k: cpu_seconds(v) for k, v in pids.items()}
            pg1, rd1 = cpu_seconds(tree([pg.pid])), cpu_seconds(redis_pids)
            decisions = sum(b["decisions"] - a["decisions"] for a, b in zip(m0, m1, strict=True))
            commits = sum(b["commits"] - a["commits"] for a, b in zip(m0, m1, strict=True))
            rps = [float(m.group(1)) for o in outs for m in [re.search(r"Requests/sec:\s+([\d.]+)", o)] if m]
            non2xx = sum(int(m.group(1)) for o in outs for m in [re.search(r"Non-2xx or 3xx responses:\s+(\d+)", o)]
                         if m)
            r = {"instances": n, "decisions_per_s": decisions / elapsed, "per_instance_rps": [round(x) for x in rps],
                 "commits_per_s": commits / elapsed, "decisions_per_commit": decisions / commits if commits else 0.0,
                 "attest_cpu_us": sum(cpu1[k] - cpu0[k] for k in pids) / max(decisions, 1) * 1e6,
                 "pg_cpu_us": (pg1 - pg0) / max(decisions, 1) * 1e6,
                 "redis_cpu_us": (rd1 - rd0) / max(decisions, 1) * 1e6, "non_2xx": non2xx,
                 "load_average": os.getloadavg()}
            results.append(r)
            print(f"  {n} instance(s): {r['decisions_per_s']:.0f} decisions/s {r['per_instance_rps']}, "
                  f"{r['commits_per_s']:.0f} commits/s, {r['decisions_per_commit']:.1f} decisions/commit, "
                  f"CPU µs/decision attest {r['attest_cpu_us']:.0f} PG {r['pg_cpu_us']:.0f} "
                  f"Redis {r['redis_cpu_us']:.0f}", flush=True)
    finally:
        for s in servers:
            with contextlib.suppress(Exception):
                s.stop()
    return results


def _warm(url: str, bodies: Path, n: int = 100) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=30) as c, bodies.open() as f:
        for _, line in zip(range(n), f, strict=False):
            c.post("/v1/verify", content=line, headers={"content-type": "application/json"})


def run_all(quick: bool = False) -> dict[str, Any]:
    seconds = 1.0 if quick else 2.0
    batches = [1, 5, 20] if quick else [1, 2, 5, 10, 20, 50]
    committers = [1, 4] if quick else [1, 2, 4]
    counts = [1, 2] if quick else [1, 2, 3, 4]
    out: dict[str, Any] = {"load_average_at_start": os.getloadavg(), "sealed_bytes": realistic_sealed_bytes()}
    with tempfile.TemporaryDirectory(prefix="attest-capacity-") as tmp:
        work = Path(tmp)
        pg = PostgresServer(durable=True)
        redis = RedisServer(persist=True, appendfsync="everysec")
        try:
            pg.start()
            redis.start()
            out["fsync_us"] = fsync_latency_us(work, pg)
            print(f"== capacity: fsync {out['fsync_us']} µs; PostgreSQL commits by rows per commit", flush=True)
            commits = []
            for c in committers:
                for b in batches:
                    r = measure_commits(pg, b, c, seconds)
                    commits.append(r)
                    print(f"  {c} committer(s), {b:3} rows/commit: {r['commits_per_s']:6.0f} commits/s "
                          f"{r['rows_per_s']:7.0f} rows/s, PG CPU {r['pg_cpu_us_per_row']:4.0f} µs/row, "
                          f"WAL {r['wal_bytes_per_row']:.0f} B/row, commit p50 {r['commit_ms_p50']:.2f} ms",
                          flush=True)
            out["commits"] = commits
            out["redis"] = measure_redis(redis, seconds)
            print(f"== capacity: Redis {out['redis']['ops_per_s']:.0f} SET NX/s, "
                  f"{out['redis']['redis_cpu_us_per_op']:.1f} µs Redis CPU per command", flush=True)
            print("== capacity: instances sharing PostgreSQL and Redis", flush=True)
            out["instances"] = measure_instances(work, pg, redis, counts, 4.0 if quick else 8.0)
        finally:
            with contextlib.suppress(Exception):
                redis.cleanup()
            with contextlib.suppress(Exception):
                pg.cleanup()
    out["load_average_at_end"] = os.getloadavg()
    out["markdown"] = report(out)
    return out


def report(out: dict[str, Any]) -> list[str]:
    md = [f"PostgreSQL 15 with fsync and synchronous_commit on (production durability), on the same two cores as "
          f"everything else; the disk's fdatasync of 8 kB took {out.get('fsync_us') or float('nan'):.0f} µs during "
          f"the run. Rows of the real shape (a sealed payload of {out['sealed_bytes']:,} bytes), written by the audit "
          "store's own insert (one statement per batch, its own transaction). Load average at start "
          + ", ".join(f"{x:.2f}" for x in out["load_average_at_start"]) + ", at the end "
          + ", ".join(f"{x:.2f}" for x in out["load_average_at_end"]) + ".", "",
          "| committers | rows per commit | commits/s | rows/s | commit p50 ms | PostgreSQL CPU µs per row | "
          "WAL bytes per row |", "|---|---|---|---|---|---|---|"]
    md += [f"| {r['committers']} | {r['batch']} | {r['commits_per_s']:.0f} | {r['rows_per_s']:.0f} | "
           f"{r['commit_ms_p50']:.2f} | {r['pg_cpu_us_per_row']:.0f} | {r['wal_bytes_per_row']:.0f} |"
           for r in out["commits"]]
    rd = out["redis"]
    md += ["", f"Redis (AOF, appendfsync everysec): {rd['ops_per_s']:.0f} replay checks (`SET NX EXAT`) per second "
           f"from one client process over one pipelined connection (the client is the limit), "
           f"{rd['redis_cpu_us_per_op']:.1f} µs of Redis CPU per check.", "",
           "Instances (`attest serve`, one worker each) sharing that PostgreSQL and Redis, each driven by its own "
           "wrk (8 connections), all at once:", "",
           "| instances | decisions/s | per instance req/s | PostgreSQL commits/s | decisions per commit | "
           "CPU µs per decision: attest | PostgreSQL | Redis | non-2xx |", "|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['instances']} | {r['decisions_per_s']:.0f} | {r['per_instance_rps']} | {r['commits_per_s']:.0f} | "
           f"{r['decisions_per_commit']:.1f} | {r['attest_cpu_us']:.0f} | {r['pg_cpu_us']:.0f} | "
           f"{r['redis_cpu_us']:.0f} | {r['non_2xx']} |" for r in out["instances"]]
    return md


def section(md: list[str]) -> str:
    """The capacity section of RESULTS.md, between markers (``bench/capacity.py`` alone replaces just it)."""
    return "\n".join([BEGIN, "## Capacity: several instances, one PostgreSQL, one Redis (issue 16 item 4)", "",
                      "Generated by `python bench/capacity.py` or `python bench/run.py --capacity` (see "
                      "docs/performance.md, *Capacity model*).", "", *md, END])


def write_section(md: list[str], results: Path) -> None:
    """Replace (or append) the capacity section of RESULTS.md."""
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section(md) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section(md) + "\n"
    results.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer points, shorter (smoke test)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally blocks stop every server
    out = run_all(args.quick)
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "capacity.json").write_text(json.dumps(out, indent=2))
    write_section(out["markdown"], HERE / "RESULTS.md")
    print("\n".join(out["markdown"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
