"""GET /v1/audit/citizen-log (ATT-8): what a citizen may see, never the practitioner's identity number."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from ..support.service import admin, fresh_token
from ..support.tokens import VALID_FNRS, valid_attestation


def _log(client: TestClient, patient: str) -> dict:  # type: ignore[type-arg]
    r = client.get("/v1/audit/citizen-log", params={"patient": patient}, headers=admin())
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_citizen_sees_permitted_accesses_with_names_and_texts(client: TestClient) -> None:
    client.post("/v1/verify", json={"token": fresh_token(), "context": {"patient_id": "13116900216"}})
    log = _log(client, "13116900216")
    assert log["count"] == 1
    entry = log["entries"][0]
    assert entry["practitioner"]["name"] == "August September"
    assert entry["practitioner"]["authorization"] == {"code": "LE", "display": "Lege"}
    assert entry["organisations"]["legal_entity"] == "Norsk Helsenett SF Fagersta Testlegekontor"
    assert entry["care_relation"]["purpose_of_use"]["display"] == "Behandling"
    assert entry["care_relation"]["healthcare_service"]["display"] == "Fastlege, liste uten fast lege"
    assert entry["time"].endswith("Z")


def test_citizen_log_never_contains_an_eleven_digit_identifier(client: TestClient) -> None:
    att = valid_attestation()
    # a hostile or careless EPJ puts identity numbers into free text as well
    att["practitioner"]["identifier"]["name"] = "August September (20086600138)"
    att["care_relation"]["decision_ref"]["description"] = "Liste 03117000205"
    client.post("/v1/verify", json={"token": fresh_token(att)})
    client.post("/v1/verify", json={"token": fresh_token()})
    r = client.get("/v1/audit/citizen-log", params={"patient": "13116900216"}, headers=admin())
    assert r.json()["count"] == 2
    assert not re.search(r"(?<![0-9])[0-9]{11}(?![0-9])", r.text)
    assert "9144897" not in r.text  # nor the HPR number
    assert "August September" in r.text


def test_denied_attempts_and_other_patients_are_not_shown(client: TestClient) -> None:
    client.post("/v1/verify", json={"token": fresh_token(), "context": {"patient_id": VALID_FNRS[3]}})  # deny
    assert _log(client, "13116900216")["count"] == 0
    assert _log(client, VALID_FNRS[3])["count"] == 0


def test_patient_parameter_is_required(client: TestClient) -> None:
    r = client.get("/v1/audit/citizen-log", headers=admin())
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
