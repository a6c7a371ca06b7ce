"""The HelseID path through the service (HELSEID.md section 13): POST /v1/verify with an access token and its
DPoP proof, and the forward-auth endpoint /v1/authorize, both audited with the patient of the request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from attest.service import create_app
from tests.support.helseid import PATIENT, URL, make_at, make_proof
from tests.support.service import admin, service_settings

PROXY = ("127.0.0.1", 40000)       # a trusted proxy (the default ATTEST_TRUSTED_PROXIES)
OUTSIDER = ("192.0.2.10", 40000)   # anyone else
ORIGINAL = "https://api.source.example/fhir/DocumentReference?patient.identifier=urn:oid:2.16.578.1.12.4.1.4.1|" \
           + PATIENT


def now() -> int:
    return int(time.time())


@pytest.fixture
def proxy_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, client=PROXY) as c:
        yield c


def verify_body(token: str, proof: str | None, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": token, "request": {"method": "GET", "url": URL},
                            "context": {"patient_id": PATIENT}}
    if proof is not None:
        body["dpop"] = proof
    body.update(kw)
    return body


# --- POST /v1/verify ---------------------------------------------------------------------------------------

def test_verify_access_token_permit_then_replay(client: TestClient) -> None:
    tok = make_at(now=now())
    proof = make_proof(tok, now=now())
    r = client.post("/v1/verify", json=verify_body(tok, proof))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["decision"] == "permit", doc["errors"]
    assert doc["profile"] == "helseid-at-1.0-test" and doc["token"]["dpop"]["htm"] == "GET"
    again = client.post("/v1/verify", json=verify_body(tok, make_proof(tok, now=now()))).json()
    assert again["decision"] == "permit"  # the access token is reusable with a fresh proof
    replayed = client.post("/v1/verify", json=verify_body(tok, proof)).json()
    assert [e["code"] for e in replayed["errors"]] == ["dpop_replayed"]


def test_verify_access_token_denials_have_their_codes(client: TestClient) -> None:
    tok = make_at(now=now())
    no_proof = client.post("/v1/verify", json=verify_body(tok, None)).json()
    assert [e["code"] for e in no_proof["errors"]] == ["dpop_proof_missing"]
    bearer = client.post("/v1/verify", json=verify_body(tok, None, authorization_scheme="Bearer")).json()
    assert [e["code"] for e in bearer["errors"]] == ["dpop_required"]
    wrong_url = verify_body(tok, make_proof(tok, now=now()), request={"method": "GET", "url": URL + "x"})
    assert [e["code"] for e in client.post("/v1/verify", json=wrong_url).json()["errors"]] == ["dpop_htu_mismatch"]


def test_the_audit_record_holds_the_patient_of_the_request(client: TestClient) -> None:
    tok = make_at(now=now())
    client.post("/v1/verify", json=verify_body(tok, make_proof(tok, now=now())))
    client.post("/v1/verify", json=verify_body(tok, None))  # a deny, also filed under the patient
    bundle = client.get("/v1/audit", params={"patient": PATIENT}, headers=admin()).json()
    outcomes = sorted(e["resource"]["outcome"] for e in bundle["entry"])
    assert outcomes == ["0", "8"]
    event = bundle["entry"][0]["resource"]
    patient = next(r for r in event["contained"] if r["resourceType"] == "Patient")
    assert patient["identifier"][0]["system"] == "urn:oid:2.16.578.1.12.4.1.4.1"
    log = client.get("/v1/audit/citizen-log", params={"patient": PATIENT}, headers=admin()).json()
    assert len(log["entries"]) == 1 and "05086900124" not in str(log)


@pytest.mark.parametrize("body", [
    {"token": "a.b.c", "access_token": "a.b.c"},
    {},
    {"token": "a.b.c", "dpop": "x"},
    {"token": "a.b.c", "request": {"method": "GET", "url": URL}},
    {"access_token": "a.b.c", "request": {"method": "GET /x", "url": URL}},
    {"access_token": "a.b.c", "authorization_scheme": "Basic"},
    {"token": "a.b.c", "context": {"patientId": PATIENT}},   # a misspelled member is refused, not dropped
])
def test_verify_body_shapes_are_refused(client: TestClient, body: dict[str, Any]) -> None:
    r = client.post("/v1/verify", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text


def test_self_signed_tokens_still_use_the_service_profile(client: TestClient) -> None:
    from tests.support.service import fresh_token

    doc = client.post("/v1/verify", json={"token": fresh_token()}).json()
    assert doc["decision"] == "permit" and doc["profile"] == "tillitsrammeverk-1.1"
    # an access token sent as 'token' is verified as a self-signed attestation: refused
    doc = client.post("/v1/verify", json={"token": make_at(now=now())}).json()
    assert [e["code"] for e in doc["errors"]] == ["invalid_token_type"]


# --- GET /v1/authorize (forward-auth) -----------------------------------------------------------------------

def forwarded(token: str | None, proof: str | None, *, scheme: str = "DPoP", method: str = "GET",
              url: str = ORIGINAL, **extra: str) -> dict[str, str]:
    h: dict[str, str] = {"X-Forwarded-Method": method, "X-Original-URL": url}
    if token is not None:
        h["Authorization"] = f"{scheme} {token}"
    if proof is not None:
        h["DPoP"] = proof
    h.update(extra)
    return h


def test_authorize_permit_with_headers_for_the_upstream(proxy_client: TestClient) -> None:
    tok = make_at(now=now())
    r = proxy_client.get("/v1/authorize", headers=forwarded(tok, make_proof(tok, now=now())))
    assert r.status_code == 200, r.text
    assert r.headers["X-Attest-Decision"] == "permit"
    assert r.headers["X-Attest-Hpr-Number"] == "222200068"
    assert r.headers["X-Attest-Purpose-Of-Use"] == "TREAT"
    assert r.headers["X-Attest-Legal-Entity"] == "993467049"
    audit_id = r.headers["X-Attest-Audit-Id"]
    bundle = proxy_client.get("/v1/audit", params={"patient": PATIENT}, headers=admin()).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [audit_id]
    assert "05086900124" not in "".join(r.headers.values())


def test_authorize_x_forwarded_parts(proxy_client: TestClient) -> None:
    tok = make_at(now=now())
    headers = forwarded(tok, make_proof(tok, now=now()))
    del headers["X-Original-URL"]
    headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.source.example",
                    "X-Forwarded-Uri": "/fhir/DocumentReference?patient.identifier=" + PATIENT})
    assert proxy_client.get("/v1/authorize", headers=headers).status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_authorize_answers_whatever_method_the_proxy_uses(proxy_client: TestClient, method: str) -> None:
    tok = make_at(now=now())
    r = proxy_client.request(method, "/v1/authorize", headers=forwarded(tok, make_proof(tok, now=now())))
    assert r.status_code == 200


def test_authorize_401_challenges(proxy_client: TestClient) -> None:
    r = proxy_client.get("/v1/authorize", headers=forwarded(None, None))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("DPoP algs=")  # no credentials: no error code
    tok = make_at(now=now())
    r = proxy_client.get("/v1/authorize", headers=forwarded(tok, None))
    assert r.status_code == 401 and r.headers["X-Attest-Errors"] == "dpop_proof_missing"
    # HELSEID.md 13: error="invalid_token" for a bad token or proof
    assert r.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token", error_description="')
    r = proxy_client.get("/v1/authorize", headers=forwarded(tok, None, scheme="Bearer"))
    challenges = r.headers.get_list("WWW-Authenticate")
    assert r.status_code == 401 and challenges[0].startswith('Bearer error="invalid_token"')
    assert challenges[1].startswith("DPoP algs=")  # RFC 9449 7.2: how the token must be presented
    r = proxy_client.get("/v1/authorize", headers=forwarded(tok[:-3] + "AAA", make_proof(tok, now=now())))
    assert r.status_code == 401 and r.headers["X-Attest-Errors"] == "invalid_signature"
    proof = make_proof(tok, now=now())
    assert proxy_client.get("/v1/authorize", headers=forwarded(tok, proof)).status_code == 200
    r = proxy_client.get("/v1/authorize", headers=forwarded(tok, proof))
    assert r.status_code == 401 and r.headers["X-Attest-Errors"] == "dpop_replayed"


def test_authorize_403_for_rule_denies(proxy_client: TestClient) -> None:
    tok = make_at(now=now(), security_level="3", assurance_level="substantial")
    r = proxy_client.get("/v1/authorize", headers=forwarded(tok, make_proof(tok, now=now())))
    assert r.status_code == 403 and r.headers["X-Attest-Errors"] == "insufficient_security_level"
    tok = make_at(now=now(), scope=["openid"])
    r = proxy_client.get("/v1/authorize", headers=forwarded(tok, make_proof(tok, now=now())))
    assert r.status_code == 403 and r.headers["WWW-Authenticate"].startswith('DPoP error="insufficient_scope"')
    two = ORIGINAL + ",04056600324"
    tok = make_at(now=now())
    r = proxy_client.get("/v1/authorize", headers=forwarded(tok, make_proof(tok, now=now()), url=two))
    assert r.status_code == 403 and r.headers["X-Attest-Errors"] == "ambiguous_patient"


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(app: FastAPI) -> None:
    tok = make_at(now=now())
    with TestClient(app, client=OUTSIDER) as outsider:
        r = outsider.get("/v1/authorize", headers=forwarded(tok, make_proof(tok, now=now())))
    assert r.status_code == 401
    assert set(r.headers["X-Attest-Errors"].split()) == {"dpop_htm_mismatch", "dpop_htu_mismatch"}


def test_trusted_proxies_are_configurable(tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path, trusted_proxies=("192.0.2.0/24",)))
    tok = make_at(now=now())
    with TestClient(app, client=OUTSIDER) as proxy:
        assert proxy.get("/v1/authorize", headers=forwarded(tok, make_proof(tok, now=now()))).status_code == 200
        loopback = TestClient(app, client=PROXY)  # the same running app (its lifespan is the one above)
        assert loopback.get("/v1/authorize", headers=forwarded(tok, make_proof(tok, now=now()))).status_code == 401


def test_a_client_patient_header_is_not_believed_by_default(proxy_client: TestClient) -> None:
    """Review finding: with a patient header among the default sources, a client's own X-Patient-Id (passed
    on by the proxy) chose the patient the audit recorded. The default reads the URL only."""
    tok = make_at(now=now())
    r = proxy_client.get("/v1/authorize", headers=forwarded(tok, make_proof(tok, now=now()), url=URL,
                                                            **{"X-Patient-Id": "04056600324"}))
    assert r.status_code == 200
    assert proxy_client.get("/v1/audit", params={"patient": "04056600324"}, headers=admin()).json().get(
        "entry", []) == []


@pytest.mark.parametrize("headers", [
    {"X-Original-URL": "http://[x/fhir"},
    {"X-Original-URL": "https://api.example:99999/fhir"},
    {"X-Original-URL": "https://api.example:x/fhir"},
    {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "[x", "X-Forwarded-Uri": "/fhir"},
])
def test_unparseable_original_urls_are_unknown_never_a_5xx(proxy_client: TestClient, headers: dict[str, str]) -> None:
    """Review finding: urlsplit raised ValueError for an unbalanced IPv6 bracket (a 500)."""
    tok = make_at(now=now())
    h = forwarded(tok, make_proof(tok, now=now()))
    del h["X-Original-URL"]
    h.update(headers)
    r = proxy_client.get("/v1/authorize", headers=h)
    assert r.status_code == 401 and "dpop_htu_mismatch" in r.headers["X-Attest-Errors"]


def test_patient_from_a_configured_header(tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path, authorize_patient=("header:X-Patient",)))
    tok = make_at(now=now())
    with TestClient(app, client=PROXY) as c:
        r = c.get("/v1/authorize", headers=forwarded(tok, make_proof(tok, now=now()), url=URL,
                                                   **{"X-Patient": "04056600324"}))
        assert r.status_code == 200
        assert len(c.get("/v1/audit", params={"patient": "04056600324"}, headers=admin()).json()["entry"]) == 1


def test_readyz_and_metrics_report_remote_key_sets(tmp_path: Path) -> None:
    """Issue 11 item 3: the age of the keys in service and a failing fetch are visible."""
    import json

    from attest.keys import public_jwk
    from tests.support.helseid import ISSUER, helseid_key, helseid_kid
    from tests.support.keyserver import key_server

    with key_server() as ks:
        ks.jwks = {"keys": [public_jwk(helseid_key(), "RS256", kid=helseid_kid())]}
        trust = tmp_path / "trust.json"
        trust.write_text(json.dumps({"audience": "nhn:pjd", "authorization_servers": [
            {"issuer": ISSUER, "jwks_uri": ks.jwks_url, "audience": "nhn:phr"}]}))
        app = create_app(service_settings(tmp_path, trust_store=trust))
        with TestClient(app) as c:
            ready = c.get("/readyz").json()
            assert ready["authorization_servers"] == 1
            (status,) = ready["key_sets"].values()
            assert status["keys"] == 1 and status["last_error"] is None and status["age_seconds"] >= 0
            metrics = c.get("/metrics").text
            assert f'attest_key_set_fetch_failing{{entry="authorization server {ISSUER}"}} 0.0' in metrics
            assert "attest_key_set_age_seconds{" in metrics
