"""Test helpers for SAML 2.0 assertions (issue 14): generated keys and self-signed certificates, an assertion
in the shape of HelseID's XDS SAML service (valid, non-synthetic example identities from the data model), a
signer (signxml's XMLSigner, the signature placed after the Issuer as real assertions have it), and the
trust store that pins the test certificate.

Nothing here is a production key: every key is generated in the test process.
"""

from __future__ import annotations

import base64
import datetime
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from attest import TrustStore
from attest.conformance.saml_forge import AnySigner, pem

from .tokens import NOW

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nhn"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
ISSUER = "https://helseid-xdssaml.test.example"
AUDIENCE = "nhn:dokumentdeling-saml"
ASSERTION_ID = "_6aaebd1c-09dc-4667-b3fe-dcc150211a52"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"

# valid identities of the data model's examples (RULES.md d.7: they pass their checksums)
PRACTITIONER = "04056600324"
PATIENT = "20086600138"
HPR = "9144900"
LEGAL_ENTITY = "993467049"
POINT_OF_CARE = "874716782"
DECISION_ID = "07b4b65f-a538-4c88-b845-c8fd18702f83"


def instant(t: float) -> str:
    dt = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@cache
def rsa_key(bits: int = 2048, label: str = "issuer") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def ec_key(label: str = "issuer") -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def certificate(key: Any, cn: str = "HelseID XDS SAML (test)", *, not_before: int = NOW - 86400 * 365,
                not_after: int = NOW + 86400 * 365) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime.fromtimestamp(not_before, datetime.UTC))
            .not_valid_after(datetime.datetime.fromtimestamp(not_after, datetime.UTC))
            .sign(key, hashes.SHA256()))


@cache
def issuer_cert() -> x509.Certificate:
    return certificate(rsa_key())


@cache
def attacker_cert() -> x509.Certificate:
    return certificate(rsa_key(2048, "attacker"), "attacker")


def trust_store(cert: x509.Certificate | None = None, **extra: Any) -> TrustStore:
    entry: dict[str, Any] = {"issuer": ISSUER, "certificate": pem(cert or issuer_cert()), "audience": AUDIENCE}
    entry.update(extra)
    return TrustStore.from_dict({"saml_issuers": [entry]})


def _attr(name: str, value: str) -> str:
    return f'<saml:Attribute Name="{name}"><saml:AttributeValue>{value}</saml:AttributeValue></saml:Attribute>'


def _ce(tag: str, code: str, system: str, display: str, extra: str = "") -> str:
    return (f'&lt;{tag} xmlns="urn:hl7-org:v3" xsi:type="CE" code="{code}" codeSystem="{system}" '
            f'displayName="{display}"{extra}/&gt;')


def _ii(extension: str, root: str, extra: str = "") -> str:
    return f'&lt;id xmlns="urn:hl7-org:v3" xsi:type="II" extension="{extension}" root="{root}"{extra}/&gt;'


def attributes(**override: str | None) -> dict[str, str]:
    """The attributes of HelseID's trust-framework assertions (name -> serialized AttributeValue content),
    with valid example values; ``override`` replaces (or with None removes) one by its key."""
    attrs: dict[str, str | None] = {
        "subject_id": _attr("urn:oasis:names:tc:xspa:1.0:subject:subject-id", "MAGNAR KOMAN"),
        "role": _attr("urn:oasis:names:tc:xspa:1.0:subject:role",
                      _ce("Role", "LE", "urn:oid:2.16.578.1.12.4.1.1.9060", "Lege")),
        "home_community": _attr("urn:no:ehelse:saml:1.0:subject:homeCommunityId", "2.16.578.1.12.4.1.7.1.1"),
        "npi2": _attr("urn:oasis:names:tc:xspa:2.0:subject:npi", HPR),
        "purpose": _attr("urn:oasis:names:tc:xspa:1.0:subject:purposeOfUse",
                         _ce("PurposeOfUse", "TREAT", "urn:oid:2.16.840.1.113883.1.11.20448", "Treatment")),
        "resource_id": _attr("urn:oasis:names:tc:xacml:2.0:resource:resource-id",
                             f"{PATIENT}^^^&amp;amp;2.16.578.1.12.4.1.4.1&amp;amp;ISO"),
        "security_level": _attr("urn:no:ehelse:saml:1.0:subject:SecurityLevel", "4"),
        "scope": _attr("urn:no:ehelse:saml:1.0:subject:Scope", "journaldokumenter_helsepersonell"),
        "organization": _attr("urn:oasis:names:tc:xspa:1.0:subject:organization", "OSLO UNIVERSITETSSYKEHUS HF"),
        "organization_id": _attr("urn:oasis:names:tc:xspa:1.0:subject:organization-id",
                                 _ii(LEGAL_ENTITY, "urn:oid:2.16.578.1.12.4.1.4.101",
                                     ' assigningAuthorityName="https://www.brreg.no/"')),
        "child_organization": _attr("urn:oasis:names:tc:xspa:1.0:subject:child-organization",
                                    _ii(POINT_OF_CARE, "urn:oid:2.16.578.1.12.4.1.4.101")),
        "role20": _attr("urn:oasis:names:tc:xacml:2.0:subject:role",
                        _ce("Role", "LE", "urn:oid:2.16.578.1.12.4.1.1.9060", "Lege")),
        "provider_identifier": _attr("urn:ihe:iti:xua:2017:subject:provider-identifier",
                                     f'&lt;id xmlns="urn:hl7-org:v3" type="II" extension="{HPR}" '
                                     'root="2.16.578.1.12.4.1.4.4" displayable="false"/&gt;'),
        "client_id": _attr("urn:no:ehelse:saml:1.0:subject:client_id", "ea1b0c25-154d-483c-abeb-cdf2e09d0a45"),
        "child_organization_name": _attr("urn:nhn:trust-framework:1.0:ext:subject:child-organization-name",
                                         "RIKSHOSPITALET - SOMATIKK"),
        "purpose20": _attr("urn:oasis:names:tc:xacml:2.0:action:purpose",
                           _ce("Purpose", "TREAT", "urn:oid:2.16.840.1.113883.1.11.20448", "Treatment")),
        "healthcare_service": _attr("urn:nhn:trust-framework:1.0:ext:care-relationship:healthcare-service",
                                    _ce("HealthcareService", "S03", "urn:oid:2.16.578.1.12.4.1.1.8655",
                                        "Indremedisin", ' assigningAuthorityName="https://volven.no/"')),
        "decision_ref": _attr("urn:nhn:trust-framework:1.0:ext:care-relationship:decision-ref",
                              f'&lt;decision-ref&gt;&lt;id value="{DECISION_ID}" /&gt;&lt;user-selected '
                              'value="True" /&gt;&lt;/decision-ref&gt;'),
        "acp": '<saml:Attribute Name="urn:ihe:iti:xua:2012:acp"><saml:AttributeValue '
               'xmlns:a="http://www.w3.org/2001/XMLSchema-instance" a:nil="true"/></saml:Attribute>',
    }
    attrs.update(override)
    return {k: v for k, v in attrs.items() if v is not None}


def assertion_xml(*, name_id: str = PRACTITIONER, issued: int = NOW, lifetime: int = 3600,
                  audience: str = AUDIENCE, issuer: str = ISSUER, assertion_id: str = ASSERTION_ID,
                  confirmation: str = "urn:oasis:names:tc:SAML:2.0:cm:bearer", subject_extra: str = "",
                  conditions_extra: str = "", attrs: dict[str, str] | None = None, statement_extra: str = "",
                  placeholder: bool = True) -> bytes:
    """An unsigned assertion (with a signature placeholder after the Issuer when ``placeholder``)."""
    values = "".join((attrs if attrs is not None else attributes()).values())
    sig = f'<ds:Signature xmlns:ds="{DS_NS}" Id="placeholder"/>' if placeholder else ""
    return (
        f'<saml:Assertion xmlns:saml="{SAML_NS}" ID="{assertion_id}" IssueInstant="{instant(issued)}" '
        f'Version="2.0"><saml:Issuer>{issuer}</saml:Issuer>{sig}'
        f'<saml:Subject><saml:NameID>{name_id}</saml:NameID><saml:SubjectConfirmation Method="{confirmation}"/>'
        f'{subject_extra}</saml:Subject>'
        f'<saml:Conditions NotBefore="{instant(issued)}" NotOnOrAfter="{instant(issued + lifetime)}">'
        f'<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>'
        f'{conditions_extra}</saml:Conditions>'
        f'<saml:AttributeStatement>{values}</saml:AttributeStatement>'
        f'<saml:AuthnStatement AuthnInstant="{instant(issued - 60)}" SessionNotOnOrAfter="{instant(issued + lifetime)}">'
        f'<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:X509'
        f'</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>{statement_extra}'
        '</saml:Assertion>'
    ).encode()


def sign(xml: bytes | Any, *, key: Any = None, cert: x509.Certificate | None = None,
         signature_algorithm: str = "rsa-sha256", digest_algorithm: str = "sha256",
         c14n: str = EXC_C14N, reference_uri: str | None = None, include_cert: bool = True,
         method: Any = None) -> Any:
    """Sign ``xml`` (bytes or an element) with signxml's XMLSigner; returns the signed root element."""
    from signxml import SignatureConstructionMethod

    root = etree.fromstring(xml) if isinstance(xml, bytes) else xml
    signer = AnySigner(method=method or SignatureConstructionMethod.enveloped,
                        signature_algorithm=signature_algorithm, digest_algorithm=digest_algorithm,
                        c14n_algorithm=c14n)
    k = key if key is not None else rsa_key()
    c = cert if cert is not None else (issuer_cert() if key is None else None)
    kwargs: dict[str, Any] = {"key": k}
    if include_cert and c is not None:
        kwargs["cert"] = [c]
    if reference_uri is not None:
        kwargs["reference_uri"] = reference_uri
    signed = signer.sign(root, **kwargs)
    if not include_cert or c is None:
        for key_info in signed.iter(f"{{{DS_NS}}}KeyInfo"):
            key_info.getparent().remove(key_info)
    return signed


def signed_assertion(**kw: Any) -> bytes:
    """A validly signed assertion (bytes), made with :func:`assertion_xml` (keyword arguments)."""
    return etree.tostring(sign(assertion_xml(**kw)))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unindent(raw: bytes) -> bytes:
    """The XML with every whitespace-only text node between elements removed: how the real assertions were
    before someone pretty-printed them (test-side reconstruction; the library never does this)."""
    root = etree.fromstring(raw.lstrip(b"\xef\xbb\xbf"), etree.XMLParser(resolve_entities=False, no_network=True))
    for element in root.iter():
        if element.text is not None and not element.text.strip() and len(element):
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    out: bytes = etree.tostring(root)
    return out


def unescape_json(raw: bytes) -> bytes:
    """Undo the JSON escapes the citizen assertion picked up (``\\u002B`` for ``+``, ``\\u00E6`` for ``æ``)."""
    return raw.replace(b"\\u002B", b"+").replace(b"\\u00E6", "æ".encode())


def carried_certificate(raw: bytes) -> x509.Certificate:
    """The certificate a real assertion carries in KeyInfo (for tests that pin it)."""
    root = etree.fromstring(unescape_json(raw).lstrip(b"\xef\xbb\xbf"),
                            etree.XMLParser(resolve_entities=False, no_network=True))
    text = root.find(f".//{{{DS_NS}}}X509Certificate").text
    return x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))


def resign(el: Any, key: Any = None) -> Any:
    """Sign ``el``'s SignedInfo again (RSA-SHA256) after a test edited it: the edited SignedInfo is then
    genuinely signed by the issuer's key, so only the verifier's own checks can refuse it."""
    from cryptography.hazmat.primitives.asymmetric import padding

    signed_info = el.find(f".//{{{DS_NS}}}SignedInfo")
    data = etree.tostring(signed_info, method="c14n", exclusive=True)
    value = (key or rsa_key()).sign(data, padding.PKCS1v15(), hashes.SHA256())
    el.find(f".//{{{DS_NS}}}SignatureValue").text = base64.b64encode(value).decode("ascii")
    return el
