"""FHIR R4 AuditEvent for a verification, after HL7 Norway's ``no-domain-Trustframework-Auditevent``
(AuditEvent IG v0.9.8; RULES.md section e.1).

One AuditEvent per patient: the patient of the request when the request names one (the HelseID path, and
every deny, so that a search for that patient finds it), else each patient of the attestation; an event that
concerns no identified patient carries a display-only ``_patient`` reference (``NO_PATIENT``). Referenced
resources (Practitioner, PractitionerRole, Organizations, Locations, Patient, Encounter) are built only from
the token's content (and the request's patient) and ``contained`` in the AuditEvent. Every event shape the
service writes is validated against the profile in the tests (tests/audit_ig, the offline validator in
tools/fhirval), so ``meta.profile`` is claimed only by events that conform.

Mapping (RULES.md e.1), with the IG quirks handled as e.1 recommends:

* ``toa`` and ``decision_ref`` → extension ``auditevent-carerelation-metadata-extension``, whole (its four
  sub-extensions are 1..1) or not at all; where the attestation is silent, what it implies
  (:func:`_care_relation_metadata` says which, per element).
* ``purpose_of_use`` → ``purposeOfEvent.coding`` in the v3 ActReason code system (only a code of the
  v3-PurposeOfUse value set, with the code system's display); ``purpose_of_use_details`` → a further coding
  with its own system, and for the trust framework's care-relation system also the DIPS decision-template
  slice. Displays are the code systems' own, never the token's free text, where the code list knows them.
* ``healthcare_service`` → ``_encounter`` Encounter ``serviceType``; patients' ``point_of_care`` →
  ``Encounter.location``; patients' ``department`` → ``Encounter.serviceProvider``; ``Encounter.class`` is
  data-absent (unknown: the attestation does not say).
* ``practitioner`` → ``agent.who`` PractitionerRole (``requestor = true``): Practitioner identifiers (the
  F/D-number and the HPR number, ``identifier.value``), ``name.text``, ``qualification`` (9060);
  ``organization`` = department (``partOf`` legal entity) XOR legal entity; ``location`` = point of care
  Location with its ``managingOrganization``. A role without an organisation or a location (a deny for
  their absence) is named by display only.
* Organization and Patient numbers go into ``identifier.value`` (the IG's ``identifier.id`` is the FHIR
  element id, a known quirk); the requested patient's system follows from its number (F, D or FH).

Outside the IG (extensions of ours, all standard R4 elements): ``outcome`` is ``0`` for a permit, else the
most serious ``audit_outcome`` of the error table (``4`` minor, ``8`` serious); ``outcomeDesc`` lists the
error codes; ``entity[0]`` is the attestation token (``what.identifier`` = issuer + ``jti``) whose
``detail`` entries carry ``decision``, ``profile``, one ``error`` per error and one ``warning`` per warning
(a binding that could not be checked is part of the record).

Token content is untrusted on a deny: every value is type-checked and sanitised before it is used, and an
event that still does not validate is replaced by a minimal one (outcome, codes, no token content), so a
hostile token can never make the audit write fail.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from functools import lru_cache
from typing import Any

from fhir.resources.R4B.auditevent import AuditEvent

from .. import codes
from ..errors import ERROR_CODES
from ..identifiers import OID_HPR, redact_identity_numbers
from ..model import get, iter_patients

FHIR_BASE = "http://hl7.no/fhir"
PROFILE = f"{FHIR_BASE}/StructureDefinition/no-domain-Trustframework-Auditevent"
EXT_PATIENT = f"{FHIR_BASE}/StructureDefinition/auditevent-patient-extension"
EXT_ENCOUNTER = f"{FHIR_BASE}/StructureDefinition/auditevent-encounter-extension"
EXT_CARE_RELATION = f"{FHIR_BASE}/StructureDefinition/auditevent-carerelation-metadata-extension"
PROFILE_PRACTITIONER_ROLE = f"{FHIR_BASE}/StructureDefinition/no-domain-Trustframework-PractitioneRole"
PROFILE_PATIENT = f"{FHIR_BASE}/StructureDefinition/no-domain-Trustframework-Patient"

ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
ENCOUNTER_CLASS = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
CARE_RELATION_SYSTEM = "urn:AuditEventHL7Norway/CodeSystem/carerelation"
DIPS_TEMPLATE = "https://terminology.dips.com/decisiontemplate"
#: valueUnsignedInt reaches 2^31 - 1 (2038-01-19); a later toa cannot be carried (RULES.md e.1)
MAX_UNSIGNED_INT = 2_147_483_647

#: the patient extension (1..1) of an event that concerns no identified patient: neither the request nor the
#: attestation named one (a token-level deny without a requested patient, a permit of an attestation without
#: patients). A display-only reference: such events are found by time, issuer and requester, not by patient.
NO_PATIENT: dict[str, Any] = {"url": EXT_PATIENT, "valueReference": {
    "display": "no patient identified: the request and the attestation named none"}}
UNKNOWN: dict[str, Any] = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                           "valueCode": "unknown"}

_MAX_TEXT = 1024
_CODE = re.compile(r"[^\s]+(?:\s[^\s]+)*")
_URI = re.compile(r"\S+")


# --- sanitising untrusted token content ------------------------------------------------------------

def _text(v: Any, limit: int = _MAX_TEXT) -> str | None:
    """A FHIR string from token content: control characters become spaces, trimmed, bounded."""
    if not isinstance(v, str):
        return None
    if v.isprintable():  # the common case, checked in C: no control characters or surrogates at all
        s = v.strip()[:limit].strip()
    else:
        s = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in v).strip()[:limit].strip()
    return s or None


def _code(v: Any) -> str | None:
    return v if isinstance(v, str) and len(v) <= 256 and _CODE.fullmatch(v) else None


def _uri(v: Any) -> str | None:
    return _uri_str(v) if type(v) is str else None


@lru_cache(maxsize=1024)
def _uri_str(v: str) -> str | None:
    """Cached: the systems and assigners of a verifier's traffic are a few dozen registry URIs."""
    return v if len(v) <= _MAX_TEXT and _URI.fullmatch(v) and v.isprintable() else None


def _obj(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _identifier(v: Any) -> dict[str, Any] | None:
    """identifier struct (id, system, authority) → FHIR Identifier (value, system, assigner.display)."""
    if not isinstance(v, dict):
        return None
    value = _text(v.get("id"), 256)
    if value is None:
        return None
    out: dict[str, Any] = {"value": value}
    system = _uri(v.get("system"))
    if system:
        out["system"] = system
    authority = _text(v.get("authority"), 256)
    if authority:
        out["assigner"] = {"display": authority}
    return out


def _coding(v: Any, system_override: str | None = None) -> dict[str, Any] | None:
    """code struct (code, text, system) → FHIR Coding (code, display). The display is the code system's
    own when the code list knows the code (a validator compares it with the code system: the token's free
    text, e.g. "Behandling" for TREAT, would be a wrong display); the token's text only for a code system
    attest has no list of."""
    if not isinstance(v, dict):
        return None
    code = _code(v.get("code"))
    if code is None:
        return None
    out: dict[str, Any] = {"code": code}
    system = _uri(v.get("system"))
    if system_override:
        out["system"] = system_override
    elif system:
        out["system"] = system
    known = _text(codes.display(system, code)) if system else None
    display = known or _text(v.get("text"), 256)
    if display:
        out["display"] = display
    return out


def _purpose_of_use(v: Any) -> dict[str, Any] | None:
    """The spec's value-set OID (and aliases) → the v3 ActReason code system (RULES.md f.9), only for a code
    of the v3-PurposeOfUse value set (the profile's required PURPOSE_OF_USE_VALUESET slice); anything else
    (a deny for a wrong system or code) is not a purpose of use the record can state: None."""
    if not isinstance(v, dict) or not isinstance(v.get("system"), str) or not isinstance(v.get("code"), str):
        return None
    display = codes.display(v["system"], v["code"])
    if v["system"] not in codes.code_lists()["purpose_of_use"].systems or display is None:
        return None
    coding = _coding(v, system_override=ACT_REASON)
    if coding is not None:
        coding["display"] = display
    return coding


def _purpose_details(v: Any) -> list[dict[str, Any]]:
    """purpose_of_use_details → its coding, and for the trust framework's care-relation system also the IG's
    DIPS decision-template slice (``DIPS_DECISIONTEMPLATE``: the same codes and displays)."""
    coding = _coding(v)
    if coding is None:
        return []
    out = [coding]
    if coding.get("system") == CARE_RELATION_SYSTEM and codes.display(DIPS_TEMPLATE, coding["code"]) is not None:
        out.append({"system": DIPS_TEMPLATE, "code": coding["code"],
                    "display": str(codes.display(DIPS_TEMPLATE, coding["code"]))})
    return out


def _organization(rid: str, v: Any, part_of: str | None = None) -> dict[str, Any] | None:
    ident = _identifier(v)
    name = _text(v.get("name"), 256) if isinstance(v, dict) else None
    if ident is None and name is None:
        return None
    org: dict[str, Any] = {"resourceType": "Organization", "id": rid}
    if ident:
        org["identifier"] = [ident]
    if name:
        org["name"] = name
    if part_of:
        org["partOf"] = {"reference": f"#{part_of}"}
    return org


# --- the AuditEvent ------------------------------------------------------------------------------

def audit_outcome(decision: dict[str, Any]) -> str:
    """``0`` for a permit; else the most serious ``audit_outcome`` of the error table (``8`` > ``4``)."""
    if decision.get("decision") == "permit":
        return "0"
    worst = "4"
    for e in decision.get("errors") or []:
        row = ERROR_CODES.get(str(e.get("code")))
        if row is not None and int(row.audit_outcome) > int(worst):
            worst = row.audit_outcome
    return worst


def _instant(t: float) -> str:
    """A FHIR instant, spelled as fhir.resources serialises it (microseconds only when non-zero)."""
    dt = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds").replace("+00:00", "Z")


def _token_entity(decision: dict[str, Any], issuer: str | None) -> dict[str, Any]:
    token = decision.get("token") or {}
    entity: dict[str, Any] = {
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "name": "attestation",
        "description": "health-personnel attestation (Tillitsrammeverk) presented for verification",
        "detail": [{"type": "decision", "valueString": str(decision.get("decision"))},
                   {"type": "profile", "valueString": str(decision.get("profile"))}],
    }
    jti = _text(token.get("jti"), 128)
    if jti and issuer:
        entity["what"] = {"identifier": {"system": _uri(issuer) or "urn:ietf:rfc:7519", "value": jti}}
    for kind, findings in (("error", decision.get("errors")), ("warning", decision.get("warnings"))):
        # warnings too: a binding that could not be checked (context_not_provided) is part of the record
        for e in findings or []:
            code = str(e.get("code"))
            if code in ERROR_CODES:
                entity["detail"].append({"type": kind, "valueString": f"{code} {e.get('rule')} {e.get('path')}"})
    return entity


def build_audit_event(
    decision: dict[str, Any],
    *,
    event_id: str,
    recorded: float,
    patient_index: int | None,
    requested_patient: dict[str, Any] | None = None,
    issuer: str | None = None,
    source_site: str = "attest",
    validate: bool = False,
) -> dict[str, Any]:
    """The AuditEvent (a FHIR R4 JSON dict) for one patient of ``decision`` (the decision document of
    CONTRACT.md section 4).

    ``patient_index`` selects ``attestation.patients[i]`` (its point of care and department describe the
    encounter); ``requested_patient`` (an identifier struct: the patient of the request) is the event's
    patient when given, else that attestation patient's identifier. ``issuer`` is the trust-store issuer
    whose key verified the token (None on a token-level deny).

    The event is valid R4 by construction: every value from the token passes a sanitiser first, and the
    test suite checks with fhir.resources (R4B models) that the events it builds, hostile content included,
    validate and survive a model round trip unchanged. Validating each event at run time costs ~6 ms (the
    whole budget of a verification), so it is done only with ``validate=True`` (tests, tools)."""
    outcome = audit_outcome(decision)
    try:
        # the builders never emit None or empty members (the round-trip tests hold them to it)
        event: dict[str, Any] = _full_event(decision, event_id, recorded, patient_index, requested_patient,
                                            issuer, source_site, outcome)
        if validate:
            event = AuditEvent.model_validate(event).model_dump(mode="json", exclude_none=True)
        return event
    except (ValueError, TypeError):
        # hostile or odd token content the sanitisers did not foresee: keep the essentials
        event = _minimal_event(decision, event_id, recorded, issuer, source_site, outcome, requested_patient)
        if validate:
            event = AuditEvent.model_validate(event).model_dump(mode="json", exclude_none=True)
        return event


def _base(decision: dict[str, Any], event_id: str, recorded: float, issuer: str | None, source_site: str,
          outcome: str) -> dict[str, Any]:
    codes_ = [str(e.get("code")) for e in decision.get("errors") or [] if str(e.get("code")) in ERROR_CODES]
    return {
        "resourceType": "AuditEvent",
        "id": event_id,
        "meta": {"profile": [PROFILE]},
        "type": {"system": DCM, "code": "110110", "display": "Patient Record"},
        "action": "R",
        "recorded": _instant(recorded),
        "outcome": outcome,
        "outcomeDesc": ("permit" if outcome == "0" else "deny: " + ", ".join(codes_) if codes_ else "deny"),
        "source": {"site": _text(source_site, 256) or "attest",
                   "observer": {"display": "attest verification service"},
                   "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}]},
        "entity": [_token_entity(decision, issuer)],
    }


def _minimal_event(decision: dict[str, Any], event_id: str, recorded: float, issuer: str | None,
                   source_site: str, outcome: str, requested_patient: dict[str, Any] | None) -> dict[str, Any]:
    event = _base(decision, event_id, recorded, issuer, source_site, outcome)
    event["agent"] = [{"requestor": True, "who": {"display": "requester (attestation content not recorded)"}}]
    # the patient of the request (built by this service, not from the token) still files the event
    pident = _identifier(requested_patient)
    if pident is not None:
        event["contained"] = [{"resourceType": "Patient", "id": "patient", "meta": {"profile": [PROFILE_PATIENT]},
                               "identifier": [pident]}]
        event["extension"] = [{"url": EXT_PATIENT, "valueReference": {"reference": "#patient"}}]
    else:
        event["extension"] = [NO_PATIENT]
    return event


def _full_event(decision: dict[str, Any], event_id: str, recorded: float, patient_index: int | None,
                requested_patient: dict[str, Any] | None, issuer: str | None, source_site: str,
                outcome: str) -> dict[str, Any]:
    event = _base(decision, event_id, recorded, issuer, source_site, outcome)
    att = _obj(decision.get("attestation"))
    contained: list[dict[str, Any]] = []
    extensions: list[dict[str, Any]] = []

    # --- practitioner → agent.who PractitionerRole ------------------------------------------------
    pr = _obj(att.get("practitioner"))
    practitioner: dict[str, Any] = {"resourceType": "Practitioner", "id": "practitioner"}
    hpr = _identifier(pr.get("hpr_nr"))
    if hpr is not None and "system" not in hpr:
        hpr["system"] = OID_HPR
    idents = [i for i in (_identifier(pr.get("identifier")), hpr) if i]
    if idents:
        practitioner["identifier"] = idents
    pname = _text(get(pr, "identifier", "name"), 256)
    if pname:
        practitioner["name"] = [{"text": pname}]
    qual = _coding(pr.get("authorization"))
    if qual:
        practitioner["qualification"] = [{"code": {"coding": [qual]}}]
    legal = _organization("legal-entity", pr.get("legal_entity"))
    dept = _organization("department", pr.get("department"), part_of="legal-entity" if legal else None)
    poc_org = _organization("point-of-care", pr.get("point_of_care"))
    role: dict[str, Any] = {"resourceType": "PractitionerRole", "id": "practitioner-role",
                            "meta": {"profile": [PROFILE_PRACTITIONER_ROLE]}}
    if len(practitioner) > 2:
        contained.append(practitioner)
        role["practitioner"] = {"reference": "#practitioner"}
    for org in (legal, dept, poc_org):
        if org:
            contained.append(org)
    if dept:
        role["organization"] = {"reference": "#department"}
    elif legal:
        role["organization"] = {"reference": "#legal-entity"}
    if poc_org:
        location: dict[str, Any] = {"resourceType": "Location", "id": "point-of-care-location",
                                    "managingOrganization": {"reference": "#point-of-care"}}
        if poc_org.get("name"):
            location["name"] = poc_org["name"]
        contained.append(location)
        role["location"] = [{"reference": "#point-of-care-location"}]
    agent: dict[str, Any] = {"requestor": True}
    # the IG's PractitionerRole needs an organisation and a location (1..1 each): a role the token could not
    # fill (a deny for a missing legal entity or point of care) is named by display only, as on a token-level
    # deny, and its parts are not contained
    if "organization" in role and "location" in role:
        contained.append(role)
        agent["who"] = {"reference": "#practitioner-role"}
        if pname:
            agent["name"] = pname
    else:
        contained = [r for r in contained if r["resourceType"] not in ("Practitioner", "Organization", "Location")]
        agent["who"] = {"display": "unauthenticated requester" if issuer is None else "requester"}
        if pname and issuer is not None:
            agent["name"] = pname
    # (agent.altId is the user's alternative id in the IG, not the issuer: the issuer is in entity[0].what)
    event["agent"] = [agent]

    # --- the patient of this event → _patient ------------------------------------------------------
    patients = dict(iter_patients(att))
    patient = patients.get(patient_index) if patient_index is not None else None
    # the patient of the request when there is one (see AuditTrail.prepare), else the attestation's
    pid_struct = requested_patient if requested_patient is not None else (
        patient.get("identifier") if patient else None)
    pident = _identifier(pid_struct)
    if pident:
        p: dict[str, Any] = {"resourceType": "Patient", "id": "patient",
                             "meta": {"profile": [PROFILE_PATIENT]}, "identifier": [pident]}
        pn = _text(pid_struct.get("name"), 256) if isinstance(pid_struct, dict) else None
        if pn:
            p["name"] = [{"text": pn}]
        contained.append(p)
        extensions.append({"url": EXT_PATIENT, "valueReference": {"reference": "#patient"}})
    else:
        extensions.append(NO_PATIENT)

    # --- encounter: healthcare_service, patient's point of care and department --------------------
    cr = _obj(att.get("care_relation"))
    # Encounter.class (1..1, extensible binding to v3 ActEncounterCode): the attestation does not say what
    # kind of encounter the care relation is, so the element says so (data-absent-reason), rather than a
    # NullFlavor code outside the binding
    encounter: dict[str, Any] = {"resourceType": "Encounter", "id": "encounter", "status": "unknown",
                                 "class": {"extension": [UNKNOWN]}}
    service = _coding(cr.get("healthcare_service"))
    if service:
        encounter["serviceType"] = {"coding": [service]}
    if patient:
        epoc = _organization("encounter-point-of-care", patient.get("point_of_care"))
        if epoc:
            contained.append(epoc)
            loc: dict[str, Any] = {"resourceType": "Location", "id": "encounter-location",
                                   "managingOrganization": {"reference": "#encounter-point-of-care"}}
            if epoc.get("name"):
                loc["name"] = epoc["name"]
            contained.append(loc)
            encounter["location"] = [{"location": {"reference": "#encounter-location"}}]
        edept = _organization("encounter-service-provider", patient.get("department"))
        if edept:
            contained.append(edept)
            encounter["serviceProvider"] = {"reference": "#encounter-service-provider"}
    if len(encounter) > 4:
        contained.append(encounter)
        extensions.append({"url": EXT_ENCOUNTER, "valueReference": {"reference": "#encounter"}})

    # --- care relation metadata: toa, decision_ref ------------------------------------------------
    care = _care_relation_metadata(cr, att.get("toa"), _obj(decision.get("token")).get("iat"))
    if care is not None:
        extensions.append(care)

    # --- purpose of use (+ details) → purposeOfEvent ------------------------------------------------
    # the profile requires the PurposeOfUse coding whenever purposeOfEvent is there: without a purpose of use
    # of the value set (a deny for it, a test token without one) there is no purposeOfEvent (0..*); the
    # details stay in the token
    purpose = _purpose_of_use(cr.get("purpose_of_use"))
    if purpose is not None:
        event["purposeOfEvent"] = [{"coding": [purpose, *_purpose_details(cr.get("purpose_of_use_details"))]}]

    if contained:
        event["contained"] = contained
    if extensions:
        event["extension"] = extensions
    return event


def _care_relation_metadata(cr: dict[str, Any], toa: Any, iat: Any) -> dict[str, Any] | None:
    """The care-relation extension: its four sub-extensions are each 1..1, so it is written whole or not at
    all. Without a decision reference (no ``decision_ref.id``) there is nothing for it to describe: none.
    Otherwise, per element, what the attestation implies where it is silent (the primitive values cannot
    carry a data-absent-reason in the stored JSON):

    * ``decision-ref-description``: the decision reference's description, else the display of the decision
      template (``purpose_of_use_details``: HelseID sends no description), else a statement that the
      attestation gave none;
    * ``decision-ref-user-selected``: absent means the user did not mark it as self-selected: false;
    * ``toa``: the time of attestation, else (HelseID's tokens and the RAR profile carry none) the token's
      ``iat``: the time its issuer vouched for the attestation, the latest it can have been made."""
    dr = _obj(cr.get("decision_ref"))
    dr_id = _text(dr.get("id"), 256)
    if dr_id is None:
        return None
    details = _obj(cr.get("purpose_of_use_details"))
    template = (codes.display(details["system"], details["code"])
                if isinstance(details.get("system"), str) and isinstance(details.get("code"), str) else None)
    description = (_text(dr.get("description"), 256) or _text(template, 256)
                   or "no description in the attestation")
    selected = dr.get("user_selected") if isinstance(dr.get("user_selected"), bool) else False
    when = toa if toa is not None else iat  # a toa that is there but cannot be carried is not replaced
    if not isinstance(when, int) or isinstance(when, bool) or not 0 <= when <= MAX_UNSIGNED_INT:
        return None
    return {"url": EXT_CARE_RELATION, "extension": [
        {"url": "decision-ref-id", "valueString": dr_id},
        {"url": "decision-ref-description", "valueString": description},
        {"url": "decision-ref-user-selected", "valueBoolean": selected},
        {"url": "toa", "valueUnsignedInt": when}]}


# --- reading an AuditEvent back ------------------------------------------------------------------

def _contained(event: dict[str, Any], rid: str) -> dict[str, Any]:
    for r in event.get("contained") or []:
        if r.get("id") == rid:
            return dict(r)
    return {}


def _ref_id(ref: Any) -> str | None:
    if isinstance(ref, dict) and isinstance(ref.get("reference"), str) and ref["reference"].startswith("#"):
        return str(ref["reference"][1:])
    return None


def _display_coding(c: dict[str, Any], prefer_nb: bool = False) -> dict[str, Any]:
    code, system = c.get("code"), c.get("system")
    display = None
    if prefer_nb and system == ACT_REASON:
        extra = codes.code_lists()["purpose_of_use"].extra.get(str(code)) or {}
        display = extra.get("display_nb")
    if display is None and isinstance(system, str) and isinstance(code, str):
        display = codes.display(system, code)
    return {"code": code, "display": display or c.get("display")}


def citizen_entry(event: dict[str, Any]) -> dict[str, Any]:
    """What a citizen may see of one access (ATT-8): time, the practitioner's name and authorisation, the
    organisations' names, purpose and care relation with display texts, the decision reference's
    description. Never an identity number: no identifier of the practitioner (neither the F/D-number nor
    the HPR number) and no organisation numbers, only names."""
    entry: dict[str, Any] = {"time": event.get("recorded"),
                             "outcome": "permit" if event.get("outcome") == "0" else "deny"}
    agent = (event.get("agent") or [{}])[0]
    role = _contained(event, _ref_id(agent.get("who")) or "")
    practitioner = _contained(event, _ref_id(role.get("practitioner")) or "")
    name = next((n.get("text") for n in practitioner.get("name") or [] if n.get("text")), None)
    p: dict[str, Any] = {"name": name}
    qual = practitioner.get("qualification") or []
    if qual:
        coding = (qual[0].get("code") or {}).get("coding") or []
        if coding:
            p["authorization"] = _display_coding(coding[0])
    entry["practitioner"] = p
    orgs: dict[str, Any] = {}
    org = _contained(event, _ref_id(role.get("organization")) or "")
    if org.get("id") == "department":
        orgs["department"] = org.get("name")
        orgs["legal_entity"] = _contained(event, _ref_id(org.get("partOf")) or "").get("name")
    elif org:
        orgs["legal_entity"] = org.get("name")
    locs = role.get("location") or []
    if locs:
        loc = _contained(event, _ref_id(locs[0]) or "")
        orgs["point_of_care"] = _contained(event, _ref_id(loc.get("managingOrganization")) or "").get("name")
    entry["organisations"] = {k: v for k, v in orgs.items() if v}
    care: dict[str, Any] = {}
    for pe in event.get("purposeOfEvent") or []:
        for c in pe.get("coding") or []:
            if c.get("system") == ACT_REASON and "purpose_of_use" not in care:
                care["purpose_of_use"] = _display_coding(c, prefer_nb=True)
            else:
                care["purpose_of_use_details"] = _display_coding(c)
    enc = _contained(event, "encounter")
    st = ((enc.get("serviceType") or {}).get("coding") or [])
    if st:
        care["healthcare_service"] = _display_coding(st[0])
    for ext in event.get("extension") or []:
        if ext.get("url") == EXT_CARE_RELATION:
            for sub in ext.get("extension") or []:
                if sub.get("url") == "decision-ref-description":
                    care["decision_description"] = sub.get("valueString")
                elif sub.get("url") == "decision-ref-user-selected":
                    care["self_selected"] = sub.get("valueBoolean")
    entry["care_relation"] = care
    scrubbed: dict[str, Any] = _scrub(entry)
    return scrubbed


def _scrub(value: Any) -> Any:
    """Defence in depth for ATT-8: free text from a token (a name, a description) could carry an identity
    number; no 11-digit run (in any spelling attest.identifiers.IDENTITY_NUMBER knows) reaches the citizen."""
    if isinstance(value, str):
        return redact_identity_numbers(value, "[removed]")
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value
