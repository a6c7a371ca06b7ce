"""Verify a SAML 2.0 assertion (IHE XUA, NHN's trust-framework attributes) and decide on the attestation it
carries (issue 14, reading and verifying).

    input ─► xmlsafe (caps, UTF-8, no DTD, hardened lxml) ─► envelope (saml:Assertion, Version, ID, Issuer)
          ─► citizen? (deny only) ─► trust (saml_issuers: exact Issuer → pinned certificates)
          ─► signature structure (one enveloped ds:Signature, child of the root; one Reference to the root's
             ID; enveloped-signature + exclusive c14n; allowed algorithms; KeyInfo only the pinned certificate)
          ─► signxml XMLVerifier with the pinned certificate and an explicit SignatureConfiguration
          ─► everything below reads ONLY the element signxml returns as signed (``signed_xml``)
          ─► envelope again, Conditions, AudienceRestriction, SubjectConfirmation, AuthnStatement
          ─► saml_map (attributes → attestation) ─► model.normalise ─► the profile's rules ─► Decision

:func:`verify_saml` is the sibling of :func:`attest.verify` and returns the same
:class:`~attest.verify.Decision`: ``errors`` and ``warnings`` with the codes of :mod:`attest.errors`, the
``token`` information (``format``, ``iss``, ``jti`` = the assertion's ``ID``, ``iat``/``nbf``/``exp`` in unix
seconds, ``aud``, ``alg``, the certificate's ``x5t#S256``, ``client_id``, ``scope``, ``home_community_id``,
``security_level``), and the normalised ``attestation``. A token-level refusal (``invalid_saml``,
``unknown_issuer``, ``unknown_key``, ``unsupported_algorithm``, ``invalid_signature``,
``not_a_health_personnel_attestation``) has that one error and no attestation.

Why a sibling and not a branch of :func:`attest.verify`: verify's pipeline is the JOSE one (compact
parsing, header policy, ``kid`` lookup in key sets, JWT claims, replay of ``jti``); a SAML assertion has
another envelope, another trust entry (pinned certificates) and another time model. The stages after the
envelope are shared: :func:`attest.model.normalise`, :func:`attest.rules.evaluate_groups` and the profile's
rules, and the Decision document. The caller says which format it holds (CONVENTIONS.md: no guessing).

One deny-only check reads the assertion before its signature is checked: an assertion about a citizen
(helsenorge) is refused as ``not_a_health_personnel_attestation`` whoever signed it. Refusing needs no trust;
nothing that can lead to a permit is read from unverified content.

:func:`verify_saml` never raises for anything about the input; it raises ``TypeError`` for wrong argument
types and :class:`~attest.errors.ProfileError` for an unknown profile or one without a ``saml`` section.
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
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, InvalidInput
from signxml.exceptions import InvalidSignature as SignxmlInvalidSignature
from signxml.verifier import SignatureConfiguration, XMLVerifier

from .context import VerifyContext
from .errors import Finding, ProfileError
from .identifiers import redact_identity_numbers
from .model import normalise
from .profiles import Profile, load_profile
from .rules import RuleContext, evaluate_groups
from .saml_map import SAML_NS, Attributes, map_assertion, read_attributes
from .trust import DEFAULT_SAML_PROFILE, SamlIssuer, TrustStore
from .verify import DENY, PERMIT, Decision
from .xmlsafe import XmlLimits, XmlRefused, decode_input, hardened_parser, parse_document, text_content

__all__ = ["SAML_PROFILE", "SamlPolicy", "saml_policy", "saml_profile_for", "verify_saml"]

SAML_PROFILE = DEFAULT_SAML_PROFILE
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
_ID_NAMES = frozenset({"ID", "Id", "id"})
_INSTANT = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII)
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,255}", re.ASCII)
_UNVERIFIED_TEXT = 256

# rule references: SAML 2.0 core (saml-core-2.0-os) sections, RULES.md ATT ids
R_PARSE = "ATT-1"
R_SIGNATURE = "ATT-2"
R_SIG_PROFILE = "SAML2-core-5.4"
R_ASSERTION = "SAML2-core-2.3.3"
R_ISSUER = "SAML2-core-2.2.5"
R_SUBJECT = "SAML2-core-2.4.1"
R_CONFIRMATION = "SAML2-core-2.4.1.2"
R_CONDITIONS = "SAML2-core-2.5.1"
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


def _candidates(signature: Any, issuer: SamlIssuer) -> list[x509.Certificate]:
    """The pinned certificates to try: the one the KeyInfo names, which must be pinned, else all pinned.
    KeyInfo may hold only X509Data/X509Certificate (no KeyValue, RetrievalMethod or other key sources)."""
    key_infos = signature.findall(f"{{{DS_NS}}}KeyInfo")
    if not key_infos:
        return list(issuer.certificates)
    if len(key_infos) > 1:
        raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:KeyInfo", "more than one KeyInfo")
    carried: list[bytes] = []
    for child in key_infos[0]:
        if not isinstance(child.tag, str):
            continue
        if child.tag != f"{{{DS_NS}}}X509Data":
            raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:KeyInfo",
                           "KeyInfo may only carry X509Data (the key is the trust store's pinned certificate)")
        for cert in child:
            if not isinstance(cert.tag, str):
                continue
            der = _b64(cert.text) if cert.tag == f"{{{DS_NS}}}X509Certificate" else None
            if der is None:
                raise _Refused("invalid_signature", R_SIG_PROFILE, "ds:KeyInfo/ds:X509Data",
                               "X509Data may only carry base64 X509Certificate elements")
            carried.append(der)
    pinned = {c.public_bytes(Encoding.DER): c for c in issuer.certificates}
    if not carried:
        return list(issuer.certificates)
    if len(carried) > 1 or carried[0] not in pinned:
        raise _Refused("invalid_signature", R_SIGNATURE, "ds:KeyInfo/ds:X509Data/ds:X509Certificate",
                       "the certificate in KeyInfo is not the issuer's pinned certificate")
    return [pinned[carried[0]]]


def _usable(cert: x509.Certificate, method: str, policy: SamlPolicy, now: datetime.datetime) -> str | None:
    """Why ``cert`` cannot verify a ``method`` signature at ``now`` (None: it can)."""
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return "validity"
    key = cert.public_key()
    name = SignatureMethod(method).name
    if name.startswith("ECDSA_"):
        return None if isinstance(key, ec.EllipticCurvePublicKey) else "type"
    if isinstance(key, rsa.RSAPublicKey):
        return None if key.key_size >= policy.min_rsa_bits else "size"
    return "type"


def _verify_signature(raw: bytes, root: Any, env: _Envelope, issuer: SamlIssuer, policy: SamlPolicy,
                      now: int) -> _Verified:
    signature, method, digest = _signature_structure(root, env, policy)
    when = datetime.datetime.fromtimestamp(now, datetime.UTC)
    reasons: list[str] = []
    usable: list[x509.Certificate] = []
    for cert in _candidates(signature, issuer):
        reason = _usable(cert, method, policy, when)
        if reason is None:
            usable.append(cert)
        else:
            reasons.append(reason)
    if not usable:
        if "size" in reasons or "type" in reasons:
            raise _Refused("unsupported_algorithm", R_SIGNATURE, "ds:KeyInfo",
                           f"the pinned certificate's key does not fit the signature method or is under "
                           f"{policy.min_rsa_bits} bits")
        raise _Refused("unknown_key", R_SIGNATURE, "ds:KeyInfo",
                       "no pinned certificate of this issuer is valid at the evaluation time")
    config = SignatureConfiguration(
        require_x509=True, location="./", expect_references=1,
        signature_methods=frozenset(SignatureMethod(m) for m in policy.signature_methods),
        digest_algorithms=frozenset(DigestAlgorithm(d) for d in policy.digest_methods),
        ignore_ambiguous_key_info=False, verification_time=when,
        default_reference_c14n_method=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    failure = "the signature does not verify with the issuer's pinned certificate"
    for cert in usable:
        try:
            result = XMLVerifier().verify(raw, x509_cert=cert, parser=hardened_parser(), id_attribute="ID",
                                          expect_config=config, validate_schema=True)
        except InvalidDigest:
            failure = "the assertion's digest does not match: its signed content was changed"
            continue
        except SignxmlInvalidSignature:
            failure = "the signature value does not verify with the issuer's pinned certificate"
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
           errors: list[Finding]) -> None:
    """IssueInstant, Conditions (NotBefore, NotOnOrAfter, lifetime, conditions understood) and the
    AuthnStatement's session end, with the profile's leeway."""
    leeway = profile.leeway
    info["iat"] = int(env.issue_instant)
    if env.issue_instant > now + leeway:
        errors.append(Finding("token_not_yet_valid", R_ASSERTION, "saml:Assertion/@IssueInstant",
                              f"the assertion was issued {int(env.issue_instant - now)} s in the future"))
    conditions = el.findall(f"{{{SAML_NS}}}Conditions")
    if len(conditions) != 1:
        errors.append(Finding("missing_claim" if not conditions else "invalid_claim", R_CONDITIONS,
                              "saml:Conditions", "the assertion must have one saml:Conditions"))
        return
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
    for child in cond:
        if child.tag == f"{{{SAML_NS}}}OneTimeUse":
            # not enforced (no replay cache for assertions yet): refused rather than accepted unenforced
            errors.append(Finding("invalid_claim", R_CONDITIONS, "saml:Conditions/saml:OneTimeUse",
                                  "the assertion may be used once (OneTimeUse), which this verifier does not "
                                  "enforce: refused"))
        elif isinstance(child.tag, str) and child.tag not in (f"{{{SAML_NS}}}AudienceRestriction",
                                                              f"{{{SAML_NS}}}ProxyRestriction"):
            errors.append(Finding("invalid_claim", R_CONDITIONS, "saml:Conditions",
                                  "the assertion has a condition this verifier does not understand"))
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


def _subject(el: Any, policy: SamlPolicy, leeway: int, now: int, info: dict[str, Any],
             errors: list[Finding]) -> str | None:
    """The subject's NameID (its full text) and a SubjectConfirmation this verifier accepts (bearer or
    sender-vouches by default; its SubjectConfirmationData, when present, valid now)."""
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
        data = sc.find(f"{{{SAML_NS}}}SubjectConfirmationData")
        if data is not None:
            nbf, exp = _instant(data.get("NotBefore")), _instant(data.get("NotOnOrAfter"))
            if nbf is not None and nbf > now + leeway:
                problems.append(Finding("token_not_yet_valid", R_CONFIRMATION,
                                        "saml:SubjectConfirmationData/@NotBefore",
                                        "the subject confirmation is not valid yet"))
                continue
            if exp is not None and now >= exp + leeway:
                problems.append(Finding("token_expired", R_CONFIRMATION, "saml:SubjectConfirmationData/@NotOnOrAfter",
                                        "the subject confirmation has expired"))
                continue
        confirmed = method
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
) -> Decision:
    """Verify a SAML 2.0 ``assertion`` (XML text or bytes, or base64 of them) against ``profile`` (default:
    the profile the trust store configures for its issuer, else ``xua-saml-1.0``) with the pinned
    certificates of ``trust.saml_issuers``; return the :class:`~attest.verify.Decision`.

    Error codes: token level ``invalid_saml``, ``not_a_health_personnel_attestation``, ``unknown_issuer``,
    ``unknown_key`` (no pinned certificate valid now), ``unsupported_algorithm`` (c14n, signature or digest
    method outside the profile's lists, SHA-1, a key under 2048 bits), ``invalid_signature`` (unsigned, not
    one enveloped signature of the root, wrapping, a KeyInfo certificate that is not pinned, a bad value or
    digest); then ``missing_claim``/``invalid_claim``, ``token_expired``, ``token_not_yet_valid``,
    ``lifetime_too_long``, ``invalid_audience``, ``insufficient_security_level`` (ATT-9), ``invalid_field``
    (ambiguous or malformed attributes) and every code of the profile's rules.

    The audience is the issuer's configured ``audience``, else ``context.audience``, else the store's.
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
    _times(el, signed_env, prof, now, info, errors)
    _audience(el, issuer.audience or ctx.audience or trust.audience, info, errors)
    name_id = _subject(el, policy, prof.leeway, now, info, errors)
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
    return Decision(DENY if errors else PERMIT, prof.id, tuple(errors), tuple(warnings), info, attestation,
                    issuer_any, now)


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
