"""The HTTP API of CONTRACT.md section 6, through FastAPI's test client."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from attest import DependencyUnavailable
from attest.audit.store import AuditRow
from attest.service import create_app

from ..support.service import ADMIN_TOKEN, admin, fresh_token, service_settings
from ..support.tokens import KEYS, NOW, make_token, valid_attestation

PROBLEM = "application/problem+json"


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["type"].startswith("urn:attest:problem:") and body["title"]
    return dict(body)


def _audit(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/v1/audit", params=params, headers=admin())
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json()["entry"]]


# --- POST /v1/verify ---------------------------------------------------------------------------------

def test_verify_permit_returns_the_decision_document(client: TestClient) -> None:
    r = client.post("/v1/verify", json={"token": fresh_token(), "context": {"patient_id": "13116900216"}})
    assert r.status_code == 200
    doc = r.json()
    assert doc["decision"] == "permit" and doc["errors"] == []
    assert set(doc) == {"decision", "profile", "errors", "warnings", "token", "attestation"}
    assert doc["token"]["iss"] == "https://epj.fagersta.example"


def test_verify_answer_is_the_library_document_as_json(client: TestClient) -> None:
    """The route writes the decision document with orjson (not FastAPI's encoder): the same document the
    library builds, as application/json, also for a token carrying an integer beyond 64 bits (the fallback)."""
    import json

    from attest import VerifyContext, verify

    from ..support.tokens import AUDIENCE, trust_store

    now = int(time.time())
    for token in (fresh_token(), make_token(valid_attestation() | {"toa": 2**70}, now=now)):
        r = client.post("/v1/verify", json={"token": token})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        expected = verify(token, trust_store(), context=VerifyContext(audience=AUDIENCE, now=now)).to_dict()
        assert json.loads(r.content) == json.loads(json.dumps(expected))
    assert expected["errors"][0]["path"] == "attestation.toa"  # the second token took the fallback


def test_verify_deny_is_200_with_codes(client: TestClient) -> None:
    r = client.post("/v1/verify", json={"token": fresh_token(), "context": {"patient_id": "04056600324"}})
    assert r.status_code == 200
    assert [e["code"] for e in r.json()["errors"]] == ["patient_not_in_attestation"]


def test_verify_garbage_token_is_a_deny_not_an_error(client: TestClient) -> None:
    r = client.post("/v1/verify", json={"token": "not.a.jwt"})
    assert r.status_code == 200
    assert r.json()["decision"] == "deny" and r.json()["errors"][0]["code"] == "malformed_token"


def test_every_decision_is_audited_before_the_answer(client: TestClient) -> None:
    token = fresh_token()
    client.post("/v1/verify", json={"token": token})
    client.post("/v1/verify", json={"token": "x.y.z"})
    events = _audit(client)
    assert len(events) == 2
    assert {e["outcome"] for e in events} == {"0", "8"}


def test_replayed_token_is_refused(client: TestClient) -> None:
    token = fresh_token()
    assert client.post("/v1/verify", json={"token": token}).json()["decision"] == "permit"
    second = client.post("/v1/verify", json={"token": token}).json()
    assert [e["code"] for e in second["errors"]] == ["token_replayed"]


def test_context_now_is_refused_unless_allowed(tmp_path: Path) -> None:
    token = make_token()  # made at the fixed test clock NOW
    with TestClient(create_app(service_settings(tmp_path / "a"))) as c:
        _problem(c.post("/v1/verify", json={"token": token, "context": {"now": NOW}}), 422)
    with TestClient(create_app(service_settings(tmp_path / "b", allow_context_now=True))) as c:
        r = c.post("/v1/verify", json={"token": token, "context": {"now": NOW}})
        assert r.json()["decision"] == "permit"


def test_configured_audience_is_used(tmp_path: Path) -> None:
    with TestClient(create_app(service_settings(tmp_path, audience="someone-else"))) as c:
        r = c.post("/v1/verify", json={"token": fresh_token()})
        assert [e["code"] for e in r.json()["errors"]] == ["invalid_audience"]


@pytest.mark.parametrize("body,status", [
    (b"", 422),
    (b"not json", 400),
    (b"{\"token\": ", 400),
    (b"[]", 422),
    (b"\"token\"", 422),
    (b"{}", 422),
    (b"{\"token\": 5}", 422),
    (b"{\"token\": null}", 422),
    (b"{\"token\": \"a\", \"context\": []}", 422),
    (b"{\"token\": \"a\", \"context\": {\"now\": \"1\"}}", 422),
    (b"{\"token\": \"a\", \"context\": {\"now\": true}}", 422),
    (b"{\"token\": \"a\", \"context\": {\"now\": 1e400}}", 422),
    (b"{\"token\": \"a\", \"context\": {\"patient_id\": 13116900216}}", 422),
    (b"\xff\xfe{}", 400),
    (b"{\"token\": \"a\", \"context\": {\"now\": " + b"9" * 5000 + b"}}", 400),
    (b"[" * 5000 + b"]" * 5000, 400),
])
def test_malformed_bodies_get_problem_json(client: TestClient, body: bytes, status: int) -> None:
    r = client.post("/v1/verify", content=body, headers={"content-type": "application/json"})
    _problem(r, status)


def test_validation_problem_does_not_echo_input(client: TestClient) -> None:
    r = client.post("/v1/verify", json={"token": "a", "context": {"authenticated_pid": 20086600138}})
    body = _problem(r, 422)
    assert "20086600138" not in r.text
    assert body["errors"][0]["loc"] == ["body", "context", "authenticated_pid"]


def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    with TestClient(create_app(service_settings(tmp_path, max_body_bytes=2048))) as c:
        _problem(c.post("/v1/verify", content=b"{" + b" " * 4096 + b"}",
                        headers={"content-type": "application/json"}), 413)

        def chunks() -> Any:  # no Content-Length: the limit applies to what is actually read
            for _ in range(10):
                yield b" " * 1024

        _problem(c.post("/v1/verify", content=chunks(), headers={"content-type": "application/json"}), 413)
        assert c.post("/v1/verify", json={"token": "a.b.c"}).status_code == 200


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    _problem(client.get("/v1/nothing"), 404)
    _problem(client.get("/v1/verify"), 405)


# --- dependencies down: 503, no decision -------------------------------------------------------------

class _DownStore:
    url_for_logs = "down"

    def append(self, rows: Any) -> None:
        raise DependencyUnavailable("audit store unreachable (test)")

    async def append_async(self, rows: Any) -> None:
        raise DependencyUnavailable("audit store unreachable (test)")

    def search(self, query: Any) -> list[AuditRow]:
        raise DependencyUnavailable("audit store unreachable (test)")

    def ping(self) -> bool:
        return False

    def close(self, timeout: float = 30.0) -> None:
        pass


class _DownReplay:
    def check_and_store(self, iss: str, jti: str, expires_at: int) -> bool:
        raise DependencyUnavailable("replay cache unavailable (test)")

    def ping(self) -> bool:
        return False


def test_audit_store_down_gives_503_and_no_decision(app: FastAPI, client: TestClient) -> None:
    runtime = app.state.runtime
    real = runtime.trail.store
    runtime.trail.store = _DownStore()
    token = fresh_token()
    r = client.post("/v1/verify", json={"token": token})
    body = _problem(r, 503)
    assert "decision" not in body and r.headers["retry-after"]
    _problem(client.get("/readyz"), 503)
    _problem(client.get("/v1/audit", headers=admin()), 503)
    # the store is back: the same token was not burnt by the failed attempt
    runtime.trail.store = real
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/verify", json={"token": token}).json()["decision"] == "permit"


def test_replay_cache_down_gives_503(app: FastAPI, client: TestClient) -> None:
    app.state.runtime.replay = _DownReplay()
    _problem(client.post("/v1/verify", json={"token": fresh_token()}), 503)
    r = client.get("/readyz")
    assert _problem(r, 503)["checks"]["replay_cache"] == "unavailable"
    assert "attest_dependency_unavailable_total{dependency=\"replay_cache\"} 1.0" in client.get("/metrics").text


# --- inspect, profiles, health, metrics, docs ---------------------------------------------------------

def test_inspect_masks_identity_numbers_and_verifies(client: TestClient) -> None:
    r = client.post("/v1/inspect", json={"token": fresh_token()})
    assert r.status_code == 200
    report = r.json()
    assert report["trusted"] is False and report["decision"]["decision"] == "permit"
    assert "20086600138" not in r.text and "13116900216" not in r.text
    assert client.post("/v1/inspect", json={"token": "%%%"}).json()["error"]["code"] == "malformed_token"
    # inspect is not an access: nothing audited, the jti is not consumed
    assert _audit(client) == []


def test_profiles(client: TestClient) -> None:
    ids = [p["id"] for p in client.get("/v1/profiles").json()]
    assert "tillitsrammeverk-1.1" in ids and "helseid-rar-1.0" in ids
    one = client.get("/v1/profiles/tillitsrammeverk-1.1").json()
    assert one["id"] == "tillitsrammeverk-1.1" and any(r["id"] == "ATT-58c" for r in one["rules"])
    _problem(client.get("/v1/profiles/nope"), 404)
    _problem(client.get("/v1/profiles/..%2F..%2Fetc"), 404)


def test_health_ready_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["checks"]["audit_store"] == "ok"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/verify", "/v1/inspect", "/v1/attestations", "/v1/profiles", "/v1/profiles/{profile_id}",
            "/v1/audit", "/v1/audit/citizen-log", "/healthz", "/readyz", "/metrics"} <= set(paths)


def test_metrics_count_decisions_and_never_carry_identity_numbers(client: TestClient) -> None:
    client.post("/v1/verify", json={"token": fresh_token(), "context": {"patient_id": "13116900216"}})
    client.post("/v1/verify", json={"token": fresh_token(), "context": {"patient_id": "04056600324",
                                                                         "authenticated_pid": "03117000205"}})
    text = client.get("/metrics").text
    assert 'attest_decisions_total{decision="permit",outcome="0"} 1.0' in text
    assert 'attest_decisions_total{decision="deny",outcome="8"} 1.0' in text  # practitioner_mismatch is serious
    assert 'attest_decision_errors_total{code="patient_not_in_attestation"} 1.0' in text
    assert "attest_verify_duration_seconds_bucket" in text
    assert 'route="/v1/verify"' in text
    for number in ("13116900216", "04056600324", "03117000205", "20086600138"):
        assert number not in text
    labels = " ".join(re.findall(r"\{[^}]*\}", text))
    assert labels and not re.search(r"[0-9]{11}", labels)


def test_request_id_is_echoed(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


# --- admin endpoints -----------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN},
                                     {"Authorization": "Basic " + ADMIN_TOKEN}])
def test_audit_needs_the_admin_token(client: TestClient, headers: dict[str, str]) -> None:
    for path in ("/v1/audit", "/v1/audit/citizen-log?patient=13116900216"):
        r = client.get(path, headers=headers)
        _problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_issuing_is_off_by_default(client: TestClient) -> None:
    _problem(client.post("/v1/attestations", json={"attestation": valid_attestation()}, headers=admin()), 404)
    _problem(client.post("/v1/attestations", json={"attestation": valid_attestation()}), 401)


def test_issuing_when_configured(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, issuing_key=KEYS / "ous" / "private.pem",
                                issuer="https://epj.ous.example")
    att = valid_attestation()
    att["practitioner"]["legal_entity"]["id"] = "993467049"
    att.pop("toa")
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/attestations", json={"attestation": att, "lifetime": 300}, headers=admin())
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert c.post("/v1/verify", json={"token": token}).json()["decision"] == "permit"
        bad = valid_attestation()
        bad["practitioner"].pop("identifier")
        body = _problem(c.post("/v1/attestations", json={"attestation": bad}, headers=admin()), 422)
        assert any(e["code"] == "missing_field" for e in body["errors"])
        _problem(c.post("/v1/attestations", json={"attestation": att, "lifetime": 7200}, headers=admin()), 422)


def test_audit_search_filters(client: TestClient) -> None:
    client.post("/v1/verify", json={"token": fresh_token()})
    att = valid_attestation()
    att["practitioner"]["legal_entity"]["id"] = "997506499"
    att["practitioner"]["point_of_care"]["id"] = "997506499"
    client.post("/v1/verify", json={"token": fresh_token(att, org_name="oslo-kommune")})
    client.post("/v1/verify", json={"token": fresh_token()})
    assert len(_audit(client)) == 3
    assert len(_audit(client, legal_entity="997506499")) == 1
    assert len(_audit(client, hpr="9144897")) == 3
    assert len(_audit(client, patient="13116900216")) == 3
    assert _audit(client, patient="04056600324") == []
    assert len(_audit(client, practitioner="20086600138")) == 3
    assert len(_audit(client, issuer="https://epj.oslo-kommune.example")) == 1
    permits, denies = _audit(client, decision="permit"), _audit(client, decision="deny")
    assert len(permits) + len(denies) == 3 and len(permits) >= 2
    assert all(e["outcome"] == "0" for e in permits) and all(e["outcome"] != "0" for e in denies)
    assert len(_audit(client, since=int(time.time()) - 60)) == 3
    assert _audit(client, until="2000-01-01T00:00:00Z") == []
    _problem(client.get("/v1/audit", params={"since": "yesterday"}, headers=admin()), 400)
    _problem(client.get("/v1/audit", params={"_count": 0}, headers=admin()), 422)
    # paging
    r = client.get("/v1/audit", params={"_count": 2}, headers=admin()).json()
    assert len(r["entry"]) == 2 and r["link"][1]["relation"] == "next"
    nxt = client.get(r["link"][1]["url"], headers=admin()).json()
    assert len(nxt["entry"]) == 1
    assert {e["resource"]["id"] for e in r["entry"]}.isdisjoint(e["resource"]["id"] for e in nxt["entry"])


def test_concurrent_verifications_each_get_their_audit_record(client: TestClient) -> None:
    tokens = [fresh_token() for _ in range(12)]
    results: list[int] = []

    def call(t: str) -> None:
        results.append(client.post("/v1/verify", json={"token": t}).status_code)

    threads = [threading.Thread(target=call, args=(t,)) for t in tokens]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == [200] * 12
    assert len(_audit(client)) == 12


def test_dev_defaults_work_without_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(KEYS.parent)
    for name in ("ATTEST_TRUST_STORE", "ATTEST_AT_REST_KEYS", "ATTEST_ADMIN_TOKEN", "DATABASE_URL", "REDIS_URL",
                 "ATTEST_AT_REST_KEYS_FILE", "ATTEST_ADMIN_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATTEST_DATA_DIR", str(tmp_path / "data"))
    app = create_app()
    settings = app.state.runtime.settings
    assert any("DEVELOPMENT" in d for d in settings.dev_defaults)
    key_file = tmp_path / "data" / "at-rest.keys"
    assert key_file.stat().st_mode & 0o777 == 0o600
    token = (tmp_path / "data" / "admin-token").read_text().strip()
    with TestClient(app) as c:
        assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
        r = c.get("/v1/audit", headers={"Authorization": f"Bearer {token}"})
        assert len(r.json()["entry"]) == 1
    # a second start reuses the same key: old records stay readable
    with TestClient(create_app()) as c:
        r = c.get("/v1/audit", headers={"Authorization": f"Bearer {token}"})
        assert r.json()["entry"][0]["resource"]["resourceType"] == "AuditEvent"


def test_unknown_profile_is_a_configuration_error(tmp_path: Path) -> None:
    from attest import ConfigurationError

    with pytest.raises(ConfigurationError):
        create_app(service_settings(tmp_path, profile="no-such-profile"))



def test_startup_objects_are_frozen_out_of_full_collections(client: TestClient) -> None:
    """After startup the long-lived objects (framework, models, profiles, trust store) are in the
    collector's permanent generation, so full collections no longer walk them."""
    import gc

    assert gc.get_freeze_count() > 10_000
    assert client.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
