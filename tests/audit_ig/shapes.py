"""The shapes of AuditEvent the service writes, made the way the service makes them.

A *shape* is one kind of request: a profile (``tillitsrammeverk-1.1``, ``tillitsrammeverk-1.1-test``,
``helseid-at-1.0`` with a HelseID access token + DPoP proof, ``helseid-rar-1.0``), a decision (permit, a
token-level deny, a claims deny, a replay, a DPoP deny, a rule deny, a context deny), how many patients the
attestation names, whether it names departments, and whether the request names a patient.

:func:`service_events` runs the service's own path (``attest.service.decide``): ``verify_async`` with the
trust store and a replay cache, then ``AuditTrail.prepare`` (what ``AuditTrail.record_async`` seals and
commits: one AuditEvent per patient, built by ``attest.audit.fhir.build_audit_event``), and reads the sealed
rows back with ``AuditTrail.open`` as ``GET /v1/audit`` does. A fix in any of these is seen here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attest import MemoryReplayCache, VerifyContext, verify_async
from attest.audit import AuditTrail, KeyRing
from attest.conformance.forge import DROP
from attest.helseid import AT_CLAIM
from attest.trust import DEFAULT_AT_PROFILE
from attest.verify import Decision, profile_for

from ..support import helseid as h
from ..support.service import key_ring
from ..support.tokens import NOW, VALID_FNRS, make_token, org, spec_example, trust_store, valid_attestation

#: the practitioner of tests.support.tokens.valid_attestation (the authenticated user of a self-signed request)
PID = "20086600138"
HPR = "9144897"
#: the patient of tests.support.tokens.valid_attestation
PATIENT = "13116900216"
#: not in any attestation here
OTHER_PATIENT = VALID_FNRS[4]

_jti = itertools.count()


@dataclass(frozen=True)
class Request:
    """What the service verifies: the token, the profile it chose, the context it built."""

    token: str
    profile: str
    context: VerifyContext
    #: verify this request once before (a replayed token or proof)
    replay_first: bool = False


@dataclass(frozen=True)
class Shape:
    id: str
    what: str
    build: Callable[[], Request]
    #: the decision this shape is meant to produce: "permit", or the deny's error codes (sorted)
    expect: tuple[str, ...]
    #: how many AuditEvents it gives (one per patient, or one)
    events: int = 1


@dataclass(frozen=True)
class Generated:
    shape: Shape
    request: Request
    decision: Decision
    events: list[dict[str, Any]]


def service_events(request: Request, *, recorded: float = NOW) -> tuple[Decision, list[dict[str, Any]]]:
    """The decision and the AuditEvents the service records for ``request`` (see the module docstring)."""
    replay = MemoryReplayCache()
    trust = trust_store()

    async def run() -> Decision:
        if request.replay_first:
            await verify_async(request.token, trust, request.profile, request.context, replay=replay)
        return await verify_async(request.token, trust, request.profile, request.context, replay=replay)

    decision = asyncio.run(run())
    trail = AuditTrail(store=None, keyring=KeyRing.parse(key_ring("k1")), instance="test-instance")  # type: ignore[arg-type]
    rows = trail.prepare(decision, request.context, token=request.token, recorded=recorded)
    events = []
    for row in rows:
        stored = trail.open(row)
        assert stored.error is None and stored.audit_event is not None, stored.error
        events.append(stored.audit_event)
    return decision, events


def generate(shape: Shape) -> Generated:
    request = shape.build()
    decision, events = service_events(request)
    return Generated(shape, request, decision, events)


def outcome_of(decision: Decision) -> tuple[str, ...]:
    return ("permit",) if decision.permitted else tuple(sorted(set(decision.codes)))


# --- self-signed attestation tokens (the service's own profile) --------------------------------------------

def _token(att: Any = None, *, tamper: bool = False, **kw: Any) -> str:
    kw.setdefault("jti", f"audit-ig-{next(_jti)}")
    tok = make_token(att, **kw)
    return tampered(tok) if tamper else tok


def tampered(token: str) -> str:
    """``token`` with one character of its signature changed (invalid_signature)."""
    head, _, sig = token.rpartition(".")
    i = len(sig) // 2
    return f"{head}.{sig[:i]}{'A' if sig[i] != 'A' else 'B'}{sig[i + 1:]}"


def _ctx(patient: str | None = PATIENT, pid: str | None = PID, **kw: Any) -> VerifyContext:
    return VerifyContext(now=NOW, patient_id=patient, authenticated_pid=pid, **kw)


def _with_departments(att: dict[str, Any]) -> dict[str, Any]:
    """The practitioner's department (so PractitionerRole.organization is the department, partOf the legal
    entity), purpose_of_use_details, and each patient's point of care and department (the Encounter's location
    and serviceProvider)."""
    att["practitioner"]["department"] = {"id": "4208", "name": "Akuttmottak",
                                         "system": "urn:oid:2.16.578.1.12.4.1.4.102", "authority": "https://www.nhn.no"}
    att["care_relation"]["purpose_of_use_details"] = {"code": "POLBESOK", "text": "Poliklinisk besøk",
                                                      "system": "urn:AuditEventHL7Norway/CodeSystem/carerelation"}
    for p in att["patients"]:
        p["point_of_care"] = {"id": "974589095", "name": "Oslo universitetssykehus HF Ullevål",
                              "system": "urn:oid:2.16.578.1.12.4.1.4.101"}
        p["department"] = {"id": "4201", "name": "Medisinsk klinikk", "system": "urn:oid:2.16.578.1.12.4.1.4.102",
                           "authority": "https://www.nhn.no"}
    return att


def _att(*, patients: int = 1, departments: bool = False) -> dict[str, Any]:
    att = valid_attestation()
    fnrs = [PATIENT] + [f for f in VALID_FNRS if f not in (PATIENT, PID)]
    att["patients"] = [{"identifier": {"id": fnrs[i], "system": "urn:oid:2.16.578.1.12.4.1.4.1",
                                       "authority": "https://www.skatteetaten.no"}} for i in range(patients)]
    return _with_departments(att) if departments else att


TR = "tillitsrammeverk-1.1"
TR_TEST = "tillitsrammeverk-1.1-test"


def _tr(att: dict[str, Any] | None = None, ctx: VerifyContext | None = None, profile: str = TR,
        **token_kw: Any) -> Callable[[], Request]:
    return lambda: Request(_token(att if att is not None else _att(), **token_kw), profile,
                           ctx if ctx is not None else _ctx())


def _rule_deny_att() -> dict[str, Any]:
    """A rule deny that leaves the attestation's content in place: a purpose of use outside the value set."""
    att = _att()
    att["care_relation"]["purpose_of_use"]["code"] = "NOSUCHCODE"
    return att


def _att_without(*path: str) -> dict[str, Any]:
    att = _att()
    node: Any = att
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return att


def _att_bad_patient_number() -> dict[str, Any]:
    att = _att()
    att["patients"][0]["identifier"]["id"] = "13116900217"  # fails mod-11
    return att


def _att_no_healthcare_service() -> dict[str, Any]:
    att = _att_without("care_relation", "healthcare_service")
    att["care_relation"]["purpose_of_use_details"] = {"code": "POLBESOK",
                                                      "system": "urn:AuditEventHL7Norway/CodeSystem/carerelation"}
    return att


def _att_care(**changes: Any) -> dict[str, Any]:
    """``_att()`` with care_relation members replaced (None removes one)."""
    att = _att()
    for k, v in changes.items():
        if v is None:
            del att["care_relation"][k]
        else:
            att["care_relation"][k] = v
    return att


POU_SYSTEM = "urn:oid:2.16.840.1.113883.1.11.20448"  # the spec's purpose-of-use value set


def _test_profile_minimal() -> dict[str, Any]:
    """What tillitsrammeverk-1.1-test lets through with warnings: no toa, purpose_of_use or decision_ref."""
    att = _att()
    del att["toa"], att["care_relation"]["purpose_of_use"], att["care_relation"]["decision_ref"]
    return att


def _spec_example_1() -> Request:
    att = spec_example("example-1-gp")
    now_att = dict(att, toa=NOW - 60)
    patient = now_att["patients"][0]["identifier"]["id"]
    return Request(_token(now_att), TR_TEST, _ctx(patient=patient, pid=None))


# --- HelseID access tokens with DPoP (profile chosen by the trust store, as the service does) ----------------

def _at(att: Any = ..., *, patient: str | None = h.PATIENT, proof: bool = True, tamper: bool = False,
        now: int = NOW) -> Callable[[], Request]:
    def build() -> Request:
        tok = h.make_at(att, now=now)
        if tamper:
            tok = tampered(tok)
        ctx = VerifyContext(now=NOW, patient_id=patient, http_method=h.METHOD, http_url=h.URL,
                            authorization_scheme="DPoP",
                            dpop_proof=h.make_proof(tok) if proof else None)
        return Request(tok, str(profile_for(tok, trust_store(), DEFAULT_AT_PROFILE)), ctx)
    return build


def _at_with_patients() -> dict[str, Any]:
    return h.enriched(patients=[{"identifier": {"id": h.PATIENT, "system": "urn:oid:2.16.578.1.12.4.1.4.1"},
                                 "point_of_care": h.ENRICHED["patients"][0]["point_of_care"]}])


# --- helseid-rar-1.0: authorization_details, the practitioner from the login ------------------------------

RAR = "helseid-rar-1.0"


def _rar(*, pid: str = h.PID, hpr: str = h.HPR, patient: str | None = h.PATIENT,
         token_names_practitioner: bool = False) -> Callable[[], Request]:
    def build() -> Request:
        rar = {"type": AT_CLAIM, **h.enriched()}
        rar["patients"][0]["department"] = {"id": "109765", "system": "urn:oid:2.16.578.1.12.4.1.4.102"}
        if not token_names_practitioner:
            del rar["practitioner"]["identifier"], rar["practitioner"]["hpr_nr"]
        le = org("fagersta").legal_entity
        rar["practitioner"]["legal_entity"]["id"] = rar["practitioner"]["point_of_care"]["id"] = le
        tok = _token(DROP, authorization_details=[rar])
        return Request(tok, RAR, VerifyContext(now=NOW, authenticated_pid=pid, authenticated_hpr=hpr,
                                               patient_id=patient))
    return build


# --- the matrix ---------------------------------------------------------------------------------------------

SHAPES: tuple[Shape, ...] = (
    # tillitsrammeverk-1.1: permits
    Shape("tr11-permit-1patient", "permit, 1 patient = the requested one, legal entity only, no department",
          _tr(), ("permit",)),
    Shape("tr11-permit-1patient-departments", "permit, practitioner's and patient's department and point of care, "
          "purpose_of_use_details", _tr(_att(departments=True)), ("permit",)),
    Shape("tr11-permit-1patient-no-requested-patient", "permit, 1 patient, the request names no patient",
          _tr(ctx=_ctx(patient=None)), ("permit",)),
    Shape("tr11-permit-3patients", "permit, 3 patients, no requested patient: one event per patient",
          _tr(_att(patients=3), _ctx(patient=None)), ("permit",), events=3),
    Shape("tr11-permit-3patients-departments", "permit, 3 patients with departments, no requested patient",
          _tr(_att(patients=3, departments=True), _ctx(patient=None)), ("permit",), events=3),
    Shape("tr11-permit-3patients-requested", "permit, 3 patients, the request names the second",
          _tr(_att(patients=3), _ctx(patient=VALID_FNRS[2])), ("permit",)),
    Shape("tr11-permit-0patients", "permit, the attestation names no patient (ATT-6), none requested",
          _tr(_att(patients=0), _ctx(patient=None)), ("permit",)),
    Shape("tr11-permit-decision-ref-without-description", "permit, decision_ref has no description (optional)",
          _tr(_att_without("care_relation", "decision_ref", "description")), ("permit",)),
    Shape("tr11-permit-purpose-of-use-without-text", "permit, purpose_of_use without a text",
          _tr(_att_care(purpose_of_use={"code": "TREAT", "system": POU_SYSTEM})), ("permit",)),
    Shape("tr11-permit-break-the-glass", "permit, purpose_of_use BTG with a Norwegian text",
          _tr(_att_care(purpose_of_use={"code": "BTG", "text": "Nødrett", "system": POU_SYSTEM})), ("permit",)),
    Shape("tr11-permit-details-dips-legacy-text", "permit, purpose_of_use_details in the DIPS decision-template "
          "system, with the legacy list's text", _tr(_att_care(purpose_of_use_details={
              "code": "BELEGG", "text": "Inneliggende pasient",
              "system": "https://terminology.dips.com/decisiontemplate"})), ("permit",)),
    Shape("tr11-permit-no-healthcare-service", "permit, purpose_of_use_details instead of healthcare_service "
          "(so no Encounter)", _tr(_att_no_healthcare_service()), ("permit",)),
    # tillitsrammeverk-1.1: token-level denies (no attestation content is used)
    Shape("tr11-deny-bad-signature", "token-level deny: the signature does not verify",
          _tr(tamper=True), ("invalid_signature",)),
    Shape("tr11-deny-bad-signature-no-requested-patient", "token-level deny, the request names no patient",
          _tr(ctx=_ctx(patient=None), tamper=True), ("invalid_signature",)),
    Shape("tr11-deny-malformed", "token-level deny: not a JWS",
          lambda: Request("garbage", TR, _ctx()), ("malformed_token",)),
    Shape("tr11-deny-unknown-issuer", "token-level deny: iss not in the trust store",
          _tr(iss="https://unknown.example"), ("unknown_issuer",)),
    Shape("tr11-deny-malformed-dnumber-requested", "token-level deny, the requested patient is a D-number",
          lambda: Request("garbage", TR, _ctx(patient="53116900216")), ("malformed_token",)),
    Shape("tr11-deny-missing-attestation", "claims-stage deny: the token has no attestation claim",
          lambda: Request(_token(DROP), TR, _ctx()), ("missing_attestation",)),
    Shape("tr11-deny-missing-attestation-no-requested-patient", "no attestation claim, no patient requested",
          lambda: Request(_token(DROP), TR, _ctx(patient=None)), ("missing_attestation",)),
    # tillitsrammeverk-1.1: claims, replay, rule and context denies (the attestation's content is recorded)
    Shape("tr11-deny-expired", "claims deny: token_expired",
          _tr(ctx=VerifyContext(now=NOW + 3600, patient_id=PATIENT, authenticated_pid=PID)),
          ("attestation_has_expired", "token_expired")),
    Shape("tr11-deny-replayed", "replay deny: the same token a second time", lambda: dataclasses.replace(
        _tr()(), replay_first=True), ("token_replayed",)),
    Shape("tr11-deny-rule-purpose-of-use", "rule deny: purpose_of_use code outside its value set",
          _tr(_rule_deny_att()), ("invalid_code",)),
    Shape("tr11-deny-rule-purpose-of-use-system", "rule deny: purpose_of_use in an unknown code system",
          _tr(_att_care(purpose_of_use={"code": "TREAT", "text": "Behandling", "system": "urn:oid:1.2.3"})),
          ("invalid_code_system",)),
    Shape("tr11-deny-rule-missing-patients", "rule deny: no patients member, none requested",
          _tr(_att_without("patients"), _ctx(patient=None)), ("missing_field",)),
    Shape("tr11-deny-rule-missing-legal-entity", "rule deny: the practitioner has no legal_entity",
          _tr(_att_without("practitioner", "legal_entity")), ("missing_field",)),
    Shape("tr11-deny-rule-missing-point-of-care", "rule deny: the practitioner has no point_of_care",
          _tr(_att_without("practitioner", "point_of_care")), ("missing_field",)),
    Shape("tr11-deny-rule-invalid-patient-number", "rule deny: the patient's F-number fails mod-11",
          _tr(_att_bad_patient_number(), _ctx(patient=None)), ("invalid_person_identifier",)),
    Shape("tr11-deny-patient-not-in-attestation", "context deny: the requested patient is not in the attestation",
          _tr(ctx=_ctx(patient=OTHER_PATIENT)), ("patient_not_in_attestation",)),
    Shape("tr11-deny-patient-not-in-attestation-3patients", "context deny, 3 patients with departments",
          _tr(_att(patients=3, departments=True), _ctx(patient=OTHER_PATIENT)), ("patient_not_in_attestation",)),
    Shape("tr11-deny-practitioner-mismatch", "context deny: another user is logged in",
          _tr(ctx=_ctx(pid=VALID_FNRS[4])), ("practitioner_mismatch",)),
    # tillitsrammeverk-1.1-test
    Shape("tr11test-permit-spec-example-1", "test profile: the data model's example 1 (GP), allow-listed patient",
          _spec_example_1, ("permit",)),
    Shape("tr11test-permit-no-toa-purpose-decision", "test profile: no toa, purpose_of_use, decision_ref (warnings)",
          _tr(_test_profile_minimal(), profile=TR_TEST), ("permit",)),
    Shape("tr11test-deny-bad-signature", "test profile, token-level deny",
          _tr(profile=TR_TEST, tamper=True), ("invalid_signature",)),
    # helseid-at-1.0 (access token + DPoP)
    Shape("helseid-at-permit", "access token + DPoP, permit, the requested patient recorded", _at(), ("permit",)),
    Shape("helseid-at-permit-no-requested-patient", "access token + DPoP, permit, no patient in the request",
          _at(patient=None), ("permit",)),
    Shape("helseid-at-permit-attestation-patients", "access token whose attestation identifies the patient",
          _at(_at_with_patients()), ("permit",)),
    Shape("helseid-at-permit-dnumber-requested", "permit, the requested patient is a D-number",
          _at(patient="53116900216"), ("permit",)),
    Shape("helseid-at-permit-fhnumber-requested", "permit, the requested patient is an FH-number",
          _at(patient="81018012345"), ("permit",)),
    Shape("helseid-at-deny-bad-signature", "token-level deny: not signed by HelseID's key",
          _at(tamper=True), ("invalid_signature",)),
    Shape("helseid-at-deny-expired", "claims deny: the access token has expired",
          _at(now=NOW - 3600), ("token_expired",)),
    Shape("helseid-at-deny-dpop-missing", "DPoP deny: no proof", _at(proof=False), ("dpop_proof_missing",)),
    Shape("helseid-at-deny-patient-not-in-attestation", "context deny: the attestation identifies another patient",
          _at(_at_with_patients(), patient=OTHER_PATIENT), ("patient_not_in_attestation",)),
    # helseid-rar-1.0
    Shape("helseid-rar-permit", "authorization_details, practitioner from the login, the requested patient",
          _rar(), ("permit",)),
    Shape("helseid-rar-permit-no-requested-patient", "authorization_details, no patient in the request",
          _rar(patient=None), ("permit",)),
    Shape("helseid-rar-deny-practitioner-mismatch", "context deny: the login is another practitioner",
          _rar(pid=PID, hpr=HPR, token_names_practitioner=True), ("hpr_mismatch", "practitioner_mismatch")),
)
