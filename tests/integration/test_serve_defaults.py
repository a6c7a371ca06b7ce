"""`attest serve` as a process with no configuration at all (a fresh clone), SIGHUP trust-store reload, and
graceful shutdown that finishes the audit writes of requests in flight. No PostgreSQL or Redis needed."""

from __future__ import annotations

import re
import shutil
import signal
import threading
from pathlib import Path

import httpx

from ..support.servers import ROOT, AttestServer, wait_until
from ..support.service import fresh_token
from ..support.tokens import KEYS


def test_fresh_clone_serves_a_permit_and_audits_it(tmp_path: Path) -> None:
    server = AttestServer(tmp_path / "data", cwd=ROOT)
    try:
        server.start()
        with server.client() as c:
            r = c.post("/v1/verify", json={"token": fresh_token(jti="fresh-clone-1")})
            assert r.status_code == 200 and r.json()["decision"] == "permit", r.text
            admin = (tmp_path / "data" / "admin-token").read_text().strip()
            audit = c.get("/v1/audit", headers={"Authorization": f"Bearer {admin}"}).json()
            events = [e["resource"] for e in audit["entry"]]
            assert [e["entity"][0]["what"]["identifier"]["value"] for e in events] == ["fresh-clone-1"]
            assert events[0]["outcome"] == "0"
            assert c.get("/readyz").json()["status"] == "ready"
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Application shutdown complete" in log  # graceful, not killed
    assert "DEVELOPMENT" in log and "NOT FOR PRODUCTION" in log
    assert (tmp_path / "data" / "audit.sqlite").exists() and (tmp_path / "data" / "at-rest.keys").exists()
    # logs never carry identity numbers or key material
    assert not re.search(r"(?<![0-9])[0-9]{11}(?![0-9])", log)
    key = (tmp_path / "data" / "at-rest.keys").read_text().splitlines()[-1].partition(":")[2]
    assert key not in log and admin not in log


def test_sighup_reloads_the_trust_store(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(KEYS, keys)
    trust = keys / "trust.yaml"
    server = AttestServer(tmp_path / "data", {"ATTEST_TRUST_STORE": str(trust),
                                               "ATTEST_PROFILE": "tillitsrammeverk-1.1-test",  # test material
                                               "ATTEST_TRUST_RELOAD_SECONDS": "0"})  # no polling: only SIGHUP
    try:
        server.start()
        with server.client() as c:
            assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
            text = trust.read_text()
            start = text.index('  - iss: "https://epj.fagersta.example"')
            end = text.index('  - iss: "https://epj.oslo-kommune.example"')
            trust.write_text(text[:start] + text[end:])
            server.signal(signal.SIGHUP)

            def refused() -> bool:
                r = c.post("/v1/verify", json={"token": fresh_token()})
                return [e["code"] for e in r.json()["errors"]] == ["unknown_issuer"]

            assert wait_until(refused, timeout=30), server.log_tail()
            trust.write_text("not: [valid")  # a broken file keeps the store in service
            server.signal(signal.SIGHUP)
            assert wait_until(lambda: "trust store reload failed" in server.log.read_text(), timeout=30)
            assert c.post("/v1/verify", json={"token": fresh_token(org_name="ous", attestation=_ous())}).json()[
                "decision"] == "permit"
    finally:
        server.stop()


def _ous() -> dict:  # type: ignore[type-arg]
    from ..support.tokens import valid_attestation

    att = valid_attestation()
    att["practitioner"]["legal_entity"]["id"] = "993467049"
    return att


def test_graceful_shutdown_commits_every_answered_decision(tmp_path: Path) -> None:
    server = AttestServer(tmp_path / "data")
    server.start()
    answered: list[str] = []
    lock = threading.Lock()
    started = threading.Event()

    def worker(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for i in range(6):
                jti = f"shutdown-{n}-{i}"
                try:
                    r = c.post("/v1/verify", json={"token": fresh_token(jti=jti)})
                except httpx.HTTPError:
                    return
                started.set()
                if r.status_code == 200:
                    with lock:
                        answered.append(jti)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    assert started.wait(60)
    code = server.stop()  # SIGTERM while requests are in flight
    for t in threads:
        t.join(60)
    # uvicorn re-raises the signal after its graceful shutdown: -SIGTERM, with the shutdown logged
    assert code in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log.read_text()
    assert answered
    # every decision a caller received is in the audit trail
    again = AttestServer(tmp_path / "data")
    try:
        again.start()
        admin = (tmp_path / "data" / "admin-token").read_text().strip()
        with again.client() as c:
            bundle = c.get("/v1/audit", params={"_count": 1000}, headers={"Authorization": f"Bearer {admin}"}).json()
        recorded = {e["resource"]["entity"][0]["what"]["identifier"]["value"] for e in bundle["entry"]}
        assert set(answered) <= recorded
    finally:
        again.stop()
