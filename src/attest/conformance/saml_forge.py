"""Deterministic SAML 2.0 material for the conformance corpus (``attest conformance generate --saml``): the
test SAML issuer's keys and certificates, derived from the seed, and signed assertions in the shape of
HelseID's XDS SAML service, made with :mod:`attest.saml_produce` from the corpus's attestation.

Everything is reproducible: RSA keys come from a seeded prime search (:func:`attest.conformance.forge.derive_key`),
the certificates have seed-derived serial numbers and fixed validity periods (so ``trust.yaml`` depends on the
seed, the issuer and the audience only), and RSASSA-PKCS1-v1_5 signatures are deterministic. Assertion IDs are
derived from the seed, ``now`` and the case id.

:class:`SamlForge` is also a :class:`~attest.conformance.saml_attacks.SamlKit` (through :meth:`SamlForge.kit`),
so the attack builders of :mod:`attest.conformance.saml_attacks` work on its assertions.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.signer import XMLSigner

from ..model import normalise
from ..saml_produce import attributes as produce_attributes
from ..saml_produce import build_assertion
from ..xmlsafe import hardened_parser
from .forge import (
    DEFAULT_AUDIENCE,
    DEFAULT_SEED,
    ORG_GP,
    ORG_OSLO,
    ORG_OUS,
    PATIENT_FNR,
    PRACTITIONER_FNR,
    Drbg,
    derive_key,
)
from .helseid_cases import enriched_attestation
from .saml_attacks import DS_NS, EXC_C14N, SAML_NS

#: the test SAML issuer (``.invalid``, RFC 2606: never resolvable, never HelseID's XDS SAML service)
DEFAULT_SAML_ISSUER = "https://saml-idp.conformance.invalid"


def ca_issuer_of(issuer: str) -> str:
    """The second test issuer's name (trusted through a CA): the first one's with ``/ca`` appended."""
    return issuer.rstrip("/") + "/ca"


#: the profile the trust store's entry names: test material is never trusted under a production profile
SAML_TEST_PROFILE = "xua-saml-1.0-test"
#: the organisations the test SAML issuer may vouch for (trust store ``legal_entities``, ATT-13)
SAML_LEGAL_ENTITIES = (ORG_OUS, ORG_OSLO, ORG_GP)
#: every well-formed assertion: IssueInstant and NotBefore this many seconds before ``now``, valid for LIFETIME
AGE = 60
LIFETIME = 3600
CLIENT_ID = "0c5e8e2f-7a0e-4c55-9a4f-3b2d1c0e9f18"
SCOPE = "journaldokumenter_helsepersonell"
HOME_COMMUNITY_ID = "2.16.578.1.12.4.1.7.1.1"

#: validity of the issuer's certificate: 2024-01-01 .. 2074-01-01 (fixed, so trust.yaml does not depend on
#: ``now``); the previous certificate expired when the current one began
CERT_VALIDITY = (1_704_067_200, 3_282_163_200)
PREVIOUS_CERT_VALIDITY = (1_388_534_400, 1_704_067_199)
#: the CA-issued signing certificate that has expired: within its issuer's validity, 2024-01-01 .. 2024-12-31
EXPIRED_CA_ISSUED_VALIDITY = (1_704_067_200, 1_735_689_599)


def _utc(t: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, datetime.UTC)


def instant(t: int) -> str:
    """An xs:dateTime in UTC, as saml_produce writes it."""
    return _utc(t).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "attest conformance (TEST MATERIAL)")])


def certificate(key: rsa.RSAPrivateKey, cn: str, serial: int, validity: tuple[int, int]) -> x509.Certificate:
    """A self-signed certificate (deterministic: PKCS#1 v1.5 over fixed fields)."""
    name = _name(cn)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(_utc(validity[0])).not_valid_after(_utc(validity[1]))
            .sign(key, hashes.SHA256()))


def issued_certificate(key: rsa.RSAPrivateKey, cn: str, serial: int, validity: tuple[int, int], *,
                       issuer: x509.Certificate | None, issuer_key: rsa.RSAPrivateKey, ca: bool,
                       path_length: int | None = None, digital_signature: bool | None = None) -> x509.Certificate:
    """A v3 certificate of ``key`` issued by ``issuer`` (self-issued when None), with the extensions of a CA or a
    signing certificate (basicConstraints and keyUsage critical, subject and authority key identifiers).
    Deterministic, as :func:`certificate`."""
    name = _name(cn)
    sign_ds = (not ca) if digital_signature is None else digital_signature
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.subject if issuer is not None else name).public_key(key.public_key())
               .serial_number(serial).not_valid_before(_utc(validity[0])).not_valid_after(_utc(validity[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=sign_ds, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class SamlCaMaterial:
    """The second test SAML issuer, trusted through a CA (the trust store names the root CA; an assertion
    carries its signing certificate, and an intermediate where there is one, in KeyInfo), and what the
    attacks on that trust need: certificates of the signer that must not chain (expired, without
    digitalSignature, issued by an impostor CA with the root's name)."""

    issuer: str
    root_key: rsa.RSAPrivateKey
    root: x509.Certificate
    intermediate_key: rsa.RSAPrivateKey
    intermediate: x509.Certificate
    signer_key: rsa.RSAPrivateKey
    #: the signer's certificate issued by the root, and one issued by the intermediate
    signer: x509.Certificate
    signer_via_intermediate: x509.Certificate
    signer_expired: x509.Certificate
    signer_without_digital_signature: x509.Certificate
    #: a CA with the root's name and another key (the attacker's), and the signer's certificate it issued
    impostor_root: x509.Certificate
    signer_via_impostor: x509.Certificate

    @classmethod
    def generate(cls, issuer: str, rsa_key: Callable[[str], rsa.RSAPrivateKey], serial: Callable[[str], int],
                 attacker_key: rsa.RSAPrivateKey) -> SamlCaMaterial:
        root_key, intermediate_key, signer_key = rsa_key("ca-root"), rsa_key("ca-intermediate"), rsa_key("ca-signer")
        root_cn, signer_cn = "attest conformance SAML root CA", "attest conformance SAML issuer (CA-issued)"
        root = issued_certificate(root_key, root_cn, serial("ca-root"), CERT_VALIDITY, issuer=None,
                                  issuer_key=root_key, ca=True)
        intermediate = issued_certificate(intermediate_key, "attest conformance SAML issuing CA",
                                          serial("ca-intermediate"), CERT_VALIDITY, issuer=root,
                                          issuer_key=root_key, ca=True, path_length=0)
        impostor = issued_certificate(attacker_key, root_cn, serial("ca-impostor"), CERT_VALIDITY, issuer=None,
                                      issuer_key=attacker_key, ca=True)

        def signer_cert(label: str, by: x509.Certificate, by_key: rsa.RSAPrivateKey,
                        validity: tuple[int, int] = CERT_VALIDITY, **kw: Any) -> x509.Certificate:
            return issued_certificate(signer_key, signer_cn, serial(f"ca-signer/{label}"), validity, issuer=by,
                                      issuer_key=by_key, ca=False, **kw)

        return cls(issuer, root_key, root, intermediate_key, intermediate, signer_key,
                   signer_cert("root", root, root_key), signer_cert("intermediate", intermediate, intermediate_key),
                   signer_cert("expired", root, root_key, EXPIRED_CA_ISSUED_VALIDITY),
                   signer_cert("no-digital-signature", root, root_key, digital_signature=False),
                   impostor, signer_cert("impostor", impostor, attacker_key))

    def trust_entry(self, ca_certificate_file: str | None = None) -> dict[str, Any]:
        """Who this issuer is and what it is trusted through, for its trust-store entry: its root CA (inline PEM,
        or ``ca_certificate_file``)."""
        entry: dict[str, Any] = {"issuer": self.issuer,
                                 "name": "attest conformance SAML issuer trusted through its CA (TEST MATERIAL: "
                                         "keys derived from a public seed)"}
        if ca_certificate_file is None:
            entry["ca_certificate"] = pem(self.root)
        else:
            entry["ca_certificate_file"] = ca_certificate_file
        return entry


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(Encoding.PEM).decode("ascii")


def saml_attestation() -> dict[str, Any]:
    """The attestation the valid assertions carry (HelseID's enriched attestation, normalised: a doctor at
    Oslo universitetssykehus, purpose of use TREAT, the patient at Ullevål)."""
    att, conflicts = normalise(enriched_attestation())
    if conflicts:  # pragma: no cover - a programming error in the example
        raise RuntimeError("the corpus attestation does not normalise")
    att["patients"] = [{"identifier": {"id": PATIENT_FNR, "system": "urn:oid:2.16.578.1.12.4.1.4.1"},
                        **att["patients"][0]}]
    return att


def base_attributes(attestation: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """The attribute statement of the valid assertions, as :func:`attest.saml_produce.attributes` writes it."""
    att = attestation if attestation is not None else saml_attestation()
    return produce_attributes(att, patient=PATIENT_FNR, security_level="4", client_id=CLIENT_ID, scope=SCOPE,
                              home_community_id=HOME_COMMUNITY_ID)


class AnySigner(XMLSigner):
    """signxml's signer without its refusal of SHA-1: the SHA-1 attack inputs need it."""

    def check_deprecated_methods(self) -> None:
        return None


def parse_attribute(xml: str) -> Any:
    """One serialized ``<saml:Attribute>`` (``saml`` bound to the assertion namespace) as an element."""
    wrapper = etree.fromstring(f'<w xmlns:saml="{SAML_NS}">{xml}</w>'.encode(), hardened_parser())
    return wrapper[0]


@dataclass
class SamlForge:
    """The test SAML issuer (its key, current and expired previous certificate), an attacker, a weak key,
    the audience and the evaluation time. Build one with :meth:`generate`."""

    seed: str
    now: int
    audience: str
    issuer: str
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    previous_key: rsa.RSAPrivateKey
    previous_certificate: x509.Certificate
    attacker_key: rsa.RSAPrivateKey
    attacker_certificate: x509.Certificate
    weak_key: rsa.RSAPrivateKey
    weak_certificate: x509.Certificate
    #: the second issuer, trusted through a CA
    ca: SamlCaMaterial
    drbg: Drbg = field(repr=False)

    @classmethod
    def generate(cls, *, seed: str = DEFAULT_SEED, now: int, audience: str = DEFAULT_AUDIENCE,
                 issuer: str = DEFAULT_SAML_ISSUER) -> SamlForge:
        drbg = Drbg(seed)

        def rsa_key(label: str, bits: int = 2048) -> rsa.RSAPrivateKey:
            key: rsa.RSAPrivateKey = derive_key(drbg, f"saml/{label}", "RS256", bits)
            return key

        def serial(label: str) -> int:
            return int.from_bytes(drbg.bytes(f"saml/serial/{label}", 16), "big") >> 1 | 1

        key, previous, attacker, weak = rsa_key("issuer"), rsa_key("issuer-previous"), rsa_key("attacker"), \
            rsa_key("weak", 1024)
        ca = SamlCaMaterial.generate(ca_issuer_of(issuer), rsa_key, serial, attacker)
        return cls(
            seed, now, audience, issuer,
            key, certificate(key, "attest conformance SAML issuer", serial("issuer"), CERT_VALIDITY),
            previous, certificate(previous, "attest conformance SAML issuer (previous)", serial("previous"),
                                  PREVIOUS_CERT_VALIDITY),
            attacker, certificate(attacker, "attacker", serial("attacker"), CERT_VALIDITY),
            weak, certificate(weak, "attest conformance SAML issuer (RSA-1024)", serial("weak"), CERT_VALIDITY),
            ca, drbg)

    # -- assertions ---------------------------------------------------------------------------------------

    @property
    def issued(self) -> int:
        return self.now - AGE

    def assertion_id(self, label: str) -> str:
        """An assertion ID unique per seed, ``now`` and label (an NCName)."""
        return "_conf-" + self.drbg.hex(f"saml/id/{self.now}/{label}", 12)

    def assertion(self, label: str, *, name_id: str | None = PRACTITIONER_FNR, issued: int | None = None,
                  lifetime: int = LIFETIME, audience: str | None = None, issuer: str | None = None,
                  assertion_id: str | None = None, attestation: dict[str, Any] | None = None,
                  attributes: Mapping[str, str | None] | None = None, raw_attributes: Sequence[str] = (),
                  placeholder: bool = True, edit: Callable[[Any], None] | None = None) -> Any:
        """A new unsigned assertion (an lxml element with the signature placeholder after the Issuer unless
        ``placeholder`` is false), made by :func:`attest.saml_produce.build_assertion`: subject ``name_id``
        (None: no NameID), IssueInstant, NotBefore and AuthnInstant ``issued`` (default ``now - 60``),
        NotOnOrAfter and SessionNotOnOrAfter ``issued + lifetime``. ``attributes`` replaces attribute values by
        ``Name`` (None removes one; a new Name is added at the end), ``raw_attributes`` are serialized
        ``<saml:Attribute>`` elements that replace the attribute of the same Name or are added; ``edit`` then
        changes the tree in place."""
        t = self.issued if issued is None else issued
        pairs = base_attributes(attestation)
        for name, value in (attributes or {}).items():
            if value is None:
                pairs = [(n, v) for n, v in pairs if n != name]
            elif any(n == name for n, _ in pairs):
                pairs = [(n, value if n == name else v) for n, v in pairs]
            else:
                pairs.append((name, value))
        root = build_assertion(issuer=issuer or self.issuer, audience=audience or self.audience,
                               subject=name_id or "-", attrs=pairs, lifetime=min(lifetime, LIFETIME), now=t,
                               assertion_id=assertion_id or self.assertion_id(label))
        if lifetime > LIFETIME:  # build_assertion refuses to make what a verifier must refuse
            root.find(f"{{{SAML_NS}}}Conditions").set("NotOnOrAfter", instant(t + lifetime))
        if name_id is None:
            subject = root.find(f"{{{SAML_NS}}}Subject")
            subject.remove(subject.find(f"{{{SAML_NS}}}NameID"))
        statement = root.find(f"{{{SAML_NS}}}AttributeStatement")
        for xml in raw_attributes:
            new = parse_attribute(xml)
            old = next((a for a in statement if a.get("Name") == new.get("Name")), None)
            if old is None:
                statement.append(new)
            else:
                statement.replace(old, new)
        if not placeholder:
            root.remove(root.find(f"{{{DS_NS}}}Signature"))
        if edit is not None:
            edit(root)
        return root

    def sign(self, element: Any, *, key: Any = None, cert: Any = None, signature_algorithm: str = "rsa-sha256",
             digest_algorithm: str = "sha256", c14n: str = EXC_C14N, reference_uri: str | None = None,
             include_cert: bool = True, enveloping: bool = False) -> Any:
        """Sign ``element`` (in place; returns the signed root): the issuer's key and certificate unless
        ``key`` is given; ``cert`` may be a list (KeyInfo carries them in that order). Deterministic
        (RSASSA-PKCS1-v1_5)."""
        signing_key = self.key if key is None else key
        chain = list(cert) if isinstance(cert, list | tuple) else [cert]
        certs = ([self.certificate] if key is None else chain) if include_cert else []
        method = SignatureConstructionMethod.enveloping if enveloping else SignatureConstructionMethod.enveloped
        signer = AnySigner(method=method, signature_algorithm=signature_algorithm,
                            digest_algorithm=digest_algorithm, c14n_algorithm=c14n)
        kwargs: dict[str, Any] = {"key": signing_key}
        if certs and certs[0] is not None:
            kwargs["cert"] = certs
        if not enveloping:
            kwargs["reference_uri"] = reference_uri if reference_uri is not None else element.get("ID")
        signed = signer.sign(element, **kwargs)
        if not kwargs.get("cert"):  # signxml puts the public key in KeyInfo when given no certificate
            for key_info in signed.iter(f"{{{DS_NS}}}KeyInfo"):
                key_info.getparent().remove(key_info)
        return signed

    def resign(self, element: Any) -> Any:
        """Sign the edited SignedInfo again with the issuer's key (RSA-SHA256)."""
        signed_info = element.find(f".//{{{DS_NS}}}SignedInfo")
        data = etree.tostring(signed_info, method="c14n", exclusive=True)
        value = self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        element.find(f".//{{{DS_NS}}}SignatureValue").text = base64.b64encode(value).decode("ascii")
        return element

    def signed(self, label: str, **kw: Any) -> bytes:
        """A validly signed assertion (:meth:`assertion` with ``kw``), serialized."""
        out: bytes = etree.tostring(self.sign(self.assertion(label, **kw)))
        return out

    def kit(self, label: str) -> SamlKitAdapter:
        """The attack builders' view of this forge, for the case ``label`` (its assertion ID)."""
        return SamlKitAdapter(self, label)

    # -- the trust store ----------------------------------------------------------------------------------

    def trust_document(self, certificate_file: str | None = None,
                       ca_certificate_file: str | None = None) -> dict[str, Any]:
        """The trust store: the SAML issuer with its pinned certificates (the current and the previous, expired
        one), and the second issuer trusted through its root CA; for each its audience, the organisations it
        may vouch for, the test profile. ``certificate_file`` and ``ca_certificate_file`` name PEM files beside
        the store instead of inline PEM."""
        entry: dict[str, Any] = {"issuer": self.issuer,
                                 "name": "attest conformance SAML issuer (TEST MATERIAL: keys derived from a "
                                         "public seed)"}
        if certificate_file is None:
            entry["certificate"] = self.certificates_pem()
        else:
            entry["certificate_file"] = certificate_file
        # recipient: what a SubjectConfirmationData Recipient must name (attest's default, said explicitly)
        def with_common(e: dict[str, Any]) -> dict[str, Any]:  # a list of its own each (no YAML anchors)
            return {**e, "audience": self.audience, "recipient": self.audience,
                    "legal_entities": list(SAML_LEGAL_ENTITIES), "profile": SAML_TEST_PROFILE}

        return {"test_material": True,
                "saml_issuers": [with_common(entry), with_common(self.ca.trust_entry(ca_certificate_file))]}

    def certificates_pem(self) -> str:
        return pem(self.certificate) + pem(self.previous_certificate)

    def trust_store(self) -> Any:
        from ..trust import TrustStore

        return TrustStore.from_dict(self.trust_document())


@dataclass(frozen=True)
class SamlKitAdapter:
    """A :class:`~attest.conformance.saml_attacks.SamlKit` over a :class:`SamlForge`, for one case."""

    forge: SamlForge
    label: str

    @property
    def assertion_id(self) -> str:
        return self.forge.assertion_id(self.label)

    @property
    def issuer(self) -> str:
        return self.forge.issuer

    @property
    def now(self) -> int:
        return self.forge.issued

    @property
    def practitioner(self) -> str:
        return PRACTITIONER_FNR

    @property
    def attacker(self) -> tuple[Any, Any]:
        return self.forge.attacker_key, self.forge.attacker_certificate

    @property
    def weak(self) -> tuple[Any, Any]:
        return self.forge.weak_key, self.forge.weak_certificate

    def unsigned(self, *, name_id: str | None = None, assertion_id: str | None = None,
                 attributes: Sequence[str] = (), placeholder: bool = True) -> Any:
        return self.forge.assertion(self.label, name_id=name_id or PRACTITIONER_FNR, assertion_id=assertion_id,
                                    raw_attributes=attributes, placeholder=placeholder)

    def sign(self, element: Any, *, key: Any = None, cert: Any = None, signature_algorithm: str = "rsa-sha256",
             digest_algorithm: str = "sha256", c14n: str = EXC_C14N, reference_uri: str | None = None,
             include_cert: bool = True, enveloping: bool = False) -> Any:
        return self.forge.sign(element, key=key, cert=cert, signature_algorithm=signature_algorithm,
                               digest_algorithm=digest_algorithm, c14n=c14n, reference_uri=reference_uri,
                               include_cert=include_cert, enveloping=enveloping)

    def resign(self, element: Any) -> Any:
        return self.forge.resign(element)

