"""The national topology on loopback: PostgreSQL + Redis + two `attest serve` instances sharing them.

Shows: replay protection and the audit trail are shared; AuditEvents read back validate as FHIR R4; stored
payloads are unreadable without the at-rest key; stopping PostgreSQL or Redis makes the instances unready
and /v1/verify answer 503 with no decision, and starting it again recovers without restarting them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from attest.audit.sealing import KeyRing, SealError

from ..support.servers import Cluster, two_instance_cluster, wait_until
from ..support.service import ADMIN_TOKEN, admin, fresh_token, key_ring

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with two_instance_cluster(Path(tmp_path_factory.mktemp("cluster")), key_ring("int-1"), ADMIN_TOKEN) as c:
        yield c


def _up(c: Cluster) -> None:
    """Each test starts with both dependencies up (fault tests restore them, but be sure)."""
    c.pg.start()
    c.redis.start()
    for s in (c.a, c.b):
        assert wait_until(s.ready), s.log_tail()


def test_a_dpop_proof_replayed_on_the_second_instance_is_refused(cluster: Cluster) -> None:
    """Issue 10: proofs are single-use across instances (Redis, namespace of their own); the access token
    itself is reused with fresh proofs on either instance; the audit trail files every one under the patient
    of the request."""
    import time

    from ..support.helseid import PATIENT, URL, make_at, make_proof

    _up(cluster)
    now = int(time.time())
    token = make_at(now=now)
    proof = make_proof(token, now=now)

    def body(p: str) -> dict[str, object]:
        return {"access_token": token, "dpop": p, "request": {"method": "GET", "url": URL},
                "context": {"patient_id": PATIENT}}

    with cluster.a.client() as a, cluster.b.client() as b:
        first = a.post("/v1/verify", json=body(proof)).json()
        assert first["decision"] == "permit", first["errors"]
        assert [e["code"] for e in b.post("/v1/verify", json=body(proof)).json()["errors"]] == ["dpop_replayed"]
        assert b.post("/v1/verify", json=body(make_proof(token, now=now))).json()["decision"] == "permit"
        assert a.post("/v1/verify", json=body(make_proof(token, now=now))).json()["decision"] == "permit"
        bundle = b.get("/v1/audit", params={"patient": PATIENT}, headers=admin()).json()
    outcomes = sorted(e["resource"]["outcome"] for e in bundle["entry"])
    assert outcomes.count("0") >= 3 and outcomes.count("8") >= 1


def test_a_token_replayed_on_the_second_instance_is_refused(cluster: Cluster) -> None:
    _up(cluster)
    token = fresh_token()
    with cluster.a.client() as a, cluster.b.client() as b:
        first = a.post("/v1/verify", json={"token": token})
        assert first.status_code == 200 and first.json()["decision"] == "permit", first.text
        second = b.post("/v1/verify", json={"token": token})
        assert second.status_code == 200
        assert [e["code"] for e in second.json()["errors"]] == ["token_replayed"]
        assert [e["code"] for e in a.post("/v1/verify", json={"token": token}).json()["errors"]] == [
            "token_replayed"]


def test_the_audit_trail_is_shared_and_valid_fhir(cluster: Cluster) -> None:
    _up(cluster)
    jti = "shared-audit-jti"
    token = fresh_token(jti=jti)
    with cluster.a.client() as a, cluster.b.client() as b:
        assert b.post("/v1/verify", json={"token": token}).json()["decision"] == "permit"
        r = a.get("/v1/audit", params={"patient": "13116900216"}, headers=admin())
        assert r.status_code == 200, r.text
        bundle = Bundle.model_validate(r.json())
        assert bundle.type == "searchset"
        events = [e["resource"] for e in r.json()["entry"]]
        mine = [e for e in events if e["entity"][0].get("what", {}).get("identifier", {}).get("value") == jti]
        assert len(mine) == 1
        event = mine[0]
        AuditEvent.model_validate(event)
        assert event["source"]["site"] == "api-b"
        assert event["meta"]["profile"] == ["http://hl7.no/fhir/StructureDefinition/no-domain-Trustframework-Auditevent"]
        urls = {x["url"] for x in event["extension"]}
        assert {"http://hl7.no/fhir/StructureDefinition/auditevent-patient-extension",
                "http://hl7.no/fhir/StructureDefinition/auditevent-carerelation-metadata-extension"} <= urls
        assert event["purposeOfEvent"][0]["coding"][0]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActReason"
        log = a.get("/v1/audit/citizen-log", params={"patient": "13116900216"}, headers=admin())
        assert log.json()["count"] >= 1
        assert not re.search(r"(?<![0-9])[0-9]{11}(?![0-9])", log.text)


def test_stored_payloads_are_not_readable_without_the_key(cluster: Cluster) -> None:
    import psycopg

    _up(cluster)
    with cluster.a.client() as a:
        assert a.post("/v1/verify", json={"token": fresh_token(),
                                          "context": {"authenticated_pid": "20086600138"}}).json()["decision"] == "permit"
    with psycopg.connect(cluster.pg.url, autocommit=True) as conn:
        rows = conn.execute("SELECT id, key_id, sealed, issuer, legal_entity, practitioner_hpr, practitioner_ref, "
                            "patient_ref FROM attest_audit_event").fetchall()
        assert rows
        for rid, kid, sealed, *clear in rows:
            blob = bytes(sealed)
            for secret in (b"20086600138", b"13116900216", b"August September", b"Fastlegeliste", b"eyJ"):
                assert secret not in blob
            for value in clear:
                assert value is None or not re.fullmatch(r"[0-9]{11}", value)
            assert kid == "int-1"
            with pytest.raises(SealError):
                KeyRing.parse(key_ring("int-1")).open(kid, blob, rid.encode())
            assert b"AuditEvent" in KeyRing.parse(cluster.ring).open(kid, blob, rid.encode())
        # append-only in the database itself
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("UPDATE attest_audit_event SET decision = 'permit'")
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("DELETE FROM attest_audit_event")


def _is_503_without_decision(resp: object) -> bool:
    r = resp  # httpx.Response
    return (r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
            and "decision" not in r.json())  # type: ignore[attr-defined]


def test_postgres_down_fails_closed_and_recovers(cluster: Cluster) -> None:
    _up(cluster)
    cluster.pg.stop()
    try:
        with cluster.a.client() as a, cluster.b.client() as b:
            for client in (a, b):
                r = client.get("/readyz")
                assert r.status_code == 503 and r.json()["checks"]["audit_store"] == "unavailable"
            token = fresh_token()
            assert _is_503_without_decision(a.post("/v1/verify", json={"token": token}))
            assert _is_503_without_decision(b.post("/v1/verify", json={"token": fresh_token()}))
            assert a.get("/v1/audit", headers=admin()).status_code == 503
    finally:
        cluster.pg.start()
    with cluster.a.client() as a, cluster.b.client() as b:
        assert wait_until(lambda: a.get("/readyz").status_code == 200), cluster.a.log_tail()
        assert wait_until(lambda: b.get("/readyz").status_code == 200), cluster.b.log_tail()
        # the token refused with 503 was not burnt: no decision was given for it
        assert a.post("/v1/verify", json={"token": token}).json()["decision"] == "permit"
        assert b.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"


def test_redis_down_fails_closed_and_recovers(cluster: Cluster) -> None:
    _up(cluster)
    cluster.redis.stop()
    try:
        with cluster.a.client() as a:
            r = a.get("/readyz")
            assert r.status_code == 503 and r.json()["checks"]["replay_cache"] == "unavailable"
            assert _is_503_without_decision(a.post("/v1/verify", json={"token": fresh_token()}))
    finally:
        cluster.redis.start()
    with cluster.a.client() as a, cluster.b.client() as b:
        assert wait_until(lambda: a.get("/readyz").status_code == 200), cluster.a.log_tail()
        token = fresh_token()
        assert a.post("/v1/verify", json={"token": token}).json()["decision"] == "permit"
        assert b.post("/v1/verify", json={"token": token}).json()["errors"][0]["code"] == "token_replayed"
        metrics = a.get("/metrics").text
        assert 'attest_dependency_unavailable_total{dependency="replay_cache"}' in metrics
