"""Producing the attestation as a signed SAML 2.0 assertion (issue 14, item 3): what a document source does
before it queries an XCA/XDS repository on behalf of a user whose HelseID access token (or self-signed
attestation) it has verified. The attribute names and value shapes are the ones :mod:`attest.saml_map`
reads (IHE XUA / OASIS XSPA, NHN's ``urn:no:ehelse:saml:1.0:*`` and ``urn:nhn:trust-framework:1.0:ext:*``),
so that reading the produced assertion back gives the same attestation (a round-trip test holds it to that).

Only a **verified, permitted** decision is rendered (:func:`assertion_from_decision`): an assertion vouches
for what was checked. What the attestation does not carry, the caller says: the patient of the request
(HelseID's attestation names none), and for a self-signed attestation the login's security level (a HelseID
access token's was checked: ATT-9). The assertion is signed with exclusive c14n, RSA-SHA256 and the
configured certificate, one enveloped signature over the assertion's ID, placed after the Issuer as the
SAML schema requires.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Iterable
from typing import Any
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.signer import XMLSigner

from . import saml_map as m
from .identifiers import OID_FNR, normalize_system
from .keys import PrivateKey
from .verify import Decision
from .xmlsafe import XSI_NS

SAML_NS = m.SAML_NS
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SENDER_VOUCHES = "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"
AUTHN_X509 = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
MAX_LIFETIME = 3600
_HL7 = "urn:hl7-org:v3"


class ProduceError(ValueError):
    """The decision cannot be rendered as an assertion (not permitted, no attestation, bad arguments)."""


def _instant(t: int) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _oid(system: Any) -> str:
    """An OID as HL7v3 ``root``/``codeSystem`` writes it here (``urn:oid:`` form, as HelseID's assertions)."""
    return normalize_system(system) if isinstance(system, str) else ""


def _hl7(tag: str, hl7_type: str, attrs: dict[str, str]) -> str:
    """One HL7v3 element as text (the attribute value is XML inside XML), as HelseID writes it:
    ``<Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="LE" …/>`` (the reader declares ``xsi``); every value
    escaped."""
    rest = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    return f'<{tag} xmlns="{_HL7}" xsi:type="{hl7_type}"{rest}/>'


def _ce(tag: str, v: Any) -> str | None:
    if not isinstance(v, dict) or not isinstance(v.get("code"), str):
        return None
    attrs = {"code": v["code"], "codeSystem": _oid(v.get("system"))}
    if isinstance(v.get("text"), str):
        attrs["displayName"] = v["text"]
    return _hl7(tag, "CE", attrs)


def _ii(v: Any) -> str | None:
    if not isinstance(v, dict) or not isinstance(v.get("id"), str):
        return None
    return _hl7("id", "II", {"extension": v["id"], "root": _oid(v.get("system"))})


def _name(v: Any) -> str | None:
    return v.get("name") if isinstance(v, dict) and isinstance(v.get("name"), str) else None


def attributes(attestation: dict[str, Any], *, patient: str | None, patient_system: str = OID_FNR,
               security_level: str | None, client_id: str | None, scope: str | None,
               home_community_id: str | None = None) -> list[tuple[str, str]]:
    """The (name, value) pairs of the attribute statement for a normalised ``attestation``."""
    pr = attestation.get("practitioner") or {}
    cr = attestation.get("care_relation") or {}
    patients = attestation.get("patients") or []
    first = patients[0] if patients and isinstance(patients[0], dict) else {}
    hpr = (pr.get("hpr_nr") or {}).get("id") if isinstance(pr.get("hpr_nr"), dict) else None
    decision_ref = cr.get("decision_ref") if isinstance(cr.get("decision_ref"), dict) else None
    out: list[tuple[str, str | None]] = [
        (m.SUBJECT_ID[0], _name(pr.get("identifier"))),
        (m.NPI[0], hpr if isinstance(hpr, str) else None),
        (m.ROLE[0], _ce("Role", pr.get("authorization"))),
        (m.ORGANIZATION, _name(pr.get("legal_entity"))),
        (m.ORGANIZATION_ID, _ii(pr.get("legal_entity"))),
        (m.CHILD_ORGANIZATION, _ii(pr.get("point_of_care"))),
        (m.CHILD_ORGANIZATION_NAME, _name(pr.get("point_of_care"))),
        (m.PURPOSE_OF_USE[0], _ce("PurposeOfUse", cr.get("purpose_of_use"))),
        (m.HEALTHCARE_SERVICE, _ce("HealthcareService", cr.get("healthcare_service"))),
        (m.PURPOSE_OF_USE_DETAILS, _ce("PurposeOfUseDetails", cr.get("purpose_of_use_details"))),
        (m.DECISION_REF, _decision_ref(decision_ref)),
        (m.RESOURCE_ID[0], f"{patient}^^^&{_oid(patient_system).removeprefix('urn:oid:')}&ISO" if patient else None),
        (m.RESOURCE_CHILD_ORGANIZATION, _ii(first.get("point_of_care"))),
        (m.RESOURCE_CHILD_ORGANIZATION_NAME, _name(first.get("point_of_care"))),
        (m.SECURITY_LEVEL[0], security_level),
        (m.SCOPE[0], scope),
        (m.CLIENT_ID[0], client_id),
        (m.HOME_COMMUNITY_ID[1], home_community_id),
    ]
    return [(k, v) for k, v in out if v]


def _decision_ref(v: dict[str, Any] | None) -> str | None:
    if v is None or not isinstance(v.get("id"), str):
        return None
    root = etree.Element("decision-ref")
    etree.SubElement(root, "id").set("value", v["id"])
    if isinstance(v.get("user_selected"), bool):
        etree.SubElement(root, "user-selected").set("value", "True" if v["user_selected"] else "False")
    return str(etree.tostring(root, encoding="unicode"))


def build_assertion(*, issuer: str, audience: str, subject: str,
                    attrs: Iterable[tuple[str, str]], lifetime: int = 300, now: int | None = None,
                    assertion_id: str | None = None) -> Any:
    """The unsigned assertion (an lxml element) with a signature placeholder after the Issuer."""
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ProduceError(f"lifetime must be 1..{MAX_LIFETIME} seconds")
    t = int(time.time()) if now is None else int(now)
    s = f"{{{SAML_NS}}}"
    root = etree.Element(s + "Assertion", nsmap={"saml": SAML_NS, "xsi": XSI_NS})
    root.set("ID", assertion_id or f"_{uuid.uuid4()}")
    root.set("IssueInstant", _instant(t))
    root.set("Version", "2.0")
    etree.SubElement(root, s + "Issuer").text = issuer
    etree.SubElement(root, f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS}).set("Id", "placeholder")
    subj = etree.SubElement(root, s + "Subject")
    etree.SubElement(subj, s + "NameID").text = subject
    etree.SubElement(subj, s + "SubjectConfirmation").set("Method", SENDER_VOUCHES)
    cond = etree.SubElement(root, s + "Conditions", NotBefore=_instant(t), NotOnOrAfter=_instant(t + lifetime))
    etree.SubElement(etree.SubElement(cond, s + "AudienceRestriction"), s + "Audience").text = audience
    statement = etree.SubElement(root, s + "AttributeStatement")
    for name, value in attrs:
        a = etree.SubElement(statement, s + "Attribute", Name=name)
        etree.SubElement(a, s + "AttributeValue").text = value
    authn = etree.SubElement(root, s + "AuthnStatement", AuthnInstant=_instant(t),
                             SessionNotOnOrAfter=_instant(t + lifetime))
    etree.SubElement(etree.SubElement(authn, s + "AuthnContext"), s + "AuthnContextClassRef").text = AUTHN_X509
    return root


def sign_assertion(root: Any, *, key: PrivateKey, certificate: x509.Certificate) -> bytes:
    """Sign with one enveloped signature (exclusive c14n, RSA-SHA256 / ECDSA-SHA256) carrying the
    certificate; returns the serialized assertion."""
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ProduceError("the signing key must be RSA or ECDSA")
    algorithm = "rsa-sha256" if isinstance(key, rsa.RSAPrivateKey) else "ecdsa-sha256"
    signer = XMLSigner(method=SignatureConstructionMethod.enveloped, c14n_algorithm=EXC_C14N,
                       signature_algorithm=algorithm, digest_algorithm="sha256")
    signed = signer.sign(root, key=key, cert=[certificate], reference_uri=root.get("ID"))
    return bytes(etree.tostring(signed))


def assertion_from_decision(decision: Decision, *, issuer: str, audience: str, key: PrivateKey,
                            certificate: x509.Certificate, patient: str | None = None,
                            patient_system: str = OID_FNR, security_level: str | None = None,
                            scope: str | None = None, lifetime: int = 300, now: int | None = None) -> bytes:
    """A signed assertion for a **permitted** ``decision`` (a HelseID access token under helseid-at-1.0, or a
    self-signed attestation). ``patient``: the patient of the request (else the attestation's first
    identified one). ``security_level``: the login's; for an access token it defaults to ``4`` (ATT-9 was
    checked), for a self-signed attestation it must be given (it does not carry one)."""
    if not decision.permitted or decision.attestation is None:
        raise ProduceError("only a permitted decision with an attestation is rendered as an assertion")
    att = decision.attestation
    pid = ((att.get("practitioner") or {}).get("identifier") or {}).get("id")
    if not isinstance(pid, str):
        raise ProduceError("the attestation names no practitioner (the assertion's subject)")
    info = decision.token or {}
    access = decision.profile.startswith("helseid-at")
    level = security_level or ("4" if access else None)
    if patient is None:
        ident = next((p.get("identifier") for p in att.get("patients") or []
                      if isinstance(p, dict) and isinstance(p.get("identifier"), dict)), None)
        if ident is not None and isinstance(ident.get("id"), str):
            patient, patient_system = ident["id"], str(ident.get("system") or patient_system)
    attrs = attributes(att, patient=patient, patient_system=patient_system, security_level=level,
                       client_id=info.get("client_id") if isinstance(info.get("client_id"), str) else None,
                       scope=scope)
    try:
        root = build_assertion(issuer=issuer, audience=audience, subject=pid, attrs=attrs, lifetime=lifetime,
                               now=now)
    except ValueError as exc:  # lxml: a value XML 1.0 cannot carry (a control character in free text)
        raise ProduceError(f"the attestation holds text an XML document cannot carry ({exc})") from None
    return sign_assertion(root, key=key, certificate=certificate)
