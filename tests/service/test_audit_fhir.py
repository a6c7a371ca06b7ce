"""The AuditEvent mapping of RULES.md e.1 (HL7 Norway no-domain-Trustframework-Auditevent, FHIR R4)."""

from __future__ import annotations

import copy
from typing import Any

from fhir.resources.R4B.auditevent import AuditEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest import VerifyContext, verify
from attest.audit.fhir import (
    ACT_REASON,
    EXT_CARE_RELATION,
    EXT_ENCOUNTER,
    EXT_PATIENT,
    NO_PATIENT,
    PROFILE,
    build_audit_event,
    citizen_entry,
)

from ..support.tokens import NOW, VALID_FNRS, make_token, trust_store, valid_attestation


def _decision(att: Any = None, **ctx: Any) -> Any:
    return verify(make_token(att), trust_store(), context=VerifyContext(now=NOW, **ctx))


def _event(decision: Any, index: int | None = 0, **kw: Any) -> dict[str, Any]:
    issuer = decision.issuer.iss if decision.issuer else None
    return build_audit_event(decision.to_dict(), event_id="e1", recorded=NOW, patient_index=index,
                             issuer=issuer, **kw)


def _contained(event: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(r for r in event["contained"] if r["id"] == rid)


def _ext(event: dict[str, Any], url: str) -> dict[str, Any]:
    return next(e for e in event["extension"] if e["url"] == url)


def _full_attestation() -> dict[str, Any]:
    att = valid_attestation()
    att["practitioner"]["department"] = {"id": "4208", "name": "Akuttmottak", "system": "urn:oid:2.16.578.1.12.4.1.4.102",
                                         "authority": "https://www.nhn.no"}
    att["care_relation"]["purpose_of_use_details"] = {"code": "POLBESOK", "text": "Poliklinisk besøk",
                                                      "system": "urn:AuditEventHL7Norway/CodeSystem/carerelation"}
    att["patients"][0]["point_of_care"] = {"id": "974589095", "name": "Oslo universitetssykehus HF Ullevål",
                                           "system": "urn:oid:2.16.578.1.12.4.1.4.101"}
    att["patients"][0]["department"] = {"id": "4201", "name": "Medisinsk klinikk",
                                        "system": "urn:oid:2.16.578.1.12.4.1.4.102",
                                        "authority": "https://www.nhn.no"}
    return att


def test_permit_maps_every_attribute_of_the_ig() -> None:
    att = _full_attestation()
    d = _decision(att)
    assert d.permitted, d.errors
    event = _event(d)
    AuditEvent.model_validate(event)  # a valid R4 AuditEvent
    assert event["meta"]["profile"] == [PROFILE]
    assert event["type"]["code"] == "110110" and event["action"] == "R"
    assert event["source"]["type"][0]["code"] == "4"
    # practitioner → agent.who PractitionerRole → Practitioner (pid + HPR in identifier.value), qualification
    agent = event["agent"][0]
    assert agent["requestor"] is True and agent["who"]["reference"] == "#practitioner-role"
    role = _contained(event, "practitioner-role")
    practitioner = _contained(event, "practitioner")
    assert [(i["system"], i["value"]) for i in practitioner["identifier"]] == [
        ("urn:oid:2.16.578.1.12.4.1.4.1", "20086600138"), ("urn:oid:2.16.578.1.12.4.1.4.4", "9144897")]
    assert practitioner["identifier"][0]["assigner"]["display"] == "https://www.skatteetaten.no"
    assert practitioner["name"][0]["text"] == "August September"
    assert practitioner["qualification"][0]["code"]["coding"][0] == {
        "system": "urn:oid:2.16.578.1.12.4.1.1.9060", "code": "LE", "display": "Lege"}
    # department XOR legal entity; department.partOf legal entity
    assert role["organization"]["reference"] == "#department"
    dept = _contained(event, "department")
    assert dept["partOf"]["reference"] == "#legal-entity" and dept["identifier"][0]["value"] == "4208"
    legal = _contained(event, "legal-entity")
    assert legal["identifier"][0] == {"system": "urn:oid:2.16.578.1.12.4.1.4.101", "value": "100100673",
                                      "assigner": {"display": "https://www.brreg.no"}}
    assert legal["name"] == "Norsk Helsenett SF Fagersta Testlegekontor"
    # point of care → PractitionerRole.location → Location.managingOrganization
    loc = _contained(event, role["location"][0]["reference"][1:])
    assert loc["resourceType"] == "Location"
    assert _contained(event, loc["managingOrganization"]["reference"][1:])["identifier"][0]["value"] == "100100673"
    # patient → _patient extension
    assert _ext(event, EXT_PATIENT)["valueReference"]["reference"] == "#patient"
    patient = _contained(event, "patient")
    assert patient["identifier"][0]["value"] == "13116900216"
    # healthcare_service, patient's point of care and department → _encounter
    enc = _contained(event, _ext(event, EXT_ENCOUNTER)["valueReference"]["reference"][1:])
    assert enc["serviceType"]["coding"][0]["code"] == "KX17"
    assert enc["serviceType"]["coding"][0]["system"] == "urn:oid:2.16.578.1.12.4.1.1.8655"
    enc_loc = _contained(event, enc["location"][0]["location"]["reference"][1:])
    assert _contained(event, enc_loc["managingOrganization"]["reference"][1:])["identifier"][0]["value"] == "974589095"
    assert _contained(event, enc["serviceProvider"]["reference"][1:])["name"] == "Medisinsk klinikk"
    # toa + decision_ref → careRelationMetaData
    meta = {e["url"]: e for e in _ext(event, EXT_CARE_RELATION)["extension"]}
    assert meta["toa"]["valueUnsignedInt"] == att["toa"]
    assert meta["decision-ref-id"]["valueString"] == "fagersta-0001"
    assert meta["decision-ref-description"]["valueString"] == "Fastlegeliste"
    assert meta["decision-ref-user-selected"]["valueBoolean"] is False
    # purpose_of_use → ActReason; details keep their own system
    codings = event["purposeOfEvent"][0]["coding"]
    # the code system's display, not the token's text ("Behandling"): a validator compares displays
    assert codings[0] == {"system": ACT_REASON, "code": "TREAT", "display": "treatment"}
    assert codings[1]["code"] == "POLBESOK"
    # outcome and codes
    assert event["outcome"] == "0" and event["outcomeDesc"] == "permit"
    entity = event["entity"][0]
    assert entity["what"]["identifier"]["system"] == "https://epj.fagersta.example"
    assert {"type": "decision", "valueString": "permit"} in entity["detail"]


def test_every_contained_resource_is_referenced() -> None:
    event = _event(_decision(_full_attestation()))
    text = str(event)
    for r in event["contained"]:
        assert f"'#{r['id']}'" in text, r["id"]


def test_legal_entity_is_the_organization_without_department() -> None:
    event = _event(_decision())
    assert _contained(event, "practitioner-role")["organization"]["reference"] == "#legal-entity"
    assert not any(r["id"] == "department" for r in event["contained"])


def test_deny_carries_outcome_and_error_codes() -> None:
    d = _decision(patient_id=VALID_FNRS[2])
    event = _event(d)
    AuditEvent.model_validate(event)
    assert event["outcome"] == "4"
    assert event["outcomeDesc"] == "deny: patient_not_in_attestation"
    details = [x["valueString"] for x in event["entity"][0]["detail"] if x["type"] == "error"]
    assert details == ["patient_not_in_attestation ATT-4 patients"] or details[0].startswith(
        "patient_not_in_attestation ATT-4")


def test_token_level_deny_has_no_patient_and_a_serious_outcome() -> None:
    d = verify("garbage", trust_store(), context=VerifyContext(now=NOW))
    event = _event(d, index=None)
    AuditEvent.model_validate(event)
    assert event["outcome"] == "8" and "malformed_token" in event["outcomeDesc"]
    # no token content; the patient extension (1..1) says that no patient was identified
    assert "contained" not in event and event["extension"] == [NO_PATIENT]
    assert event["agent"][0]["who"]["display"] == "unauthenticated requester"


def test_requested_patient_is_recorded_when_the_attestation_names_none() -> None:
    d = verify("garbage", trust_store(), context=VerifyContext(now=NOW))
    event = _event(d, index=None, requested_patient={"id": "13116900216"})
    assert _contained(event, "patient")["identifier"][0]["value"] == "13116900216"


def test_one_event_per_patient() -> None:
    att = valid_attestation()
    att["patients"] = [{"identifier": {"id": fnr, "system": "urn:oid:2.16.578.1.12.4.1.4.1"}}
                       for fnr in VALID_FNRS[1:4]]
    d = _decision(att)
    ids = [_contained(_event(d, i), "patient")["identifier"][0]["value"] for i in range(3)]
    assert ids == list(VALID_FNRS[1:4])


def test_toa_after_2038_is_left_out_rather_than_invalid() -> None:
    d = _decision()
    doc = d.to_dict()
    doc["attestation"]["toa"] = 2**31
    event = build_audit_event(doc, event_id="e1", recorded=NOW, patient_index=0)
    # the extension is whole or absent (each sub-extension is 1..1): a toa it cannot carry leaves it out,
    # rather than a wrong time (the token's iat stands in only for a toa that is absent)
    assert all(e["url"] != EXT_CARE_RELATION for e in event["extension"])


def test_citizen_entry_shows_names_and_texts_never_identifiers() -> None:
    event = _event(_decision(_full_attestation()))
    entry = citizen_entry(event)
    assert entry["practitioner"] == {"name": "August September", "authorization": {"code": "LE", "display": "Lege"}}
    assert entry["organisations"] == {"department": "Akuttmottak",
                                      "legal_entity": "Norsk Helsenett SF Fagersta Testlegekontor",
                                      "point_of_care": "Norsk Helsenett SF Fagersta Testlegekontor"}
    assert entry["care_relation"]["purpose_of_use"] == {"code": "TREAT", "display": "Behandling"}
    assert entry["care_relation"]["healthcare_service"]["display"] == "Fastlege, liste uten fast lege"
    assert entry["care_relation"]["purpose_of_use_details"]["code"] == "POLBESOK"
    text = str(entry)
    for number in ("20086600138", "9144897", "13116900216", "100100673"):
        assert number not in text


# --- hostile content: the audit write can never fail because of what a token says ------------------

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=3),
                     max_leaves=12)
_paths = st.sampled_from([
    ("toa",), ("practitioner",), ("practitioner", "identifier"), ("practitioner", "identifier", "id"),
    ("practitioner", "identifier", "system"), ("practitioner", "identifier", "name"), ("practitioner", "hpr_nr"),
    ("practitioner", "authorization", "code"), ("practitioner", "legal_entity"),
    ("practitioner", "legal_entity", "name"), ("practitioner", "point_of_care", "id"), ("care_relation",),
    ("care_relation", "purpose_of_use", "system"), ("care_relation", "purpose_of_use", "code"),
    ("care_relation", "healthcare_service"), ("care_relation", "decision_ref"),
    ("care_relation", "decision_ref", "user_selected"), ("patients",), ("patients", 0),
    ("patients", 0, "identifier", "id"), ("patients", 0, "point_of_care"),
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_paths, _json | st.text(alphabet=st.characters(), max_size=40)), min_size=1, max_size=4))
def test_any_attestation_content_gives_a_valid_event(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    base = _decision().to_dict()
    doc = copy.deepcopy(base)
    for path, value in changes:
        node: Any = doc["attestation"]
        for step in path[:-1]:
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and node):
            node[path[-1] if isinstance(node, dict) else 0] = value
    doc["decision"] = "deny"
    doc["errors"] = [{"code": "invalid_field", "rule": "ATT-1", "path": "x", "message": "m"}]
    event = build_audit_event(doc, event_id="e1", recorded=NOW, patient_index=0, issuer="https://epj.fagersta.example")
    # valid by construction: fhir.resources accepts it and its round trip changes nothing
    assert AuditEvent.model_validate(event).model_dump(mode="json", exclude_none=True) == event
    assert event["outcome"] == "4"
    citizen_entry(event)


def test_runtime_events_equal_validated_events() -> None:
    """The service builds events without per-request validation (it costs ~6 ms); the validated build must
    give exactly the same JSON."""
    for d in (_decision(_full_attestation()), _decision(), _decision(patient_id="04056600324")):
        for index in (0, None):
            assert _event(d, index) == _event(d, index, validate=True)
