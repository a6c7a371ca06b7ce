"""Service benchmark: `attest serve` (audit trail + replay cache on) against a plain FastAPI endpoint that only
calls ``jwt.decode``, same uvicorn settings (one worker, no access log), same load generator, loopback only,
bounded duration.

Every request carries a different, valid token (distinct ``jti``), so attest's replay cache and audit trail do
real work on every request. Load: wrk (Debian package ``wrk``) with a Lua script cycling through the tokens;
without wrk, a Python asyncio generator with the same concurrency. Measured: requests/s, p50/p99 latency, and
the peak RSS (VmHWM) of the server process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from attest import generate_private_key, public_jwk  # noqa: E402
from attest.jose import sign_compact  # noqa: E402
from attest.keys import private_key_pem  # noqa: E402
from library import AUD, HPR, ISS, PATIENT, PID, realistic_attestation  # noqa: E402
from tests.support.servers import AttestServer, PostgresServer, RedisServer, free_port  # noqa: E402

CONCURRENCY = 16
LUA = """
local bodies = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/verify", {["Content-Type"] = "application/json"}, bodies[((i - 1) % #bodies) + 1])
end
"""


def make_tokens(workdir: Path, n: int) -> tuple[Path, Path, Path]:
    """An ES256 issuer, its trust store, and ``n`` request bodies with distinct valid tokens."""
    key = generate_private_key("ES256")
    jwk = public_jwk(key, "ES256")
    (workdir / "issuer.pem").write_bytes(private_key_pem(key))
    (workdir / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (workdir / "trust.yaml").write_text(json.dumps({"audience": AUD, "issuers": [
        {"iss": ISS, "name": "OUS", "legal_entities": ["993467049"], "member": True, "jwks_file": "jwks.json"}]}))
    now = int(time.time())
    att = realistic_attestation(now)
    header = {"alg": "ES256", "kid": jwk["kid"], "typ": "attestation+jwt"}
    context = {"authenticated_pid": PID, "authenticated_hpr": HPR, "patient_id": PATIENT}
    bodies = workdir / "bodies.jsonl"
    with bodies.open("w") as f:
        for i in range(n):
            claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 1800, "jti": f"bench-{now}-{i}",
                      "attestation": att}
            f.write(json.dumps({"token": sign_compact(header, claims, key, "ES256"), "context": context}) + "\n")
    return workdir / "trust.yaml", workdir / "issuer.pem", bodies


class BaselineServer:
    """The plain FastAPI + PyJWT endpoint (bench/baseline_app.py) under uvicorn with attest's settings."""

    def __init__(self, workdir: Path, public_pem: Path) -> None:
        self.port = free_port()
        self.log = workdir / "baseline.log"
        self.env = {**os.environ, "BASELINE_KEY": str(public_pem), "BASELINE_ISS": ISS, "BASELINE_AUD": AUD}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
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


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _seconds(v: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(2)]


def load_wrk(url: str, bodies: Path, duration: int, workdir: Path) -> dict[str, float]:
    script = workdir / "bodies.lua"
    script.write_text(LUA)
    out = subprocess.run(["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{duration}s", "--latency", "-s", str(script),
                          url, "--", str(bodies)], capture_output=True, text=True, timeout=duration + 120, check=True)
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.MULTILINE))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    return {"rps": rps, "p50_ms": _seconds(lat["50"]) * 1e3, "p99_ms": _seconds(lat["99"]) * 1e3,
            "requests": float(total.group(1)) if total else float("nan"),
            "non_2xx": float(non2xx.group(1)) if non2xx else 0.0, "generator": "wrk"}


def load_python(url: str, bodies: Path, duration: int) -> dict[str, float]:
    lines = bodies.read_text().splitlines()

    async def main() -> dict[str, float]:
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
                    r = await client.post("/v1/verify", content=body, headers={"content-type": "application/json"})
                    latencies.append(time.perf_counter() - t0)
                    non2xx += r.status_code >= 300
            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            elapsed = time.perf_counter() - t0
        q = statistics.quantiles(latencies, n=100)
        return {"rps": len(latencies) / elapsed, "p50_ms": q[49] * 1e3, "p99_ms": q[98] * 1e3,
                "requests": float(len(latencies)), "non_2xx": float(non2xx), "generator": "python-httpx"}

    return asyncio.run(main())


def warm_up(url: str, bodies: Path) -> None:
    """Imports, connection pools and caches warmed (bounded: 50 requests)."""
    with httpx.Client(base_url=url, timeout=30) as c:
        for line in bodies.read_text().splitlines()[:50]:
            c.post("/v1/verify", content=line, headers={"content-type": "application/json"})


def drive(url: str, bodies: Path, duration: int, workdir: Path) -> dict[str, float]:
    if shutil.which("wrk"):
        return load_wrk(url, bodies, duration, workdir)
    return load_python(url, bodies, duration)


def _median_run(runs: list[dict[str, float]]) -> dict[str, Any]:
    """The run with the median throughput, with every round's numbers kept alongside."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    mid = dict(ordered[len(ordered) // 2])
    mid["rounds_rps"] = [round(r["rps"]) for r in runs]
    mid["rounds_p99_ms"] = [round(r["p99_ms"], 1) for r in runs]
    mid["p99_ms"] = statistics.median(r["p99_ms"] for r in runs)
    mid["p50_ms"] = statistics.median(r["p50_ms"] for r in runs)
    return mid


def scenario(name: str, workdir: Path, duration: int, rounds: int, n_tokens: int,
             attest_env: dict[str, str]) -> dict[str, Any]:
    """Both servers up at once; ``rounds`` alternating runs of the same load against each (so that machine
    load hits both alike); the median round of each is reported. attest gets fresh tokens every round (a
    token replayed would be a deny, not the same work)."""
    trust, issuer_pem, bodies = make_tokens(workdir, n_tokens)
    lines = bodies.read_text().splitlines()
    per_round = len(lines) // (rounds + 1)
    round_files = []
    for k in range(rounds + 1):  # file 0 warms up; then one per round
        f = workdir / f"bodies-{k}.jsonl"
        f.write_text("\n".join(lines[k * per_round:(k + 1) * per_round]) + "\n")
        round_files.append(f)
    pub = workdir / "issuer.pub.pem"
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(issuer_pem.read_bytes(), None)
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    base = BaselineServer(workdir, pub)
    server = AttestServer(workdir / "attest-data", env={"ATTEST_TRUST_STORE": str(trust), **attest_env}, name=name)
    base_runs: list[dict[str, float]] = []
    attest_runs: list[dict[str, float]] = []
    try:
        base.start()
        server.start()
        warm_up(base.url, round_files[0])
        warm_up(server.url, round_files[0])
        for k in range(1, rounds + 1):
            base_runs.append(drive(base.url, round_files[k], duration, workdir))
            attest_runs.append(drive(server.url, round_files[k], duration, workdir))
        baseline, attest = _median_run(base_runs), _median_run(attest_runs)
        assert base.proc is not None and server.proc is not None
        baseline["peak_rss_mb"] = peak_rss_mb(base.proc.pid)
        attest["peak_rss_mb"] = peak_rss_mb(server.proc.pid)
        with server.client() as c:
            token = c.get("/metrics").text
        attest["decisions"] = {m.group(1): float(m.group(2)) for m in
                               re.finditer(r'attest_decisions_total\{[^}]*decision="(\w+)"[^}]*\}\s+([\d.e+]+)', token)}
    finally:
        base.stop()
        server.stop()
    return {"name": name, "attest": attest, "baseline": baseline,
            "throughput_ratio": attest["rps"] / baseline["rps"],
            "p99_ratio": attest["p99_ms"] / baseline["p99_ms"]}


def run_all(quick: bool = False) -> dict[str, Any]:
    duration, rounds = (3, 1) if quick else (6, 3)
    n_tokens = 6000 if quick else 30000
    results = []
    with tempfile.TemporaryDirectory(prefix="attest-bench-") as tmp:
        work = Path(tmp)
        (work / "sqlite").mkdir()
        results.append(scenario("attest (SQLite audit, in-memory replay)", work / "sqlite", duration, rounds,
                                n_tokens, {}))
        pg, redis = PostgresServer(), RedisServer()
        try:
            pg.start()
            redis.start()
            (work / "pg").mkdir()
            results.append(scenario("attest (PostgreSQL audit, Redis replay)", work / "pg", duration, rounds,
                                    n_tokens, {"DATABASE_URL": pg.url, "REDIS_URL": redis.url}))
        except Exception as exc:  # noqa: BLE001 - report, do not lose the first scenario
            print(f"PostgreSQL/Redis scenario skipped: {exc}", file=sys.stderr)
        finally:
            with contextlib.suppress(Exception):
                redis.cleanup()
            with contextlib.suppress(Exception):
                pg.cleanup()
    md = ["One uvicorn worker each, both servers up at once, 16 concurrent connections on loopback; "
          f"{rounds} alternating rounds of {duration} s against each (after 50 warm-up requests), the median "
          "round reported (every round's req/s in the last column); every request a distinct valid ES256 "
          "token (~3 KB) with context (practitioner, HPR number, patient).", "",
          "| server | req/s | p50 ms | p99 ms | peak RSS MB | non-2xx | throughput vs baseline (≥ 1.0) | "
          "p99 vs baseline (≤ 1.0) | rounds req/s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        b, a = r["baseline"], r["attest"]
        md.append(f"| FastAPI + jwt.decode (baseline) | {b['rps']:.0f} | {b['p50_ms']:.1f} | {b['p99_ms']:.1f} | "
                  f"{b['peak_rss_mb']:.0f} | {b['non_2xx']:.0f} | | | {b['rounds_rps']} |")
        md.append(f"| {r['name']} | {a['rps']:.0f} | {a['p50_ms']:.1f} | {a['p99_ms']:.1f} | {a['peak_rss_mb']:.0f} | "
                  f"{a['non_2xx']:.0f} | {r['throughput_ratio']:.2f} | {r['p99_ratio']:.2f} | {a['rounds_rps']} |")
    gen = results[0]["attest"]["generator"] if results else "?"
    md += ["", f"Load generator: {gen}. attest decisions counted by its /metrics: "
           + "; ".join(f"{r['name']}: {r['attest'].get('decisions')}" for r in results)]
    for r in results:
        print(f"{r['name']}: attest {r['attest']['rps']:.0f} req/s p99 {r['attest']['p99_ms']:.1f} ms "
              f"RSS {r['attest']['peak_rss_mb']:.0f} MB | baseline {r['baseline']['rps']:.0f} req/s "
              f"p99 {r['baseline']['p99_ms']:.1f} ms | ratio {r['throughput_ratio']:.2f}")
    return {"results": results, "markdown": md}
