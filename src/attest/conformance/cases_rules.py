"""One case per machine-checkable rule of RULES.md section b, each violated on its own (everything else
valid), as data: a base attestation (:func:`forge.base_attestation`), a list of edits, the verify
context and the expected decision.

Expectations follow CONTRACT.md section 5 (codes) and RULES.md section b (the ATT id of the violated rule).
Where one defect necessarily breaks two rules (an organisation number that fails mod-11 is also not one of
the issuer's organisations) both codes are expected, and the description says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .corpus import Expectation, deny, permit
from .forge import (
    DROP,
    OID_ORGNR,
    OID_POU,
    OID_RESH,
    ORG_GP,
    ORG_OUS_ULL,
    OTHER_FNRS,
    PATIENT_FNR,
    PRACTITIONER_FNR,
    SYS_CARERELATION,
    SYS_DIPS,
    bad_check_digit,
    find_person_number,
)
from .mutate import Edit, del_, merge, set_

TEST_PROFILE = "tillitsrammeverk-1.1-test"
SUPPORTED_PROFILES = ("tillitsrammeverk-1.1", TEST_PROFILE)

#: synthetic identity of Skatteetaten's Tenor test register (month + 80): 15.11.1969
TENOR_FNR = find_person_number("159169")
#: 31 February 1966: checksums pass, the date does not exist
NO_SUCH_DATE_FNR = find_person_number("310266")
#: a D-number (day + 40): 12.03.1975
PRACTITIONER_DNR = find_person_number("520375")

ExpectFn = Callable[[bool], Expectation]


@dataclass(frozen=True)
class RuleCase:
    """``slug`` becomes the case id ``rule-<slug>``; ``expect`` is an Expectation or a function of
    ``test_profile``; ``claims`` are registered-claim overrides; ``attestation`` replaces it wholesale."""

    slug: str
    rule: str
    description: str
    edits: tuple[Edit, ...]
    expect: Expectation | ExpectFn
    covers: tuple[str, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    party: str = "issuer"   # issuer | other_issuer | non_member

    def expectation(self, test_profile: bool) -> Expectation:
        return self.expect(test_profile) if callable(self.expect) else self.expect


def R(slug: str, rule: str, description: str, edits: list[Edit] | Edit, expect: Expectation | ExpectFn,
      **kw: Any) -> RuleCase:
    es = tuple(edits) if isinstance(edits, list) else (edits,)
    covers = kw.pop("covers", (rule,))
    return RuleCase(slug, rule, description, es, expect, tuple(covers), **kw)


def _warn_in_test(codes: str, rule: str) -> ExpectFn:
    """Denied by the production profile; the test profile turns this rule into a warning."""
    return lambda test: permit(rule) if test else deny(codes, rule)


_P = "practitioner"
_CR = "care_relation"
_PAT0 = "patients[0]"


def rule_cases() -> list[RuleCase]:
    """Every rule case. Claim-level edits use ``claims``; ``attestation`` edits use ``edits``."""
    resh_dept = {"id": "705592", "name": "Anestesiologi Seksjon RH", "system": OID_RESH,
                 "authority": "https://www.nhn.no"}
    return [
        # --- ATT-1: shape --------------------------------------------------------------------------------
        R("att-1-attestation-not-object", "ATT-1", "claim attestation is a string, not a JSON object",
          [], deny("missing_attestation", "ATT-1"), claims={"attestation": "TREAT 13116900216"}),
        R("att-1-no-attestation", "ATT-1", "a signed token without any attestation", [],
          deny("missing_attestation", "ATT-1"), claims={"attestation": DROP}),
        R("att-1-practitioner-missing", "ATT-1", "attestation without the practitioner category",
          del_(_P), deny("missing_field", "ATT-1")),
        R("att-1-practitioner-not-object", "ATT-1", "practitioner is a string",
          set_(_P, PRACTITIONER_FNR), deny("invalid_field", "ATT-1")),
        R("att-1-care-relation-missing", "ATT-1", "attestation without the care_relation category",
          del_(_CR), deny("missing_field", "ATT-1")),
        R("att-1-patients-missing", "ATT-1",
          "attestation without patients (an empty array is the unbound form)",
          del_("patients"), deny("missing_field", "ATT-1")),
        R("att-1-patients-not-array", "ATT-1", "patients is a string holding an identity number",
          set_("patients", PATIENT_FNR), deny("invalid_field", "ATT-1")),
        R("att-1-patient-not-object", "ATT-1", "patients[0] is a bare identity number, not an object",
          set_("patients", [PATIENT_FNR]), deny("invalid_field", "ATT-1")),
        R("att-1-ambiguous-category", "ATT-1",
          "care_relation given twice (care_relation and care_relationship spellings): ambiguous",
          set_("care_relationship", {"purpose_of_use": {"code": "BTG", "system": OID_POU}}),
          deny("invalid_field", "ATT-1")),

        # --- ATT-4 / ATT-6: patients ------------------------------------------------------------------
        R("att-4-patient-system-unknown", "ATT-4",
          "patient identifier under a system the verifier does not know",
          set_(f"{_PAT0}.identifier.system", "urn:example:patient-register"),
          deny("invalid_identifier_system", "ATT-4")),
        R("att-4-patient-checksum", "ATT-4", "patient F-number fails the mod-11 control digits",
          set_(f"{_PAT0}.identifier.id", bad_check_digit(PATIENT_FNR)),
          deny("invalid_person_identifier", "ATT-4")),
        R("att-4-patient-identifier-missing", "ATT-4", "patient entry without identifier",
          [del_(f"{_PAT0}.identifier"),
           set_(f"{_PAT0}.point_of_care", {"id": ORG_GP, "system": OID_ORGNR})],
          deny("missing_field", "ATT-4")),
        R("att-4-patient-id-number", "ATT-4", "patient identifier id is a JSON number, not a string",
          set_(f"{_PAT0}.identifier.id", int(PATIENT_FNR)), deny("invalid_field", "ATT-4")),
        R("att-4-patient-not-attested", "ATT-4", "the request's patient (context patient_id) is not attested",
          [], deny("patient_not_in_attestation", "ATT-4"), context={"patient_id": OTHER_FNRS[0]}),
        R("att-6-unbound-used-for-one-patient", "ATT-4",
          "unbound attestation (patients []) presented for one patient's data", set_("patients", []),
          deny("patient_not_in_attestation",
               "ATT-4"), covers=("ATT-6",), context={"patient_id": PATIENT_FNR}),

        # --- ATT-10 / ATT-11: practitioner identifier ----------------------------------------------------
        R("att-10-identifier-missing", "ATT-10", "practitioner without identifier",
          del_(f"{_P}.identifier"), deny("missing_field", "ATT-10")),
        R("att-10-system-missing", "ATT-10", "practitioner identifier without system",
          del_(f"{_P}.identifier.system"), deny("missing_field", "ATT-10")),
        R("att-10-foreign-system", "ATT-10", "practitioner identified by a Swedish personnummer OID",
          set_(f"{_P}.identifier.system", "urn:oid:1.2.752.129.2.1.3.1"),
          deny("invalid_identifier_system", "ATT-10")),
        R("att-10-checksum", "ATT-10", "practitioner F-number fails the mod-11 control digits",
          set_(f"{_P}.identifier.id", bad_check_digit(PRACTITIONER_FNR)),
          deny("invalid_person_identifier", "ATT-10")),
        R("att-10-ten-digits", "ATT-10", "practitioner F-number of 10 digits",
          set_(f"{_P}.identifier.id", PRACTITIONER_FNR[:10]), deny("invalid_person_identifier", "ATT-10")),
        R("att-10-letters", "ATT-10", "practitioner identifier with letters (masked placeholder xxxxxx34794)",
          set_(f"{_P}.identifier.id", "xxxxxx34794"), deny("invalid_person_identifier", "ATT-10")),
        R("att-10-no-such-date", "ATT-10", "practitioner F-number for 31 February (control digits pass)",
          set_(f"{_P}.identifier.id", NO_SUCH_DATE_FNR), deny("invalid_person_identifier", "ATT-10")),
        R("att-10-synthetic-tenor", "ATT-10",
          "synthetic Tenor test identity (month + 80): production rejects it, the test profile accepts it",
          set_(f"{_P}.identifier.id", TENOR_FNR),
          lambda test: permit("ATT-10") if test else deny("invalid_person_identifier", "ATT-10")),
        R("att-10-id-number", "ATT-10", "practitioner identifier id is a JSON number",
          set_(f"{_P}.identifier.id", int(PRACTITIONER_FNR)), deny("invalid_field", "ATT-10")),
        R("att-11-practitioner-mismatch", "ATT-11", "attested practitioner is not the authenticated user",
          [], deny("practitioner_mismatch", "ATT-11"), context={"authenticated_pid": OTHER_FNRS[1]}),

        # --- ATT-12 / ATT-13 / ATT-15: legal entity -----------------------------------------------------
        R("att-12-not-member", "ATT-12",
          "issuer's organisation is not a Helsenett member (trust store member: false)",
          [], deny("legal_entity_not_member", "ATT-12"), party="non_member"),
        R("att-13-legal-entity-not-issuers", "ATT-13",
          "legal entity is a valid organisation the issuer may not attest for",
          [merge(f"{_P}.legal_entity", {"id": ORG_OUS_ULL, "name": "OUS Ullevål"}),
           merge(f"{_P}.point_of_care", {"id": ORG_OUS_ULL, "name": "OUS Ullevål"})],
          deny("legal_entity_mismatch", "ATT-13")),
        R("att-15-legal-entity-missing", "ATT-15", "practitioner without legal_entity",
          del_(f"{_P}.legal_entity"), deny("missing_field", "ATT-15")),
        R("att-15-legal-entity-system", "ATT-15",
          "legal_entity under the RESH system instead of the org-number OID",
          set_(f"{_P}.legal_entity.system", OID_RESH), deny("invalid_identifier_system", "ATT-15")),
        R("att-15-legal-entity-checksum", "ATT-15",
          "legal_entity fails mod-11 (and so is not one of the issuer's organisations, ATT-13)",
          set_(f"{_P}.legal_entity.id", bad_check_digit(ORG_GP)),
          deny(["invalid_organization_number", "legal_entity_mismatch"], ["ATT-15", "ATT-13"])),
        R("att-15-legal-entity-string", "ATT-15",
          "legal_entity is a bare string (DM's declared type), not an object",
          set_(f"{_P}.legal_entity", ORG_GP), deny("invalid_field", "ATT-15")),

        # --- ATT-18a/b: point of care ---------------------------------------------------------------------
        R("att-18a-point-of-care-missing", "ATT-18a", "practitioner without point_of_care",
          del_(f"{_P}.point_of_care"), deny("missing_field", "ATT-18a")),
        R("att-18a-point-of-care-checksum", "ATT-18a", "point_of_care organisation number fails mod-11",
          set_(f"{_P}.point_of_care.id", bad_check_digit(ORG_GP)),
          deny("invalid_organization_number", "ATT-18a")),
        R("att-18b-point-of-care-system", "ATT-18b", "point_of_care under the RESH system",
          set_(f"{_P}.point_of_care.system", OID_RESH), deny("invalid_identifier_system", "ATT-18b")),

        # --- ATT-28: practitioner department ----------------------------------------------------------------
        R("att-28-department-no-system", "ATT-28", "department without system",
          set_(f"{_P}.department",
               {"id": "705592", "name": "Anestesiologi", "authority": "https://www.nhn.no"}),
          deny("missing_field", "ATT-28")),
        R("att-28-department-no-authority", "ATT-28", "department without authority",
          set_(f"{_P}.department", {"id": "705592", "name": "Anestesiologi", "system": OID_RESH}),
          deny("missing_field", "ATT-28")),
        R("att-28-department-system-not-uri", "ATT-28", "department system is not an absolute URI",
          set_(f"{_P}.department", {"id": "avd-7", "name": "Avdeling 7", "system": "lokale-avdelinger",
                                    "authority": ORG_GP}),
          deny("invalid_identifier_system", "ATT-28")),
        R("att-28-department-resh-not-digits", "ATT-28", "department RESH id is not digits",
          set_(f"{_P}.department", {**resh_dept, "id": "RH-ANEST"}), deny("invalid_field", "ATT-28")),

        # --- ATT-29a/b: HPR number --------------------------------------------------------------------------
        R("att-29a-hpr-system", "ATT-29a", "hpr_nr under a URL instead of the HPR OID",
          set_(f"{_P}.hpr_nr.system", "https://register.helsedirektoratet.no/hpr"),
          deny("invalid_identifier_system", "ATT-29a")),
        R("att-29a-hpr-letters", "ATT-29a", "hpr_nr id with letters",
          set_(f"{_P}.hpr_nr.id", "91448AB"), deny("invalid_hpr_number", "ATT-29a")),
        R("att-29a-hpr-ten-digits", "ATT-29a", "hpr_nr id of 10 digits",
          set_(f"{_P}.hpr_nr.id", "1234567890"), deny("invalid_hpr_number", "ATT-29a")),
        R("att-29b-hpr-mismatch", "ATT-29b", "attested HPR number is not the authenticated user's",
          [], deny("hpr_mismatch", "ATT-29b"), context={"authenticated_hpr": "9144900"}),
        R("att-29b-hpr-absent", "ATT-29b", "authenticated user has an HPR number, the attestation has none",
          del_(f"{_P}.hpr_nr"), deny("hpr_mismatch", "ATT-29b"), context={"authenticated_hpr": "9144897"}),

        # --- ATT-32: authorization --------------------------------------------------------------------------
        R("att-32-authorization-system", "ATT-32", "authorization under the 9151 code system instead of 9060",
          set_(f"{_P}.authorization.system", "urn:oid:2.16.578.1.12.4.1.1.9151"),
          deny("invalid_code_system", "ATT-32")),
        R("att-32-authorization-code", "ATT-32", "authorization code ZZ is not in 9060",
          set_(f"{_P}.authorization.code", "ZZ"), deny("invalid_code", "ATT-32")),
        R("att-32-authorization-lowercase", "ATT-32", "authorization code le (codes are case-sensitive)",
          set_(f"{_P}.authorization.code", "le"), deny("invalid_code", "ATT-32")),
        R("att-32-authorization-no-code", "ATT-32", "authorization without code",
          del_(f"{_P}.authorization.code"), deny("missing_field", "ATT-32")),

        # --- ATT-37 / ATT-43a: healthcare service -----------------------------------------------------------
        R("att-37-service-system", "ATT-37",
          "healthcare_service under a code system not listed in ATT-37 (ICD-10)",
          set_(f"{_CR}.healthcare_service.system", "urn:oid:2.16.578.1.12.4.1.1.7110"),
          deny("invalid_code_system", "ATT-37")),
        R("att-37-service-empty-code", "ATT-37", "healthcare_service with an empty code",
          set_(f"{_CR}.healthcare_service.code", ""), deny("invalid_code", "ATT-37")),
        R("att-37-service-no-code", "ATT-37", "healthcare_service without code",
          del_(f"{_CR}.healthcare_service.code"), deny("missing_field", "ATT-37")),
        R("att-43a-no-service-no-details", "ATT-43a",
          "neither healthcare_service nor purpose_of_use_details", del_(f"{_CR}.healthcare_service"),
          deny("missing_care_relation_detail", "ATT-43a"), covers=("ATT-43a", "ATT-36")),

        # --- ATT-38..41: purpose of use ---------------------------------------------------------------------
        R("att-38-purpose-missing", "ATT-38", "care_relation without purpose_of_use (test profile: warning)",
          del_(f"{_CR}.purpose_of_use"), _warn_in_test("missing_field", "ATT-38")),
        R("att-38-purpose-system", "ATT-38", "purpose_of_use TREAT under the 9060 system",
          set_(f"{_CR}.purpose_of_use.system", "urn:oid:2.16.578.1.12.4.1.1.9060"),
          deny("invalid_code_system", "ATT-38")),
        R("att-38-purpose-code", "ATT-38", "purpose_of_use HRESCH (research) is outside TREAT/ETREAT/COC/BTG",
          set_(f"{_CR}.purpose_of_use.code", "HRESCH"), deny("invalid_code", "ATT-38")),
        R("att-38-purpose-lowercase", "ATT-38", "purpose_of_use code treat (codes are upper-case, exact)",
          set_(f"{_CR}.purpose_of_use.code", "treat"), deny("invalid_code", "ATT-38")),
        R("att-38-purpose-string", "ATT-38", "purpose_of_use is the bare string TREAT",
          set_(f"{_CR}.purpose_of_use", "TREAT"), deny("invalid_field", "ATT-38")),

        # --- ATT-45: purpose of use details --------------------------------------------------------------
        R("att-45-details-system-not-uri", "ATT-45", "purpose_of_use_details system is not an absolute URI",
          set_(f"{_CR}.purpose_of_use_details", {"code": "POLBESOK", "system": "carerelation"}),
          deny("invalid_code_system", "ATT-45")),
        R("att-45-details-unknown-code", "ATT-45", "care-relation code NOSUCH is not in the HL7 Norway list",
          set_(f"{_CR}.purpose_of_use_details", {"code": "NOSUCH", "system": SYS_CARERELATION}),
          deny("invalid_code", "ATT-45")),
        R("att-45-details-dips-unknown-code", "ATT-45",
          "DIPS decision-template alias with a code not in the list (polbesok: case-sensitive)",
          set_(f"{_CR}.purpose_of_use_details", {"code": "polbesok", "system": SYS_DIPS}),
          deny("invalid_code", "ATT-45")),
        R("att-45-details-placeholder-system", "ATT-45",
          "the full model's placeholder system urn:oid:x.x.x.x.x.9151 (allow-listed in the test profile)",
          set_(f"{_CR}.purpose_of_use_details", {"code": "15", "system": "urn:oid:x.x.x.x.x.9151"}),
          lambda test: permit("ATT-45") if test else deny("invalid_code_system", "ATT-45")),

        # --- ATT-46 / ATT-48: decision reference ---------------------------------------------------------
        R("att-46-decision-ref-missing", "ATT-46",
          "care_relation without decision_ref (test profile: warning)",
          del_(f"{_CR}.decision_ref"), _warn_in_test("missing_field", "ATT-46")),
        R("att-46-decision-ref-empty-id", "ATT-46", "decision_ref id is empty",
          set_(f"{_CR}.decision_ref.id", ""), deny("invalid_decision_ref", "ATT-46")),
        R("att-46-decision-ref-no-id", "ATT-46", "decision_ref without id",
          del_(f"{_CR}.decision_ref.id"), deny("invalid_decision_ref", "ATT-46")),
        R("att-46-decision-ref-string", "ATT-46", "decision_ref is a string",
          set_(f"{_CR}.decision_ref", "conformance-decision-0001"), deny("invalid_decision_ref", "ATT-46")),
        R("att-48-user-selected-string", "ATT-48", "decision_ref.user_selected is the string \"true\"",
          set_(f"{_CR}.decision_ref.user_selected", "true"), deny("invalid_decision_ref", "ATT-48")),
        R("att-48-user-selected-number", "ATT-48", "decision_ref.user_selected is the number 1",
          set_(f"{_CR}.decision_ref.user_selected", 1), deny("invalid_decision_ref", "ATT-48")),
        R("att-48-user-selected-missing", "ATT-48", "decision_ref without user_selected",
          del_(f"{_CR}.decision_ref.user_selected"), deny("invalid_decision_ref", "ATT-48")),

        # --- ATT-49 / ATT-53: patient point of care and department -----------------------------------------
        R("att-49-patient-poc-system", "ATT-49", "patient point_of_care under the RESH system",
          set_(f"{_PAT0}.point_of_care", {"id": ORG_GP, "system": OID_RESH}),
          deny("invalid_identifier_system", "ATT-49")),
        R("att-49-patient-poc-checksum", "ATT-49", "patient point_of_care organisation number fails mod-11",
          set_(f"{_PAT0}.point_of_care", {"id": bad_check_digit(ORG_GP), "system": OID_ORGNR}),
          deny("invalid_organization_number", "ATT-49")),
        R("att-53-patient-department-no-system", "ATT-53", "patient department without system",
          set_(f"{_PAT0}.department", {"id": "109765", "authority": "https://www.nhn.no"}),
          deny("missing_field", "ATT-53")),
        R("att-53-patient-department-not-uri", "ATT-53", "patient department system is not an absolute URI",
          set_(f"{_PAT0}.department", {"id": "109765", "system": "resh", "authority": "https://www.nhn.no"}),
          deny("invalid_identifier_system", "ATT-53")),

        # --- ATT-58a/c: time of attestation -----------------------------------------------------------------
        R("att-58a-toa-missing", "ATT-58a", "attestation without toa (test profile: warning)",
          del_("toa"), _warn_in_test("missing_field", "ATT-58a")),
        R("att-58a-toa-string", "ATT-58a", "toa is a numeric string",
          set_("toa", "{toa}"), deny("invalid_field", "ATT-58a")),
        R("att-58a-toa-boolean", "ATT-58a", "toa is true (a boolean is not a number)",
          set_("toa", True), deny("invalid_field", "ATT-58a")),
        R("att-58a-toa-fraction", "ATT-58a", "toa is a non-integral number",
          set_("toa", "{toa}.5"), deny("invalid_field", "ATT-58a")),
        R("att-58c-expired", "ATT-58c", "toa 3601 s ago: attestation_has_expired (no leeway)",
          set_("toa", "{now-3601}"), deny("attestation_has_expired", "ATT-58c")),
        R("att-58c-expired-long-ago", "ATT-58c", "toa 2 hours ago while the token itself is fresh",
          set_("toa", "{now-7200}"), deny("attestation_has_expired", "ATT-58c")),
        R("att-58c-toa-future", "ATT-58c", "toa 15 minutes in the future",
          set_("toa", "{now+900}"), deny("toa_in_future", "ATT-58c")),
    ]


def resolve_placeholders(value: Any, now: int, toa: int) -> Any:
    """Rule cases write times relative to the corpus's ``now``: ``"{now-3601}"`` -> int, ``"{toa}"`` ->
    the string of the base toa, ``"{toa}.5"`` -> a float."""
    if not isinstance(value, str) or not value.startswith("{"):
        return value
    if value == "{toa}":
        return str(toa)
    if value == "{toa}.5":
        return toa + 0.5
    if value.startswith("{now") and value.endswith("}"):
        expr = value[4:-1]
        return now + int(expr) if expr else now
    return value

