"""Valid attestations a conforming verifier must accept, and the data model's four examples.

Valid cases cover each purpose of use, each allowed healthcare-service code system, D-numbers and the
other person-identifier kinds, multi-patient and patient-less (ATT-6) attestations, departments, the
known spelling variants (CONTRACT.md section 1) and every allowed algorithm family of the issuer's keys.
The spec examples are included as published (plus ``toa``), which the production profile rejects for
their known defects (RULES.md d.7, f.14), and repaired, which every profile accepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .cases_rules import PRACTITIONER_DNR
from .corpus import Expectation, deny
from .forge import (
    HPR,
    OID_9060,
    OID_9151,
    OID_DNR,
    OID_FNR,
    OID_HNR,
    OID_ORGNR,
    OID_POU,
    OID_RESH,
    ORG_GP,
    ORG_OSLO,
    ORG_OSLO_POC,
    ORG_OUS,
    ORG_OUS_RH,
    ORG_OUS_ULL,
    OTHER_FNRS,
    PATIENT_FNR,
    PRACTITIONER_FNR,
    SYS_CARERELATION,
    SYS_DIPS,
    find_person_number,
    person_number,
)
from .mutate import Edit, del_, merge, set_

_P, _CR, _PAT0 = "practitioner", "care_relation", "patients[0]"

#: a D-number patient (01.01.1970 + 40 on the day), an H-number (month + 40) and a felles hjelpenummer
PATIENT_DNR = find_person_number("410170")
PATIENT_HNR = find_person_number("155169")
PATIENT_FHNR = next(n for i in range(100) if (n := person_number(f"8123456{i:02d}")) is not None)
#: an F-number whose first control digit only passes under the rule for numbers issued from 2032
FNR_2032 = find_person_number("150566", rule_2032=True)

#: (system, example code, name) for the ten code systems of ATT-37; 8627 is retired (accepted, warning)
HEALTHCARE_SERVICE_SYSTEMS = [
    ("8655", "KX17", "Tjenestetyper innen spesialisthelsetjenesten"),
    ("8627", "S03", "Tjenestetyper innen spesialisthelsetjenesten (retired)"),
    ("8451", "300", "Fagområde"),
    ("8668", "T01", "Tjenestetyper for spesialisthelsetjenesten"),
    ("8663", "KP01", "Tjenestetyper for kommunal helse- og omsorgstjeneste"),
    ("8662", "F01", "Fylkeskommunale tjenestetyper"),
    ("8664", "A01", "Tjenestetyper for apotek og bandasjister"),
    ("8666", "01", "Felles tjenestetyper"),
    ("7750", "1", "Lege forhold (fastlegeordningen)"),
    ("8254", "1", "Type relasjon til tilknyttet tjenesteyter"),
]


@dataclass(frozen=True)
class ValidCase:
    slug: str
    rule: str
    covers: tuple[str, ...]
    description: str
    edits: tuple[Edit, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)
    key: str | None = None        # a key name of issuer A (default: its primary key)
    claims: dict[str, Any] = field(default_factory=dict)


def V(slug: str, rule: str, description: str, edits: list[Edit] | None = None, *,
      covers: tuple[str, ...] = (),
      **kw: Any) -> ValidCase:
    return ValidCase(slug, rule, covers or (rule,), description, tuple(edits or ()), **kw)


def _service(system: str, code: str, text: str) -> Edit:
    return set_(f"{_CR}.healthcare_service", {"code": code, "text": text,
                                              "system": f"urn:oid:2.16.578.1.12.4.1.1.{system}"})


def _pou(code: str, text: str, system: str = OID_POU) -> Edit:
    return set_(f"{_CR}.purpose_of_use", {"code": code, "text": text, "system": system})


def _patient(pid: str, system: str = OID_FNR) -> dict[str, Any]:
    return {"identifier": {"id": pid, "system": system}}


def valid_cases() -> list[ValidCase]:
    full = {"authenticated_pid": PRACTITIONER_FNR, "authenticated_hpr": HPR, "patient_id": PATIENT_FNR}
    cases = [
        V("gp-full-context", "ATT-11",
          "GP office, TREAT, one patient, practitioner/HPR/patient all match the context",
          covers=("ATT-11", "ATT-29b", "ATT-4", "ATT-10", "ATT-19", "ATT-24", "ATT-38"), context=full),
        V("pou-etreat", "ATT-39", "purpose of use ETREAT (emergency chain)",
          [_pou("ETREAT", "Emergency Treatment")]),
        V("pou-coc", "ATT-40", "purpose of use COC (coordination of care)",
          [_pou("COC", "coordination of care")]),
        V("pou-btg", "ATT-41", "purpose of use BTG (break the glass), self-selected",
          [_pou("BTG", "break the glass"), set_(f"{_CR}.decision_ref.user_selected", True)]),
        V("pou-btg-system-derived", "ATT-41",
          "BTG with user_selected false: accepted, flagged as a warning only",
          [_pou("BTG", "break the glass")]),
        V("pou-actreason-system", "ATT-38", "TREAT under the ActReason code system OID (an accepted alias)",
          [_pou("TREAT", "treatment", "urn:oid:2.16.840.1.113883.5.8")]),
        V("pou-fhir-system", "ATT-38", "TREAT under the FHIR v3-ActReason URL (an accepted alias)",
          [_pou("TREAT", "treatment", "http://terminology.hl7.org/CodeSystem/v3-ActReason")]),
    ]
    for system, code, name in HEALTHCARE_SERVICE_SYSTEMS:
        cases.append(V(f"service-{system}", "ATT-37", f"healthcare_service {code} from {system} ({name})",
                       [_service(system, code, name)]))
    cases += [
        V("practitioner-dnumber", "ATT-10", "practitioner identified by a D-number under the D-number system",
          [merge(f"{_P}.identifier", {"id": PRACTITIONER_DNR, "system": OID_DNR})],
          context={"authenticated_pid": PRACTITIONER_DNR}),
        V("practitioner-2032-rule", "ATT-10",
          "practitioner F-number valid only under the control-digit rule for numbers issued from 2032",
          [set_(f"{_P}.identifier.id", FNR_2032)]),
        V("patient-dnumber", "ATT-4", "patient identified by a D-number",
          [set_("patients", [_patient(PATIENT_DNR, OID_DNR)])],
          context={"patient_id": PATIENT_DNR}),
        V("patient-hnumber", "ATT-4",
          "patient identified by an H-number (month + 40) under 2.16.578.1.12.4.1.4.3",
          [set_("patients", [_patient(PATIENT_HNR, OID_HNR)])]),
        V("patient-fhnumber", "ATT-4", "patient identified by a felles hjelpenummer (first digit 8)",
          [set_("patients", [_patient(PATIENT_FHNR, OID_HNR)])]),
        V("multi-patient", "ATT-4", "three patients; the request is for the second",
          [set_("patients",
                [_patient(PATIENT_FNR), _patient(OTHER_FNRS[0]), _patient(PATIENT_DNR, OID_DNR)])],
          context={"patient_id": OTHER_FNRS[0]}),
        V("patientless", "ATT-6", "unbound attestation (patients []) for a list view, no patient requested",
          [set_("patients", [])]),
        V("details-only", "ATT-36", "no healthcare_service; purpose_of_use_details explains the access",
          [del_(f"{_CR}.healthcare_service"),
           set_(f"{_CR}.purpose_of_use_details", {"code": "BEHANDLER", "text": "Bruker har behandlingsansvar",
                                                   "system": SYS_CARERELATION})],
          covers=("ATT-36", "ATT-43a", "ATT-45")),
        V("details-dips-alias", "ATT-45",
          "purpose_of_use_details under the DIPS decision-template URL (alias)",
          [set_(f"{_CR}.purpose_of_use_details", {"code": "POLBESOK", "system": SYS_DIPS})]),
        V("details-9151-unlisted", "ATT-45",
          "Volven 9151 code not in the partial list (unknown 9151 codes are accepted)",
          [set_(f"{_CR}.purpose_of_use_details",
                {"code": "99", "text": "Annen tjeneste", "system": OID_9151})]),
        V("details-other-system", "ATT-45",
          "purpose_of_use_details under another code system given as an absolute URI",
          [set_(f"{_CR}.purpose_of_use_details",
                {"code": "KONTAKT", "system": "https://terminologi.example.no/tilgang"})]),
        V("department-resh", "ATT-28", "practitioner department by RESH id with system and authority",
          [set_(f"{_P}.department", {"id": "705592", "name": "Anestesiologi", "system": OID_RESH,
                                     "authority": "https://www.nhn.no"})]),
        V("department-local", "ATT-28",
          "practitioner department in a local id space, authority = the legal entity",
          [set_(f"{_P}.department", {"id": "avd-7", "name": "Avdeling 7",
                                     "system": "https://fagersta.example/avdelinger", "authority": ORG_GP})]),
        V("department-local-other-authority", "ATT-28",
          "local department id whose authority is not the legal entity: a warning, not a denial",
          [set_(f"{_P}.department", {"id": "avd-7", "system": "https://fagersta.example/avdelinger",
                                     "authority": "https://www.nhn.no"})]),
        V("patient-poc-and-department", "ATT-49", "hospital: patient point_of_care and RESH department",
          [merge(f"{_P}.legal_entity", {"id": ORG_OUS, "name": "Oslo universitetssykehus HF"}),
           merge(f"{_P}.point_of_care", {"id": ORG_OUS_RH, "name": "OUS Rikshospitalet"}),
           set_(f"{_PAT0}.point_of_care", {"id": ORG_OUS_ULL, "system": OID_ORGNR}),
           set_(f"{_PAT0}.department",
                {"id": "109765", "system": OID_RESH, "authority": "https://www.nhn.no"})],
          covers=("ATT-49", "ATT-53")),
        V("patient-poc-is-legal-entity", "ATT-50",
          "patient point_of_care equal to the legal entity (no sub-units)",
          [set_(f"{_PAT0}.point_of_care", {"id": ORG_GP, "system": OID_ORGNR})]),
        V("patient-department-orgnr", "ATT-55", "patient department given as an organisation number",
          [set_(f"{_PAT0}.department",
                {"id": ORG_GP, "system": OID_ORGNR, "authority": "https://www.brreg.no"})]),
        V("no-hpr", "ATT-29b",
          "personnel without HPR record: no hpr_nr, no authorization, no HPR in the context",
          [del_(f"{_P}.hpr_nr"),
           del_(f"{_P}.authorization")], context={"authenticated_pid": PRACTITIONER_FNR}),
        V("hpr-leading-zeros", "ATT-29b", "context HPR number with leading zeros equals the attested one",
          context={"authenticated_hpr": "00" + HPR}),
        V("authorization-nurse", "ATT-32", "authorization SP (Sykepleier)",
          [merge(f"{_P}.authorization", {"code": "SP", "text": "Sykepleier", "system": OID_9060})]),
        V("authorization-retired", "ATT-32", "retired authorization code MT: accepted with a warning",
          [merge(f"{_P}.authorization", {"code": "MT", "text": "Manuellterapeut"})]),
        V("municipality", "ATT-13",
          "issuer attests for a second organisation it may sign for (municipality, COC)",
          [merge(f"{_P}.legal_entity", {"id": ORG_OSLO, "name": "OSLO KOMMUNE HELSEETATEN"}),
           merge(f"{_P}.point_of_care", {"id": ORG_OSLO_POC, "name": "MADSERUDHJEMMET"}),
           _service("8663", "KP01", "Legetjeneste ved sykehjem"), _pou("COC", "coordination of care"),
           set_(f"{_CR}.purpose_of_use_details", {"code": "21", "text": "Langtidsopphold i institusjon",
                                                   "system": OID_9151})],
          covers=("ATT-13", "ATT-15", "ATT-18a", "ATT-18b", "ATT-40")),
        V("toa-boundary", "ATT-58c", "toa exactly 3600 s ago: still valid (needs an injected clock)",
          [set_("toa", "{now-3600}")], covers=("ATT-58c", "ATT-58a")),
        V("spelling-variants", "ATT-1",
          "accepted spellings: care_relationship, kebab-case keys, one patient object, bare and oid: OIDs",
          [_variant_spelling], covers=("ATT-1",)),
    ]
    for name, alg in (("es256", "ES256"), ("es384", "ES384"), ("rs256", "RS256"), ("ps256", "PS256"),
                      ("eddsa", "EdDSA")):
        cases.append(V(f"alg-{name}", "ATT-2", f"signed {alg} by the issuer's {alg} key", key=name))
    return cases


def _variant_spelling(att: dict[str, Any]) -> None:
    """Rewrite the base attestation in the variant spellings a verifier must accept (CONTRACT.md 1)."""
    pr = att["practitioner"]
    cr = att.pop("care_relation")
    pr["hpr-nr"] = pr.pop("hpr_nr")
    pr["hpr-nr"]["system"] = "2.16.578.1.12.4.1.4.4"
    pr["legal-entity"] = pr.pop("legal_entity")
    pr["legal-entity"]["system"] = "oid:2.16.578.1.12.4.1.4.101"
    pr["point-of-care"] = pr.pop("point_of_care")
    cr["healthcare-service"] = cr.pop("healthcare_service")
    cr["purpose-of-use"] = cr.pop("purpose_of_use")
    dr = cr.pop("decision_ref")
    dr["user-selected"] = dr.pop("user_selected")
    cr["decision-ref"] = dr
    att["care_relationship"] = cr
    att["patient"] = att.pop("patients")[0]


# --- the data model's examples ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ExampleCase:
    slug: str
    name: str
    description: str
    covers: tuple[str, ...]
    expect_production: Expectation
    repair: tuple[Edit, ...]


def spec_examples() -> dict[str, dict[str, Any]]:
    text = resources.files("attest").joinpath("data", "spec_examples.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return dict(data["examples"])


def example_cases() -> list[ExampleCase]:
    fix_patient = set_(f"{_PAT0}.identifier.id", PATIENT_FNR)
    add_ref = set_(f"{_CR}.decision_ref", {"id": "example-decision-1", "user_selected": False})
    return [
        ExampleCase("e1-gp", "example-1-gp", "DM 8.1 GP example as published",
                    ("ATT-4", "ATT-38", "ATT-46"),
                    deny(["invalid_person_identifier", "missing_field"], ["ATT-4", "ATT-38", "ATT-46"]),
                    (fix_patient, add_ref, _pou("TREAT", "Behandling"))),
        ExampleCase("e2-municipality", "example-2-municipality",
                    "DM 8.2 nursing-home doctor example as published",
                    ("ATT-4", "ATT-46"), deny(["invalid_person_identifier", "missing_field"],
                                              ["ATT-4", "ATT-46"]),
                    (fix_patient, add_ref)),
        ExampleCase("e3-hospital", "example-3-hospital", "DM 8.3 hospital anaesthetist example as published",
                    ("ATT-4", "ATT-46"), deny(["invalid_person_identifier", "missing_field"],
                                              ["ATT-4", "ATT-46"]),
                    (fix_patient, add_ref)),
        ExampleCase("full-model", "full-model", "DM 7 full model (annex B) as published",
                    ("ATT-4", "ATT-45"), deny(["invalid_person_identifier", "invalid_code_system"],
                                              ["ATT-4", "ATT-45"]),
                    (fix_patient, set_(f"{_CR}.purpose_of_use_details.system", OID_9151))),
    ]
