"""Issue 12: every AuditEvent the service writes validates against HL7 Norway's
``no-domain-Trustframework-Auditevent`` (AuditEvent IG 0.9.8) with zero errors, wrong displays included.

The events are made by the service's own path (``verify_async`` → ``AuditTrail.prepare`` →
``build_audit_event``, read back with ``AuditTrail.open``; see ``shapes.py``) for every shape of request in
:data:`shapes.SHAPES`, and, end to end, by the HTTP service itself (``POST /v1/verify``, read back with
``GET /v1/audit``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from attest.service import create_app

from ..support import helseid as h
from ..support.fhirval import need_validator, profile_errors
from ..support.service import admin, fresh_token, service_settings
from .shapes import PATIENT, PID, SHAPES, Shape, generate, outcome_of, tampered


def _report(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {f"event {i} ({ev.get('outcomeDesc')})": errs for i, ev in enumerate(events)
            if (errs := profile_errors(ev))}


@pytest.mark.parametrize("shape", SHAPES, ids=[s.id for s in SHAPES])
def test_every_event_shape_validates(shape: Shape) -> None:
    need_validator()
    g = generate(shape)
    # the shape is what it says (else the matrix would silently test something else)
    assert outcome_of(g.decision) == shape.expect, (shape.what, g.decision.to_dict()["errors"])
    assert len(g.events) == shape.events, shape.what
    report = _report(g.events)
    assert report == {}, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in report.items())


def test_the_shapes_cover_the_matrix() -> None:
    """Each profile; a permit and every kind of deny; 0, 1 and 3 patients; with and without departments and a
    requested patient."""
    ids = [s.id for s in SHAPES]
    assert len(set(ids)) == len(ids)
    for prefix in ("tr11-", "tr11test-", "helseid-at-", "helseid-rar-"):
        assert any(i.startswith(prefix + "permit") for i in ids), prefix
        assert any(i.startswith(prefix + "deny") for i in ids), prefix
    codes = {c for s in SHAPES for c in s.expect}
    assert {"invalid_signature", "malformed_token", "unknown_issuer", "token_expired", "token_replayed",
            "invalid_code", "missing_field", "patient_not_in_attestation", "practitioner_mismatch",
            "dpop_proof_missing"} <= codes
    assert {s.events for s in SHAPES} == {1, 3}
    assert any("0patients" in i for i in ids) and any("departments" in i for i in ids)
    assert any("no-requested-patient" in i for i in ids)


# --- end to end: what the HTTP service stores ---------------------------------------------------------------

def test_events_stored_by_the_service_validate(tmp_path: Path) -> None:
    """POST /v1/verify (a self-signed token: permit, token-level deny, context deny; a HelseID access token +
    DPoP: permit, DPoP deny), then every AuditEvent of GET /v1/audit against the profile."""
    need_validator()
    now = int(time.time())
    context = {"patient_id": PATIENT, "authenticated_pid": PID}
    at = h.make_at(now=now)
    bodies = [
        {"token": fresh_token(), "context": context},
        {"token": tampered(fresh_token()), "context": context},
        {"token": fresh_token(), "context": {**context, "patient_id": "04056600324"}},
        {"access_token": at, "dpop": h.make_proof(at, now=now), "request": {"method": h.METHOD, "url": h.URL},
         "context": {"patient_id": h.PATIENT}},
        {"access_token": at, "request": {"method": h.METHOD, "url": h.URL}, "context": {"patient_id": h.PATIENT}},
    ]
    with TestClient(create_app(service_settings(tmp_path))) as client:
        decisions = []
        for body in bodies:
            r = client.post("/v1/verify", json=body)
            assert r.status_code == 200, r.text
            decisions.append(r.json()["decision"])
        assert decisions == ["permit", "deny", "deny", "permit", "deny"]
        bundle = client.get("/v1/audit", params={"_count": 100}, headers=admin()).json()
    events = [e["resource"] for e in bundle["entry"]]
    assert len(events) == len(bodies)
    report = _report(events)
    assert report == {}, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in report.items())
