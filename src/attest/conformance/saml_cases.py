"""The cases of a SAML corpus (``attest conformance generate --saml``): signed SAML 2.0 assertions of the test
SAML issuer (:mod:`attest.conformance.saml_forge`) and what a conforming verifier decides for each.

Four groups:

* ``saml-valid``: assertions to permit, each with the exact set of warnings it earns;
* ``saml-rules``: the attestation's rules (RULES.md section b) broken through the attributes that carry it
  (DM 6.3): a few representative missing or invalid values per rule group, ambiguous attributes, the
  security level (ATT-9) and a citizen's assertion (``not_a_health_personnel_attestation``);
* ``saml-conditions``: the assertion's own checks (SAML 2.0 core 2.3-2.7): expired, not yet valid (and both
  just inside the leeway), lifetime, audience, conditions, subject confirmation (its Recipient and times),
  OneTimeUse (a second presentation, for a target with a replay cache), session, envelope;
* ``saml-attacks``: the attacks of :mod:`attest.conformance.saml_attacks` (signature wrapping XSW1-8, comments,
  key sources, DTDs and entities, sizes, weak algorithms), two untrusted signers, and signing certificates
  that do not chain to the CA of the second issuer, which the trust store trusts through its CA (the valid
  group has that issuer's assertions with a certificate issued by the root, and by an intermediate).

The expectations are written from what each case is (RULES.md, CONTRACT.md section 5, SAML 2.0 core and the
profile ``xua-saml-1.0-test``), not by running a verifier; tests/conformance/test_saml_mode.py then holds
``attest.verify_saml`` to every one of them. The people are the data model's example people (valid F-numbers,
no real person's data).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lxml import etree

from ..saml_map import (
    CHILD_ORGANIZATION,
    CHILD_ORGANIZATION_NAME,
    DECISION_REF,
    HEALTHCARE_SERVICE,
    NPI,
    ORGANIZATION_ID,
    PROVIDER_IDENTIFIER,
    PURPOSE_OF_USE,
    PURPOSE_OF_USE_DETAILS,
    RESOURCE_CHILD_ORGANIZATION,
    RESOURCE_CHILD_ORGANIZATION_NAME,
    RESOURCE_ID,
    ROLE,
    SECURITY_LEVEL,
    SUBJECT_ID,
)
from ..saml_produce import SENDER_VOUCHES
from .corpus import Expectation, deny, permit
from .forge import (
    OID_9060,
    OID_FNR,
    OID_ORGNR,
    OID_POU,
    OID_RESH,
    ORG_OUS,
    ORG_OUS_RH,
    OTHER_FNRS,
    PATIENT_FNR,
    PRACTITIONER_FNR,
    SYS_CARERELATION,
    bad_check_digit,
    find_organization_number,
    find_person_number,
)
from .saml_attacks import (
    R_ISSUER,
    R_MAPPING,
    R_SIG_PROFILE,
    R_SIGNATURE,
    SAML_NS,
    attacks,
)
from .saml_forge import AGE, LIFETIME, SamlForge, SamlKitAdapter, instant

R_CHAIN = "RFC5280-6.1"
R_ASSERTION = "SAML2-core-2.3.3"
R_SUBJECT = "SAML2-core-2.4.1"
R_CONFIRMATION = "SAML2-core-2.4.1.2"
R_CONDITIONS = "SAML2-core-2.5.1"
R_AUDIENCE = "SAML2-core-2.5.1.4"
R_AUTHN = "SAML2-core-2.7.2"
R_ONE_TIME_USE = "SAML2-core-2.5.1.5"

BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
HOLDER_OF_KEY = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
OTHER_AUDIENCE = "urn:attest:conformance:another-service"
OTHER_PID = OTHER_FNRS[0]
OTHER_PATIENT = OTHER_FNRS[2]
OTHER_HPR = "565501872"
D_NUMBER = find_person_number("600866")           # the practitioner's birth date as a D-number (day + 40)
OTHER_ORG = find_organization_number("9100000")   # a valid organisation the issuer may not vouch for
ISO_14265 = "urn:oid:1.0.14265.1"

Builder = Callable[[SamlForge, str], bytes]


@dataclass(frozen=True)
class SamlCase:
    """One case before it is built: ``slug`` (the id is ``saml-<slug>``), group, rule, description, the
    expectation (with its warnings), how to build the assertion from the forge and the case id, the attack
    class it belongs to (if any), the verify context beyond ``now`` and the patient (``None`` removes a
    member), tags, ``exact_second`` (the decision needs the injected evaluation time, not a target's own
    clock) and ``second_presentation``."""

    slug: str
    group: str
    rule: str
    description: str
    expect: Expectation
    build: Builder
    cls: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    exact_second: bool = False
    #: the same assertion is presented once before (expected: permit), so the case is its second presentation
    #: (the target must keep a replay cache across requests)
    second_presentation: bool = False

    @property
    def id(self) -> str:
        return f"saml-{self.slug}"

    def covers(self) -> tuple[str, ...]:
        """The catalogue entries it counts for: ``permit``, each expected error and warning code, its class."""
        e = self.expect
        out = ["permit"] if e.decision == "permit" else list(e.errors)
        out += [w for w in (e.warnings or ()) if w not in out]
        if self.cls is not None:
            out.append(self.cls)
        return tuple(out)


# --- building blocks ---------------------------------------------------------------------------------------

def _hl7(tag: str, hl7_type: str, **attrs: str) -> str:
    """An HL7v3 element as the attribute value's text (as HelseID's XDS SAML service writes it)."""
    rest = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f'<{tag} xmlns="urn:hl7-org:v3" xsi:type="{hl7_type}"{rest}/>'


def _ce(tag: str, code: str, system: str, display: str) -> str:
    return _hl7(tag, "CE", code=code, codeSystem=system, displayName=display)


def _ii(extension: str, root: str) -> str:
    return _hl7("id", "II", extension=extension, root=root)


def _decision_ref(ident: str, user_selected: str) -> str:
    return f'<decision-ref><id value="{ident}"/><user-selected value="{user_selected}"/></decision-ref>'


def _tostring(element: Any) -> bytes:
    out: bytes = etree.tostring(element)
    return out


def signed(**kw: Any) -> Builder:
    """A validly signed assertion: :meth:`SamlForge.assertion` with ``kw``."""
    return lambda forge, cid: forge.signed(cid, **kw)


def attrs(**named: str | None) -> Builder:
    """A validly signed assertion whose attributes (by :mod:`attest.saml_map` constant name) are replaced
    (None: removed)."""
    names = {"NPI": NPI[0], "ROLE": ROLE[0], "ROLE_XACML": ROLE[1], "PURPOSE": PURPOSE_OF_USE[0],
             "PURPOSE_XACML": PURPOSE_OF_USE[2], "ORGANIZATION_ID": ORGANIZATION_ID,
             "CHILD_ORGANIZATION": CHILD_ORGANIZATION, "CHILD_ORGANIZATION_NAME": CHILD_ORGANIZATION_NAME,
             "HEALTHCARE_SERVICE": HEALTHCARE_SERVICE, "PURPOSE_OF_USE_DETAILS": PURPOSE_OF_USE_DETAILS,
             "DECISION_REF": DECISION_REF, "RESOURCE_ID": RESOURCE_ID[0],
             "RESOURCE_CHILD_ORGANIZATION": RESOURCE_CHILD_ORGANIZATION,
             "RESOURCE_CHILD_ORGANIZATION_NAME": RESOURCE_CHILD_ORGANIZATION_NAME,
             "SECURITY_LEVEL": SECURITY_LEVEL[0], "SUBJECT_ID": SUBJECT_ID[0],
             "PROVIDER_IDENTIFIER": PROVIDER_IDENTIFIER}
    return signed(attributes={names[k]: v for k, v in named.items()})


def edited(edit: Callable[[Any], None], **kw: Any) -> Builder:
    """A validly signed assertion changed by ``edit`` (on the tree, before signing)."""
    return signed(edit=edit, **kw)


def _q(*steps: str) -> str:
    return "/".join(f"{{{SAML_NS}}}{s}" for s in steps)


def _set_confirmation(method: str, data: Mapping[str, str] | None = None) -> Callable[[Any], None]:
    def edit(root: Any) -> None:
        sc = root.find(_q("Subject", "SubjectConfirmation"))
        sc.set("Method", method)
        if data is not None:
            etree.SubElement(sc, f"{{{SAML_NS}}}SubjectConfirmationData", **data)
    return edit


def _remove(*steps: str) -> Callable[[Any], None]:
    def edit(root: Any) -> None:
        el = root.find(_q(*steps))
        el.getparent().remove(el)
    return edit


def _drop_condition_time(root: Any, name: str) -> None:
    root.find(_q("Conditions")).attrib.pop(name)


def _b64(build: Builder) -> Builder:
    return lambda forge, cid: base64.b64encode(build(forge, cid))


def _signed_with(**sign_kw: Any) -> Builder:
    return lambda forge, cid: _tostring(forge.sign(forge.assertion(cid), **sign_kw))


def _duplicate_role(root: Any) -> None:
    statement = root.find(_q("AttributeStatement"))
    role = next(a for a in statement if a.get("Name") == ROLE[0])
    statement.append(etree.fromstring(etree.tostring(role)))


def _second_audience(audience: str) -> Callable[[Any], None]:
    def edit(root: Any) -> None:
        etree.SubElement(root.find(_q("Conditions", "AudienceRestriction")), f"{{{SAML_NS}}}Audience").text = audience
    return edit


def _second_restriction(root: Any) -> None:
    restriction = etree.SubElement(root.find(_q("Conditions")), f"{{{SAML_NS}}}AudienceRestriction")
    etree.SubElement(restriction, f"{{{SAML_NS}}}Audience").text = OTHER_AUDIENCE


def _unknown_condition(root: Any) -> None:
    cond = etree.SubElement(root.find(_q("Conditions")), f"{{{SAML_NS}}}Condition")
    cond.set("{http://www.w3.org/2001/XMLSchema-instance}type", "ex:DelegationRestrictionType")


def _session_end(seconds_before_now: int) -> Callable[[SamlForge], Callable[[Any], None]]:
    def make(forge: SamlForge) -> Callable[[Any], None]:
        def edit(root: Any) -> None:
            root.find(_q("AuthnStatement")).set("SessionNotOnOrAfter", instant(forge.now - seconds_before_now))
        return edit
    return make


def _one_time_use(root: Any) -> None:
    etree.SubElement(root.find(_q("Conditions")), f"{{{SAML_NS}}}OneTimeUse")


def _with_forge(make: Callable[[SamlForge], Callable[[Any], None]], **kw: Any) -> Builder:
    return lambda forge, cid: forge.signed(cid, edit=make(forge), **kw)


def _at(offset: int, lifetime: int = LIFETIME) -> Builder:
    """Issued ``offset`` seconds from ``now`` (IssueInstant, NotBefore, AuthnInstant), valid for ``lifetime``."""
    return lambda forge, cid: forge.signed(cid, issued=forge.now + offset, lifetime=lifetime)


def _root_attribute(name: str, value: str) -> Builder:
    def edit(root: Any) -> None:
        root.set(name, value)
    return edited(edit)


# --- the cases ---------------------------------------------------------------------------------------------

def _ok(rule: str, *warnings: str) -> Expectation:
    return permit(rule).with_warnings(*warnings)


def _no(codes: str | tuple[str, ...], rules: str | tuple[str, ...] = (), *,
        accept_also: tuple[tuple[str, ...], ...] = ()) -> Expectation:
    return deny(codes, rules, accept_also=accept_also).with_warnings()


def valid_cases() -> list[SamlCase]:
    g = "saml-valid"
    trt = _ce("PurposeOfUse", "TREAT", OID_POU, "Behandling")
    return [
        SamlCase("valid", g, R_SIG_PROFILE, "a valid assertion as the test SAML issuer makes it (sender-vouches, "
                 "SecurityLevel 4, the patient as resource-id, RSA-SHA256): permitted", _ok(R_SIG_PROFILE), signed()),
        SamlCase("valid-base64", g, R_SIG_PROFILE, "the valid assertion base64-encoded, as it travels in a "
                 "WS-Security header: permitted", _ok(R_SIG_PROFILE), _b64(signed())),
        SamlCase("valid-rsa-sha512", g, R_SIG_PROFILE, "signed RSA-SHA512 over a SHA-512 digest: permitted",
                 _ok(R_SIG_PROFILE), _signed_with(signature_algorithm="rsa-sha512", digest_algorithm="sha512")),
        SamlCase("valid-no-key-info", g, R_SIGNATURE, "a signature without KeyInfo (the pinned certificate is the "
                 "key): permitted", _ok(R_SIGNATURE), _signed_with(include_cert=False)),
        SamlCase("valid-bearer", g, R_CONFIRMATION, "subject confirmation method bearer (no "
                 "SubjectConfirmationData): permitted", _ok(R_CONFIRMATION), edited(_set_confirmation(BEARER))),
        SamlCase("valid-two-audiences", g, R_AUDIENCE, "the AudienceRestriction names this verifier and another "
                 "service: permitted", _ok(R_AUDIENCE), edited(_second_audience(OTHER_AUDIENCE))),
        SamlCase("valid-d-number", g, "ATT-10", "the practitioner (NameID) is a D-number: permitted",
                 _ok("ATT-10"), signed(name_id=D_NUMBER)),
        SamlCase("valid-purpose-of-use-coc", g, "ATT-40", "purpose of use COC (coordination of care): permitted",
                 _ok("ATT-40"), attrs(PURPOSE=_ce("PurposeOfUse", "COC", OID_POU, "Koordinering"))),
        SamlCase("valid-xacml-names", g, R_MAPPING, "role and purpose of use also under their XACML 2.0 names, "
                 "saying the same: permitted", _ok(R_MAPPING),
                 attrs(ROLE_XACML=_ce("Role", "LE", OID_9060, "Lege"),
                       PURPOSE_XACML=trt.replace("<PurposeOfUse", "<Purpose"))),
        SamlCase("valid-no-patient-in-request", g, "ATT-4", "the request names no patient: permitted, with the "
                 "warning that the patient binding was not checked", _ok("ATT-4", "context_not_provided"), signed(),
                 context={"patient_id": None}),
        SamlCase("valid-no-hpr-number", g, "ATT-32", "no npi attribute (a role without an HPR number): permitted "
                 "with an advisory", _ok("ATT-32", "advisory"), attrs(NPI=None)),
        SamlCase("valid-break-the-glass", g, "ATT-41", "purpose of use BTG with user-selected False: permitted with "
                 "an advisory", _ok("ATT-41", "advisory"),
                 attrs(PURPOSE=_ce("PurposeOfUse", "BTG", OID_POU, "Nødrett"),
                       DECISION_REF=_decision_ref("6D3C1E0A-5B7F-4E2A-9C1D-2F4B8A6E0C31", "False"))),
        SamlCase("valid-retired-role-code", g, "ATT-32", "role code MT (retired from Volven 9060): permitted with "
                 "a deprecated_code warning", _ok("ATT-32", "deprecated_code"),
                 attrs(ROLE=_ce("Role", "MT", OID_9060, "Manuellterapeut"))),
        SamlCase("valid-bidi-character-in-name", g, "DM-5.1", "the subject-id (practitioner's name) holds a "
                 "right-to-left override: permitted with an invalid_field warning", _ok("DM-5.1", "invalid_field"),
                 attrs(SUBJECT_ID="August \u202eSeptember")),
    ]


def rule_cases() -> list[SamlCase]:
    g = "saml-rules"
    return [
        # practitioner (NameID, npi, role) -- ATT-10, ATT-11, ATT-29a/b, ATT-32
        SamlCase("rule-nameid-check-digit", g, "ATT-10", "the NameID F-number fails its control digits",
                 _no("invalid_person_identifier", "ATT-10"), signed(name_id=bad_check_digit(PRACTITIONER_FNR))),
        SamlCase("rule-nameid-not-a-person-number", g, "ATT-10", "the NameID is a user name, not an F- or D-number",
                 _no("invalid_person_identifier", "ATT-10"), signed(name_id="august.september")),
        SamlCase("rule-no-nameid", g, "ATT-10", "the Subject has no NameID (no practitioner identifier)",
                 _no(("missing_claim", "missing_field"), (R_SUBJECT, "ATT-10")), signed(name_id=None)),
        SamlCase("rule-practitioner-not-the-user", g, "ATT-11", "the NameID is not the authenticated user the "
                 "request names", _no("practitioner_mismatch", "ATT-11"), signed(),
                 context={"authenticated_pid": OTHER_PID}),
        SamlCase("rule-hpr-number-not-digits", g, "ATT-29a", "the npi (HPR number) holds letters",
                 _no("invalid_hpr_number", "ATT-29a"), attrs(NPI="91448AB")),
        SamlCase("rule-hpr-number-not-the-users", g, "ATT-29b", "the npi is not the authenticated user's HPR number",
                 _no("hpr_mismatch", "ATT-29b"), signed(), context={"authenticated_hpr": OTHER_HPR}),
        SamlCase("rule-role-unknown-code", g, "ATT-32", "the role code is not in Volven 9060",
                 _no("invalid_code", "ATT-32"), attrs(ROLE=_ce("Role", "ZZ", OID_9060, "Ukjent"))),
        SamlCase("rule-role-other-code-system", g, "ATT-32", "the role names another code system than Volven 9060",
                 _no("invalid_code_system", "ATT-32"), attrs(ROLE=_ce("Role", "LE", "urn:oid:2.16.578.1.12.4.1.1.9999",
                                                                        "Lege"))),
        # organisations -- ATT-13, ATT-15, ATT-18a/b
        SamlCase("rule-legal-entity-check-digit", g, "ATT-15", "the organization-id fails mod-11 (and so is not "
                 "an organisation the issuer may vouch for)",
                 _no(("invalid_organization_number", "legal_entity_mismatch"), ("ATT-15", "ATT-13")),
                 attrs(ORGANIZATION_ID=_ii(bad_check_digit(ORG_OUS), OID_ORGNR))),
        SamlCase("rule-no-legal-entity-id", g, "ATT-15", "no organization-id attribute (only the organisation's "
                 "name)", _no("missing_field", "ATT-15"), attrs(ORGANIZATION_ID=None)),
        SamlCase("rule-legal-entity-not-the-issuers", g, "ATT-13", "the organization-id is a valid organisation the "
                 "SAML issuer may not vouch for (trust store legal_entities)", _no("legal_entity_mismatch", "ATT-13"),
                 attrs(ORGANIZATION_ID=_ii(OTHER_ORG, OID_ORGNR))),
        SamlCase("rule-point-of-care-other-system", g, "ATT-18b", "the child-organization names the RESH system, "
                 "not the organisation-number OID", _no("invalid_identifier_system", "ATT-18b"),
                 attrs(CHILD_ORGANIZATION=_ii(ORG_OUS_RH, OID_RESH))),
        SamlCase("rule-no-point-of-care", g, "ATT-18a", "no child-organization attributes (no point of care)",
                 _no("missing_field", "ATT-18a"), attrs(CHILD_ORGANIZATION=None, CHILD_ORGANIZATION_NAME=None)),
        # care relation -- ATT-37, ATT-38, ATT-43a, ATT-45, ATT-46, ATT-48
        SamlCase("rule-no-purpose-of-use", g, "ATT-38", "no purposeOfUse attribute", _no("missing_field", "ATT-38"),
                 attrs(PURPOSE=None)),
        SamlCase("rule-purpose-of-use-code", g, "ATT-38", "purpose of use SHOPPING (not in the PurposeOfUse list)",
                 _no("invalid_code", "ATT-38"), attrs(PURPOSE=_ce("PurposeOfUse", "SHOPPING", OID_POU, "Shopping"))),
        SamlCase("rule-purpose-of-use-code-system", g, "ATT-38", "purpose of use TREAT in another code system",
                 _no("invalid_code_system", "ATT-38"),
                 attrs(PURPOSE=_ce("PurposeOfUse", "TREAT", "urn:oid:2.16.578.1.12.4.1.1.9999", "Behandling"))),
        SamlCase("rule-purposes-disagree", g, R_MAPPING, "purposeOfUse says TREAT, the XACML action:purpose says "
                 "ETREAT: ambiguous, so no purpose of use",
                 _no(("invalid_field", "missing_field"), (R_MAPPING, "ATT-38")),
                 attrs(PURPOSE_XACML=_ce("Purpose", "ETREAT", OID_POU, "Akutt behandling"))),
        SamlCase("rule-attribute-twice", g, R_MAPPING, "the role attribute given twice (ambiguous, not read)",
                 _no("invalid_field", R_MAPPING), edited(_duplicate_role)),
        SamlCase("rule-healthcare-service-code-system", g, "ATT-37", "the healthcare service names a code system "
                 "outside the ten of ATT-37", _no("invalid_code_system", "ATT-37"),
                 attrs(HEALTHCARE_SERVICE=_ce("HealthcareService", "S03", "urn:oid:2.16.578.1.12.4.1.1.9999",
                                              "Indremedisin"))),
        SamlCase("rule-no-care-relation-detail", g, "ATT-43a", "neither a healthcare service nor purpose-of-use "
                 "details", _no("missing_care_relation_detail", "ATT-43a"),
                 attrs(HEALTHCARE_SERVICE=None, PURPOSE_OF_USE_DETAILS=None)),
        SamlCase("rule-purpose-of-use-details-code", g, "ATT-45", "purpose-of-use details code not in the care "
                 "relation list", _no("invalid_code", "ATT-45"),
                 attrs(PURPOSE_OF_USE_DETAILS=_ce("PurposeOfUseDetails", "NOSUCH", SYS_CARERELATION, "Ukjent"))),
        SamlCase("rule-no-decision-ref", g, "ATT-46", "no decision-ref attribute", _no("missing_field", "ATT-46"),
                 attrs(DECISION_REF=None)),
        SamlCase("rule-decision-ref-empty-id", g, "ATT-46", "decision-ref with an empty id",
                 _no("invalid_decision_ref", "ATT-46"), attrs(DECISION_REF=_decision_ref("", "True"))),
        SamlCase("rule-user-selected-not-boolean", g, "ATT-48", "decision-ref user-selected is 'maybe'",
                 _no("invalid_decision_ref", "ATT-48"),
                 attrs(DECISION_REF=_decision_ref("6D3C1E0A-5B7F-4E2A-9C1D-2F4B8A6E0C31", "maybe"))),
        # the patient -- ATT-4, ATT-6
        SamlCase("rule-patient-check-digit", g, "ATT-4", "the resource-id F-number fails its control digits (the "
                 "request names the same number)", _no("invalid_person_identifier", "ATT-4"),
                 attrs(RESOURCE_ID=f"{bad_check_digit(PATIENT_FNR)}^^^&2.16.578.1.12.4.1.4.1&ISO"),
                 context={"patient_id": bad_check_digit(PATIENT_FNR)}),
        SamlCase("rule-patient-not-cx", g, R_MAPPING, "the resource-id is a bare number, not an HL7v2 CX identifier",
                 _no(("invalid_field", "missing_field", "patient_not_in_attestation"), (R_MAPPING, "ATT-4")),
                 attrs(RESOURCE_ID=PATIENT_FNR)),
        SamlCase("rule-other-patient", g, "ATT-4", "the request is for another patient than the resource-id",
                 _no("patient_not_in_attestation", "ATT-4"), signed(), context={"patient_id": OTHER_PATIENT}),
        SamlCase("rule-no-patient-in-assertion", g, "ATT-6", "no resource-id (an unbound assertion): it unlocks no "
                 "single patient's data", _no("patient_not_in_attestation", "ATT-4"),
                 attrs(RESOURCE_ID=None, RESOURCE_CHILD_ORGANIZATION=None, RESOURCE_CHILD_ORGANIZATION_NAME=None)),
        # the login -- ATT-9
        SamlCase("rule-security-level-3", g, "ATT-9", "SecurityLevel 3 (a substantial, not a high, login)",
                 _no("insufficient_security_level", "ATT-9"), attrs(SECURITY_LEVEL="3")),
        SamlCase("rule-no-security-level", g, "ATT-9", "no SecurityLevel attribute",
                 _no("insufficient_security_level", "ATT-9"), attrs(SECURITY_LEVEL=None)),
        # a citizen's assertion -- DM 6.3
        SamlCase("rule-citizen-provider-identifier", g, "DM-6.3", "the provider-identifier is a national identity "
                 "number (a citizen's assertion)", _no("not_a_health_personnel_attestation", "DM-6.3"),
                 attrs(PROVIDER_IDENTIFIER=_ii(PATIENT_FNR, OID_FNR), NPI=None)),
        SamlCase("rule-citizen-purpose-of-use", g, "DM-6.3", "purpose of use ISO 14265 13, 'subject of care uses' "
                 "(a citizen's own access)", _no("not_a_health_personnel_attestation", "DM-6.3"),
                 attrs(PURPOSE=_ce("PurposeOfUse", "13", ISO_14265, "Subject of care uses"))),
        SamlCase("rule-citizen-subject-is-patient", g, "DM-6.3", "the subject (NameID) is the patient "
                 "(resource-id)", _no("not_a_health_personnel_attestation", "DM-6.3"), signed(name_id=PATIENT_FNR)),
    ]


def condition_cases() -> list[SamlCase]:
    g = "saml-conditions"
    return [
        SamlCase("cond-expired", g, R_CONDITIONS, "NotOnOrAfter (and the session's end) 100 s ago",
                 _no("token_expired", (R_CONDITIONS, R_AUTHN)), _at(-LIFETIME - 100)),
        SamlCase("cond-expired-within-leeway", g, R_CONDITIONS, "NotOnOrAfter 29 s ago (the leeway is 30 s): "
                 "permitted (needs the injected time)", _ok(R_CONDITIONS), _at(-LIFETIME - 29), exact_second=True),
        SamlCase("cond-not-yet-valid", g, R_CONDITIONS, "IssueInstant, NotBefore and AuthnInstant 120 s in the "
                 "future", _no("token_not_yet_valid", (R_CONDITIONS, R_ASSERTION, R_AUTHN)), _at(120)),
        SamlCase("cond-not-yet-valid-within-leeway", g, R_CONDITIONS, "IssueInstant and NotBefore 29 s in the "
                 "future (the leeway is 30 s): permitted (needs the injected time)", _ok(R_CONDITIONS), _at(29),
                 exact_second=True),
        SamlCase("cond-lifetime-too-long", g, R_CONDITIONS, "NotOnOrAfter 7200 s after NotBefore (the limit is "
                 "3600 s)", _no("lifetime_too_long", R_CONDITIONS),
                 signed(lifetime=2 * LIFETIME)),
        SamlCase("cond-no-not-on-or-after", g, R_CONDITIONS, "Conditions without NotOnOrAfter",
                 _no("missing_claim", R_CONDITIONS), edited(lambda root: _drop_condition_time(root, "NotOnOrAfter"))),
        SamlCase("cond-no-conditions", g, R_CONDITIONS, "no Conditions (so no expiry and no audience)",
                 _no(("missing_claim", "invalid_audience"), (R_CONDITIONS, R_AUDIENCE)), edited(_remove("Conditions"))),
        SamlCase("cond-unknown-condition", g, R_CONDITIONS, "a saml:Condition of a type this verifier does not "
                 "understand", _no("invalid_claim", R_CONDITIONS), edited(_unknown_condition)),
        SamlCase("cond-wrong-audience", g, R_AUDIENCE, "the AudienceRestriction names another service only",
                 _no("invalid_audience", R_AUDIENCE), signed(audience=OTHER_AUDIENCE)),
        SamlCase("cond-no-audience-restriction", g, R_AUDIENCE, "no AudienceRestriction (valid anywhere)",
                 _no("invalid_audience", R_AUDIENCE), edited(_remove("Conditions", "AudienceRestriction"))),
        SamlCase("cond-second-audience-restriction", g, R_AUDIENCE, "a second AudienceRestriction naming another "
                 "service only (each must be met)", _no("invalid_audience", R_AUDIENCE), edited(_second_restriction)),
        SamlCase("cond-session-ended", g, R_AUTHN, "the AuthnStatement's SessionNotOnOrAfter 100 s ago",
                 _no("token_expired", R_AUTHN), _with_forge(_session_end(100))),
        SamlCase("cond-holder-of-key", g, R_CONFIRMATION, "subject confirmation holder-of-key (not accepted)",
                 _no("invalid_claim", R_CONFIRMATION), edited(_set_confirmation(HOLDER_OF_KEY))),
        SamlCase("cond-no-subject-confirmation", g, R_CONFIRMATION, "the Subject has no SubjectConfirmation",
                 _no("missing_claim", R_CONFIRMATION), edited(_remove("Subject", "SubjectConfirmation"))),
        SamlCase("cond-confirmation-data-expired", g, R_CONFIRMATION, "the SubjectConfirmationData's NotOnOrAfter "
                 "lies before the evaluation time", _no("token_expired", R_CONFIRMATION),
                 _with_forge(lambda forge: _set_confirmation(
                     SENDER_VOUCHES, {"NotOnOrAfter": instant(forge.now - AGE)}))),
        SamlCase("cond-recipient-is-the-audience", g, R_CONFIRMATION, "the SubjectConfirmationData names this "
                 "verifier (its audience) as Recipient: permitted", _ok(R_CONFIRMATION),
                 _with_forge(lambda forge: _set_confirmation(SENDER_VOUCHES, {"Recipient": forge.audience}))),
        SamlCase("cond-recipient-other", g, R_CONFIRMATION, "the SubjectConfirmationData names another service as "
                 "Recipient", _no("invalid_audience", R_CONFIRMATION),
                 edited(_set_confirmation(SENDER_VOUCHES, {"Recipient": OTHER_AUDIENCE}))),
        SamlCase("cond-confirmation-data-time-malformed", g, R_CONFIRMATION, "the SubjectConfirmationData's "
                 "NotOnOrAfter is not a time", _no("invalid_claim", R_CONFIRMATION),
                 edited(_set_confirmation(SENDER_VOUCHES, {"NotOnOrAfter": "tomorrow"}))),
        SamlCase("cond-one-time-use-replayed", g, R_ONE_TIME_USE, "Conditions with OneTimeUse, presented a second "
                 "time (the first presentation is permitted)", _no("token_replayed", R_ONE_TIME_USE),
                 edited(_one_time_use), second_presentation=True),
        SamlCase("cond-presented-twice", g, R_CONDITIONS, "an assertion without OneTimeUse presented a second time: "
                 "permitted (a XUA assertion serves many requests)", _ok(R_CONDITIONS), signed(),
                 second_presentation=True),
        SamlCase("cond-issue-instant-without-zone", g, R_ASSERTION, "IssueInstant without a time zone",
                 _no("invalid_saml", R_ASSERTION), _root_attribute("IssueInstant", "2030-01-01T00:00:00")),
        SamlCase("cond-version-1-1", g, R_ASSERTION, "Version 1.1 (not a SAML 2.0 assertion)",
                 _no("invalid_saml", R_ASSERTION), _root_attribute("Version", "1.1")),
    ]


def _from_attack(build: Callable[[SamlKitAdapter], bytes]) -> Builder:
    return lambda forge, cid: build(forge.kit(cid))


def attack_cases(forge: SamlForge) -> list[SamlCase]:
    g = "saml-attacks"
    out: list[SamlCase] = []
    for a in attacks(forge.certificate):
        exp = a.expect if a.expect.warnings is not None else a.expect.with_warnings()
        out.append(SamlCase(
            f"attack-{a.name}", g, (a.expect.rules or (R_SIGNATURE,))[0], a.description, exp,
            _from_attack(a.build), cls=a.cls,
            context={"authenticated_pid": PRACTITIONER_FNR} if a.authenticated else {}, tags=a.tags))
    other_issuer = forge.issuer.rstrip("/") + "/other"
    out += [
        SamlCase("attack-unknown-issuer", g, R_ISSUER, "an assertion of an issuer the trust store does not name, "
                 "signed by that issuer's own key", _no("unknown_issuer", R_ISSUER),
                 lambda f, cid: _tostring(f.sign(f.assertion(cid, issuer=other_issuer), key=f.attacker_key,
                                                 cert=f.attacker_certificate)),
                 cls="untrusted-signer"),
        SamlCase("attack-expired-certificate", g, R_SIGNATURE, "signed with the issuer's previous key, whose pinned "
                 "certificate expired before the evaluation time", _no("unknown_key", R_SIGNATURE),
                 lambda f, cid: _tostring(f.sign(f.assertion(cid), key=f.previous_key, cert=f.previous_certificate)),
                 cls="untrusted-signer"),
    ]
    return out


# --- the second issuer, trusted through a CA ------------------------------------------------------------------

def _by_ca_issuer(key: Callable[[SamlForge], Any], chain: Callable[[SamlForge], list[Any]],
                  include_cert: bool = True) -> Builder:
    """An assertion of the issuer trusted through a CA, signed with ``key``, KeyInfo carrying ``chain``."""
    return lambda f, cid: _tostring(f.sign(f.assertion(cid, issuer=f.ca.issuer), key=key(f), cert=chain(f),
                                           include_cert=include_cert))


def ca_valid_cases() -> list[SamlCase]:
    g = "saml-valid"
    return [
        SamlCase("valid-ca-issued", g, R_CHAIN, "the issuer trusted through its CA: KeyInfo carries the signing "
                 "certificate, issued by the root CA of the trust store: permitted", _ok(R_CHAIN),
                 _by_ca_issuer(lambda f: f.ca.signer_key, lambda f: [f.ca.signer])),
        SamlCase("valid-ca-intermediate", g, R_CHAIN, "the issuer trusted through its CA: KeyInfo carries the signing "
                 "certificate and the intermediate CA that issued it: permitted", _ok(R_CHAIN),
                 _by_ca_issuer(lambda f: f.ca.signer_key, lambda f: [f.ca.signer_via_intermediate, f.ca.intermediate])),
        SamlCase("valid-ca-intermediate-first", g, R_CHAIN, "as the previous case with the intermediate first in "
                 "KeyInfo (XML-DSig gives X509Data no order): permitted", _ok(R_CHAIN),
                 _by_ca_issuer(lambda f: f.ca.signer_key, lambda f: [f.ca.intermediate, f.ca.signer_via_intermediate])),
        SamlCase("valid-ca-root-carried", g, R_CHAIN, "KeyInfo carries the signing certificate and the trusted root CA "
                 "itself (the trust anchor is the trust store's, whatever KeyInfo carries): permitted", _ok(R_CHAIN),
                 _by_ca_issuer(lambda f: f.ca.signer_key, lambda f: [f.ca.signer, f.ca.root])),
    ]


#: a certificate in KeyInfo that is not trusted: attest says unknown_key where trust is through a CA (no trusted
#: key was found for the signature), invalid_signature where certificates are pinned (KeyInfo names another key
#: than the trusted one, as in the foreign-keyinfo cases); a verifier that applies one of the two to both is
#: as right
_UNTRUSTED_CERTIFICATE: Final = (("invalid_signature",),)


def ca_attack_cases() -> list[SamlCase]:
    g, cls = "saml-attacks", "ca-chain"
    signer = lambda f: f.ca.signer_key  # noqa: E731

    def untrusted(rule: str = R_CHAIN) -> Expectation:
        return _no("unknown_key", rule, accept_also=_UNTRUSTED_CERTIFICATE)

    return [
        SamlCase("attack-ca-no-key-info", g, R_SIGNATURE, "the issuer trusted through its CA, a signature without "
                 "KeyInfo (there is no pinned certificate to fall back on)", untrusted(R_SIGNATURE),
                 _by_ca_issuer(signer, lambda f: [f.ca.signer], include_cert=False), cls=cls),
        SamlCase("attack-ca-intermediate-missing", g, R_CHAIN, "KeyInfo carries a signing certificate issued by the "
                 "intermediate CA, but not the intermediate: no path to the root (the verifier must know only the "
                 "root, as the trust store says)", untrusted(),
                 _by_ca_issuer(signer, lambda f: [f.ca.signer_via_intermediate]), cls=cls),
        SamlCase("attack-ca-expired-certificate", g, R_CHAIN, "the signing certificate, issued by the root CA, expired "
                 "before the evaluation time", untrusted(),
                 _by_ca_issuer(signer, lambda f: [f.ca.signer_expired]), cls=cls),
        SamlCase("attack-ca-no-digital-signature", g, R_CHAIN, "the signing certificate, issued by the root CA, has "
                 "a keyUsage without digitalSignature (RFC 5280 4.2.1.3)", untrusted(),
                 _by_ca_issuer(signer, lambda f: [f.ca.signer_without_digital_signature]), cls=cls),
        SamlCase("attack-ca-impostor", g, R_CHAIN, "the signing certificate is issued by another CA that has the "
                 "trusted root's name (and its own key)", untrusted(),
                 _by_ca_issuer(signer, lambda f: [f.ca.signer_via_impostor]), cls=cls),
        SamlCase("attack-ca-impostor-carried", g, R_CHAIN, "as the previous case, with the impostor CA's certificate "
                 "in KeyInfo too (a trust anchor comes from the trust store, never from KeyInfo)", untrusted(),
                 _by_ca_issuer(signer, lambda f: [f.ca.signer_via_impostor, f.ca.impostor_root]), cls=cls),
        SamlCase("attack-ca-signs-itself", g, R_CHAIN, "signed with the intermediate CA's own key, KeyInfo carrying "
                 "the intermediate, whose keyUsage allows signing certificates, not digitalSignature (RFC 5280 "
                 "4.2.1.3)", untrusted(),
                 _by_ca_issuer(lambda f: f.ca.intermediate_key, lambda f: [f.ca.intermediate]), cls=cls),
        SamlCase("attack-ca-pinned-certificate", g, R_CHAIN, "the issuer trusted through its CA, signed with the other "
                 "issuer's key and its pinned, self-signed certificate", untrusted(),
                 _by_ca_issuer(lambda f: f.key, lambda f: [f.certificate]), cls=cls),
        SamlCase("attack-ca-wrong-key", g, R_SIGNATURE, "KeyInfo carries a certificate that chains to the root CA, "
                 "but another key signed", _no("invalid_signature", R_SIGNATURE),
                 _by_ca_issuer(lambda f: f.attacker_key, lambda f: [f.ca.signer]), cls=cls),
        SamlCase("attack-ca-certificate-for-pinned-issuer", g, R_SIGNATURE, "the issuer with pinned certificates, "
                 "signed with a certificate that chains to the other issuer's CA (a CA trusts only its own "
                 "issuer)", _no("invalid_signature", R_SIGNATURE, accept_also=(("unknown_key",),)),
                 lambda f, cid: _tostring(f.sign(f.assertion(cid), key=f.ca.signer_key, cert=[f.ca.signer])),
                 cls=cls),
    ]


def saml_cases(forge: SamlForge) -> list[SamlCase]:
    """Every case of a SAML corpus, in report order."""
    cases = [*valid_cases(), *ca_valid_cases(), *rule_cases(), *condition_cases(), *attack_cases(forge),
             *ca_attack_cases()]
    ids = [c.id for c in cases]
    if len(ids) != len(set(ids)):  # pragma: no cover - a programming error in the tables
        raise RuntimeError("duplicate case ids")
    return cases

