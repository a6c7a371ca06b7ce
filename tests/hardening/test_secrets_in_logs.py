"""Secrets and identity numbers never reach a log line or an answer.

The service runs in process with its production logging (``attest.service.logs.configure``: JSON lines
through the redacting filter, level DEBUG) and goes through every path: permit, deny (also with identity
numbers and key-like strings placed in every token field, header and claim), 422 bodies, 503 (audit store and
replay cache down, their URLs carrying passwords), issuing (accepted and refused), follow-up control
(``/v1/audit?patient=…``), the citizen log, inspect, an internal error whose exception message carries an
identity number, and a trust-store reload that fails on a JWKS holding a private key.

Then every captured log line is searched for:

* each national identity number used (11 digits, also ``ddmmyy nnnnn`` and fullwidth-digit spellings),
* the at-rest key (base64 and raw), the admin token, the issuing key (each PEM line and the private
  scalar), the private JWK member ``d`` of the bad trust store, the database and Redis passwords;

and every answer (body and headers, including ``/openapi.json``, ``/metrics``, ``/readyz``) for the key
material (identity numbers are expected in the admin-only audit answers and in decision documents).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import sys
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from attest import load_private_key
from attest.jose import b64url
from attest.service import create_app, logs
from attest.service import decide as verify_route  # the module whose verify the routes call

from ..support.service import ADMIN_TOKEN, admin, fresh_token, key_ring, service_settings
from ..support.summary import record
from ..support.tokens import DROP, KEYS, make_token, org, valid_attestation

# valid F/D-numbers (mod 11) used in this test; none may appear in any log line
PRACTITIONER = "20086600138"
PATIENT = "13116900216"
OTHERS = ["04056600324", "05076600324", "41018036736", "03117000205"]
NUMBERS = [PRACTITIONER, PATIENT, *OTHERS]
DB_PASSWORD = "pg-Pa55word-never-logged"
REDIS_PASSWORD = "redis-Pa55word-never-logged"


def _spellings(number: str) -> list[str]:
    fullwidth = "".join(chr(0xFF10 + int(c)) for c in number)
    return [number, f"{number[:6]} {number[6:]}", f"{number[:6]}-{number[6:]}", fullwidth]


def _ec_private_scalar(key: Any) -> str:
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    n = key.private_numbers().private_value
    return b64url(n.to_bytes((key.curve.key_size + 7) // 8, "big"))


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The service's own logging configuration, writing to a buffer; restored afterwards."""
    names = ("attest", "uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate,
                 logging.getLogger(n).disabled) for n in names}
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)  # configure() builds a StreamHandler on sys.stderr
    logs.configure("DEBUG", "json")
    monkeypatch.undo()
    try:
        yield buffer
    finally:
        for n, (handlers, level, propagate, disabled) in saved.items():
            lg = logging.getLogger(n)
            lg.handlers[:], lg.level, lg.propagate, lg.disabled = handlers, level, propagate, disabled


def _hostile_tokens() -> list[str]:
    """Tokens with identity numbers (and key-like strings) in every place a token can put them."""
    o = org("fagersta")
    out = []
    for number in NUMBERS:
        for spelled in _spellings(number)[:3]:
            att = valid_attestation()
            att["toa"] = int(time.time()) - 5
            att["practitioner"]["legal_entity"]["id"] = spelled
            att["practitioner"]["hpr_nr"]["id"] = spelled
            att["care_relation"]["decision_ref"]["id"] = spelled
            att["practitioner"]["authorization"]["code"] = spelled
            att["patients"][0]["identifier"]["system"] = spelled
            now = int(time.time())
            out.append(make_token(att, now=now, jti=f"jti-{spelled}", sub=spelled))
            out.append(make_token(valid_attestation(), now=now, kid=spelled))
            out.append(make_token(valid_attestation(), now=now, iss=f"https://{spelled}.example"))
            out.append(make_token(valid_attestation(), now=now, header={"x-" + spelled: spelled}))
            out.append(make_token(valid_attestation(), now=now, header={"typ": spelled, "alg": DROP}))
            out.append(f"{spelled}.{spelled}.{spelled}")
    assert o.iss  # the fixture organisation exists
    return out


def test_no_secret_or_identity_number_in_any_log_line_or_answer(tmp_path: Path, captured: io.StringIO,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ring = key_ring("secret-kid")
    at_rest_b64 = ring.split(":", 1)[1]
    issuing_pem = (KEYS / "fagersta" / "private.pem").read_text()
    issuing_scalar = _ec_private_scalar(load_private_key(KEYS / "fagersta" / "private.pem"))
    answers: list[str] = []

    def keep(r: Any) -> Any:
        answers.append(r.text)
        answers.append(json.dumps(dict(r.headers)))
        return r

    # --- permit, deny, issuing, follow-up control, inspect, internal error, trust-store reload -----------
    settings = service_settings(tmp_path / "a", trust_store=KEYS / "trust.yaml", at_rest_keys=ring,
                                issuing_key=KEYS / "fagersta" / "private.pem",
                                issuer="https://epj.fagersta.example")
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        ctx = {"authenticated_pid": PRACTITIONER, "patient_id": PATIENT, "authenticated_hpr": "9144897"}
        r = keep(c.post("/v1/verify", json={"token": fresh_token(), "context": ctx}))
        assert r.json()["decision"] == "permit"
        for other in OTHERS:  # deny: wrong patient / practitioner
            r = keep(c.post("/v1/verify", json={"token": fresh_token(), "context": {
                "patient_id": other, "authenticated_pid": other}}))
            assert r.json()["decision"] == "deny"
        for token in _hostile_tokens():
            r = keep(c.post("/v1/verify", json={"token": token, "context": {"patient_id": PATIENT}}))
            assert r.status_code == 200
            keep(c.post("/v1/inspect", json={"token": token}))
        for body in ({"token": int(PATIENT)}, {"token": "x", "context": {"patient_id": int(PATIENT)}},
                     {"token": "x", "context": {"now": PATIENT}}, {"token": "x", "context": {"now": 1}}):
            r = keep(c.post("/v1/verify", json=body))
            assert r.status_code == 422
        keep(c.post("/v1/verify", content=f'{{"token": "{PATIENT}"'.encode(),
                    headers={"content-type": "application/json"}))
        att = valid_attestation()
        att.pop("toa")
        r = keep(c.post("/v1/attestations", json={"attestation": att}, headers=admin()))
        assert r.status_code == 201
        att["practitioner"]["legal_entity"]["id"] = PATIENT
        r = keep(c.post("/v1/attestations", json={"attestation": att}, headers=admin()))
        assert r.status_code == 422
        for query in ({"patient": PATIENT}, {"practitioner": PRACTITIONER}, {"patient": OTHERS[0]},
                      {"since": PATIENT}):
            keep(c.get("/v1/audit", params=query, headers=admin()))
        r = keep(c.get("/v1/audit/citizen-log", params={"patient": PATIENT}, headers=admin()))
        assert r.json()["count"] == 1
        # the citizen log never shows the practitioner's number, whatever free-text field carries it
        hidden = valid_attestation()
        hidden["toa"] = int(time.time()) - 5
        hidden["practitioner"]["identifier"]["name"] = f"Dr {PRACTITIONER[:6]} {PRACTITIONER[6:]}"
        hidden["care_relation"]["decision_ref"]["description"] = f"ref {PRACTITIONER[:6]}-{PRACTITIONER[6:]}"
        hidden["practitioner"]["point_of_care"]["name"] = f"Legekontor {PRACTITIONER}"
        r = keep(c.post("/v1/verify", json={"token": make_token(hidden, now=int(time.time()), jti="hidden")}))
        assert r.json()["decision"] == "permit", r.json()["errors"]
        r = keep(c.get("/v1/audit/citizen-log", params={"patient": PATIENT}, headers=admin()))
        assert r.json()["count"] == 2
        citizen = unicodedata.normalize("NFKC", r.text)
        assert not any(spelled in citizen for spelled in _spellings(PRACTITIONER)), r.text
        keep(c.get("/v1/audit", params={"patient": PATIENT}, headers={"Authorization": f"Bearer {PATIENT}"}))
        for path in ("/openapi.json", "/metrics", "/readyz", "/healthz", "/v1/profiles",
                     "/v1/profiles/tillitsrammeverk-1.1", f"/v1/profiles/{PATIENT}", f"/nowhere/{PATIENT}"):
            keep(c.get(path))

        async def boom(*_: Any, **__: Any) -> Any:
            raise RuntimeError(f"unexpected failure for patient {PATIENT} ({PRACTITIONER[:6]} {PRACTITIONER[6:]})")

        monkeypatch.setattr(verify_route, "verify_async", boom)
        r = keep(c.post("/v1/verify", json={"token": fresh_token()}))
        assert r.status_code == 500  # the forced internal error: its traceback goes to the log
        monkeypatch.undo()

        # a trust store whose JWKS carries a private key: refused, the error logged, the old store kept
        jwk = json.loads((KEYS / "fagersta" / "public.jwk.json").read_text())
        jwk["d"] = issuing_scalar
        bad = {"audience": "nhn:pjd", "issuers": [{"iss": "https://epj.fagersta.example", "name": "x",
                                                   "legal_entities": ["100100673"], "member": True,
                                                   "jwks": {"keys": [jwk]}}]}
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        app.state.runtime.trust.path = tmp_path / "bad.json"
        assert not app.state.runtime.trust.check(force=True)
        assert app.state.runtime.trust.last_error is not None
        keep(c.get("/readyz"))

    # --- 503: audit store and replay cache down, their URLs carrying passwords ---------------------------
    down = service_settings(tmp_path / "b", at_rest_keys=ring, dependency_timeout=0.5,
                            database_url=f"postgresql://attest:{DB_PASSWORD}@127.0.0.1:1/attest",
                            redis_url=f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0")
    app = create_app(down)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = keep(c.post("/v1/verify", json={"token": fresh_token(), "context": {"patient_id": PATIENT}}))
        assert r.status_code == 503
        r = keep(c.post("/v1/verify", json={"token": "a.b.c", "context": {"patient_id": PATIENT}}))
        assert r.status_code == 503
        keep(c.get("/readyz"))
        keep(c.get("/v1/audit", params={"patient": PATIENT}, headers=admin()))

    text = captured.getvalue()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    # one line per request (the access line carries the verification fields) plus start-up and error lines
    assert len(lines) > 200, "the service logged far less than expected: is logging captured?"
    for ln in lines:
        json.loads(ln)  # every line is one JSON object
    # the paths above did log: the verification fields (on the access line), the 503s, the internal error,
    # the reload failure
    assert '"verify_ms"' in text and '"decision"' in text and "dependency unavailable" in text
    assert "internal error" in text and "trust store reload failed" in text

    secrets_ = {"admin token": ADMIN_TOKEN, "at-rest key": at_rest_b64,
                "at-rest key (raw)": base64.b64decode(at_rest_b64).decode("latin-1"),
                "issuing key scalar": issuing_scalar, "database password": DB_PASSWORD,
                "redis password": REDIS_PASSWORD}
    pem_lines = [ln for ln in issuing_pem.splitlines() if ln and not ln.startswith("-----")]
    assert pem_lines
    for i, ln in enumerate(pem_lines):
        secrets_[f"issuing key PEM line {i + 1}"] = ln

    leaks = []
    for name, value in secrets_.items():
        if value in text:
            leaks.append(f"log: {name}")
    for number in NUMBERS:
        for spelled in _spellings(number):
            if spelled in text or spelled in unicodedata.normalize("NFKC", text):
                leaks.append(f"log: identity number {number} as {spelled!r}")
    all_answers = "\n".join(answers)
    for name, value in secrets_.items():
        if value in all_answers:
            leaks.append(f"answer: {name}")
    assert not leaks, leaks
    assert not re.search(r"(?<![0-9])[0-9]{11}(?![0-9])", text)
    record(f"secrets in logs: {len(lines)} log lines and {len(answers) // 2} answers searched for "
           f"{len(NUMBERS)} identity numbers (4 spellings each) and {len(secrets_)} secrets: 0 found")
