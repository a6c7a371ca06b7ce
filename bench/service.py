"""Service benchmark (issue 16 item 3): `attest serve` against the strongest idiomatic peer, a FastAPI
``async def`` endpoint that only calls ``jwt.decode`` (bench/baseline_app.py), with the ``def`` variant of
the same endpoint as a second row, on the same HTTP server with the same settings (uvicorn, one worker, no
access log; uvloop and httptools when installed, for every server alike), the same load generator, loopback
only, bounded duration.

Servers measured, all up at once and driven in interleaved rounds (the order rotated every round, so that
background load and position hit them alike):

* ``baseline-async``: the ``async def`` endpoint (the reference of every ratio);
* ``baseline-sync``: the ``def`` endpoint;
* ``attest``: ``attest serve`` with its defaults (SQLite audit trail, ``synchronous=FULL``; in-memory replay
  cache);
* ``attest-pg``: ``attest serve`` with PostgreSQL (production durability: fsync and synchronous_commit on)
  and Redis (AOF, ``appendfsync everysec`` as docker-compose.yml), one worker;
* ``attest-pg-w2``: the same with ``--workers 2`` (the scaling target compares it with ``attest-pg``);
* ``attest-proc``, ``attest-pg-proc``: ``attest`` and ``attest-pg`` with ``ATTEST_AUDIT_PROCESS=1`` (the audit
  trail recorded by a child process of the worker; a setting, off by default).

Every request carries a different, valid token (distinct ``jti``), so attest's replay cache and audit trail
do real work on every request; each attest server has its own replay namespace (memory, Redis database 0,
1 or 2), so the same round's tokens are new to each. Per round and server: requests/s, p50/p99 latency (wrk),
and the CPU time the server's processes (and PostgreSQL's and Redis's) used per request; PostgreSQL
commits and Redis commands per decision (from their own statistics).

``python bench/service.py [--quick] [--rounds N] [--duration S]`` runs it alone; ``bench/run.py`` calls
:func:`run_all`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from library import AUD, HPR, ISS, PATIENT, PID, realistic_attestation  # noqa: E402

from attest import generate_private_key, public_jwk  # noqa: E402
from attest.jose import sign_compact  # noqa: E402
from attest.keys import private_key_pem  # noqa: E402
from tests.support.servers import AttestServer, PostgresServer, RedisServer, free_port  # noqa: E402

CONCURRENCY = 16
#: requests per second no server here reaches on two cores: each round's token file covers that many
MAX_RPS = 3500
LUA = """
local bodies = {}
local i = 0
local path = "/v1/verify"
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  if args[2] then path = args[2] end
end
request = function()
  i = i + 1
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, bodies[((i - 1) % #bodies) + 1])
end
"""

# --- tokens -------------------------------------------------------------------------------------------------


def make_issuer(workdir: Path) -> tuple[Path, Path, Any, dict[str, Any]]:
    """An ES256 issuer: its trust store, its public key PEM, the private key and its JWK."""
    from cryptography.hazmat.primitives import serialization

    key = generate_private_key("ES256")
    jwk = public_jwk(key, "ES256")
    (workdir / "issuer.pem").write_bytes(private_key_pem(key))
    (workdir / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (workdir / "trust.yaml").write_text(json.dumps({"audience": AUD, "issuers": [
        {"iss": ISS, "name": "OUS", "legal_entities": ["993467049"], "member": True, "jwks_file": "jwks.json"}]}))
    pub = workdir / "issuer.pub.pem"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return workdir / "trust.yaml", pub, key, jwk


def write_bodies(path: Path, key: Any, jwk: dict[str, Any], n: int, tag: str) -> Path:
    """``n`` request bodies (one per line), each a distinct valid token (realistic attestation) with context."""
    now = int(time.time())
    att = realistic_attestation(now)
    header = {"alg": "ES256", "kid": jwk["kid"], "typ": "attestation+jwt"}
    context = {"authenticated_pid": PID, "authenticated_hpr": HPR, "patient_id": PATIENT}
    with path.open("w") as f:
        for i in range(n):
            claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 3600, "jti": f"bench-{tag}-{now}-{i}",
                      "attestation": att}
            f.write(json.dumps({"token": sign_compact(header, claims, key, "ES256"), "context": context}) + "\n")
    return path


# --- processes ----------------------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            kids.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return kids


def tree(pids: Iterable[int | None]) -> list[int]:
    """The given processes and all their descendants."""
    kids = _children()
    out: list[int] = []
    todo = [p for p in pids if p]
    while todo:
        p = todo.pop()
        if p not in out:
            out.append(p)
            todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes (all their threads) and of their children that ended and were
    reaped, in seconds. Counting the reaped children is what keeps a difference of two readings right when a
    process ends in between (a PostgreSQL backend whose connection closed: its time moves to the postmaster's
    children's time; without it the difference lost that backend's whole time, and could even be negative)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / tick


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy (not idle, not waiting for I/O) since boot, from /proc/stat."""
    with contextlib.suppress(OSError, ValueError):
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def own_cpu_seconds() -> float:
    """This process's CPU time and its reaped children's (the load generator)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def server_stack() -> str:
    """What uvicorn picks for every server here (``loop="auto"``, ``http="auto"``: the same for all)."""
    import uvicorn

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn {uvicorn.__version__} (loop {loop}, http {http})"


class BaselineServer:
    """bench/baseline_app.py under uvicorn with attest serve's settings (one worker, no access log, no server
    header; loop and HTTP parser uvicorn's "auto", as attest serve)."""

    def __init__(self, workdir: Path, public_pem: Path, name: str = "baseline") -> None:
        self.port = free_port()
        self.log = workdir / f"{name}.log"
        self.env = {**os.environ, "BASELINE_KEY": str(public_pem), "BASELINE_ISS": ISS, "BASELINE_AUD": AUD}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-c",
                 "import uvicorn, baseline_app; uvicorn.run(baseline_app.app, host='127.0.0.1', "
                 f"port={self.port}, log_config=None, access_log=False, server_header=False)"],
                cwd=HERE, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("baseline server did not start: " + self.log.read_text()[-2000:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


# --- load ---------------------------------------------------------------------------------------------------


def _seconds(v: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(2)]


def load_wrk(url: str, path: str, bodies: Path, duration: float, workdir: Path) -> dict[str, Any]:
    script = workdir / "bodies.lua"
    if not script.exists():
        script.write_text(LUA)
    out = subprocess.run(["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{duration:g}s", "--latency", "-s", str(script),  # noqa: S603,S607
                          url, "--", str(bodies), path], capture_output=True, text=True, timeout=duration + 120,
                         check=True)
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.MULTILINE))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {"rps": rps, "p50_ms": _seconds(lat["50"]) * 1e3, "p99_ms": _seconds(lat["99"]) * 1e3,
            "requests": float(total.group(1)) if total else float("nan"),
            "non_2xx": float(non2xx.group(1)) if non2xx else 0.0, "socket_errors": errors.group(1) if errors else "",
            "generator": "wrk"}


def load_python(url: str, path: str, bodies: Path, duration: float) -> dict[str, Any]:
    lines = bodies.read_text().splitlines()

    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        non2xx = 0
        deadline = time.perf_counter() + duration
        counter = iter(range(10**9))
        async with httpx.AsyncClient(base_url=url, timeout=30,
                                     limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
            async def worker() -> None:
                nonlocal non2xx
                while time.perf_counter() < deadline:
                    body = lines[next(counter) % len(lines)]
                    t0 = time.perf_counter()
                    r = await client.post(path, content=body, headers={"content-type": "application/json"})
                    latencies.append(time.perf_counter() - t0)
                    non2xx += r.status_code >= 300
            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            elapsed = time.perf_counter() - t0
        q = statistics.quantiles(latencies, n=100)
        return {"rps": len(latencies) / elapsed, "p50_ms": q[49] * 1e3, "p99_ms": q[98] * 1e3,
                "requests": float(len(latencies)), "non_2xx": float(non2xx), "socket_errors": "",
                "generator": "python-httpx"}

    return asyncio.run(main())


def drive(url: str, path: str, bodies: Path, duration: float, workdir: Path) -> dict[str, Any]:
    if shutil.which("wrk"):
        return load_wrk(url, path, bodies, duration, workdir)
    return load_python(url, path, bodies, duration)


def warm_up(url: str, path: str, bodies: Path, n: int = 200) -> None:
    """Imports, connection pools and caches warmed (bounded: ``n`` requests)."""
    with httpx.Client(base_url=url, timeout=30) as c, bodies.open() as f:
        for _, line in zip(range(n), f, strict=False):
            c.post(path, content=line, headers={"content-type": "application/json"})


# --- dependency statistics -----------------------------------------------------------------------------------


def pg_counters(url: str) -> dict[str, float]:
    """WAL bytes written so far and the audit table's last row number (both current at once, unlike the
    cumulative statistics views, which backends update lazily)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, "
                           "(SELECT coalesce(max(seq), 0) FROM attest_audit_event)").fetchone()
    assert row is not None
    return {"wal_bytes": float(row[0]), "rows": float(row[1])}


def attest_counters(url: str) -> dict[str, float]:
    """Decisions and audit commits so far, from an attest server's /metrics (one process's)."""
    text = httpx.get(url + "/metrics", timeout=10).text
    out = {"decisions": 0.0, "commits": float("nan")}
    for m in re.finditer(r"^attest_decisions_total\{[^}]*\}\s+([\d.e+]+)", text, re.MULTILINE):
        out["decisions"] += float(m.group(1))
    m = re.search(r"^attest_audit_commits_total\s+([\d.e+]+)", text, re.MULTILINE)
    if m:
        out["commits"] = float(m.group(1))
    return out


def redis_calls(url: str) -> float:
    """Commands Redis has executed so far (``INFO commandstats``), without the INFO calls themselves."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return float(sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info"))


# --- the scenario ---------------------------------------------------------------------------------------------


@dataclass
class Variant:
    key: str
    label: str
    url: str
    path: str
    pids: Any  # () -> list[int]: the server's processes
    attest: bool = False
    uses_deps: bool = False
    workers: int = 1
    runs: list[dict[str, Any]] = field(default_factory=list)


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def summarise(v: Variant) -> dict[str, Any]:
    runs = v.runs
    out: dict[str, Any] = {
        "key": v.key, "label": v.label,
        "rps": _median([r["rps"] for r in runs]), "p50_ms": _median([r["p50_ms"] for r in runs]),
        "p99_ms": _median([r["p99_ms"] for r in runs]),
        "rounds_rps": [round(r["rps"]) for r in runs], "rounds_p99_ms": [round(r["p99_ms"], 1) for r in runs],
        "non_2xx": sum(r["non_2xx"] for r in runs), "generator": runs[0]["generator"] if runs else "?",
        "cpu_us_per_request": _median([r["cpu_us"] for r in runs]),
        "other_cores": _median([r["other_cores"] for r in runs]),
        "rounds_other_cores": [round(r["other_cores"], 2) for r in runs],
    }
    for k in ("pg_cpu_us", "redis_cpu_us", "decisions_per_commit", "commits_per_s", "wal_bytes_per_decision",
              "rows_per_decision", "redis_calls_per_decision"):
        vals = [r[k] for r in runs if k in r]
        if vals:
            out[k] = _median(vals)
    return out


def run_all(quick: bool = False, rounds: int | None = None, duration: float | None = None,
            workers: bool = True, attest_env: dict[str, str] | None = None) -> dict[str, Any]:
    duration = duration or (3.0 if quick else 6.0)
    rounds = rounds or (2 if quick else 5)
    per_round = int(MAX_RPS * duration)
    with tempfile.TemporaryDirectory(prefix="attest-bench-") as tmp:
        work = Path(tmp)
        trust, pub, key, jwk = make_issuer(work)
        files = [write_bodies(work / f"bodies-{k}.jsonl", key, jwk, 600 if k == 0 else per_round, f"r{k}")
                 for k in range(rounds + 1)]  # file 0 warms up; then one per round
        pg: PostgresServer | None = None
        redis: RedisServer | None = None
        servers: list[Any] = []
        try:
            try:
                pg = PostgresServer(durable=True)
                redis = RedisServer(persist=True, appendfsync="everysec")
                pg.start()
                redis.start()
            except Exception as exc:  # the SQLite rows are still worth measuring
                print(f"PostgreSQL/Redis not available, their rows are skipped: {exc}", file=sys.stderr)
                pg = redis = None
            deps_pids = lambda: tree([pg.pid if pg else None])  # noqa: E731
            redis_pids = lambda: tree([redis.proc.pid if redis and redis.proc else None])  # noqa: E731
            b_async = BaselineServer(work, pub, "baseline-async")
            b_sync = BaselineServer(work, pub, "baseline-sync")
            common = {"ATTEST_TRUST_STORE": str(trust), "ATTEST_CONTEXT_REQUIRED": "true", "ATTEST_LOG_LEVEL": "INFO",
                      **(attest_env or {})}
            a_dev = AttestServer(work / "attest-dev", env=common, name="attest-dev")
            a_proc = AttestServer(work / "attest-proc", env={**common, "ATTEST_AUDIT_PROCESS": "1"},
                                  name="attest-proc")
            servers = [b_async, b_sync, a_dev, a_proc]
            a_pg = a_w2 = a_pg_proc = None
            if pg is not None and redis is not None:
                pg_env = {**common, "DATABASE_URL": pg.url}
                a_pg = AttestServer(work / "attest-pg", env={**pg_env, "REDIS_URL": redis.url[:-1] + "0"},
                                    name="attest-pg")
                servers.append(a_pg)
                a_pg_proc = AttestServer(work / "attest-pg-proc", name="attest-pg-proc",
                                         env={**pg_env, "REDIS_URL": redis.url[:-1] + "2", "ATTEST_AUDIT_PROCESS": "1"})
                servers.append(a_pg_proc)
                if workers:
                    a_w2 = AttestServer(work / "attest-w2", env={**pg_env, "REDIS_URL": redis.url[:-1] + "1"},
                                        name="attest-w2", args=("--workers", "2"))
                    servers.append(a_w2)
            for s in servers:
                s.start()

            def pids_of(s: Any) -> Any:
                return lambda: tree([s.proc.pid if s.proc else None])

            variants = [
                Variant("baseline-async", "FastAPI `async def` + jwt.decode (reference)", b_async.url, "/v1/verify",
                        pids_of(b_async)),
                Variant("baseline-sync", "FastAPI `def` + jwt.decode", b_sync.url, "/v1/verify-sync",
                        pids_of(b_sync)),
                Variant("attest", "attest serve, defaults (SQLite audit, in-memory replay)", a_dev.url, "/v1/verify",
                        pids_of(a_dev), attest=True),
            ]
            variants.append(Variant("attest-proc", "attest serve, defaults, ATTEST_AUDIT_PROCESS=1", a_proc.url,
                                    "/v1/verify", pids_of(a_proc), attest=True))
            if a_pg is not None:
                variants.append(Variant("attest-pg", "attest serve, PostgreSQL audit + Redis replay", a_pg.url,
                                        "/v1/verify", pids_of(a_pg), attest=True, uses_deps=True))
            if a_pg_proc is not None:
                variants.append(Variant("attest-pg-proc", "attest serve, PostgreSQL + Redis, ATTEST_AUDIT_PROCESS=1",
                                        a_pg_proc.url, "/v1/verify", pids_of(a_pg_proc), attest=True,
                                        uses_deps=True))
            if a_w2 is not None:
                variants.append(Variant("attest-pg-w2", "attest serve --workers 2, PostgreSQL + Redis", a_w2.url,
                                        "/v1/verify", pids_of(a_w2), attest=True, uses_deps=True, workers=2))
            for v in variants:
                warm_up(v.url, v.path, files[0])
            from capacity import fsync_latency_us

            # the disk every audit commit waits for, before and after
            fsync_us = [fsync_latency_us(work, pg) if pg else None]
            load_avg = [os.getloadavg()]
            for k in range(1, rounds + 1):
                shift = (k - 1) % len(variants)
                for v in variants[shift:] + variants[:shift]:
                    measure_round(v, files[k], duration, work, pg.url if pg else "", redis.url if redis else "",
                                  deps_pids, redis_pids)
                load_avg.append(os.getloadavg())
                print(f"  round {k}: " + "  ".join(f"{v.key} {v.runs[-1]['rps']:.0f}" for v in variants),
                      flush=True)
            fsync_us.append(fsync_latency_us(work, pg) if pg else None)
            rss = {v.key: max((peak_rss_mb(p) for p in v.pids()), default=float("nan")) for v in variants}
            decisions = {}
            for v, s in zip(variants, servers, strict=True):
                if v.attest:
                    with s.client() as c:
                        text = c.get("/metrics").text
                    decisions[v.key] = {m.group(1): float(m.group(2)) for m in re.finditer(
                        r'attest_decisions_total\{[^}]*decision="(\w+)"[^}]*\}\s+([\d.e+]+)', text)}
        finally:
            for s in servers:
                with contextlib.suppress(Exception):
                    s.stop()
            for dependency in (redis, pg):
                if dependency is not None:
                    with contextlib.suppress(Exception):
                        dependency.cleanup()
    return report(variants, rss, decisions, rounds, duration, load_avg, fsync_us)


def measure_round(v: Variant, bodies: Path, duration: float, work: Path, pg_url: str, redis_url: str,
                  deps_pids: Any, redis_pids: Any) -> None:
    pids = v.pids()
    pg_p, redis_p = deps_pids(), redis_pids()
    cpu0, pg0, rd0 = cpu_seconds(pids), cpu_seconds(pg_p), cpu_seconds(redis_p)
    busy0, own0 = machine_busy_seconds(), own_cpu_seconds()
    pg_0 = pg_counters(pg_url) if v.uses_deps else None
    calls0 = redis_calls(redis_url) if v.uses_deps else 0.0
    # one process's /metrics: with several workers, the commits are not all counted
    at_0 = attest_counters(v.url) if v.attest and v.workers == 1 else None
    t0 = time.monotonic()
    r = drive(v.url, v.path, bodies, duration, work)
    elapsed = time.monotonic() - t0
    server_cpu = cpu_seconds(pids) - cpu0
    r["cpu_us"] = server_cpu / r["requests"] * 1e6
    # what else kept the two cores busy during the round: everything but the server, its databases, the load
    # generator and this script (other people's work on a shared machine)
    ours = server_cpu + cpu_seconds(deps_pids()) - pg0 + cpu_seconds(redis_pids()) - rd0 + own_cpu_seconds() - own0
    r["other_cores"] = max(0.0, (machine_busy_seconds() - busy0 - ours) / elapsed)
    if v.uses_deps and pg_0 is not None:
        pg_1 = pg_counters(pg_url)
        r["pg_cpu_us"] = (cpu_seconds(deps_pids()) - pg0) / r["requests"] * 1e6
        r["redis_cpu_us"] = (cpu_seconds(redis_pids()) - rd0) / r["requests"] * 1e6
        r["redis_calls_per_decision"] = (redis_calls(redis_url) - calls0) / r["requests"]
        r["wal_bytes_per_decision"] = (pg_1["wal_bytes"] - pg_0["wal_bytes"]) / r["requests"]
        r["rows_per_decision"] = (pg_1["rows"] - pg_0["rows"]) / r["requests"]
    if at_0 is not None:
        at_1 = attest_counters(v.url)
        commits = at_1["commits"] - at_0["commits"]
        if commits == commits and commits > 0:  # not NaN
            r["decisions_per_commit"] = (at_1["decisions"] - at_0["decisions"]) / commits
            r["commits_per_s"] = commits / elapsed
    v.runs.append(r)


def _spread(xs: list[float]) -> str:
    return f"{min(xs):.2f}–{max(xs):.2f}" if xs else "–"


def report(variants: list[Variant], rss: dict[str, float], decisions: dict[str, Any], rounds: int,
           duration: float, load_avg: list[tuple[float, float, float]],
           fsync_us: list[float | None] | None = None) -> dict[str, Any]:
    ref = variants[0]
    rows = {v.key: summarise(v) for v in variants}
    for v in variants:
        rows[v.key]["peak_rss_mb"] = rss.get(v.key, float("nan"))
        ratios = [a["rps"] / b["rps"] for a, b in zip(v.runs, ref.runs, strict=True)]
        p99s = [a["p99_ms"] / b["p99_ms"] for a, b in zip(v.runs, ref.runs, strict=True)]
        rows[v.key]["ratio"] = _median(ratios)
        rows[v.key]["ratio_rounds"] = [round(x, 2) for x in ratios]
        rows[v.key]["p99_ratio"] = rows[v.key]["p99_ms"] / rows[ref.key]["p99_ms"]
        rows[v.key]["p99_ratio_rounds"] = [round(x, 2) for x in p99s]
    scaling = None
    if "attest-pg-w2" in rows:
        one, two = next(v for v in variants if v.key == "attest-pg"), next(v for v in variants
                                                                             if v.key == "attest-pg-w2")
        per_round = [b["rps"] / a["rps"] for a, b in zip(one.runs, two.runs, strict=True)]
        scaling = {"ratio": _median(per_round), "rounds": [round(x, 2) for x in per_round]}
    targets = {
        "attest_vs_async": rows["attest"]["ratio"] >= 1.0,
        "attest_p99": rows["attest"]["p99_ratio"] <= 1.0,
        "attest_pg_vs_async": "attest-pg" in rows and rows["attest-pg"]["ratio"] >= 1.0,
        "attest_pg_p99": "attest-pg" in rows and rows["attest-pg"]["p99_ratio"] <= 1.0,
        "workers": scaling is not None and scaling["ratio"] >= 1.7,
        "rss": all(rows[k]["peak_rss_mb"] <= 150 for k in rows if k.startswith("attest")),
    }

    def mark(ok: bool) -> str:
        return "meets" if ok else "below"

    md = [f"Servers: {server_stack()}, one worker each unless said, no access log; all up at once. wrk, "
          f"{CONCURRENCY} connections on loopback; {rounds} rounds of {duration:g} s against each server, "
          "interleaved (the order rotated every round), after 200 warm-up requests; the median round "
          "reported. Every request a distinct valid ES256 token (~3 KB, the realistic attestation) with "
          "context (practitioner, HPR number, patient); attest answers only after the decision's audit "
          "record is committed (SQLite `synchronous=FULL`; PostgreSQL with fsync and synchronous_commit on). "
          "Ratios are taken round by round against the `async def` baseline of the same round; the spread "
          "is the lowest and highest round. *Other load*: per round, the cores kept busy by processes other than "
          "the server, its databases, the load generator and the benchmark (a shared machine); the "
          "`--workers 2` row needs both cores to itself.", "",
          "| server | req/s | p50 ms | p99 ms | req/s vs async baseline (≥ 1.0) | per-round ratios | "
          "p99 vs async baseline (≤ 1.0) | server CPU µs/req | peak RSS MB | non-2xx | rounds req/s | "
          "other load (cores) |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in rows.items():
        is_ref = key == ref.key
        md.append(f"| {r['label']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                  + ("1.00 | | | " if is_ref else
                     f"{r['ratio']:.2f} | {_spread(r['ratio_rounds'])} | {r['p99_ratio']:.2f} | ")
                  + f"{r['cpu_us_per_request']:.0f} | {r['peak_rss_mb']:.0f} | {r['non_2xx']:.0f} | "
                  f"{r['rounds_rps']} | {r['rounds_other_cores']} |")
    a = rows["attest"]
    md += ["", "Targets (issue 16 item 3):", "",
           f"* attest serve, defaults: {a['ratio']:.2f}× the `async def` baseline "
           f"(rounds {_spread(a['ratio_rounds'])}; target ≥ 1.0: {mark(targets['attest_vs_async'])}), "
           f"p99 {a['p99_ratio']:.2f}× "
           f"(≤ 1.0: {mark(targets['attest_p99'])});"]
    if "attest-pg" in rows:
        p = rows["attest-pg"]
        md.append(f"* attest serve, PostgreSQL + Redis: {p['ratio']:.2f}× (rounds {_spread(p['ratio_rounds'])}; "
                  f"≥ 1.0: {mark(targets['attest_pg_vs_async'])}), p99 {p['p99_ratio']:.2f}× "
                  f"(≤ 1.0: {mark(targets['attest_pg_p99'])});")
    else:
        md.append("* attest serve, PostgreSQL + Redis, and `--workers 2`: not measured (PostgreSQL or Redis could "
                  "not be started; see the run's output);")
    if scaling is not None:
        md.append(f"* `--workers 2` against one worker (PostgreSQL + Redis): {scaling['ratio']:.2f}× "
                  f"(rounds {_spread(scaling['rounds'])}; ≥ 1.7: {mark(targets['workers'])});")
    md.append(f"* peak RSS per attest worker ≤ 150 MB: {mark(targets['rss'])}.")
    with_process = [(k, what) for k, what in (("attest-proc", "defaults"), ("attest-pg-proc", "PostgreSQL + Redis"))
                    if k in rows]
    if with_process:
        md += ["", "With the audit trail recorded by a child process of the worker (`ATTEST_AUDIT_PROCESS=1`, a "
               "setting, off by default; the CPU column counts the child too, the RSS column is the larger of the "
               "two processes): " + "; ".join(
                   f"{what} {rows[k]['ratio']:.2f}× the `async def` baseline "
                   f"(rounds {_spread(rows[k]['ratio_rounds'])}), p99 {rows[k]['p99_ratio']:.2f}×"
                   for k, what in with_process) + "."]
    def deps(r: dict[str, Any]) -> str:
        nan = float("nan")
        commits = (f"{r['decisions_per_commit']:.1f} decisions per commit ({r['commits_per_s']:.0f} commits/s), "
                   if "decisions_per_commit" in r else "commits not counted (one process's /metrics of several), ")
        return (f"{r['label']}: {commits}{r.get('rows_per_decision', nan):.2f} audit rows and "
                f"{r.get('wal_bytes_per_decision', nan) / 1024:.1f} KiB of WAL per decision, "
                f"{r.get('redis_calls_per_decision', nan):.2f} Redis commands per decision; CPU µs per decision: "
                f"PostgreSQL {r.get('pg_cpu_us', nan):.0f}, Redis {r.get('redis_cpu_us', nan):.0f}")

    md += ["", "Per decision with PostgreSQL + Redis (median round; commits from attest's "
           "`attest_audit_commits_total`, Redis commands from `INFO commandstats`, WAL from "
           "`pg_current_wal_lsn()`): " + "; ".join(deps(rows[k]) for k in rows if "pg_cpu_us" in rows[k]) + ".",
           "", "Decisions counted by attest's /metrics (every one should be a permit): "
           + "; ".join(f"{k}: {d}" for k, d in decisions.items()) + ".",
           "", "Load average (1, 5, 15 min) before the first round and after each: "
           + "; ".join(", ".join(f"{x:.2f}" for x in la) for la in load_avg) + ". The disk's fdatasync of 8 kB "
           "(pg_test_fsync, which every audit commit waits for) before the first round and after the last: "
           + " and ".join(f"{x:.0f} µs" if x else "?" for x in (fsync_us or [])) + "."]
    for key, r in rows.items():
        print(f"  {key:15} {r['rps']:6.0f} req/s  p50 {r['p50_ms']:5.1f}  p99 {r['p99_ms']:5.1f} ms  "
              f"ratio {r['ratio']:.2f} {r['ratio_rounds']}  cpu {r['cpu_us_per_request']:.0f} us/req  "
              f"other load {r['rounds_other_cores']} cores")
    if scaling is not None:
        print(f"  workers 2 / 1: {scaling['ratio']:.2f} {scaling['rounds']}")
    return {"rows": rows, "scaling": scaling, "targets": targets, "stack": server_stack(),
            "load_average": load_avg, "fsync_us": fsync_us, "decisions": decisions, "markdown": md}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--no-workers", action="store_true", help="skip the --workers 2 server")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--attest-env", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting for every attest server (to compare settings, e.g. ATTEST_AUDIT_COMMIT_WAIT_MS=0)")
    args = ap.parse_args()
    # SIGTERM (a timeout, a stopped job) ends the run through its finally blocks: every server it started stops
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = run_all(args.quick, args.rounds, args.duration, workers=not args.no_workers,
                  attest_env=dict(kv.split("=", 1) for kv in args.attest_env))
    print("\n".join(out["markdown"]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
