"""attest.saml: a SAML issuer trusted through a CA (issue 14: "a pinned certificate, or a CA chain with
validity at the evaluation time"). The assertion carries its signing certificate (and any intermediates) in
KeyInfo; it must chain to the trust store's CA at the evaluation time before its key verifies anything.

Every certificate here is generated in the test process: root → intermediate (pathLen 0) → signing
certificate, and the certificates that must not pass."""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import SignatureConstructionMethod, XMLSigner

from attest import ERROR_CODES, TrustStore, VerifyContext, verify_saml

from .support.saml import (
    AUDIENCE,
    DS_NS,
    EXC_C14N,
    ISSUER,
    PATIENT,
    assertion_xml,
    b64,
    issuer_cert,
    pem,
    rsa_key,
    sign,
)
from .support.tokens import NOW

DAY = 86400


@dataclass(frozen=True)
class Cert:
    cert: x509.Certificate
    key: Any


def _name(cn: str, serial: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if serial is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def issue(subject: x509.Name, issuer: Cert | None, *, key: Any = None, ca: bool = False,
          path_length: int | None = None, not_before: int = NOW - 30 * DAY, not_after: int = NOW + 30 * DAY,
          digital_signature: bool | None = None, issuer_name: x509.Name | None = None,
          signing_key: Any = None) -> Cert:
    """A v3 certificate of ``subject`` issued by ``issuer`` (self-signed when None), with the extensions a CA
    or a signing certificate has (basicConstraints critical, keyUsage critical, SKI/AKI)."""
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    signer_key = signing_key if signing_key is not None else (issuer.key if issuer is not None else key)
    sign_ds = (not ca) if digital_signature is None else digital_signature
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer_name or (issuer.cert.subject if issuer is not None else subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(datetime.datetime.fromtimestamp(not_before, datetime.UTC))
               .not_valid_after(datetime.datetime.fromtimestamp(not_after, datetime.UTC))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=sign_ds, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    return Cert(builder.sign(signer_key, hashes.SHA256()), key)


@cache
def root() -> Cert:
    return issue(_name("Test Root CA"), None, ca=True, not_before=NOW - 3650 * DAY, not_after=NOW + 3650 * DAY)


@cache
def intermediate() -> Cert:
    return issue(_name("Test Issuing CA"), root(), ca=True, path_length=0, not_before=NOW - 365 * DAY,
                 not_after=NOW + 365 * DAY)


@cache
def leaf() -> Cert:
    return issue(_name("HelseID XDS SAML (test)"), intermediate())


@cache
def other_root() -> Cert:
    return issue(_name("Test Root CA"), None, ca=True)  # the same name as root(), another key


def ca_store(*cas: x509.Certificate, **extra: Any) -> TrustStore:
    entry: dict[str, Any] = {"issuer": ISSUER, "ca_certificate": "".join(pem(c) for c in cas or (root().cert,)),
                             "audience": AUDIENCE}
    entry.update(extra)
    return TrustStore.from_dict({"saml_issuers": [entry]})


def signed(chain: list[x509.Certificate], key: Any, *, algorithm: str = "ecdsa-sha256", **kw: Any) -> bytes:
    """An assertion signed with ``key``, its KeyInfo carrying ``chain`` in this order."""
    signer = XMLSigner(method=SignatureConstructionMethod.enveloped, signature_algorithm=algorithm,
                       digest_algorithm="sha256", c14n_algorithm=EXC_C14N)
    out: bytes = etree.tostring(signer.sign(etree.fromstring(assertion_xml(**kw)), key=key, cert=chain))
    return out


def decide(data: bytes, trust: TrustStore | None = None, now: int = NOW + 10) -> Any:
    d = verify_saml(data, trust or ca_store(), "xua-saml-1.0", VerifyContext(now=now, patient_id=PATIENT))
    assert {f.code for f in (*d.errors, *d.warnings)} <= set(ERROR_CODES)
    return d


def refused(d: Any) -> tuple[str, str]:
    assert not d.permitted and len(d.errors) == 1 and d.attestation is None, d.errors
    return d.errors[0].code, d.errors[0].message


# --- permitted ---------------------------------------------------------------------------------------------

def test_a_signing_certificate_that_chains_to_the_ca_is_permitted() -> None:
    d = decide(signed([leaf().cert, intermediate().cert], leaf().key))
    assert d.permitted, d.errors
    thumb = base64.urlsafe_b64encode(hashlib.sha256(leaf().cert.public_bytes(Encoding.DER)).digest()).rstrip(b"=")
    assert d.token["x5t#S256"] == thumb.decode() and d.token["alg"] == "ecdsa-sha256"


def test_order_in_x509data_does_not_matter_and_the_root_may_be_carried() -> None:
    assert decide(signed([intermediate().cert, leaf().cert], leaf().key)).permitted
    assert decide(signed([root().cert, intermediate().cert, leaf().cert], leaf().key)).permitted


def test_an_intermediate_as_the_trust_anchor() -> None:
    assert decide(signed([leaf().cert], leaf().key), ca_store(intermediate().cert)).permitted


def test_a_signing_certificate_directly_under_the_root() -> None:
    direct = issue(_name("direct"), root())
    assert decide(signed([direct.cert], direct.key)).permitted


def test_an_rsa_signing_certificate() -> None:
    rsa_leaf = issue(_name("rsa"), intermediate(), key=rsa_key())
    assert decide(signed([rsa_leaf.cert, intermediate().cert], rsa_leaf.key, algorithm="rsa-sha256")).permitted


def test_one_of_several_cas() -> None:
    assert decide(signed([leaf().cert, intermediate().cert], leaf().key),
                  ca_store(other_root().cert, root().cert)).permitted


# --- refused: the chain --------------------------------------------------------------------------------------

def test_wrong_ca() -> None:
    code, message = refused(decide(signed([leaf().cert, intermediate().cert], leaf().key),
                                   ca_store(other_root().cert)))
    assert code == "unknown_key" and "does not chain" in message


def test_missing_intermediate() -> None:
    assert refused(decide(signed([leaf().cert], leaf().key)))[0] == "unknown_key"


@pytest.mark.parametrize(("not_before", "not_after"), [(NOW - 60 * DAY, NOW - DAY), (NOW + DAY, NOW + 60 * DAY)],
                         ids=["expired", "not-yet-valid"])
def test_signing_certificate_outside_its_validity(not_before: int, not_after: int) -> None:
    bad = issue(_name("HelseID XDS SAML (test)"), intermediate(), key=leaf().key, not_before=not_before,
                not_after=not_after)
    for chain in ([bad.cert, intermediate().cert], [intermediate().cert, bad.cert]):  # the reason is the leaf's
        code, message = refused(decide(signed(chain, leaf().key)))
        assert code == "unknown_key" and "not valid at the evaluation time" in message


def test_an_expired_intermediate() -> None:
    old = issue(_name("Test Issuing CA"), root(), key=intermediate().key, ca=True, path_length=0,
                not_before=NOW - 60 * DAY, not_after=NOW - DAY)
    code, message = refused(decide(signed([leaf().cert, old.cert], leaf().key)))
    assert code == "unknown_key" and "not valid at the evaluation time" in message


def test_validity_is_at_the_evaluation_time() -> None:
    """The chain is checked at the assertion's evaluation time (context.now), not at the wall clock's."""
    short = issue(_name("short"), intermediate(), not_before=NOW - 100, not_after=NOW + 100)
    assert decide(signed([short.cert, intermediate().cert], short.key)).permitted  # at NOW + 10
    later = signed([short.cert, intermediate().cert], short.key, issued=NOW + 200)
    assert decide(later, now=NOW + 210).codes == ["unknown_key"]


def test_an_expired_trust_anchor() -> None:
    old_root = issue(_name("Old Root"), None, ca=True, not_before=NOW - 60 * DAY, not_after=NOW - DAY)
    under = issue(_name("under"), old_root)
    assert decide(signed([under.cert], under.key), ca_store(old_root.cert)).codes == ["unknown_key"]


def test_a_ca_certificate_as_a_leaf_beyond_path_length() -> None:
    """A certificate with CA=true under the intermediate (pathLen 0) issuing the signing certificate: the
    intermediate may not have a CA below it."""
    sub_ca = issue(_name("sub CA"), intermediate(), ca=True, digital_signature=True)
    below = issue(_name("below"), sub_ca)
    code, message = refused(decide(signed([below.cert, sub_ca.cert, intermediate().cert], below.key)))
    assert code == "unknown_key" and "path length" in message


def test_a_ca_certificate_does_not_sign_assertions() -> None:
    signing_ca = issue(_name("signing CA"), root(), ca=True, digital_signature=True)
    code, message = refused(decide(signed([signing_ca.cert], signing_ca.key)))
    assert code == "unknown_key" and "is a CA certificate" in message
    # nor does the intermediate, with its own key (no digitalSignature; it is a CA)
    assert decide(signed([intermediate().cert], intermediate().key)).codes == ["unknown_key"]


def test_a_self_signed_certificate_with_the_signing_certificates_name() -> None:
    """A self-signed certificate with the real signing certificate's subject (and one claiming the
    intermediate as issuer, signed with another key): no path to the CA."""
    impostor = issue(leaf().cert.subject, None)
    assert refused(decide(signed([impostor.cert, intermediate().cert], impostor.key)))[0] == "unknown_key"
    forged = issue(leaf().cert.subject, intermediate(), signing_key=ec.generate_private_key(ec.SECP256R1()))
    code, message = refused(decide(signed([forged.cert, intermediate().cert], forged.key)))
    assert code == "unknown_key" and "signature does not verify" in message


def test_a_signing_certificate_without_digital_signature() -> None:
    no_ds = issue(_name("no ds"), intermediate(), digital_signature=False)
    code, message = refused(decide(signed([no_ds.cert, intermediate().cert], no_ds.key)))
    assert code == "unknown_key" and "digitalSignature" in message


def test_the_key_rules_of_pinned_certificates_apply() -> None:
    weak = issue(_name("weak"), intermediate(), key=rsa_key(1024, "weak"))
    assert refused(decide(signed([weak.cert, intermediate().cert], weak.key,
                                 algorithm="rsa-sha256")))[0] == "unsupported_algorithm"
    k1 = issue(_name("k1"), intermediate(), key=ec.generate_private_key(ec.SECP256K1()))
    assert refused(decide(signed([k1.cert, intermediate().cert], k1.key)))[0] == "unsupported_algorithm"


# --- refused: KeyInfo, and the signature after the chain -------------------------------------------------------

def test_no_certificate_in_keyinfo() -> None:
    data = etree.tostring(sign(assertion_xml(), key=leaf().key, cert=leaf().cert, include_cert=False,
                               signature_algorithm="ecdsa-sha256"))
    code, message = refused(decide(data))
    assert code == "unknown_key" and "KeyInfo" in message


def test_keyinfo_certificate_that_is_not_der_or_too_many() -> None:
    data = signed([leaf().cert, intermediate().cert], leaf().key)
    first = re.search(rb"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", data)
    assert first is not None
    garbage = data.replace(first.group(1), b64(b"not a certificate").encode(), 1)
    assert refused(decide(garbage))[0] == "invalid_signature"
    many = signed([leaf().cert] + [intermediate().cert] * 5, leaf().key)
    assert refused(decide(many))[0] == "invalid_signature"


def test_the_signature_is_verified_with_the_chained_certificates_key() -> None:
    """A good chain in KeyInfo does not vouch for a signature made with another key."""
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert refused(decide(signed([leaf().cert, intermediate().cert], stranger)))[0] == "invalid_signature"


def test_the_chain_is_checked_before_the_signature() -> None:
    """An expired signing certificate is refused as a key, although its signature value is good."""
    expired = issue(_name("expired"), intermediate(), not_before=NOW - 60 * DAY, not_after=NOW - DAY)
    assert refused(decide(signed([expired.cert, intermediate().cert], expired.key)))[0] == "unknown_key"


def test_a_pinned_issuer_still_refuses_a_chain() -> None:
    """Pinned trust is unchanged: a KeyInfo chain, or a CA-issued certificate that is not pinned, is refused."""
    pinned = TrustStore.from_dict({"saml_issuers": [{"issuer": ISSUER, "certificate": pem(issuer_cert()),
                                                     "audience": AUDIENCE}]})
    assert refused(decide(signed([leaf().cert, intermediate().cert], leaf().key), pinned))[0] == "invalid_signature"
    assert refused(decide(signed([leaf().cert], leaf().key), pinned))[0] == "invalid_signature"


def test_no_identity_number_from_a_certificate_in_messages() -> None:
    """A person certificate's subject may hold a national identity number: refusal messages use fixed words."""
    person = issue(_name("Kari Nordmann", serial="04056600324"), intermediate(), not_before=NOW - 60 * DAY,
                   not_after=NOW - DAY)
    d = decide(signed([person.cert, intermediate().cert], person.key))
    assert d.codes == ["unknown_key"] and "04056600324" not in d.errors[0].message
    assert not re.search(r"\d{11}", d.errors[0].message)


def test_the_test_signer_carries_the_whole_chain() -> None:
    """The chain the signer writes is one ds:X509Data with both certificates (what the tests above rely on)."""
    root_el = etree.fromstring(signed([leaf().cert, intermediate().cert], leaf().key))
    assert len(root_el.findall(f".//{{{DS_NS}}}X509Data/{{{DS_NS}}}X509Certificate")) == 2
