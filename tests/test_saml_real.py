"""The real SAML assertions from NHN's test environments (issue 14 item 6, tests/fixtures/nhn/README.md).

What holds, evaluated at each assertion's own IssueInstant with the certificate it carries:

* As stored, none verifies. Each was pretty-printed after it was signed (whitespace-only text between
  elements: four spaces in ``saml-trust-framework-01.xml``, tabs in the ``-kj01`` and citizen files), which
  changes both the canonical SignedInfo (so the RSA signature value fails) and the assertion's digest.
  With every whitespace-only text node removed again (:func:`tests.support.saml.unindent`, a test-side
  reconstruction: the verifier itself never normalises what was signed), both trust-framework assertions
  verify: signature value and digest.
* The citizen assertion also had ``+`` written as ``\\u002B`` (in the base64 of its SignatureValue and
  certificate) and ``æ`` as ``\\u00E6`` (JSON escapes). Undoing those and the indentation makes its SignedInfo
  signature verify, but not its digest: its signed content was edited after signing in the other repository
  (commit 9ac858ca changed the patient in ``resource-id``, 2f5baa41 replaced the ``client_id`` attribute).
  The version first committed (8dffb018, vendored as ``saml-citizen-hn01-8dffb01.xml``) verifies fully.
* The trust-framework assertions map to attestations whose fields match their attributes (one test per
  field). Under ``xua-saml-1.0-test`` they are denied only for the patient identifier ``resource-id``,
  whose date part fits no F-, D-, H- or FH-number; under ``xua-saml-1.0`` also for the practitioner, a
  synthetic Tenor identity (month + 80). The citizen assertion is refused as
  ``not_a_health_personnel_attestation``.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from signxml import SignatureConfiguration, XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidSignature

from attest import VerifyContext
from attest.saml import _instant, verify_saml
from attest.saml_map import map_assertion, read_attributes
from attest.trust import TrustStore
from attest.xmlsafe import XmlLimits, decode_input, parse_document

from .support.saml import FIXTURES, carried_certificate, pem, unescape_json, unindent
from .support.tokens import SHARED

HELSEID_SAML = "https://helseid-xdssaml.test.nhn.no"
TRUST_FRAMEWORK = ("saml-trust-framework-01.xml", "saml-trust-framework-kj01.xml")
CITIZEN = "saml-citizen-hn01.xml"
CITIZEN_ORIGINAL = "saml-citizen-hn01-8dffb01.xml"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"


def _raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _root(raw: bytes) -> Any:
    return parse_document(decode_input(raw, XmlLimits()), XmlLimits())


def _issued(raw: bytes) -> int:
    t = _instant(_root(raw).get("IssueInstant"))
    assert t is not None
    return int(t)


def _trust(raw: bytes) -> TrustStore:
    """A trust store that pins the certificate the assertion carries, for its issuer and audience."""
    root = _root(unescape_json(raw))
    issuer = root.find(f"{{{SAML_NS}}}Issuer").text
    audience = root.find(f".//{{{SAML_NS}}}Audience").text
    return TrustStore.from_dict({"saml_issuers": [{"issuer": issuer, "audience": audience,
                                                   "certificate": pem(carried_certificate(raw))}]})


def _decide(name: str, data: bytes | None = None, profile: str = "xua-saml-1.0-test", **ctx: Any) -> Any:
    raw = _raw(name)
    return verify_saml(raw if data is None else data, _trust(raw), profile,
                       VerifyContext(now=_issued(raw), **ctx))


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (reference material) is not beside this checkout")
@pytest.mark.parametrize("name", [*TRUST_FRAMEWORK, CITIZEN])
def test_copies_are_unchanged(name: str) -> None:
    assert _raw(name) == (SHARED / "testdata" / "nhn" / name).read_bytes()


# --- the signatures ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TRUST_FRAMEWORK)
def test_stored_trust_framework_assertion_does_not_verify(name: str) -> None:
    d = _decide(name)
    assert d.codes == ["invalid_signature"]
    assert "signature value does not verify" in d.errors[0].message
    assert d.attestation is None


@pytest.mark.parametrize("name", TRUST_FRAMEWORK)
def test_without_the_indentation_it_verifies(name: str) -> None:
    d = _decide(name, unindent(_raw(name)))
    assert not any(f.code in ("invalid_signature", "invalid_saml") for f in d.errors), d.errors
    assert d.token["iss"] == HELSEID_SAML and d.token["alg"] == "rsa-sha256" and d.token["digest"] == "sha256"
    assert d.attestation is not None


def test_the_two_trust_framework_files_are_one_assertion() -> None:
    # the same signed assertion, indented differently (spaces; a BOM, a comment and tabs)
    assert unindent(_raw(TRUST_FRAMEWORK[0])) == unindent(_raw(TRUST_FRAMEWORK[1]))
    assert _raw(TRUST_FRAMEWORK[0]) != _raw(TRUST_FRAMEWORK[1])


def _signxml(raw: bytes) -> Any:
    """signxml alone (no policy of ours), with the carried certificate, at the assertion's IssueInstant."""
    when = datetime.datetime.fromtimestamp(_issued(raw), datetime.UTC)
    return XMLVerifier().verify(raw.lstrip(b"\xef\xbb\xbf"), x509_cert=carried_certificate(raw), id_attribute="ID",
                                expect_config=SignatureConfiguration(location="./", verification_time=when))


def test_citizen_assertion_signature_diagnosis() -> None:
    stored = _raw(CITIZEN)
    assert b"\\u002B" in stored and b"\\u00E6" in stored  # JSON escapes inside the XML
    # undoing escapes and indentation: the signature value verifies, the digest does not (content edited)
    with pytest.raises(InvalidDigest):
        _signxml(unindent(unescape_json(stored)))
    # the escapes undone but not the indentation: the signature value itself fails (before any digest)
    with pytest.raises(InvalidSignature) as failed:
        _signxml(unescape_json(stored))
    assert not isinstance(failed.value, InvalidDigest) and "Signature verification failed" in str(failed.value)
    # the version first committed verifies fully once escapes and indentation are undone
    assert _signxml(unindent(unescape_json(_raw(CITIZEN_ORIGINAL)))).signed_xml is not None


def test_citizen_assertion_was_edited_after_signing() -> None:
    def attribute_names(raw: bytes) -> list[str]:
        return [a.get("Name") for a in _root(unescape_json(raw)).iter(f"{{{SAML_NS}}}Attribute")]

    stored, original = attribute_names(_raw(CITIZEN)), attribute_names(_raw(CITIZEN_ORIGINAL))
    assert "client_id" in original and "client_id" not in stored
    assert "urn:ihe:iti:xua:2012:acp" in stored and "urn:ihe:iti:xua:2012:acp" not in original


# --- the citizen assertion -----------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [None, "repaired"])
def test_citizen_assertion_is_refused(data: str | None) -> None:
    raw = _raw(CITIZEN)
    d = _decide(CITIZEN, None if data is None else unindent(unescape_json(raw)))
    assert d.codes == ["not_a_health_personnel_attestation"]
    assert d.attestation is None
    assert "citizen" in d.errors[0].message


def test_citizen_assertion_refused_after_its_signature_verified() -> None:
    # the first-committed version verifies (signature and digest); the mapping then refuses it too
    from attest.saml import _envelope, _verify_signature
    from attest.trust import SamlIssuer

    raw = unindent(unescape_json(_raw(CITIZEN_ORIGINAL)))
    trust = _trust(_raw(CITIZEN_ORIGINAL))
    issuer: SamlIssuer = next(iter(trust.saml_issuers.values()))
    root = _root(raw)
    from attest.profiles import load_profile
    from attest.saml import saml_policy

    verified = _verify_signature(raw, root, _envelope(root, None), issuer, saml_policy(load_profile("xua-saml-1.0")),
                                 _issued(_raw(CITIZEN_ORIGINAL)))
    mapped = map_assertion("29844697323", read_attributes(verified.element), XmlLimits())
    assert len(mapped.citizen) == 3, mapped.citizen  # person number as provider, ISO 14265 code 13, subject = patient
    d = verify_saml(raw, trust, "xua-saml-1.0-test", VerifyContext(now=_issued(_raw(CITIZEN_ORIGINAL))))
    assert d.codes == ["not_a_health_personnel_attestation"]


# --- the trust-framework assertions: decisions ---------------------------------------------------------------

@pytest.mark.parametrize("name", TRUST_FRAMEWORK)
def test_decision_under_the_test_profile(name: str) -> None:
    d = _decide(name, unindent(_raw(name)))
    assert [(f.code, f.path) for f in d.errors] == [("invalid_person_identifier", "attestation.patients[0].identifier.id")]
    assert "date part" in d.errors[0].message and "29698496140" not in d.errors[0].message
    assert [f.code for f in d.warnings] == ["context_not_provided"]  # no patient of the request given


@pytest.mark.parametrize("name", TRUST_FRAMEWORK)
def test_decision_under_the_production_profile(name: str) -> None:
    d = _decide(name, unindent(_raw(name)), "xua-saml-1.0")
    assert [(f.code, f.path) for f in d.errors] == [
        ("invalid_person_identifier", "attestation.practitioner.identifier.id"),  # Tenor, month + 80
        ("invalid_person_identifier", "attestation.patients[0].identifier.id")]


@pytest.mark.parametrize("name", TRUST_FRAMEWORK)
def test_context_bindings(name: str) -> None:
    d = _decide(name, unindent(_raw(name)), patient_id="29698496140")
    assert [f.code for f in d.warnings] == []
    d = _decide(name, unindent(_raw(name)), patient_id="13116900216")
    assert "patient_not_in_attestation" in d.codes


@pytest.mark.parametrize("name", TRUST_FRAMEWORK)
def test_expired_an_hour_and_a_minute_later(name: str) -> None:
    raw = _raw(name)
    d = verify_saml(unindent(raw), _trust(raw), "xua-saml-1.0-test", VerifyContext(now=_issued(raw) + 3660))
    assert "token_expired" in d.codes


@pytest.mark.parametrize("name", TRUST_FRAMEWORK)
def test_token_information(name: str) -> None:
    d = _decide(name, unindent(_raw(name)))
    assert d.token == {
        "format": "saml2-assertion", "jti": "_6aaebd1c-09dc-4667-b3fe-dcc150211a52", "iss": HELSEID_SAML,
        "alg": "rsa-sha256", "digest": "sha256", "x5t#S256": d.token["x5t#S256"],
        "iat": 1753987755, "nbf": 1753987755, "exp": 1753991355,
        "authn_context": "urn:oasis:names:tc:SAML:2.0:ac:classes:X509", "aud": ["nhn:dokumentdeling-saml"],
        "subject_confirmation": "urn:oasis:names:tc:SAML:2.0:cm:bearer",
        "home_community_id": "2.16.578.1.12.4.1.7.1.1", "client_id": "ea1b0c25-154d-483c-abeb-cdf2e09d0a45",
        "scope": "journaldokumenter_helsepersonell", "security_level": "4"}


# --- the trust-framework assertions: one test per mapped field -----------------------------------------------

#: (attestation path, expected value, the attribute(s) it comes from)
FIELDS = [
    (("practitioner", "identifier", "id"), "06828399789", "Subject/NameID"),
    (("practitioner", "identifier", "system"), "urn:oid:2.16.578.1.12.4.1.4.1", "NameID: an F-number"),
    (("practitioner", "identifier", "name"), "KVART GREVLING", "xspa:1.0 and xacml:1.0 subject:subject-id"),
    (("practitioner", "hpr_nr", "id"), "565505933", "xspa:1.0/2.0 subject:npi, xua:2017 provider-identifier"),
    (("practitioner", "hpr_nr", "system"), "urn:oid:2.16.578.1.12.4.1.4.4", "npi is the HPR number"),
    (("practitioner", "authorization", "code"), "LE", "xspa:1.0 and xacml:2.0 subject:role CE @code"),
    (("practitioner", "authorization", "text"), "Lege", "role CE @displayName"),
    (("practitioner", "authorization", "system"), "urn:oid:2.16.578.1.12.4.1.1.9060", "role CE @codeSystem"),
    (("practitioner", "legal_entity", "id"), "960510542", "xspa:1.0 subject:organization-id II @extension"),
    (("practitioner", "legal_entity", "system"), "urn:oid:2.16.578.1.12.4.1.4.101", "organization-id II @root"),
    (("practitioner", "legal_entity", "authority"), "https://www.brreg.no/", "organization-id @assigningAuthorityName"),
    (("practitioner", "legal_entity", "name"), "VOSS HERAD", "xspa:1.0 subject:organization"),
    (("practitioner", "point_of_care", "id"), "874593842", "xspa:1.0 subject:child-organization II @extension"),
    (("practitioner", "point_of_care", "system"), "urn:oid:2.16.578.1.12.4.1.4.101", "child-organization II @root"),
    (("practitioner", "point_of_care", "authority"), "https://www.brreg.no/",
     "child-organization @assigningAuthorityName"),
    (("practitioner", "point_of_care", "name"), "VOSS SJUKEHEIM", "nhn ext subject:child-organization-name"),
    (("care_relation", "purpose_of_use", "code"), "TREAT", "xspa:1.0 purposeOfUse, xacml:2.0 action:purpose CE"),
    (("care_relation", "purpose_of_use", "text"), "Treatment", "purposeOfUse @displayName"),
    (("care_relation", "purpose_of_use", "system"), "urn:oid:2.16.840.1.113883.1.11.20448", "purposeOfUse @codeSystem"),
    (("care_relation", "healthcare_service", "code"), "KP01", "nhn ext care-relationship:healthcare-service CE"),
    (("care_relation", "healthcare_service", "text"), "Legetjeneste ved sykehjem mv.", "healthcare-service @displayName"),
    (("care_relation", "healthcare_service", "system"), "urn:oid:2.16.578.1.12.4.1.1.8663",
     "healthcare-service @codeSystem"),
    (("care_relation", "healthcare_service", "assigner"), "https://volven.no/",
     "healthcare-service @assigningAuthorityName"),
    (("care_relation", "decision_ref", "id"), "07b4b65f-a538-4c88-b845-c8fd18702f83",
     "nhn ext care-relationship:decision-ref id/@value"),
    (("care_relation", "decision_ref", "user_selected"), True, "decision-ref user-selected/@value 'True'"),
    (("patients", 0, "identifier", "id"), "29698496140", "xacml:2.0 and xacml:1.0 resource:resource-id CX"),
    (("patients", 0, "identifier", "system"), "urn:oid:2.16.578.1.12.4.1.4.1", "resource-id CX &OID&ISO"),
]


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@pytest.fixture(scope="module", params=TRUST_FRAMEWORK)
def verified_attestation(request: pytest.FixtureRequest) -> dict[str, Any]:
    name = request.param
    d = _decide(name, unindent(_raw(name)))
    assert d.attestation is not None
    out: dict[str, Any] = d.attestation
    return out


@pytest.mark.parametrize(("path", "expected", "source"), FIELDS, ids=[".".join(map(str, f[0])) for f in FIELDS])
def test_mapped_field(verified_attestation: dict[str, Any], path: tuple[Any, ...], expected: Any,
                      source: str) -> None:
    assert _at(verified_attestation, path) == expected, source


def test_no_other_fields(verified_attestation: dict[str, Any]) -> None:
    leaves: set[tuple[Any, ...]] = set()

    def walk(node: Any, prefix: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*prefix, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*prefix, i))
        else:
            leaves.add(prefix)

    walk(verified_attestation, ())
    assert leaves == {f[0] for f in FIELDS}


@pytest.mark.parametrize("name", TRUST_FRAMEWORK)
def test_mapping_of_the_stored_bytes_is_the_same(name: str) -> None:
    """The mapper on the stored file as it is (its signature does not verify, so this reads unverified
    content, as only a test may) gives the attestation the verified reconstruction gives."""
    root = _root(_raw(name))
    name_id = root.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID").text
    mapped = map_assertion(name_id, read_attributes(root), XmlLimits())
    assert mapped.findings == [] and mapped.citizen == []
    from attest.model import normalise

    assert normalise(mapped.attestation)[0] == _decide(name, unindent(_raw(name))).attestation
    assert mapped.info["security_level"] == "4"


def test_unmapped_attributes_are_only_the_nil_ones() -> None:
    root = _root(_raw(TRUST_FRAMEWORK[0]))
    attrs = read_attributes(root)
    assert attrs.unknown() == []
    nil = [n for n, values in attrs.values.items() if all(v.text is None and v.element is None for v in values)]
    assert sorted(nil) == ["urn:ihe:iti:bppc:2007:docid", "urn:ihe:iti:xua:2012:acp",
                           "urn:no:ehelse:saml:1.0:subject:Authentication_method"]


def test_every_attribute_is_read() -> None:
    root = _root(_raw(TRUST_FRAMEWORK[0]))
    names = [a.get("Name") for a in root.iter(f"{{{SAML_NS}}}Attribute")]
    assert len(names) == 25 and len(set(names)) == 25
    assert set(read_attributes(root).values) == set(names)


def test_base64_input_as_in_a_ws_security_header() -> None:
    import base64

    raw = unindent(_raw(TRUST_FRAMEWORK[0]))
    wrapped = "\n".join(base64.b64encode(raw).decode()[i:i + 76] for i in range(0, len(base64.b64encode(raw)), 76))
    assert _decide(TRUST_FRAMEWORK[0], wrapped.encode()).to_dict() == _decide(TRUST_FRAMEWORK[0], raw).to_dict()


def test_decision_document_is_json() -> None:
    import json

    d = _decide(TRUST_FRAMEWORK[0], unindent(_raw(TRUST_FRAMEWORK[0])))
    assert json.loads(json.dumps(d.to_dict()))["profile"] == "xua-saml-1.0-test"
