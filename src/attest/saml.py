"""Verify a SAML 2.0 assertion (IHE XUA, NHN's trust-framework attributes) and decide on the attestation it
carries (issue 14, reading and verifying).

    input ─► xmlsafe (caps, UTF-8, no DTD, hardened lxml) ─► envelope (saml:Assertion, Version, ID, Issuer)
          ─► citizen? (deny only) ─► trust (saml_issuers: exact Issuer → pinned certificates or CAs)
          ─► signature structure (one enveloped ds:Signature, child of the root; one Reference to the root's
             ID; enveloped-signature + exclusive c14n; allowed algorithms; KeyInfo only X509Data: the pinned
             certificate, or a signing certificate and its intermediates)
          ─► the key: a pinned certificate, or the KeyInfo certificate that chains to the issuer's CA at the
             evaluation time (cryptography's path validation), then the key rules (RSA ≥ 2048, curves)
          ─► signxml XMLVerifier with that certificate and an explicit SignatureConfiguration
          ─► everything below reads ONLY the element signxml returns as signed (``signed_xml``)
          ─► envelope again, Conditions (OneTimeUse), AudienceRestriction, SubjectConfirmation (Recipient,
             times), AuthnStatement
          ─► saml_map (attributes → attestation) ─► model.normalise ─► the profile's rules
          ─► replay cache (OneTimeUse; only for an otherwise valid assertion) ─► Decision

:func:`verify_saml` is the sibling of :func:`attest.verify` and returns the same
:class:`~attest.verify.Decision`: ``errors`` and ``warnings`` with the codes of :mod:`attest.errors`, the
``token`` information (``format``, ``iss``, ``jti`` = the assertion's ``ID``, ``iat``/``nbf``/``exp`` in unix
seconds, ``aud``, ``alg``, the certificate's ``x5t#S256``, ``client_id``, ``scope``, ``home_community_id``,
``security_level``, ``one_time_use`` when the Conditions say so), and the normalised ``attestation``. A
token-level refusal (``invalid_saml``, ``unknown_issuer``, ``unknown_key``, ``unsupported_algorithm``,
``invalid_signature``, ``not_a_health_personnel_attestation``) has that one error and no attestation.

Why a sibling and not a branch of :func:`attest.verify`: verify's pipeline is the JOSE one (compact
parsing, header policy, ``kid`` lookup in key sets, JWT claims, replay of ``jti``); a SAML assertion has
another envelope, another trust entry (pinned certificates or CAs) and another time model. The replay cache
is the same :class:`~attest.replay.ReplayCache`, in a namespace of its own (:data:`REPLAY_PREFIX`). The
stages after the envelope are shared: :func:`attest.model.normalise`, :func:`attest.rules.evaluate_groups`
and the profile's rules, and the Decision document. The caller says which format it holds (CONVENTIONS.md: no guessing).

One deny-only check reads the assertion before its signature is checked: an assertion about a citizen
(helsenorge) is refused as ``not_a_health_personnel_attestation`` whoever signed it. Refusing needs no trust;
nothing that can lead to a permit is read from unverified content.

:func:`verify_saml` never raises for anything about the input; it raises ``TypeError`` for wrong argument
types, :class:`~attest.errors.ProfileError` for an unknown profile or one without a ``saml`` section and
:class:`~attest.errors.DependencyUnavailable` when a replay cache it was given cannot answer.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import (
    ClientVerifier,
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, InvalidInput
from signxml.exceptions import InvalidSignature as SignxmlInvalidSignature
from signxml.verifier import SignatureConfiguration, XMLVerifier

from .context import VerifyContext
from .errors import Finding, ProfileError
from .identifiers import redact_identity_numbers
from .keys import has_roca_fingerprint
from .model import normalise
from .profiles import Profile, load_profile
from .replay import ReplayCache
from .rules import RuleContext, evaluate_groups
from .saml_map import SAML_NS, Attributes, map_assertion, read_attributes
from .trust import DEFAULT_SAML_PROFILE, RESERVED_PREFIX, SAML_CURVES, SamlIssuer, TrustStore
from .verify import DENY, PERMIT, Decision
from .xmlsafe import XmlLimits, XmlRefused, decode_input, hardened_parser, parse_document, text_content

__all__ = ["REPLAY_PREFIX", "SAML_PROFILE", "SamlPolicy", "replay_entry", "saml_policy", "saml_profile_for",
           "verify_saml"]

SAML_PROFILE = DEFAULT_SAML_PROFILE
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
_ID_NAMES = frozenset({"ID", "Id", "id"})
_INSTANT = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII)
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,255}", re.ASCII)
_UNVERIFIED_TEXT = 256
#: the replay cache's namespace of an assertion ID is this prefix + the exact Issuer: an issuer name in the trust
#: store never starts with ``urn:attest:``, so an assertion ID never meets a JWT ``jti`` (namespace ``iss``) or
#: a DPoP proof's (``urn:attest:dpop-proof``)
REPLAY_PREFIX = RESERVED_PREFIX + "saml-assertion:"
#: KeyInfo carries at most this many certificates (the signing certificate, intermediates, perhaps the root)
MAX_KEYINFO_CERTIFICATES = 5
#: at most this many intermediate CAs between the signing certificate and the trust store's CA
MAX_CHAIN_DEPTH = 3

# rule references: SAML 2.0 core (saml-core-2.0-os) sections, RULES.md ATT ids
R_PARSE = "ATT-1"
R_SIGNATURE = "ATT-2"
R_SIG_PROFILE = "SAML2-core-5.4"
R_ASSERTION = "SAML2-core-2.3.3"
R_ISSUER = "SAML2-core-2.2.5"
R_SUBJECT = "SAML2-core-2.4.1"
R_CONFIRMATION = "SAML2-core-2.4.1.2"
R_CONDITIONS = "SAML2-core-2.5.1"
R_ONE_TIME_USE = "SAML2-core-2.5.1.5"
R_CHAIN = "RFC5280-6.1"
R_AUDIENCE = "SAML2-core-2.5.1.4"
R_AUTHN = "SAML2-core-2.7.2"
R_CITIZEN = "DM-6.3"


class _Refused(Exception):
    def __init__(self, code: str, rule: str, path: str, message: str) -> None:
        super().__init__(message)
        self.finding = Finding(code, rule, path, message)


# --- policy ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SamlPolicy:
    """The ``saml`` section of a profile (see ``profiles/xua-saml-1.0.yaml``)."""

    limits: XmlLimits
    signature_methods: frozenset[str]
    digest_methods: frozenset[str]
    min_rsa_bits: int
    confirmation_methods: frozenset[str]
    security_levels: frozenset[str]


def saml_policy(profile: Profile) -> SamlPolicy:
    """The SAML policy of ``profile``; :class:`~attest.errors.ProfileError` if it has none or it is invalid."""
    section = profile.data.get("saml")
    if not isinstance(section, dict):
        raise ProfileError(f"profile {profile.id!r} does not verify SAML assertions (it has no 'saml' section)")
    try:
        limits = XmlLimits(int(section.get("max_bytes", 65536)), int(section.get("max_depth", 32)),
                           int(section.get("max_elements", 2000)), int(section.get("max_fragment_chars", 4096)))
        methods = frozenset(str(m) for m in section["signature_methods"])
        digests = frozenset(str(m) for m in section["digest_methods"])
        for m in methods:
            if "sha1" in m.lower() or m not in {s.value for s in SignatureMethod} or "hmac" in m.lower():
                raise ValueError(f"signature method {m} is not allowed (never SHA-1 or HMAC)")
        for d in digests:
            if "sha1" in d.lower() or d not in {a.value for a in DigestAlgorithm}:
                raise ValueError(f"digest method {d} is not allowed (never SHA-1)")
        policy = SamlPolicy(limits, methods, digests, int(section.get("min_rsa_bits", 2048)),
                            frozenset(str(m) for m in section["subject_confirmation_methods"]),
                            frozenset(str(v) for v in section["security_levels"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{profile.source}: saml: {exc}") from exc
    if policy.min_rsa_bits < 2048 or not methods or not digests:
        raise ProfileError(f"{profile.source}: saml: min_rsa_bits >= 2048 and non-empty algorithm lists required")
    return policy


def saml_profile_for(assertion: str | bytes, trust: TrustStore | None, default: str = SAML_PROFILE) -> str:
    """The profile configured for the issuer the (not yet verified) assertion names, else ``default``. Safe:
    a profile only selects rules; the key is the issuer's pinned certificate whatever the profile."""
    if trust is None or not trust.saml_issuers:
        return default
    try:
        root = parse_document(decode_input(assertion, XmlLimits()), XmlLimits())
        env = _envelope(root, None)  # the issuer exactly as verification reads it (every text node)
    except (XmlRefused, _Refused):
        return default
    entry = trust.saml_issuers.get(env.issuer)
    return entry.profile if entry is not None else default


# --- small readers -----------------------------------------------------------------------------------------

def _instant(value: str | None) -> float | None:
    """An ``xs:dateTime`` with a time zone (SAML times are UTC) as unix seconds; None if absent or invalid."""
    if value is None:
        return None
    m = _INSTANT.fullmatch(value.strip())
    if m is None:
        return None
    try:
        dt = datetime.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]),
                               tzinfo=datetime.UTC)
    except ValueError:
        return None
    seconds = dt.timestamp() + (float(m[7]) if m[7] else 0.0)
    if m[8] != "Z":
        sign = 1 if m[8][0] == "+" else -1
        seconds -= sign * (int(m[8][1:3]) * 3600 + int(m[8][4:6]) * 60)
    return seconds


def _short(value: str) -> str:
    return redact_identity_numbers(value[:_UNVERIFIED_TEXT])


@dataclass(frozen=True, slots=True)
class _Envelope:
    issuer: str
    id: str
    issue_instant: float


def _envelope(root: Any, info: dict[str, Any] | None) -> _Envelope:
    """The assertion's root element, version, ID, IssueInstant and Issuer (raises ``_Refused``)."""
    if root.tag == f"{{{DS_NS}}}Signature":
        raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:Signature",
                       "an enveloping signature is not accepted: the assertion must carry an enveloped signature")
    if root.tag != f"{{{SAML_NS}}}Assertion":
        raise _Refused("invalid_saml", R_ASSERTION, "/", "the root element is not a SAML 2.0 saml:Assertion")
    if root.get("Version") != "2.0":
        raise _Refused("invalid_saml", R_ASSERTION, "saml:Assertion/@Version", "Version must be 2.0")
    assertion_id = root.get("ID")
    if not isinstance(assertion_id, str) or not _NCNAME.fullmatch(assertion_id):
        raise _Refused("invalid_saml", R_ASSERTION, "saml:Assertion/@ID", "the assertion has no valid ID")
    if info is not None:
        info["jti"] = assertion_id
    instant = _instant(root.get("IssueInstant"))
    if instant is None:
        raise _Refused("invalid_saml", R_ASSERTION, "saml:Assertion/@IssueInstant",
                       "IssueInstant is missing or not a UTC xs:dateTime")
    issuers = root.findall(f"{{{SAML_NS}}}Issuer")
    first = next((child for child in root if isinstance(child.tag, str)), None)
    if len(issuers) != 1 or first is None or first.tag != f"{{{SAML_NS}}}Issuer":
        raise _Refused("invalid_saml", R_ISSUER, "saml:Issuer", "the assertion must begin with one saml:Issuer")
    fmt = issuers[0].get("Format")
    if fmt not in (None, "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"):
        raise _Refused("invalid_saml", R_ISSUER, "saml:Issuer/@Format", "the Issuer must be an entity identifier")
    try:
        issuer = text_content(issuers[0]).strip()
    except XmlRefused as exc:
        raise _Refused("invalid_saml", R_ISSUER, "saml:Issuer", exc.message) from None
    if not issuer or len(issuer) > 1024 or not issuer.isprintable():
        raise _Refused("invalid_saml", R_ISSUER, "saml:Issuer", "the Issuer is empty or not printable text")
    if info is not None:
        info["iss"] = issuer[:_UNVERIFIED_TEXT]
    return _Envelope(issuer, assertion_id, instant)


def _refuse_citizen(root: Any, limits: XmlLimits) -> None:
    """Deny-only: an assertion about a citizen is refused whoever signed it."""
    mapped = map_assertion(_name_id(root), read_attributes(root), limits)
    if mapped.citizen:
        raise _Refused("not_a_health_personnel_attestation", R_CITIZEN, "saml:Subject",
                       "the assertion is a citizen's, not a health-personnel user's: " + "; ".join(mapped.citizen))


def _name_id(root: Any) -> str | None:
    """The full text of ``Subject/NameID`` (every text node: a comment cannot truncate it)."""
    name_id = root.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID")
    if name_id is None:
        return None
    try:
        text = text_content(name_id).strip()
    except XmlRefused:
        return None
    return text or None


# --- the signature -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Verified:
    element: Any
    certificate: x509.Certificate
    signature_method: str
    digest_method: str


def _b64(text: str | None) -> bytes | None:
    compact = re.sub(r"\s+", "", text or "")
    try:
        return base64.b64decode(compact, validate=True) if compact else None
    except (binascii.Error, ValueError):
        return None


def _one(parent: Any, tag: str, what: str) -> Any:
    found = parent.findall(f"{{{DS_NS}}}{tag}")
    if len(found) != 1:
        raise _Refused("invalid_signature", R_SIG_PROFILE, f"ds:Signature//ds:{tag}",
                       f"the signature must have exactly one {what}")
    return found[0]


def _check_ids(root: Any, assertion_id: str) -> None:
    """No ID value twice anywhere (any attribute named ID, Id, id or xml:id): a second element with the
    assertion's ID is the core of signature wrapping."""
    seen: set[str] = set()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for key, value in element.attrib.items():
            local = key.rsplit("}", 1)[-1]
            if key == _XML_ID or local in _ID_NAMES:  # any namespace, as signxml looks them up
                if value in seen:
                    raise _Refused("invalid_signature", R_SIG_PROFILE, "@ID",
                                   "an ID value occurs twice in the document (signature wrapping)"
                                   if value == assertion_id else "an ID value occurs twice in the document")
                seen.add(value)


def _signature_structure(root: Any, env: _Envelope, policy: SamlPolicy) -> tuple[Any, str, str]:
    """The one enveloped ``ds:Signature`` (a child of the root) and its signature and digest methods, checked
    before any cryptography (SAML core 5.4)."""
    signatures = list(root.iter(f"{{{DS_NS}}}Signature"))
    if not signatures:
        raise _Refused("invalid_signature", R_SIGNATURE, "ds:Signature", "the assertion is not signed")
    if len(signatures) > 1:
        raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:Signature",
                       "the document carries more than one ds:Signature (signature wrapping)")
    signature = signatures[0]
    if signature.getparent() is not root:
        raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:Signature",
                       "the signature is not a child of the assertion (enveloped signature required)")
    if signature.find(f".//{{{DS_NS}}}Object") is not None or signature.find(f".//{{{DS_NS}}}Manifest") is not None:
        raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:Signature/ds:Object",
                       "the signature carries ds:Object or ds:Manifest content (signature wrapping)")
    _check_ids(root, env.id)
    signed_info = _one(signature, "SignedInfo", "SignedInfo")
    c14n = _one(signed_info, "CanonicalizationMethod", "CanonicalizationMethod")
    if c14n.get("Algorithm") != EXC_C14N:
        raise _Refused("unsupported_algorithm", R_SIG_PROFILE, "ds:SignedInfo/ds:CanonicalizationMethod",
                       "the canonicalization must be exclusive c14n without comments")
    method = _allowed(_one(signed_info, "SignatureMethod", "SignatureMethod"), policy.signature_methods,
                      "ds:SignedInfo/ds:SignatureMethod", "signature method")
    reference = _one(signed_info, "Reference", "Reference")
    if reference.get("URI") != f"#{env.id}":
        raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:Reference/@URI",
                       "the signature's reference is not the assertion's own ID")
    transforms = [t.get("Algorithm") for t in reference.findall(f"{{{DS_NS}}}Transforms/{{{DS_NS}}}Transform")]
    if transforms != [ENVELOPED, EXC_C14N]:
        raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:Reference/ds:Transforms",
                       "the transforms must be enveloped-signature then exclusive c14n, nothing else")
    digest = _allowed(_one(reference, "DigestMethod", "DigestMethod"), policy.digest_methods,
                      "ds:Reference/ds:DigestMethod", "digest method")
    return signature, method, digest


def _allowed(element: Any, allowed: Any, path: str, what: str) -> str:
    """The element's ``Algorithm``, when the policy allows it (SHA-1 never is)."""
    algorithm = element.get("Algorithm") or ""
    if algorithm not in allowed:
        raise _Refused("unsupported_algorithm", R_SIG_PROFILE, path,
                       f"{what} {_short(algorithm)} is not allowed (SHA-1 never is)")
    return str(algorithm)


def _carried(signature: Any) -> list[bytes]:
    """The DER certificates the signature's KeyInfo carries (none without a KeyInfo). KeyInfo may hold only
    X509Data/X509Certificate (no KeyValue, RetrievalMethod or other key sources)."""
    key_infos = signature.findall(f"{{{DS_NS}}}KeyInfo")
    if not key_infos:
        return []
    if len(key_infos) > 1:
        raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:KeyInfo", "more than one KeyInfo")
    carried: list[bytes] = []
    for child in key_infos[0]:
        if not isinstance(child.tag, str):
            continue
        if child.tag != f"{{{DS_NS}}}X509Data":
            raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:KeyInfo",
                           "KeyInfo may only carry X509Data (the key is the trust store's certificate, or one "
                           "that chains to the trust store's CA)")
        for cert in child:
            if not isinstance(cert.tag, str):
                continue
            der = _b64(cert.text) if cert.tag == f"{{{DS_NS}}}X509Certificate" else None
            if der is None:
                raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:KeyInfo/ds:X509Data",
                               "X509Data may only carry base64 X509Certificate elements")
            carried.append(der)
    if len(carried) > MAX_KEYINFO_CERTIFICATES:
        raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:KeyInfo/ds:X509Data",
                       f"KeyInfo carries more than {MAX_KEYINFO_CERTIFICATES} certificates")
    return carried


def _candidates(signature: Any, issuer: SamlIssuer, when: datetime.datetime) -> list[x509.Certificate]:
    """The certificates to try, each trusted before any signature value is looked at. Pinned trust: the pinned
    certificate the KeyInfo carries (it must be pinned), else every pinned one. CA trust: the certificates the
    KeyInfo carries that chain to one of the issuer's CAs at ``when`` (:func:`_chained`)."""
    carried = _carried(signature)
    if issuer.ca_certificates:
        return _chained(carried, issuer, when)
    pinned = {c.public_bytes(Encoding.DER): c for c in issuer.certificates}
    if not carried:
        return list(issuer.certificates)
    if len(carried) > 1 or carried[0] not in pinned:
        raise _Refused("invalid_signature", R_SIGNATURE, "ds:KeyInfo/ds:X509Data/ds:X509Certificate",
                       "the certificate in KeyInfo is not the issuer's pinned certificate")
    return [pinned[carried[0]]]


# --- trust through a CA ------------------------------------------------------------------------------------

def _signing_key_usage(policy: Policy, cert: x509.Certificate, usage: x509.KeyUsage) -> None:
    if not usage.digital_signature:
        raise ValueError("the signing certificate's keyUsage lacks digitalSignature")


def _not_a_ca(policy: Policy, cert: x509.Certificate, constraints: x509.BasicConstraints | None) -> None:
    if constraints is not None and constraints.ca:
        raise ValueError("the signing certificate is a CA certificate")


# Path validation is cryptography's (RFC 5280 path building and the CA/B Forum's "webpki" profile): the
# signature of every link, every certificate (the trust anchor too) valid at the evaluation time,
# basicConstraints CA and pathLenConstraint, keyUsage keyCertSign on every issuer, name constraints, no
# unknown critical extension, no SHA-1 and no RSA key under 2048 bits in a certificate signature, at most
# MAX_CHAIN_DEPTH intermediates. cryptography builds a verifier for a TLS server (which needs a DNS name or IP
# address to match) or for a TLS client. The client verifier is used, with both of its extension policies
# replaced, because its defaults are TLS semantics a signing certificate does not have: the end-entity policy
# (EKU clientAuth, a SAN) becomes "keyUsage with digitalSignature, not a CA" (no EKU is defined for SAML
# signing, so none is required or refused), and the CA policy is webpki's except that an EKU on a CA, which
# webpki would require to include clientAuth, is not checked.
_EE_POLICY = (ExtensionPolicy.permit_all()
              .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _signing_key_usage)
              .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _not_a_ca))
_CA_POLICY = ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None)

# why a chain was refused, in fixed words: cryptography's messages name certificates by subject, and a
# subject may hold a person's name or national identity number
_CHAIN_REASONS = (
    ("not valid at validation time", "a certificate of the chain is not valid at the evaluation time"),
    ("path length", "a CA's path length constraint is exceeded"),
    ("max depth", f"the chain has more than {MAX_CHAIN_DEPTH} intermediate CAs"),
    ("digitalSignature", "the signing certificate's keyUsage lacks digitalSignature"),
    ("is a CA certificate", "the signing certificate is a CA certificate"),
    ("basicConstraints", "an issuing certificate is not a CA"),
    ("2.5.29.15", "a certificate of the chain has no keyUsage (or an issuer's lacks keyCertSign)"),
    ("signature does not match", "a certificate's signature does not verify with its issuer's key"),
    ("critical extension", "a certificate has a critical extension this verifier does not understand"),
)


def _chain_reason(message: str) -> str:
    return next((reason for needle, reason in _CHAIN_REASONS if needle in message),
                "no path to a CA of this issuer in the trust store")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def _chain_verifier(cas: tuple[x509.Certificate, ...], when: datetime.datetime) -> ClientVerifier:
    return (PolicyBuilder().store(Store(list(cas))).time(when).max_chain_depth(MAX_CHAIN_DEPTH)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY).build_client_verifier())


def _chained(carried: list[bytes], issuer: SamlIssuer, when: datetime.datetime) -> list[x509.Certificate]:
    """The certificates of KeyInfo that chain to one of the issuer's CAs at ``when``, each tried as the signing
    certificate with the others as intermediates (XML-DSig implies no order in X509Data; a CA certificate is
    never a signing certificate, so an intermediate cannot pass as one). ``unknown_key`` when none does."""
    path = "ds:KeyInfo/ds:X509Data/ds:X509Certificate"
    if not carried:
        raise _Refused("unknown_key", R_SIGNATURE, path, "this issuer is trusted through its CA: the assertion "
                                                         "must carry its signing certificate in KeyInfo")
    try:
        certs = [x509.load_der_x509_certificate(der) for der in carried]
    except ValueError:
        raise _Refused("invalid_signature", R_SIG_PROFILE, path,
                       "a KeyInfo certificate is not a DER X.509 certificate") from None
    verifier = _chain_verifier(issuer.ca_certificates, when)
    chained: list[x509.Certificate] = []
    reasons: list[str] = []
    # end-entity certificates first, so that the reason given is the signing certificate's, not that an
    # intermediate is no signing certificate
    for n in sorted(range(len(certs)), key=lambda i: _is_ca(certs[i])):
        leaf = certs[n]
        try:
            verifier.verify(leaf, certs[:n] + certs[n + 1:])
        except VerificationError as exc:
            reasons.append(_chain_reason(str(exc)))
            continue
        except Exception:  # hostile certificate content: a refusal, never a raise
            reasons.append("a certificate of the chain cannot be processed")
            continue
        if leaf not in chained:
            chained.append(leaf)
    if not chained:
        raise _Refused("unknown_key", R_CHAIN, path, "the certificate in KeyInfo does not chain to a CA this issuer "
                                                     f"is trusted through: {reasons[0]}")
    return chained


def _usable(cert: x509.Certificate, method: str, policy: SamlPolicy, now: datetime.datetime) -> str | None:
    """Why ``cert`` cannot verify a ``method`` signature at ``now`` (None: it can). The key rules are those the
    trust store applies to a pinned certificate at load (RSA of ``min_rsa_bits`` without the ROCA
    fingerprint, EC on an allowed curve), here for a signing certificate that chains to a CA too."""
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return "validity"
    key = cert.public_key()
    name = SignatureMethod(method).name
    if name.startswith("ECDSA_"):
        return None if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in SAML_CURVES else "type"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < policy.min_rsa_bits:
            return "size"
        return "roca" if has_roca_fingerprint(key.public_numbers().n) else None
    return "type"


def _verify_signature(raw: bytes, root: Any, env: _Envelope, issuer: SamlIssuer, policy: SamlPolicy,
                      now: int) -> _Verified:
    signature, method, digest = _signature_structure(root, env, policy)
    when = datetime.datetime.fromtimestamp(now, datetime.UTC)
    what = "signing certificate" if issuer.ca_certificates else "pinned certificate"
    reasons: list[str] = []
    usable: list[x509.Certificate] = []
    for cert in _candidates(signature, issuer, when):
        reason = _usable(cert, method, policy, when)
        if reason is None:
            usable.append(cert)
        else:
            reasons.append(reason)
    if not usable:
        if "size" in reasons or "type" in reasons:
            raise _Refused("unsupported_algorithm", R_SIGNATURE, "ds:KeyInfo",
                           f"the {what}'s key does not fit the signature method, is on a curve not allowed or "
                           f"is under {policy.min_rsa_bits} bits")
        if "roca" in reasons:
            raise _Refused("unknown_key", R_SIGNATURE, "ds:KeyInfo",
                           f"the {what}'s RSA modulus has the ROCA fingerprint (CVE-2017-15361)")
        raise _Refused("unknown_key", R_SIGNATURE, "ds:KeyInfo",
                       f"no {what} of this issuer is valid at the evaluation time")
    config = SignatureConfiguration(
        require_x509=True, location="./", expect_references=1,
        signature_methods=frozenset(SignatureMethod(m) for m in policy.signature_methods),
        digest_algorithms=frozenset(DigestAlgorithm(d) for d in policy.digest_methods),
        ignore_ambiguous_key_info=False, verification_time=when,
        default_reference_c14n_method=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    failure = f"the signature does not verify with the issuer's {what}"
    for cert in usable:
        try:
            result = XMLVerifier().verify(raw, x509_cert=cert, parser=hardened_parser(), id_attribute="ID",
                                          expect_config=config, validate_schema=True)
        except InvalidDigest:
            failure = "the assertion's digest does not match: its signed content was changed"
            continue
        except SignxmlInvalidSignature:
            failure = f"the signature value does not verify with the issuer's {what}"
            continue
        except InvalidInput as exc:
            failure = "the signature is malformed: " + _short(str(exc))
            continue
        except Exception:  # any other failure of the library on hostile input is a refusal, never a raise
            failure = "the signature could not be verified (malformed XML-DSig)"
            continue
        signed = getattr(result, "signed_xml", None)
        if signed is None or signed.tag != f"{{{SAML_NS}}}Assertion" or signed.get("ID") != env.id:
            raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:Reference",
                           "what the signature covers is not this assertion")
        return _Verified(signed, cert, method, digest)
    raise _Refused("invalid_signature", R_SIGNATURE, "ds:SignatureValue", failure)


# --- the verified assertion --------------------------------------------------------------------------------

def _times(el: Any, env: _Envelope, profile: Profile, now: int, info: dict[str, Any],
           errors: list[Finding]) -> bool:
    """IssueInstant, Conditions (NotBefore, NotOnOrAfter, lifetime, conditions understood) and the
    AuthnStatement's session end, with the profile's leeway. True when the Conditions hold one OneTimeUse
    (enforced by :func:`verify_saml` with its replay cache)."""
    leeway = profile.leeway
    info["iat"] = int(env.issue_instant)
    if env.issue_instant > now + leeway:
        errors.append(Finding("token_not_yet_valid", R_ASSERTION, "saml:Assertion/@IssueInstant",
                              f"the assertion was issued {int(env.issue_instant - now)} s in the future"))
    conditions = el.findall(f"{{{SAML_NS}}}Conditions")
    if len(conditions) != 1:
        errors.append(Finding("missing_claim" if not conditions else "invalid_claim", R_CONDITIONS,
                              "saml:Conditions", "the assertion must have one saml:Conditions"))
        return False
    cond = conditions[0]
    raw_nbf, raw_exp = cond.get("NotBefore"), cond.get("NotOnOrAfter")
    nbf, exp = _instant(raw_nbf), _instant(raw_exp)
    if raw_nbf is not None and nbf is None:
        errors.append(Finding("invalid_claim", R_CONDITIONS, "saml:Conditions/@NotBefore",
                              "NotBefore is not a UTC xs:dateTime"))
    if exp is None:
        errors.append(Finding("missing_claim" if raw_exp is None else "invalid_claim", R_CONDITIONS,
                              "saml:Conditions/@NotOnOrAfter", "a bearer assertion must say when it expires "
                              "(NotOnOrAfter, a UTC xs:dateTime)"))
    if nbf is not None:
        info["nbf"] = int(nbf)
        if nbf > now + leeway:
            errors.append(Finding("token_not_yet_valid", R_CONDITIONS, "saml:Conditions/@NotBefore",
                                  f"the assertion is not valid for another {int(nbf - now)} s"))
    if exp is not None:
        info["exp"] = int(exp)
        if now >= exp + leeway:
            errors.append(Finding("token_expired", R_CONDITIONS, "saml:Conditions/@NotOnOrAfter",
                                  f"the assertion expired {int(now - exp)} s ago"))
        start = nbf if nbf is not None else env.issue_instant
        if exp <= start:
            errors.append(Finding("invalid_claim", R_CONDITIONS, "saml:Conditions/@NotOnOrAfter",
                                  "NotOnOrAfter must be later than NotBefore (or IssueInstant)"))
        elif exp - start > profile.max_lifetime:
            errors.append(Finding("lifetime_too_long", R_CONDITIONS, "saml:Conditions/@NotOnOrAfter",
                                  f"the assertion is valid for {int(exp - start)} s; the limit is "
                                  f"{profile.max_lifetime} s"))
    one_time_use = 0
    for child in cond:
        if child.tag == f"{{{SAML_NS}}}OneTimeUse":
            one_time_use += 1
        elif isinstance(child.tag, str) and child.tag not in (f"{{{SAML_NS}}}AudienceRestriction",
                                                              f"{{{SAML_NS}}}ProxyRestriction"):
            errors.append(Finding("invalid_claim", R_CONDITIONS, "saml:Conditions",
                                  "the assertion has a condition this verifier does not understand"))
    if one_time_use > 1:
        errors.append(Finding("invalid_claim", R_ONE_TIME_USE, "saml:Conditions/saml:OneTimeUse",
                              "the Conditions may hold at most one OneTimeUse"))
    for statement in el.findall(f"{{{SAML_NS}}}AuthnStatement"):
        authn = _instant(statement.get("AuthnInstant"))
        session = _instant(statement.get("SessionNotOnOrAfter"))
        if authn is not None and authn > now + leeway:
            errors.append(Finding("token_not_yet_valid", R_AUTHN, "saml:AuthnStatement/@AuthnInstant",
                                  "the user authenticated in the future"))
        if session is not None and now >= session + leeway:
            errors.append(Finding("token_expired", R_AUTHN, "saml:AuthnStatement/@SessionNotOnOrAfter",
                                  "the user's session has ended"))
        ref = statement.find(f"{{{SAML_NS}}}AuthnContext/{{{SAML_NS}}}AuthnContextClassRef")
        if ref is not None and isinstance(ref.text, str):
            info["authn_context"] = ref.text.strip()[:_UNVERIFIED_TEXT]
    if one_time_use:
        info["one_time_use"] = True
    return one_time_use > 0


def _audience(el: Any, audience: str | None, info: dict[str, Any], errors: list[Finding]) -> None:
    """Every AudienceRestriction must name this verifier's audience (SAML core 2.5.1.4: each restriction
    must be met; within one, any audience)."""
    restrictions = el.findall(f"{{{SAML_NS}}}Conditions/{{{SAML_NS}}}AudienceRestriction")
    named = [[(a.text or "").strip() for a in r.findall(f"{{{SAML_NS}}}Audience")] for r in restrictions]
    info["aud"] = [a[:_UNVERIFIED_TEXT] for group in named for a in group][:8]
    if audience is None:
        errors.append(Finding("invalid_audience", R_AUDIENCE, "saml:AudienceRestriction",
                              "no audience is configured for this verifier, so a bearer assertion cannot be "
                              "accepted"))
    elif not named:
        errors.append(Finding("invalid_audience", R_AUDIENCE, "saml:AudienceRestriction",
                              "the assertion names no audience; it would be valid anywhere"))
    elif not all(audience in group for group in named):
        errors.append(Finding("invalid_audience", R_AUDIENCE, "saml:AudienceRestriction/saml:Audience",
                              "the assertion is not addressed to this verifier's audience"))


def _subject(el: Any, policy: SamlPolicy, leeway: int, now: int, recipient: str | None, info: dict[str, Any],
             errors: list[Finding], warnings: list[Finding]) -> str | None:
    """The subject's NameID (its full text) and a SubjectConfirmation this verifier accepts: a method of the
    profile (bearer or sender-vouches by default) whose SubjectConfirmationData, when present (at most one),
    has well-formed times, is valid now with leeway (``NotBefore``, ``NotOnOrAfter``) and names no
    ``Recipient`` other than ``recipient`` (none expected: any Recipient is refused). ``InResponseTo`` names a
    request of the party the assertion was issued to; this verifier made none, so it is an ``advisory``
    warning, never a deny."""
    subjects = el.findall(f"{{{SAML_NS}}}Subject")
    if len(subjects) != 1:
        errors.append(Finding("missing_claim" if not subjects else "invalid_claim", R_SUBJECT, "saml:Subject",
                              "the assertion must have one saml:Subject"))
        return None
    subject = subjects[0]
    name_ids = subject.findall(f"{{{SAML_NS}}}NameID")
    name_id: str | None = None
    if len(name_ids) != 1:
        errors.append(Finding("missing_claim", R_SUBJECT, "saml:Subject/saml:NameID",
                              "the subject must be named by one plain saml:NameID (an EncryptedID is not read)"))
    else:
        name_id = _name_id(el)
        if name_id is None:
            errors.append(Finding("invalid_claim", R_SUBJECT, "saml:Subject/saml:NameID",
                                  "the NameID is empty or not text"))
    confirmed: str | None = None
    problems: list[Finding] = []
    for sc in subject.findall(f"{{{SAML_NS}}}SubjectConfirmation"):
        method = sc.get("Method") or ""
        if method not in policy.confirmation_methods:
            problems.append(Finding("invalid_claim", R_CONFIRMATION, "saml:SubjectConfirmation/@Method",
                                    f"subject confirmation method {_short(method)} is not accepted"))
            continue
        datas = sc.findall(f"{{{SAML_NS}}}SubjectConfirmationData")
        if len(datas) > 1:
            problems.append(Finding("invalid_claim", R_CONFIRMATION, "saml:SubjectConfirmationData",
                                    "a subject confirmation has more than one SubjectConfirmationData"))
            continue
        data = datas[0] if datas else None
        answers_a_request = False
        if data is not None:
            raw_nbf, raw_exp = data.get("NotBefore"), data.get("NotOnOrAfter")
            nbf, exp = _instant(raw_nbf), _instant(raw_exp)
            if (raw_nbf is not None and nbf is None) or (raw_exp is not None and exp is None):
                problems.append(Finding("invalid_claim", R_CONFIRMATION, "saml:SubjectConfirmationData",
                                        "NotBefore or NotOnOrAfter of the subject confirmation is not a UTC "
                                        "xs:dateTime"))
                continue
            if nbf is not None and nbf > now + leeway:
                problems.append(Finding("token_not_yet_valid", R_CONFIRMATION,
                                        "saml:SubjectConfirmationData/@NotBefore",
                                        "the subject confirmation is not valid yet"))
                continue
            if exp is not None and now >= exp + leeway:
                problems.append(Finding("token_expired", R_CONFIRMATION, "saml:SubjectConfirmationData/@NotOnOrAfter",
                                        "the subject confirmation has expired"))
                continue
            named = data.get("Recipient")
            if named is not None and named != recipient:
                problems.append(Finding("invalid_audience", R_CONFIRMATION, "saml:SubjectConfirmationData/@Recipient",
                                        "the subject confirmation is for another recipient" if recipient else
                                        "the subject confirmation names a Recipient, and no recipient (nor audience) "
                                        "is configured for this verifier to compare it with"))
                continue
            answers_a_request = data.get("InResponseTo") is not None
        confirmed = method
        if answers_a_request:
            warnings.append(Finding("advisory", R_CONFIRMATION, "saml:SubjectConfirmationData/@InResponseTo",
                                    "the assertion answers a request (InResponseTo) this verifier did not make; "
                                    "it is not checked"))
        break
    if confirmed is None:
        errors.extend(problems or [Finding("missing_claim", R_CONFIRMATION, "saml:SubjectConfirmation",
                                           "the subject has no SubjectConfirmation")])
    else:
        info["subject_confirmation"] = confirmed
    return name_id


def _deny(profile: Profile, finding: Finding, info: dict[str, Any], now: int) -> Decision:
    """A token-level deny: one finding, no attestation, no issuer (as attest.verify's)."""
    return Decision(DENY, profile.id, (finding,), (), info or None, None, None, now)


def verify_saml(
    assertion: str | bytes,
    trust: TrustStore,
    profile: str | Profile | None = None,
    context: VerifyContext | None = None,
    *,
    replay: ReplayCache | None = None,
) -> Decision:
    """Verify a SAML 2.0 ``assertion`` (XML text or bytes, or base64 of them) against ``profile`` (default:
    the profile the trust store configures for its issuer, else ``xua-saml-1.0``) with the trust the
    issuer's entry of ``trust.saml_issuers`` gives; return the :class:`~attest.verify.Decision`.

    Trust: a pinned certificate of the entry (the one KeyInfo carries must be one of them), or, for an entry
    with CA certificates, the signing certificate KeyInfo carries (with any intermediates in the same
    X509Data): it must chain to one of those CAs at the evaluation time (``context.now``, else the clock) with
    every certificate valid then, and is used for the signature only after that. The key rules are the same
    either way: RSA of at least the profile's ``min_rsa_bits`` (2048) without the ROCA fingerprint, or EC on
    P-256, P-384 or P-521.

    Replay (``replay``, the :class:`~attest.replay.ReplayCache` :func:`attest.verify` takes): an assertion
    whose Conditions hold ``OneTimeUse`` is recorded by ``(REPLAY_PREFIX + Issuer, ID)`` until its
    ``NotOnOrAfter`` plus leeway (by the evaluation clock, as :func:`attest.verify` keeps a ``jti``), only
    after every other check passed, so an invalid assertion never burns a valid one's ID; a second
    presentation is ``token_replayed``. Without a cache a OneTimeUse assertion is refused (``invalid_claim``):
    a condition that cannot be checked is not accepted unchecked. Assertions without OneTimeUse are recorded
    only when the profile makes every token single-use (``claims.replay``, as verify does for a ``jti``);
    ``xua-saml-1.0`` does not, because a XUA bearer assertion is presented with many requests within its
    lifetime. A cache that cannot answer raises :class:`~attest.errors.DependencyUnavailable` (fail closed).

    Error codes: token level ``invalid_saml``, ``not_a_health_personnel_attestation``, ``unknown_issuer``,
    ``unknown_key`` (no pinned certificate valid now; for CA trust: no certificate in KeyInfo, or it does not
    chain to the issuer's CAs at the evaluation time; a ROCA key), ``unsupported_algorithm`` (c14n,
    signature or digest method outside the profile's lists, SHA-1, a key under 2048 bits or on another
    curve), ``invalid_signature`` (unsigned, not one enveloped signature of the root, wrapping, a KeyInfo
    certificate that is not pinned, a bad value or digest); then ``missing_claim``/``invalid_claim``,
    ``token_expired``, ``token_not_yet_valid``, ``lifetime_too_long``, ``invalid_audience`` (also a
    SubjectConfirmationData ``Recipient`` that is not the expected one), ``insufficient_security_level``
    (ATT-9), ``invalid_field`` (ambiguous or malformed attributes), every code of the profile's rules and
    ``token_replayed``; the warning ``advisory`` for a SubjectConfirmationData ``InResponseTo``.

    The audience is the issuer's configured ``audience``, else ``context.audience``, else the store's. The
    recipient a SubjectConfirmationData ``Recipient`` must equal is the issuer's configured ``recipient``,
    else that audience.
    """
    if not isinstance(assertion, str | bytes):
        raise TypeError("assertion must be str or bytes")
    if not isinstance(trust, TrustStore):
        raise TypeError("trust must be a TrustStore")
    if context is not None and not isinstance(context, VerifyContext):
        raise TypeError("context must be a VerifyContext")
    prof = load_profile(profile if profile is not None else saml_profile_for(assertion, trust))
    policy = saml_policy(prof)
    ctx = context or VerifyContext()
    now = int(time.time()) if ctx.now is None else int(ctx.now)
    info: dict[str, Any] = {"format": "saml2-assertion"}

    # --- unverified: parse, envelope, the citizen refusal, the issuer, the signature ---------------------
    issuer: SamlIssuer | None = None
    try:
        raw = decode_input(assertion, policy.limits)
        root = parse_document(raw, policy.limits)
        env = _envelope(root, info)
        _refuse_citizen(root, policy.limits)
        issuer = trust.saml_issuers.get(env.issuer)
        if issuer is None:
            raise _Refused("unknown_issuer", R_ISSUER, "saml:Issuer", "the issuer is not a SAML issuer of the "
                                                                      "trust store")
        verified = _verify_signature(raw, root, env, issuer, policy, now)
    except XmlRefused as exc:
        return _deny(prof, Finding("invalid_saml", R_PARSE, "/", exc.message), info, now)
    except _Refused as exc:
        return _deny(prof, exc.finding, info, now)

    # --- verified: from here on only ``verified.element`` (what the signature covers) is read ------------
    el = verified.element
    try:
        signed_env = _envelope(el, None)
    except _Refused as exc:
        return _deny(prof, exc.finding, info, now)
    if signed_env.issuer != env.issuer or signed_env.id != env.id:
        return _deny(prof, Finding("invalid_signature", R_SIG_PROFILE, "saml:Issuer",
                                   "the signed assertion names another issuer or ID"), info, now)
    info["iss"] = signed_env.issuer
    info["alg"] = verified.signature_method.rsplit("#", 1)[-1]
    info["digest"] = verified.digest_method.rsplit("#", 1)[-1]
    info["x5t#S256"] = base64.urlsafe_b64encode(
        hashlib.sha256(verified.certificate.public_bytes(Encoding.DER)).digest()).rstrip(b"=").decode("ascii")
    errors: list[Finding] = []
    warnings: list[Finding] = []
    one_time_use = _times(el, signed_env, prof, now, info, errors)
    audience = issuer.audience or ctx.audience or trust.audience
    _audience(el, audience, info, errors)
    name_id = _subject(el, policy, prof.leeway, now, issuer.recipient or audience, info, errors, warnings)
    attrs: Attributes = read_attributes(el)
    mapped = map_assertion(name_id, attrs, policy.limits)
    if mapped.citizen:
        return _deny(prof, Finding("not_a_health_personnel_attestation", R_CITIZEN, "saml:Subject",
                                   "the assertion is a citizen's: " + "; ".join(mapped.citizen)), info, now)
    info.update(mapped.info)
    errors.extend(mapped.findings)
    if mapped.security_level not in policy.security_levels:
        errors.append(Finding("insufficient_security_level", "ATT-9", "saml:Attribute[@Name='SecurityLevel']",
                              "the user was not authenticated at a high level of assurance (SecurityLevel "
                              f"{_short(mapped.security_level) if mapped.security_level else 'absent'}; "
                              f"required: {', '.join(sorted(policy.security_levels))})"))
    attestation, conflicts = normalise(mapped.attestation)
    errors.extend(conflicts)
    # the rule kinds read .iss, .legal_entities and .member of the issuer, which SamlIssuer has (the
    # annotations of RuleContext.issuer and Decision.issuer name the JWT issuer types)
    issuer_any: Any = issuer
    evaluate_groups(prof.rule_groups, RuleContext(now, prof, issuer_any, ctx, attestation, None), errors, warnings)
    if one_time_use and replay is None:
        errors.append(Finding("invalid_claim", R_ONE_TIME_USE, "saml:Conditions/saml:OneTimeUse",
                              "the assertion may be used once (OneTimeUse), and this verifier has no replay cache "
                              "to enforce that: refused"))
    exp = info.get("exp")
    if not errors and replay is not None and (one_time_use or prof.token_replay) and isinstance(exp, int):
        # recorded only now, when every other check passed (an invalid assertion never burns an ID), for as
        # long as the assertion is acceptable by the evaluation clock, on the cache's clock (as verify does)
        shift = 0 if ctx.now is None else max(0, int(time.time()) - now)
        if not replay.check_and_store(REPLAY_PREFIX + signed_env.issuer, signed_env.id, exp + prof.leeway + shift):
            errors.append(Finding("token_replayed", R_ONE_TIME_USE if one_time_use else R_ASSERTION,
                                  "saml:Conditions/saml:OneTimeUse" if one_time_use else "saml:Assertion/@ID",
                                  "this issuer's assertion ID was already used; the assertion is single-use"))
    return Decision(DENY if errors else PERMIT, prof.id, tuple(errors), tuple(warnings), info, attestation,
                    issuer_any, now)


def replay_entry(decision: Decision) -> tuple[str, str] | None:
    """The replay-cache entry ``(namespace, ID)`` :func:`verify_saml` recorded for ``decision`` when it was
    given a cache, else None: only a permit of a SAML assertion with OneTimeUse, or under a profile whose
    tokens are single-use. The service releases it when it could not record the decision (so the caller may
    present the assertion again)."""
    info = decision.token or {}
    if not decision.permitted or info.get("format") != "saml2-assertion":
        return None
    iss, assertion_id = info.get("iss"), info.get("jti")
    if not isinstance(iss, str) or not isinstance(assertion_id, str):
        return None
    if info.get("one_time_use") is True or load_profile(decision.profile).token_replay:
        return REPLAY_PREFIX + iss, assertion_id
    return None


def inspect_saml(assertion: str | bytes, *, trust: TrustStore | None = None, profile: str | Profile | None = None,
                 context: VerifyContext | None = None, reveal_identifiers: bool = False) -> dict[str, Any]:
    """A report on a SAML assertion for people, in the shape of :func:`attest.inspect` (so that the CLI and
    the inspector page show it the same way): the envelope and attributes read **without** verifying the
    signature (``trusted`` is false, the note says so), the 13 fields with their checks and the findings of
    the rules that need no trust store; ``decision`` from :func:`verify_saml` when ``trust`` is given. Never
    raises for the input."""
    from .identifiers import mask
    from .inspect import UNTRUSTED_NOTE, describe_attestation, describe_time, finish, mask_numbers

    prof = load_profile(profile if profile is not None else saml_profile_for(assertion, trust))
    policy = saml_policy(prof)
    ctx = context or VerifyContext()
    now = int(time.time()) if ctx.now is None else int(ctx.now)
    report: dict[str, Any] = {"trusted": False, "note": UNTRUSTED_NOTE, "profile": prof.id, "now": now,
                              "error": None, "header": None, "claims": None, "times": {}, "fields": [],
                              "attestation": None, "decision": None, "shape": "saml2-assertion"}
    info: dict[str, Any] = {}
    try:
        root = parse_document(decode_input(assertion, policy.limits), policy.limits)
        env = _envelope(root, info)
    except XmlRefused as exc:
        report["error"] = {"code": "invalid_saml", "rule": R_PARSE, "path": "/", "message": exc.message}
        return report
    except _Refused as exc:
        report["error"] = exc.finding.to_dict()
        return report
    signature = root.find(f"{{{DS_NS}}}Signature")
    method = signature.find(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}SignatureMethod") if signature is not None else None
    report["header"] = {"format": "saml2-assertion", "signed": signature is not None,
                        "alg": (method.get("Algorithm") or "").rsplit("#", 1)[-1][:64] if method is not None else None}
    errors: list[Finding] = []
    _times(root, env, prof, now, info, errors)
    _audience(root, None, info, [])
    mapped = map_assertion(_name_id(root), read_attributes(root), policy.limits)
    claims: dict[str, Any] = {k: v for k, v in {**info, **mapped.info}.items() if k not in ("nbf", "exp")}
    if mapped.security_level is not None:
        claims["security_level"] = mapped.security_level[:_UNVERIFIED_TEXT]
    name_id = _name_id(root)
    if name_id is not None:
        claims["subject"] = name_id[:_UNVERIFIED_TEXT] if reveal_identifiers else mask(name_id[:_UNVERIFIED_TEXT])
    if mapped.citizen:
        report["attestation_error"] = "a citizen's assertion, not a health-personnel attestation: " + "; ".join(
            mapped.citizen)
    report["claims"] = claims if reveal_identifiers else mask_numbers(claims)
    times: dict[str, Any] = {}
    for name in ("iat", "nbf", "exp"):
        d = describe_time(info.get(name), now)
        if d is not None:
            times[name] = d
    attestation, _ = normalise(mapped.attestation)
    describe_attestation(report, attestation, prof, ctx, None, times, reveal_identifiers)
    finish(report, times, verify_saml(assertion, trust, prof, ctx) if trust is not None else None,
           reveal_identifiers)
    return report
