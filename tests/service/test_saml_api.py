"""POST /v1/verify with a SAML 2.0 assertion (issue 14, item 5): the decision of attest.verify_saml, audited
like every decision (filed under the patient of the request, an AuditEvent that conforms to the IG)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from attest import DependencyUnavailable
from attest.service import create_app

from ..support import saml
from ..support.fhirval import need_validator, profile_errors
from ..support.service import admin, service_settings


def _client(tmp_path: Path) -> TestClient:
    trust = tmp_path / "trust.yaml"
    trust.write_text(yaml.safe_dump({"audience": saml.AUDIENCE, "saml_issuers": [
        {"issuer": saml.ISSUER, "certificate": saml.pem(saml.issuer_cert()), "audience": saml.AUDIENCE}]}))
    return TestClient(create_app(service_settings(tmp_path / "data", trust_store=trust, context_required=True)))


def test_a_signed_assertion_is_verified_and_audited(tmp_path: Path) -> None:
    now = int(time.time())
    assertion = saml.signed_assertion(issued=now - 5)
    with _client(tmp_path) as c:
        r = c.post("/v1/verify", json={"saml": saml.b64(assertion), "context": {"patient_id": saml.PATIENT}})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["decision"] == "permit", doc["errors"]
        assert doc["profile"] == "xua-saml-1.0" and doc["token"]["format"] == "saml2-assertion"
        assert doc["attestation"]["practitioner"]["identifier"]["id"] == saml.PRACTITIONER
        # the raw XML works too; a tampered one is a deny, audited as well
        tampered = assertion.replace(saml.POINT_OF_CARE.encode(), b"974589095", 1)
        bad = c.post("/v1/verify", json={"saml": tampered.decode(), "context": {"patient_id": saml.PATIENT}}).json()
        assert bad["decision"] == "deny" and [e["code"] for e in bad["errors"]] == ["invalid_signature"]
        bundle = c.get("/v1/audit", params={"patient": saml.PATIENT}, headers=admin()).json()
        outcomes = sorted(e["resource"]["outcome"] for e in bundle["entry"])
        assert outcomes == ["0", "8"]
    need_validator()
    for entry in bundle["entry"]:
        assert profile_errors(entry["resource"]) == [], json.dumps(entry["resource"])[:400]


def test_exactly_one_credential(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        for body in ({"saml": "<x/>", "token": "a.b.c"}, {"saml": "<x/>", "dpop": "p"}):
            r = c.post("/v1/verify", json=body)
            assert r.status_code == 422, r.text
        garbage = c.post("/v1/verify", json={"saml": "<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
                                             "context": {"patient_id": saml.PATIENT}}).json()
        assert garbage["decision"] == "deny" and [e["code"] for e in garbage["errors"]] == ["invalid_saml"]
        # xua-saml-1.0 requires the patient of the request (an assertion has no DPoP, and is single-use only
        # with OneTimeUse)
        unbound = c.post("/v1/verify", json={"saml": saml.b64(saml.signed_assertion(issued=int(time.time())))})
        assert unbound.status_code == 422 and unbound.json()["type"] == "urn:attest:problem:context-required"


def test_the_inspector_reads_a_saml_assertion(tmp_path: Path) -> None:
    now = int(time.time())
    with _client(tmp_path) as c:
        r = c.post("/v1/inspect", json={"token": saml.signed_assertion(issued=now - 5).decode()})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["shape"] == "saml2-assertion" and report["decision"]["decision"] == "permit"
        assert saml.PRACTITIONER not in r.text  # masked unless asked
        metrics = c.get("/metrics").text
        assert 'attest_inspections_total{kind="saml",result="permit"} 1.0' in metrics


# --- OneTimeUse: the service's replay cache ----------------------------------------------------------------

ONE_TIME = "<saml:OneTimeUse/>"


def _post(c: TestClient, assertion: bytes) -> Any:
    return c.post("/v1/verify", json={"saml": saml.b64(assertion), "context": {"patient_id": saml.PATIENT}})


def test_a_one_time_use_assertion_is_accepted_once(tmp_path: Path) -> None:
    assertion = saml.signed_assertion(issued=int(time.time()) - 5, conditions_extra=ONE_TIME)
    with _client(tmp_path) as c:
        first = _post(c, assertion).json()
        assert first["decision"] == "permit", first["errors"]
        assert first["token"]["one_time_use"] is True
        second = _post(c, assertion).json()
        assert second["decision"] == "deny" and [e["code"] for e in second["errors"]] == ["token_replayed"]
        # an assertion without OneTimeUse serves many requests (xua-saml-1.0 records none)
        reusable = saml.signed_assertion(issued=int(time.time()) - 5, assertion_id="_reusable")
        assert _post(c, reusable).json()["decision"] == _post(c, reusable).json()["decision"] == "permit"


class _DownReplay:
    def check_and_store(self, iss: str, jti: str, expires_at: int) -> bool:
        raise DependencyUnavailable("replay cache unavailable (test)")

    def ping(self) -> bool:
        return False


def test_a_replay_cache_that_is_down_gives_503(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        c.app.state.runtime.replay = _DownReplay()
        r = _post(c, saml.signed_assertion(issued=int(time.time()) - 5, conditions_extra=ONE_TIME))
        assert r.status_code == 503, r.text
        assert r.json()["type"] == "urn:attest:problem:dependency-unavailable" and "decision" not in r.json()
        assert 'attest_dependency_unavailable_total{dependency="replay_cache"} 1.0' in c.get("/metrics").text


class _DownStore:
    url_for_logs = "down"

    def append(self, rows: Any) -> None:
        raise DependencyUnavailable("audit store unreachable (test)")

    async def append_async(self, rows: Any) -> None:
        raise DependencyUnavailable("audit store unreachable (test)")

    def search(self, query: Any) -> list[Any]:
        raise DependencyUnavailable("audit store unreachable (test)")

    def ping(self) -> bool:
        return False

    def close(self, timeout: float = 30.0) -> None:
        pass


def test_an_audit_store_that_is_down_does_not_burn_the_assertion(tmp_path: Path) -> None:
    """The decision could not be recorded (503): the assertion's ID is released, so it can be presented
    again once the store is back; and it is single-use after that."""
    assertion = saml.signed_assertion(issued=int(time.time()) - 5, conditions_extra=ONE_TIME)
    with _client(tmp_path) as c:
        trail = c.app.state.runtime.trail
        real, trail.store = trail.store, _DownStore()
        assert _post(c, assertion).status_code == 503
        trail.store = real
        assert _post(c, assertion).json()["decision"] == "permit"
        assert [e["code"] for e in _post(c, assertion).json()["errors"]] == ["token_replayed"]
