"""Fault injection under load, on loopback: PostgreSQL, Redis and two ``attest serve`` instances, the second
with its audit trail recorded by its audit process (``ATTEST_AUDIT_PROCESS``): the invariants hold for both.

Client threads send distinct valid tokens (and replays of tokens they were permitted) to both instances
while the test, in turn: stops PostgreSQL and starts it again; stops Redis (append-only file, as in
production) and starts it again; freezes Redis (SIGSTOP) and resumes it; kills one instance with SIGKILL and
starts it again. Each answer is
recorded (status, decision, codes, jti). Afterwards the audit table is read directly from PostgreSQL and
every row opened with the key ring. The invariants:

* every permit a client received has its AuditEvent (a permit row for that iss and jti);
* every stored row opens (AES-GCM, bound to its id), parses, and is consistent with its clear columns; the
  AuditEvent is valid FHIR R4; every verification has all its rows (one per patient);
* no (iss, jti) was permitted twice, neither in what clients received nor in the audit trail; every replay
  was refused (``token_replayed``) or got 503;
* a 503 carries no decision; a token that got 503 was not used up (presented again afterwards, it is
  permitted), except while Redis hung (SIGSTOP), where it may have been: then it is refused as
  ``token_replayed``, never permitted twice;
* after each fault both instances are ready again without a restart (only the killed one is restarted),
  and serve permits.

The counts are printed in the session summary (tests/conftest.py).
"""

from __future__ import annotations

import random
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from attest.audit.sealing import KeyRing
from attest.audit.store import COLUMNS, AuditRow
from attest.audit.trail import AuditTrail

from ..support.servers import AttestServer, Cluster, PostgresServer, two_instance_cluster, wait_until
from ..support.service import ADMIN_TOKEN, fresh_token, key_ring
from ..support.summary import record

pytestmark = pytest.mark.integration

ISS = "https://epj.fagersta.example"
CLIENT_THREADS = 4
REPLAY_EVERY = 5          # every fifth request of a thread replays a token some client was permitted
FAULT_SECONDS = 2.5       # how long each dependency stays down
LOAD_BETWEEN = 1.5        # normal load between the faults


@dataclass
class Answer:
    phase: str
    target: str
    kind: str             # fresh | replay | retry
    jti: str
    token: str
    status: int | None    # None: no answer (connection refused or reset: the SIGKILLed instance)
    decision: str | None = None
    codes: tuple[str, ...] = ()
    ended: str = ""       # the phase when the answer came
    seconds: float = 0.0


@dataclass
class Load:
    servers: list[AttestServer]
    phase: str = "warm-up"
    answers: list[Answer] = field(default_factory=list)
    permitted: list[tuple[str, str]] = field(default_factory=list)  # (jti, token)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, client: httpx.Client, target: AttestServer, token: str, jti: str, kind: str) -> Answer:
        phase = self.phase
        t0 = time.monotonic()
        try:
            r = client.post(f"{target.url}/v1/verify", json={"token": token})
        except httpx.TransportError as exc:
            a = Answer(phase, target.name, kind, jti, token, None, codes=(type(exc).__name__,))
        else:
            body = r.json()
            if r.status_code == 503:
                assert r.headers["content-type"].startswith("application/problem+json"), r.text
                assert "decision" not in body, body
                a = Answer(phase, target.name, kind, jti, token, 503)
            else:
                assert r.status_code == 200, (r.status_code, r.text[:300])
                a = Answer(phase, target.name, kind, jti, token, 200, body["decision"],
                           tuple(e["code"] for e in body["errors"]))
        a.ended, a.seconds = self.phase, time.monotonic() - t0
        with self.lock:
            self.answers.append(a)
            if a.decision == "permit":
                self.permitted.append((jti, token))
        return a

    def client_loop(self, seed: int) -> None:
        rnd = random.Random(seed)
        n = 0
        with httpx.Client(timeout=30.0) as client:
            while not self.stop.is_set():
                n += 1
                target = self.servers[n % len(self.servers)]
                with self.lock:
                    candidates = self.permitted[-200:]
                if n % REPLAY_EVERY == 0 and candidates:
                    jti, token = rnd.choice(candidates)
                    self.send(client, target, token, jti, "replay")
                    continue
                jti = f"fault-{seed}-{n}-{rnd.getrandbits(32):08x}"
                if self.send(client, target, fresh_token(jti=jti), jti, "fresh").status is None:
                    time.sleep(0.05)  # the instance is down: do not spin


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with two_instance_cluster(Path(tmp_path_factory.mktemp("faults")), key_ring("faults-1"), ADMIN_TOKEN, redis_persist=True,
                              b_env={"ATTEST_AUDIT_PROCESS": "1"}) as c:
        yield c


def _ready(c: Cluster, timeout: float = 60.0) -> float:
    """Seconds until both instances answer /readyz 200 (a bound on waiting, not a timing check)."""
    t0 = time.monotonic()
    for s in (c.a, c.b):
        assert wait_until(s.ready, timeout=timeout, interval=0.1), s.log_tail()
    return time.monotonic() - t0


def _audit_rows(pg: PostgresServer) -> list[AuditRow]:
    import psycopg

    with psycopg.connect(pg.url, autocommit=True) as conn:
        sql = f"SELECT seq, {', '.join(COLUMNS)} FROM attest_audit_event ORDER BY seq"  # noqa: S608 - fixed names
        rows = conn.execute(sql).fetchall()
    out = []
    for r in rows:
        d = dict(zip(("seq", *COLUMNS), r, strict=True))
        d["sealed"] = bytes(d["sealed"])
        out.append(AuditRow(**d))
    return out


def test_faults_under_load_keep_the_invariants(cluster: Cluster) -> None:
    c = cluster
    _ready(c)
    pid_b = c.b.proc.pid if c.b.proc else None
    load = Load([c.a, c.b])
    threads = [threading.Thread(target=load.client_loop, args=(i,), daemon=True) for i in range(CLIENT_THREADS)]
    recovery: dict[str, float] = {}
    started = time.monotonic()
    for t in threads:
        t.start()
    try:
        time.sleep(LOAD_BETWEEN)

        load.phase = "postgres-down"
        c.pg.stop()
        time.sleep(FAULT_SECONDS)
        load.phase = "postgres-back"
        c.pg.start()
        recovery["postgres"] = _ready(c)
        time.sleep(LOAD_BETWEEN)

        load.phase = "redis-down"
        c.redis.stop()
        time.sleep(FAULT_SECONDS)
        load.phase = "redis-back"
        c.redis.start()
        recovery["redis"] = _ready(c)
        time.sleep(LOAD_BETWEEN)

        load.phase = "redis-stalled"  # SIGSTOP: connections hang until ATTEST_DEPENDENCY_TIMEOUT
        assert c.redis.proc is not None
        c.redis.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(FAULT_SECONDS)
        finally:
            c.redis.proc.send_signal(signal.SIGCONT)
        load.phase = "redis-resumed"
        recovery["redis-stall"] = _ready(c)
        time.sleep(LOAD_BETWEEN)

        load.phase = "api-a-killed"
        assert c.a.proc is not None
        c.a.proc.send_signal(signal.SIGKILL)
        c.a.proc.wait(10)
        time.sleep(1.0)
        load.phase = "api-a-back"
        t0 = time.monotonic()
        c.a.start()
        recovery["api-a"] = time.monotonic() - t0 + _ready(c)
        time.sleep(LOAD_BETWEEN)
        load.phase = "after"
    finally:
        load.stop.set()
        for t in threads:
            t.join(60)
    assert not any(t.is_alive() for t in threads)
    load_seconds = time.monotonic() - started

    answers = load.answers
    by_phase: dict[str, Counter[Any]] = defaultdict(Counter)
    for a in answers:
        by_phase[a.phase][a.status] += 1
    # the faults happened: while each dependency was down, verifications got 503
    assert by_phase["postgres-down"][503] > 0, by_phase
    assert by_phase["redis-down"][503] > 0, by_phase
    assert by_phase["redis-stalled"][503] > 0, by_phase
    # only the killed instance ever failed to answer, and only around its kill
    for a in answers:
        if a.status is None:
            assert a.target == "api-a" and a.ended in ("api-a-killed", "api-a-back"), (
                a.phase, a.ended, a.target, a.codes, round(a.seconds, 2))
    # the other instance was never restarted
    assert c.b.proc is not None and c.b.proc.pid == pid_b

    # --- what clients received --------------------------------------------------------------------
    received_permits = Counter(a.jti for a in load.answers if a.decision == "permit")
    twice = [j for j, n in received_permits.items() if n > 1]
    assert not twice, f"jti permitted twice to clients: {twice[:5]}"
    replays = [a for a in answers if a.kind == "replay"]
    for a in replays:
        assert a.decision != "permit", a
        assert a.status in (503, None) or a.codes == ("token_replayed",), a
    replays_refused = sum(1 for a in replays if a.codes == ("token_replayed",))

    # tokens that got 503 were not used up: presented again now, they are permitted. Except where Redis
    # hung: a SET that timed out in the service may still have been applied when Redis resumed, so the
    # token may be used up (token_replayed: safe, the caller needs a new token), never permitted twice
    retried = Counter[str]()
    got_503 = [a for a in answers if a.status == 503 and a.kind == "fresh"]
    sample = [a for a in got_503 if a.phase != "redis-stalled"][:40] + [
        a for a in got_503 if a.phase == "redis-stalled"][:20]
    with httpx.Client(timeout=30.0) as client:
        for i, a in enumerate(sample):
            r = load.send(client, c.a if i % 2 else c.b, a.token, a.jti, "retry")
            retried[f"{r.decision} {' '.join(r.codes)}".strip()] += 1
            if a.phase == "redis-stalled":
                assert r.decision == "permit" or r.codes == ("token_replayed",), (a.jti, a.phase, r)
            else:
                assert r.decision == "permit", (a.jti, a.phase, r)

    received_permits = Counter(a.jti for a in load.answers if a.decision == "permit")
    assert not [j for j, n in received_permits.items() if n > 1], "a retried token was permitted twice"

    # --- the audit trail, read directly --------------------------------------------------------------
    rows = _audit_rows(c.pg)
    trail = AuditTrail(store=None, keyring=KeyRing.parse(c.ring))  # type: ignore[arg-type]
    audited_permits: Counter[tuple[str, str]] = Counter()
    seen_verifications: dict[str, str] = {}
    expected_rows: dict[str, int] = {}
    rows_per_verification: Counter[str] = Counter()
    for row in rows:
        opened = trail.open(row)
        assert opened.payload is not None, f"row {row.id} cannot be opened: {opened.error}"
        p = opened.payload
        event, decision = p["auditevent"], p["decision"]
        assert event["resourceType"] == "AuditEvent" and event["id"] == row.id
        assert p["verification_id"] == row.verification_id
        assert decision["decision"] == row.decision
        assert " ".join(e["code"] for e in decision["errors"]) == row.codes
        assert (row.outcome == "0") == (row.decision == "permit")
        AuditEvent.model_validate(event)  # FHIR R4
        att = decision.get("attestation") or {}
        expected_rows[row.verification_id] = max(1, len(att.get("patients") or []))
        rows_per_verification[row.verification_id] += 1
        token = decision.get("token") or {}
        if row.decision == "permit":
            key = (token.get("iss"), token.get("jti"))
            if seen_verifications.get(row.verification_id) is None:
                audited_permits[key] += 1  # once per verification (one row per patient)
        seen_verifications.setdefault(row.verification_id, row.id)
    # a verification is stored whole (one row per patient, one transaction) or not at all
    partial = [v for v, n in rows_per_verification.items() if n != expected_rows[v]]
    assert not partial, f"verifications stored in part: {partial[:5]}"
    double = [k for k, n in audited_permits.items() if n > 1]
    assert not double, f"(iss, jti) permitted twice in the audit trail: {double[:5]}"
    missing = [jti for jti in received_permits if (ISS, jti) not in audited_permits]
    assert not missing, f"permits without an AuditEvent: {missing[:5]}"

    # --- recovered: both instances ready and permitting, no manual step ---------------------------------
    assert c.a.ready() and c.b.ready()
    with httpx.Client(timeout=30.0) as client:
        for s in (c.a, c.b):
            r = client.post(f"{s.url}/v1/verify", json={"token": fresh_token()})
            assert r.json()["decision"] == "permit", r.text

    # the instances' own logs carry no identity number (the tokens carry two)
    for s in (c.a, c.b):
        log = s.log.read_text(errors="replace")
        assert "20086600138" not in log and "13116900216" not in log
        assert not re.search(r"(?<![0-9])[0-9]{11}(?![0-9])", log)

    slowest = {ph: max((a.seconds for a in answers if a.phase == ph), default=0.0)
               for ph in ("warm-up", "postgres-down", "redis-down", "redis-stalled", "api-a-killed")}
    statuses = Counter(a.status for a in answers)
    decisions = Counter(a.decision for a in answers if a.decision)
    summary = (f"fault injection: {len(answers)} requests in {load_seconds:.0f} s ({decisions['permit']} permits, "
               f"{decisions['deny']} denies, {statuses[503]} answered 503, {statuses[None]} unanswered while "
               f"api-a was killed); {len(replays)} replays, {replays_refused} refused as token_replayed, the "
               f"rest 503/unanswered, 0 permitted; 503 tokens sent again: {dict(retried)}; "
               f"{len(rows)} audit rows opened, parsed and FHIR-validated (0 unreadable, 0 partial), every one of "
               f"{len(received_permits)} permits audited, 0 jti permitted twice; ready again after PostgreSQL "
               f"{recovery['postgres']:.1f} s, Redis {recovery['redis']:.1f} s, Redis SIGSTOP/SIGCONT "
               f"{recovery['redis-stall']:.1f} s, SIGKILL+restart "
               f"{recovery['api-a']:.1f} s; slowest answer "
               + ", ".join(f"{ph} {sec:.2f} s" for ph, sec in slowest.items()))
    record(summary)
