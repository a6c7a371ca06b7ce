"""HelseID-path benchmark (issue 10): an access token carrying the enriched attestation (~3 KB, RS256) with an
ES256 DPoP proof, verified by attest against what a Python team writes today.

Library, one core, variants interleaved round by round:

- ``pyjwt``: ``jwt.decode`` of the access token (RS256, audience and issuer), ``jwt.decode`` of the proof with
  the key from its own ``jwk`` header (``PyJWK``), then the ``typ``, ``ath``, ``htm``, ``htu``, ``iat`` and
  ``cnf.jkt`` comparisons by hand (RFC 7638 thumbprint with hashlib);
- ``attest``: ``attest.verify`` with profile ``helseid-at-1.0``: every rule of the attestation, every
  cross-check with HelseID's claims, the user's security level, the scopes, every DPoP check, and the proof's
  ``jti`` recorded in an in-memory replay cache (a fresh proof per call, as in production).

Service (``python bench/run.py`` with wrk and nginx installed): the forward-auth endpoint ``/v1/authorize``
of ``attest serve`` behind nginx (``deploy/nginx-forward-auth.conf``, auth_request) against the same PyJWT
checks served by FastAPI (``async def``) behind the same nginx; the upstream is a static answer of nginx
itself, so the auth hop is what is measured.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
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
import jwt

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from attest import MemoryReplayCache, TrustStore, VerifyContext, load_private_key, load_profile, verify  # noqa: E402
from attest.helseid import access_token, dpop_proof  # noqa: E402
from attest.keys import public_jwk  # noqa: E402

ISSUER = "https://helseid-sts.test.example"
AUDIENCE = "nhn:phr"
SCOPE = ["nhn:phr/mhd/read-documentreferences", "nhn:phr/mhd/read-document"]
URL = "https://api.source.example/fhir/DocumentReference"
PATIENT = "13116900216"
KEYS = ROOT / "keys_example"


def enriched_attestation() -> dict[str, Any]:
    return json.loads((ROOT / "examples" / "helseid-enriched-attestation.json").read_text())


def _keys() -> tuple[Any, str, Any]:
    helseid = load_private_key(KEYS / "helseid-test" / "private.pem")
    kid = json.loads((KEYS / "helseid-test" / "public.jwk.json").read_text())["kid"]
    return helseid, kid, load_private_key(KEYS / "epj-dpop" / "private.pem")


def trust_store(dpop_max_age: int = 10) -> TrustStore:
    helseid, kid, _ = _keys()
    return TrustStore.from_dict({"authorization_servers": [{
        "issuer": ISSUER, "jwks": {"keys": [public_jwk(helseid, "RS256", kid=kid)]}, "audience": AUDIENCE,
        "required_scopes": ["nhn:phr/mhd/read-documentreferences"], "dpop": "required", "algorithms": ["RS256"],
        "dpop_max_age": dpop_max_age}]})


def make_token(now: int, lifetime: int = 3600) -> str:
    helseid, kid, dpop_key = _keys()
    return access_token(enriched_attestation(), key=helseid, kid=kid, issuer=ISSUER, audience=AUDIENCE,
                        client_id="2141d734-7604-42ca-a377-27f1b712f4e6", pid="05086900124", hpr_number="222200068",
                        name="BEN REDDIK", scope=SCOPE, dpop_key=dpop_key, orgnr_parent="993467049",
                        orgnr_child="874716782", lifetime=lifetime, now=now,
                        client_name="NORSK HELSENETT SF - Patient Health Records API EPJ",
                        client_tenancy="multi-tenant", orgnr_supplier="213710192")


def make_proofs(token: str, n: int, now: int, url: str = URL, method: str = "GET") -> list[str]:
    _, _, dpop_key = _keys()
    return [dpop_proof(dpop_key, method=method, url=url, access_token=token, now=now, jti=f"bench-{now}-{i}")
            for i in range(n)]


# --- the baseline: what a Python team writes with PyJWT ---------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(jwk: dict[str, Any]) -> str:
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def baseline_check(token: str, proof: str, method: str, url: str, now: int, helseid_public: Any) -> bool:
    """jwt.decode of both JWTs and the DPoP comparisons by hand (no rules, no replay cache)."""
    claims = jwt.decode(token, helseid_public, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER,
                        options={"verify_exp": False})  # compared with the run's fixed clock below, as attest's
    if claims["exp"] <= now:
        return False
    header = jwt.get_unverified_header(proof)
    if header.get("typ") != "dpop+jwt" or header.get("alg") not in ("ES256", "RS256", "PS256"):
        return False
    jwk = header["jwk"]
    key = jwt.PyJWK(jwk, algorithm=header["alg"]).key
    p = jwt.decode(proof, key, algorithms=[header["alg"]])
    ath = _b64url(hashlib.sha256(token.encode()).digest())
    return (p.get("ath") == ath and p.get("htm") == method and p.get("htu") == url
            and abs(now - p.get("iat", 0)) <= 10 and _thumbprint(jwk) == claims["cnf"]["jkt"])


# --- library measurement ------------------------------------------------------------------------------------------

def measure_library(rounds: int = 7, per_round: int = 1500) -> dict[str, Any]:
    now = int(time.time())
    token = make_token(now)
    trust = trust_store()
    prof = load_profile("helseid-at-1.0")
    helseid_public = _keys()[0].public_key()
    proofs = make_proofs(token, 2 * rounds * per_round + 10, now)
    cache = MemoryReplayCache(clock=lambda: now)
    base_ctx = VerifyContext(now=now, http_method="GET", http_url=URL, authorization_scheme="DPoP",
                             patient_id=PATIENT)
    # both sides are correct on the inputs they time
    first = verify(token, trust, prof, _with(base_ctx, proofs[-1]), replay=cache)
    assert first.permitted and not first.warnings, (first.codes, first.warnings)
    assert baseline_check(token, proofs[-2], "GET", URL, now, helseid_public)
    it_attest = iter(proofs[: rounds * per_round])
    it_base = iter(proofs[rounds * per_round: 2 * rounds * per_round])

    def attest_once() -> None:
        d = verify(token, trust, prof, _with(base_ctx, next(it_attest)), replay=cache)
        if not d.permitted:
            raise AssertionError(d.codes)

    def pyjwt_once() -> None:
        if not baseline_check(token, next(it_base), "GET", URL, now, helseid_public):
            raise AssertionError("baseline denied")

    samples: dict[str, list[float]] = {"pyjwt": [], "attest": []}
    for _ in range(rounds):
        for name, fn in (("pyjwt", pyjwt_once), ("attest", attest_once)):
            t0 = time.perf_counter()
            for _ in range(per_round):
                fn()
            samples[name].append(per_round / (time.perf_counter() - t0))
    ratios = [a / b for a, b in zip(samples["attest"], samples["pyjwt"], strict=True)]
    return {"token_bytes": len(token), "proof_bytes": len(proofs[0]), "rounds": rounds, "per_round": per_round,
            "pyjwt": statistics.median(samples["pyjwt"]), "attest": statistics.median(samples["attest"]),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "samples": samples}


def _with(ctx: VerifyContext, proof: str) -> VerifyContext:
    return dataclasses.replace(ctx, dpop_proof=proof)


# --- service: forward-auth behind nginx ----------------------------------------------------------------------------

LUA = """
local lines = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
end
request = function()
  i = i + 1
  local line = lines[((i - 1) % #lines) + 1]
  local tab = string.find(line, "\\t", 1, true)
  return wrk.format("GET", "/fhir/DocumentReference?patient.identifier=urn:oid:2.16.578.1.12.4.1.4.1%7C13116900216",
                    {["Authorization"] = "DPoP " .. string.sub(line, 1, tab - 1), ["DPoP"] = string.sub(line, tab + 1)})
end
"""

BASELINE_APP = '''
"""Forward-auth as a Python team writes it: FastAPI (async def) + the PyJWT checks of bench/helseid.py."""
import os, sys, time
sys.path.insert(0, os.environ["BENCH_DIR"])
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import FastAPI, Request, Response
import helseid

app = FastAPI()
KEY = load_pem_public_key(open(os.environ["BASELINE_KEY"], "rb").read())
NOW = int(os.environ["BENCH_NOW"])

@app.get("/healthz")
async def healthz():
    return {"status": "ok"}

@app.get("/v1/authorize")
async def authorize(request: Request):
    h = request.headers
    scheme, _, token = h.get("authorization", "").partition(" ")
    try:
        ok = scheme == "DPoP" and helseid.baseline_check(token, h.get("dpop", ""), h.get("x-forwarded-method"),
                                                         h.get("x-original-url", "").split("?")[0], NOW, KEY)
    except Exception:
        ok = False
    return Response(status_code=200 if ok else 401)
'''


def _static_upstream(conf: str, port: int) -> str:
    """An nginx-internal upstream that answers at once (the auth hop is what is measured)."""
    server = (f"    server {{\n        listen 127.0.0.1:{port};\n        location / {{ default_type application/json; "
              'return 200 \'{"resourceType":"Bundle","type":"searchset","total":0}\'; }\n    }\n')
    return conf.rstrip().rstrip("}") + server + "}\n"


def measure_forward_auth(duration: int = 10, rounds: int = 3, concurrency: int = 16) -> dict[str, Any] | None:
    """attest's /v1/authorize vs the FastAPI + PyJWT forward-auth, each behind the same nginx config. None when
    wrk or nginx is missing."""
    from tests.support.gateway import Nginx, nginx_binary
    from tests.support.servers import AttestServer, free_port

    if shutil.which("wrk") is None or nginx_binary() is None:
        print("forward-auth benchmark skipped: needs wrk and nginx (apt-get install wrk nginx)", file=sys.stderr)
        return None
    work = Path(tempfile.mkdtemp(prefix="attest-bench-fa-"))
    now = int(time.time())
    token = make_token(now, lifetime=3600)
    (work / "trust.json").write_text(json.dumps({"audience": AUDIENCE, "authorization_servers": [{
        "issuer": ISSUER, "jwks_file": str(KEYS / "helseid-test" / "jwks.json"), "audience": AUDIENCE,
        "required_scopes": ["nhn:phr/mhd/read-documentreferences"], "dpop_max_age": 3600}]}))
    from cryptography.hazmat.primitives import serialization

    pem = _keys()[0].public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    (work / "helseid.pub.pem").write_bytes(pem)
    (work / "baseline_fa.py").write_text(BASELINE_APP)
    (work / "script.lua").write_text(LUA)
    attest = AttestServer(work / "attest", {"ATTEST_TRUST_STORE": str(work / "trust.json"),
                                            "ATTEST_TRUSTED_PROXIES": "127.0.0.1",
                                            **({"ATTEST_AUDIT_COMMIT_WAIT_MS": os.environ["BENCH_COMMIT_WAIT_MS"]}
                                               if "BENCH_COMMIT_WAIT_MS" in os.environ else {})},
                          name="attest-bench")
    base_port = free_port()
    base_env = {**os.environ, "BENCH_DIR": str(HERE), "BASELINE_KEY": str(work / "helseid.pub.pem"),
                "BENCH_NOW": str(now)}
    baseline = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", "import uvicorn, baseline_fa; uvicorn.run(baseline_fa.app, host='127.0.0.1', "
                               f"port={base_port}, log_config=None, access_log=False, server_header=False)"],
        cwd=work, env=base_env, stdout=subprocess.DEVNULL, stderr=(work / "baseline.log").open("wb"))
    gateways: dict[str, Any] = {}
    try:
        attest.start()
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{base_port}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        for name, auth_port in (("attest", attest.port), ("pyjwt", base_port)):
            up = free_port()
            g = Nginx([auth_port], up)
            g.conf.write_text(_static_upstream(g.conf.read_text(), up))
            g.start()
            gateways[name] = g
        # a trial run sizes the proof lists: each proof is used once (attest refuses a replayed proof)
        trial = _wrk(gateways["attest"], work, _lines(work, token, gateways["attest"], now, 2000), 2, concurrency)
        per_round = int(trial["rps"] * duration * 1.5) + 1000
        results: dict[str, list[dict[str, float]]] = {"attest": [], "pyjwt": []}
        for r in range(rounds):
            for name in ("pyjwt", "attest"):
                lines = _lines(work, token, gateways[name], now, per_round, tag=f"{name}{r}")
                pid = attest.proc.pid if name == "attest" and attest.proc is not None else baseline.pid
                out = _wrk(gateways[name], work, lines, duration, concurrency, pid)
                if out["requests"] > per_round or out["non_2xx"]:
                    raise RuntimeError(f"{name}: {out['non_2xx']:.0f} refused of {out['requests']:.0f} requests "
                                       f"({per_round} proofs)")
                results[name].append(out)
        ratios = [a["rps"] / b["rps"] for a, b in zip(results["attest"], results["pyjwt"], strict=True)]
        med = {name: {k: statistics.median(o[k] for o in outs)
                      for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_request")}
               for name, outs in results.items()}
        return {"duration": duration, "rounds": rounds, "concurrency": concurrency, "attest": med["attest"],
                "pyjwt": med["pyjwt"], "ratio": statistics.median(ratios), "ratio_min": min(ratios),
                "ratio_max": max(ratios), "rounds_detail": results}
    finally:
        for g in gateways.values():
            g.stop()
        attest.cleanup()
        baseline.terminate()
        baseline.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def _lines(work: Path, token: str, gateway: Any, now: int, n: int, tag: str = "trial") -> Path:
    url = gateway.origin + "/fhir/DocumentReference"
    path = work / f"requests-{tag}.tsv"
    _, _, dpop_key = _keys()
    with path.open("w") as f:
        for i in range(n):
            f.write(token + "\t" + dpop_proof(dpop_key, method="GET", url=url, access_token=token, now=now,
                                              jti=f"{tag}-{i}") + "\n")
    return path


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process (and the threads it has), from /proc."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(gateway: Any, work: Path, lines: Path, duration: int, concurrency: int,
         server_pid: int | None = None) -> dict[str, float]:
    from service import _seconds  # the same parsing as the service benchmark

    cpu0 = _cpu_seconds(server_pid)
    args = ["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--latency", "-s", str(work / "script.lua"),
            gateway.origin, "--", str(lines)]
    # the load generator (wrk from PATH) with our own arguments
    out = subprocess.run(args, capture_output=True, text=True, timeout=duration + 120, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.MULTILINE))
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = float(total.group(1)) if total else float("nan")
    return {"rps": rps, "p50_ms": _seconds(lat["50"]) * 1e3, "p99_ms": _seconds(lat["99"]) * 1e3,
            "requests": requests, "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
            "server_cpu_us_per_request": (_cpu_seconds(server_pid) - cpu0) / requests * 1e6}


def report(lib: dict[str, Any], fa: dict[str, Any] | None) -> list[str]:
    """The RESULTS.md section."""
    lines = [
        "## HelseID path: access token + DPoP proof (issue 10)",
        "",
        f"Access token with the enriched attestation ({lib['token_bytes']} bytes, RS256 2048) and an ES256 DPoP "
        f"proof ({lib['proof_bytes']} bytes), a fresh proof per call. `pyjwt` = `jwt.decode` of the token "
        "(audience, issuer) and of the proof with the key from its `jwk` header, then `typ`, `ath`, `htm`, "
        "`htu`, `iat` and `cnf.jkt` compared by hand (bench/helseid.py `baseline_check`); `attest` = "
        "`attest.verify` with `helseid-at-1.0`: every rule, every cross-check with HelseID's claims, the "
        "security level, the scopes, every DPoP check and the proof's `jti` recorded in an in-memory replay "
        f"cache. Median of {lib['rounds']} interleaved rounds of {lib['per_round']} calls.",
        "",
        "| variant | verifications/s | attest / pyjwt (target ≥ 2.0, issue 16) | spread of the per-round ratio |",
        "|---|---|---|---|",
        f"| pyjwt | {lib['pyjwt']:.0f} | | |",
        f"| attest | {lib['attest']:.0f} | {lib['ratio']:.2f} ({'meets' if lib['ratio'] >= 2.0 else 'below'}) | "
        f"{lib['ratio_min']:.2f}–{lib['ratio_max']:.2f} |",
        "",
    ]
    if fa is None:
        lines += ["Forward-auth behind nginx: not measured in this run (needs wrk and nginx).", ""]
        return lines
    lines += [
        f"Forward-auth behind nginx (`deploy/nginx-forward-auth.conf`, auth_request; upstream a static nginx "
        f"answer): `attest serve` `/v1/authorize` with its defaults (SQLite audit trail committed before every "
        f"answer, in-memory replay cache, one log line per request) against the PyJWT checks above in a FastAPI "
        f"`async def` endpoint (no audit, no replay cache, no log), both one uvicorn "
        f"worker. wrk, {fa['concurrency']} connections, {fa['duration']} s per round, {fa['rounds']} "
        "interleaved rounds, every request a fresh proof (no refusals).",
        "",
        "| variant | requests/s | p50 ms | p99 ms | server CPU µs per request |",
        "|---|---|---|---|---|",
        f"| pyjwt behind nginx | {fa['pyjwt']['rps']:.0f} | {fa['pyjwt']['p50_ms']:.1f} | "
        f"{fa['pyjwt']['p99_ms']:.1f} | {fa['pyjwt']['server_cpu_us_per_request']:.0f} |",
        f"| attest behind nginx | {fa['attest']['rps']:.0f} | {fa['attest']['p50_ms']:.1f} | "
        f"{fa['attest']['p99_ms']:.1f} | {fa['attest']['server_cpu_us_per_request']:.0f} |",
        "",
        f"attest / pyjwt: {fa['ratio']:.2f} (target ≥ 1.0: {'meets' if fa['ratio'] >= 1.0 else 'below'}); "
        f"per-round ratios {fa['ratio_min']:.2f}–{fa['ratio_max']:.2f}.",
        "",
    ]
    return lines


if __name__ == "__main__":
    lib = measure_library()
    print(json.dumps({k: v for k, v in lib.items() if k != "samples"}, indent=2))
    fa = measure_forward_auth() if "--service" in sys.argv else None
    if fa is not None:
        print(json.dumps({k: v for k, v in fa.items() if k != "rounds_detail"}, indent=2))
