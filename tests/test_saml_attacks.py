"""Attacks on SAML 2.0 assertion verification (issue 14 item 4): every one is refused with a documented
code, and none raises. Each case names its source.

The assertions are built and signed here with a key generated in the test (signxml's XMLSigner); the
attacks then rearrange or replace what was signed, as the cited papers and advisories describe. The attack
builders are shared with the conformance corpus (``attest conformance generate --saml``):
:mod:`attest.conformance.saml_attacks`, given this test's kit (its assertions, signer and keys).
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from attest import ERROR_CODES, TrustStoreError, VerifyContext
from attest.conformance import saml_attacks as sa
from attest.saml import verify_saml
from attest.trust import SamlIssuer, TrustStore

from .support.saml import (
    ASSERTION_ID,
    AUDIENCE,
    ISSUER,
    PATIENT,
    PRACTITIONER,
    SAML_NS,
    assertion_xml,
    attacker_cert,
    attributes,
    b64,
    certificate,
    issuer_cert,
    resign,
    rsa_key,
    sign,
    signed_assertion,
    trust_store,
)
from .support.tokens import NOW

PROFILE = "xua-saml-1.0"
TOKEN_LEVEL = frozenset(c for c, row in ERROR_CODES.items() if row.stage == "token")


class _Kit:
    """The builders' view of this test's assertions (tests/support/saml.py): see
    :class:`attest.conformance.saml_attacks.SamlKit`."""

    assertion_id, issuer, now, practitioner = ASSERTION_ID, ISSUER, NOW, PRACTITIONER

    @property
    def attacker(self) -> tuple[Any, Any]:
        return rsa_key(2048, "attacker"), attacker_cert()

    @property
    def weak(self) -> tuple[Any, Any]:
        weak = rsa_key(1024, "weak")
        return weak, certificate(weak)

    def unsigned(self, *, name_id: str | None = None, assertion_id: str | None = None,
                 attributes: Any = (), placeholder: bool = True) -> Any:
        attrs = _attributes()
        for raw in attributes:  # replaces the attribute of the same Name, or is added
            name = re.search(r'Name="([^"]+)"', raw).group(1)
            attrs[next((k for k, v in attrs.items() if f'Name="{name}"' in v), name)] = raw
        return etree.fromstring(assertion_xml(name_id=name_id or PRACTITIONER, assertion_id=assertion_id or ASSERTION_ID,
                                              attrs=attrs, placeholder=placeholder))

    def sign(self, element: Any, *, enveloping: bool = False, **kw: Any) -> Any:
        from signxml import SignatureConstructionMethod

        return sign(element, method=SignatureConstructionMethod.enveloping if enveloping else None, **kw)

    def resign(self, element: Any) -> Any:
        return resign(element)


_attributes = attributes
KIT = _Kit()


def _verify(data: Any, trust: TrustStore | None = None, **ctx: Any) -> Any:
    context = VerifyContext(now=NOW + 10, patient_id=PATIENT, **ctx)
    return verify_saml(data, trust or trust_store(), PROFILE, context)


def refused(data: Any, *codes: str, trust: TrustStore | None = None, token_level: bool = True) -> Any:
    """``data`` is refused with one of ``codes`` (all documented), without raising."""
    d = _verify(data, trust)
    assert not d.permitted
    assert {f.code for f in d.errors} <= set(ERROR_CODES), d.errors
    assert {f.code for f in d.errors} & set(codes), d.errors
    if token_level:
        assert d.attestation is None and len(d.errors) == 1 and d.errors[0].code in TOKEN_LEVEL, d.errors
    return d


def _xml(el: Any) -> bytes:
    out: bytes = etree.tostring(el)
    return out


def test_the_original_is_accepted() -> None:
    d = _verify(_xml(sa.signed(KIT)))
    assert d.permitted, d.errors
    assert d.attestation["practitioner"]["identifier"]["id"] == PRACTITIONER


# --- XML Signature Wrapping ------------------------------------------------------------------------------
# Source: J. Somorovsky, A. Mayer, J. Schwenk, M. Kampmann, M. Jensen, "On Breaking SAML: Be Whoever You
# Want to Be", USENIX Security 2012, section 5 (XSW1-XSW8; the naming follows the SAML Raider tool). The builders
# (attest.conformance.saml_attacks) give each as in the paper and adapted to one Assertion as the input.

XSW = {"XSW1": (sa.xsw1, "invalid_saml"), "XSW2": (sa.xsw2, "invalid_saml"),
       "XSW3-response": (sa.xsw3_response, "invalid_saml"), "XSW3": (sa.xsw3, "invalid_signature"),
       "XSW4": (sa.xsw4, "invalid_signature"), "XSW4-new-id": (sa.xsw4_new_id, "invalid_signature"),
       "XSW5": (sa.xsw5, "invalid_signature"), "XSW6": (sa.xsw6, "invalid_signature"),
       "XSW7": (sa.xsw7, "invalid_signature"), "XSW8": (sa.xsw8, "invalid_signature"),
       "XSW-Id-attribute": (sa.xsw_id_attribute, "invalid_signature"),
       "XSW-xml-id": (sa.xsw_xml_id, "invalid_signature")}


@pytest.mark.parametrize("name", list(XSW))
def test_signature_wrapping(name: str) -> None:
    build, code = XSW[name]
    refused(build(KIT), code)


# --- comments inside NameID ------------------------------------------------------------------------------
# Source: Duo Labs, "Duo Finds SAML Vulnerabilities Affecting Multiple Implementations" (2018-02-27):
# CVE-2017-11427 (OneLogin python-saml), CVE-2017-11428 (ruby-saml), CVE-2017-11429 (saml2-js),
# CVE-2017-11430 (OmniAuth-SAML), CVE-2018-0489 (Shibboleth). Exclusive c14n drops comments, so a comment
# added after signing keeps the signature valid; a reader that takes the text before the comment reads a
# truncated identity.

def test_comment_in_name_id_does_not_truncate_the_identity() -> None:
    # signed for the attacker's longer identifier; the naive reader would see the victim's F-number
    data = sa.comment_truncating_name_id(KIT)
    assert etree.fromstring(data).find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID").text == PRACTITIONER
    d = _verify(data, authenticated_pid=PRACTITIONER)
    assert not d.permitted
    assert d.attestation["practitioner"]["identifier"]["id"] == PRACTITIONER + "1"  # the full signed text
    assert "invalid_person_identifier" in d.codes and "practitioner_mismatch" in d.codes
    assert not set(d.codes) & TOKEN_LEVEL  # the signature verified: the text is read in full


def test_comment_in_name_id_keeps_the_signed_value() -> None:
    d = _verify(sa.comment_splitting_name_id(KIT))
    assert d.permitted, d.errors
    assert d.attestation["practitioner"]["identifier"]["id"] == PRACTITIONER


def test_comment_in_an_attribute_value_is_not_a_truncation() -> None:
    # the same class of attack on an attribute (the HPR number)
    d = _verify(sa.comment_in_attribute_value(KIT, "9144900"))
    assert d.permitted, d.errors
    assert d.attestation["practitioner"]["hpr_nr"]["id"] == "9144900"


# --- unsigned, and signatures over something else ------------------------------------------------------
# Source: SAML 2.0 core (saml-core-2.0-os) 5.4.2: "Signatures MUST contain a single <ds:Reference> containing a
# same-document reference to the ID attribute value of the root element of the assertion"; the
# verification-bypass classes of "On Breaking SAML" section 4 (signature exclusion) and OWASP SAML Security
# Cheat Sheet ("Validate Signature ... is the one expected").

def test_unsigned_assertion() -> None:
    refused(sa.unsigned(KIT), "invalid_signature")


def test_signature_removed() -> None:
    refused(sa.signature_removed(KIT), "invalid_signature")


def test_reference_to_a_child_element() -> None:
    refused(sa.reference_to_a_child(KIT), "invalid_signature")


def test_reference_to_the_whole_document() -> None:
    # URI="" covers the whole document, not the assertion by its ID (genuinely signed after the edit)
    refused(sa.reference_to_the_whole_document(KIT), "invalid_signature")


def test_external_reference_uri() -> None:
    # an external Reference (a detached signature over a URL): nothing is ever fetched
    refused(sa.external_reference(KIT), "invalid_signature")


def test_duplicate_ids() -> None:
    refused(sa.duplicate_ids(KIT), "invalid_signature")


def test_two_signatures() -> None:
    refused(sa.two_signatures(KIT), "invalid_signature")


@pytest.mark.parametrize("algorithm", ["http://www.w3.org/TR/1999/REC-xslt-19991116",
                                       "http://www.w3.org/TR/1999/REC-xpath-19991116",
                                       "http://www.w3.org/2000/09/xmldsig#base64"])
def test_extra_transforms(algorithm: str) -> None:
    # Source: XML Signature Best Practices (W3C Note 2013) 2.1.1-2.1.3 (XSLT, XPath transforms as attack
    # surface). signxml skips transforms it does not know, so the digest still matches: our allow-list
    # (enveloped-signature, then exclusive c14n) is what refuses it. Genuinely signed after the edit.
    refused(sa.extra_transform(KIT, algorithm), "invalid_signature")


def test_transforms_without_enveloped_signature() -> None:
    refused(sa.transforms_without_enveloped_signature(KIT), "invalid_signature")


def test_signed_content_changed() -> None:
    d = refused(sa.signed_content_changed(KIT), "invalid_signature")
    assert "digest" in d.errors[0].message


def test_assertion_inside_a_soap_envelope() -> None:
    refused(sa.assertion_inside_a_soap_envelope(KIT), "invalid_saml")


# --- the key: KeyInfo is not trusted ---------------------------------------------------------------------
# Source: OWASP SAML Security Cheat Sheet ("do not trust the key in KeyInfo"); signxml's documentation
# ("Establish trust": without x509_cert any certificate chaining to a system CA is accepted); CVE-2021-21239
# (pysaml2: signatures accepted with any key in KeyInfo when xmlsec's default verification was used).

def test_key_info_certificate_is_not_the_pinned_one() -> None:
    d = refused(sa.foreign_key_info_certificate(KIT), "invalid_signature")
    assert "pinned" in d.errors[0].message


def test_attacker_key_with_the_pinned_certificate_in_key_info() -> None:
    refused(sa.attacker_key_with_the_pinned_certificate(KIT, issuer_cert()), "invalid_signature")


def test_attacker_key_without_key_info() -> None:
    refused(sa.attacker_key_without_key_info(KIT), "invalid_signature")


def test_valid_signature_without_key_info_uses_the_pinned_certificate() -> None:
    assert _verify(_xml(sign(assertion_xml(), include_cert=False))).permitted


def test_key_value_in_key_info() -> None:
    refused(sa.key_value_in_key_info(KIT), "invalid_signature")


def test_retrieval_method_in_key_info() -> None:
    # an external reference for the key: never followed
    refused(sa.retrieval_method_in_key_info(KIT), "invalid_signature")


def test_two_certificates_in_key_info() -> None:
    refused(sa.two_certificates_in_key_info(KIT), "invalid_signature")


def test_certificate_expired_at_the_evaluation_time() -> None:
    old = certificate(rsa_key(), not_before=NOW - 2 * 86400 * 365, not_after=NOW - 86400)
    d = refused(_xml(sign(assertion_xml(), cert=old)), "unknown_key", trust=trust_store(old))
    assert "valid" in d.errors[0].message


# --- enveloping signature --------------------------------------------------------------------------------
# Source: SAML 2.0 core 5.4.1 ("SAML assertions ... MUST use enveloped signatures"); signxml's documentation
# on SignatureConfiguration.location.

def test_enveloping_signature() -> None:
    data = sa.enveloping_signature(KIT)
    assert etree.fromstring(data).tag == f"{{{sa.DS_NS}}}Signature"
    refused(data, "invalid_signature")


# --- DTDs, entities, XXE ---------------------------------------------------------------------------------
# Sources: OWASP XML External Entity Prevention Cheat Sheet; CWE-611 (XXE), CWE-776 (billion laughs, "XML
# Entity Expansion"); Python's documentation "XML vulnerabilities" (defusedxml): billion laughs, quadratic
# blowup, external entity expansion, DTD retrieval.

DTD_ATTACKS = {name: sa.dtd_attack(KIT, name) for name in sa.DTD_DOCTYPES}


@pytest.mark.parametrize("name", list(DTD_ATTACKS))
def test_dtd_attacks(name: str) -> None:
    data = DTD_ATTACKS[name]
    start = time.perf_counter()
    d = refused(data, "invalid_saml")
    assert time.perf_counter() - start < 1.0
    assert "passwd" not in str(d.to_dict()) and "root:" not in str(d.to_dict())


def test_dtd_in_base64_input() -> None:
    refused(b64(DTD_ATTACKS["xxe-file"]), "invalid_saml")


def test_dtd_in_utf16_is_not_let_through() -> None:
    # a byte scan for "<!DOCTYPE" must not be dodged by another encoding
    refused(sa.dtd_in_utf16(KIT), "invalid_saml")
    text = '<?xml version="1.0" encoding="UTF-16"?>' + DTD_ATTACKS["xxe-file"].decode()
    refused(text.encode("utf-16-le"), "invalid_saml")


def test_declared_latin1_encoding() -> None:
    refused(sa.declared_latin1(KIT), "invalid_saml")


def test_processing_instruction() -> None:
    refused(sa.processing_instruction(KIT), "invalid_saml")


def test_xxe_inside_an_hl7_attribute_value() -> None:
    # the XML inside an attribute value is parsed with the same hardening (the signature is valid here)
    d = refused(sa.with_attribute(KIT, sa.xxe_role()), "invalid_field", token_level=False)
    assert any(f.code == "invalid_field" and "role" in f.path for f in d.errors)
    assert "passwd" not in str(d.attestation)


def test_billion_laughs_inside_an_hl7_attribute_value() -> None:
    refused(sa.with_attribute(KIT, sa.billion_laughs_role()), "invalid_field", token_level=False)


def test_xinclude_is_never_processed() -> None:
    # Source: OWASP XXE Prevention Cheat Sheet (XInclude). The element is read as XML where text is
    # expected, so the attribute is refused, and nothing is included
    d = refused(sa.with_attribute(KIT, sa.xinclude_subject_id()), "invalid_field", token_level=False)
    assert "root:" not in str(d.to_dict())


# --- huge documents --------------------------------------------------------------------------------------
# Source: CWE-400 / CWE-770 (resource exhaustion); OWASP XML Security Cheat Sheet ("Limit the size ...,
# the depth ..."); lxml's huge_tree option (off here).

def test_over_the_byte_cap() -> None:
    refused(sa.over_the_byte_cap(KIT), "invalid_saml")


def test_megabytes_are_refused_before_parsing() -> None:
    data = b"<saml:Assertion>" + b"<a>" * 5_000_000
    start = time.perf_counter()
    refused(data, "invalid_saml")
    refused(data.decode(), "invalid_saml")
    refused(b64(data), "invalid_saml")
    assert time.perf_counter() - start < 2.0


def test_too_deep() -> None:
    refused(sa.too_deep(KIT), "invalid_saml")


def test_too_many_elements() -> None:
    refused(sa.too_many_elements(KIT), "invalid_saml")


def test_huge_hl7_attribute_value() -> None:
    refused(sa.with_attribute(KIT, sa.huge_role()), "invalid_field", token_level=False)


# --- weak algorithms and keys ----------------------------------------------------------------------------
# Sources: NIST SP 800-131A Rev. 2 (SHA-1 signatures disallowed; RSA < 2048 bits disallowed); XML Signature
# Best Practices (W3C Working Group Note, 2013) section 2.4; signxml's defaults (SHA-1 refused).

def test_sha1_signature_method() -> None:
    refused(sa.sha1_signature_method(KIT), "unsupported_algorithm")


def test_sha1_digest() -> None:
    refused(sa.sha1_digest(KIT), "unsupported_algorithm")


def test_sha1_everywhere() -> None:
    refused(sa.sha1_everywhere(KIT), "unsupported_algorithm")


def test_hmac_signature_method() -> None:
    refused(sa.hmac_signature_method(KIT), "unsupported_algorithm")


@pytest.mark.parametrize("c14n", ["http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
                                  "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
                                  "http://www.w3.org/2006/12/xml-c14n11"])
def test_other_canonicalization(c14n: str) -> None:
    refused(sa.other_canonicalization(KIT, c14n), "unsupported_algorithm", "invalid_signature")


def test_rsa_1024_signature() -> None:
    refused(sa.rsa_1024_signature(KIT), "invalid_signature")


def test_rsa_1024_certificate_is_refused_by_the_trust_store() -> None:
    with pytest.raises(TrustStoreError, match="at least 2048"):
        trust_store(certificate(rsa_key(1024, "weak")))


def test_rsa_1024_pinned_outside_the_loader() -> None:
    # a SamlIssuer built in code, past the loader's check: the verifier refuses the weak key itself
    weak = rsa_key(1024, "weak")
    cert = certificate(weak)
    store = TrustStore(issuers={}, saml_issuers={ISSUER: SamlIssuer(ISSUER, "weak", (cert,), AUDIENCE)})
    refused(_xml(sign(assertion_xml(), key=weak, cert=cert)), "unsupported_algorithm", trust=store)


# --- none raises, whatever the bytes ---------------------------------------------------------------------

def test_random_mutations_never_raise() -> None:
    original = signed_assertion()
    rng = random.Random(14)
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        d = _verify(bytes(data))
        assert {f.code for f in d.errors} <= set(ERROR_CODES)


@pytest.mark.parametrize("data", ["", " ", "<", "AAAA", "====", "\ud800", b"\xff\xfe<\x00", b"<a/>", "<a>&x;</a>",
                                  b"\xef\xbb\xbf", "PHNhbWw6QXNzZXJ0aW9uLz4="])
def test_garbage(data: Any) -> None:
    refused(data, "invalid_saml")


def test_wrong_argument_types_raise_type_error() -> None:
    with pytest.raises(TypeError):
        verify_saml(123, trust_store())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_saml(signed_assertion(), {})  # type: ignore[arg-type]


def test_rsa_keys_used_here_are_what_they_claim() -> None:
    assert isinstance(rsa_key(1024, "weak"), rsa.RSAPrivateKey) and rsa_key(1024, "weak").key_size == 1024
