"""The trust store's ``saml_issuers`` section (issue 14): pinned certificates, or the CAs a signing certificate
must chain to, for SAML assertion issuers (the chain itself: test_saml_chain.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import dsa, ec

from attest import TrustStore, TrustStoreError

from .support.saml import AUDIENCE, ISSUER, attacker_cert, certificate, ec_key, issuer_cert, pem, rsa_key


def load(**entry: Any) -> TrustStore:
    base: dict[str, Any] = {"issuer": ISSUER, "certificate": pem(issuer_cert())}
    base.update(entry)
    return TrustStore.from_dict({"saml_issuers": [{k: v for k, v in base.items() if v is not None}]})


def test_inline_certificate() -> None:
    store = load(audience=AUDIENCE, name="HelseID XDS SAML", legal_entities=["993467049"])
    entry = store.saml_issuers[ISSUER]
    assert entry.certificates == (issuer_cert(),) and entry.audience == AUDIENCE and entry.name == "HelseID XDS SAML"
    assert entry.legal_entities == frozenset({"993467049"}) and entry.profile == "xua-saml-1.0"
    assert entry.member is None and store.issuers == {} and store.authorization_servers == {}


def test_certificate_file_relative_to_the_store(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "saml.pem").write_text(pem(issuer_cert()) + pem(attacker_cert()))
    (tmp_path / "trust.yaml").write_text(
        f"saml_issuers:\n  - issuer: {ISSUER}\n    certificate_file: certs/saml.pem\n    profile: xua-saml-1.0-test\n")
    entry = TrustStore.load(tmp_path / "trust.yaml").saml_issuers[ISSUER]
    assert entry.certificates == (issuer_cert(), attacker_cert()) and entry.profile == "xua-saml-1.0-test"


def test_beside_jwt_issuers() -> None:
    from .support.tokens import trust_store

    jwt_store = trust_store()
    assert jwt_store.saml_issuers == {}
    data = {"issuers": [], "saml_issuers": [{"issuer": ISSUER, "certificate": pem(issuer_cert())}]}
    assert set(TrustStore.from_dict(data).saml_issuers) == {ISSUER}


@pytest.mark.parametrize(("entry", "message"), [
    ({"certificate": None}, "exactly one source of trust"),
    ({"certificate_file": "x.pem"}, "exactly one source of trust"),
    ({"ca_certificate": "x"}, "exactly one source of trust"),
    ({"ca_certificate_file": "ca.pem"}, "exactly one source of trust"),
    ({"certificate": None, "ca_certificate": 42}, "'ca_certificate' must be PEM text"),
    ({"certificate": None, "ca_certificate_file": ""}, "'ca_certificate_file' must be a path"),
    ({"recipient": ""}, "'recipient'"),
    ({"certificate": "not a pem"}, "not a PEM certificate|give 1"),
    ({"certificate": 42}, "must be PEM text"),
    ({"certificate": pem(issuer_cert()) * 5}, "give 1..4"),
    ({"audience": ""}, "'audience'"),
    ({"profile": 3}, "'profile'"),
    ({"legal_entities": ["123"]}, "not a valid organisation number"),
    ({"jwks": {}}, "unknown member"),
    ({"issuer": ""}, "'issuer' must be a non-empty string"),
])
def test_refused(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(TrustStoreError, match=message):
        load(**entry)


def test_missing_certificate_file(tmp_path: Path) -> None:
    with pytest.raises(TrustStoreError, match="cannot read certificate_file"):
        TrustStore.from_dict({"saml_issuers": [{"issuer": ISSUER, "certificate_file": "nope.pem"}]}, base_dir=tmp_path)


def test_duplicate_issuer() -> None:
    entry = {"issuer": ISSUER, "certificate": pem(issuer_cert())}
    with pytest.raises(TrustStoreError, match="duplicate issuer"):
        TrustStore.from_dict({"saml_issuers": [entry, entry]})


def test_keys() -> None:
    with pytest.raises(TrustStoreError, match="at least 2048"):
        load(certificate=pem(certificate(rsa_key(1024, "weak"))))
    assert load(certificate=pem(certificate(ec_key()))).saml_issuers[ISSUER].certificates
    with pytest.raises(TrustStoreError, match="curve"):
        load(certificate=pem(certificate(ec.generate_private_key(ec.SECP256K1()))))
    with pytest.raises(TrustStoreError, match="only RSA and EC"):
        load(certificate=pem(_dsa_certificate()))


def _dsa_certificate() -> Any:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = dsa.generate_private_key(2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dsa")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


def test_a_store_needs_some_section() -> None:
    with pytest.raises(TrustStoreError, match="saml_issuers"):
        TrustStore.from_dict({"audience": "x"})
    with pytest.raises(TrustStoreError, match="'saml_issuers' must be a list"):
        TrustStore.from_dict({"issuers": [], "saml_issuers": {}})


def test_an_issuers_profile_must_exist_and_fit_at_load() -> None:
    """A typo in a SAML issuer's (or an authorization server's) profile made every request from it a 500;
    it is now refused when the trust store loads (outside review, finding 4)."""
    from attest import TrustStore, TrustStoreError

    base = {"issuer": "https://saml.example", "certificate": pem(issuer_cert())}
    for bad, needle in (("xua-saml-1.0-tset", "unknown profile"), ("tillitsrammeverk-1.1", "not a SAML profile")):
        with pytest.raises(TrustStoreError, match=needle):
            TrustStore.from_dict({"saml_issuers": [{**base, "profile": bad}]})
    with pytest.raises(TrustStoreError, match="not an access-token profile"):
        TrustStore.from_dict({"authorization_servers": [{"issuer": "https://as.example", "jwks": {"keys": []},
                                                         "profile": "xua-saml-1.0"}]})


# --- trust through a CA ---------------------------------------------------------------------------------------

def _ca() -> Any:
    from .test_saml_chain import intermediate, root

    return root().cert, intermediate().cert


def test_ca_certificates_inline_and_from_a_file(tmp_path: Path) -> None:
    root, intermediate = _ca()
    entry = load(certificate=None, ca_certificate=pem(root) + pem(intermediate)).saml_issuers[ISSUER]
    assert entry.ca_certificates == (root, intermediate) and entry.certificates == ()
    assert entry.recipient is None
    (tmp_path / "ca.pem").write_text(pem(root))
    (tmp_path / "trust.yaml").write_text(
        f"saml_issuers:\n  - issuer: {ISSUER}\n    ca_certificate_file: ca.pem\n"
        "    recipient: https://gateway.example/xca\n")
    entry = TrustStore.load(tmp_path / "trust.yaml").saml_issuers[ISSUER]
    assert entry.ca_certificates == (root,) and entry.certificates == ()
    assert entry.recipient == "https://gateway.example/xca"
    with pytest.raises(TrustStoreError, match="cannot read ca_certificate_file"):
        TrustStore.from_dict({"saml_issuers": [{"issuer": ISSUER, "ca_certificate_file": "nope.pem"}]},
                             base_dir=tmp_path)


def test_pinned_and_ca_trust_together_are_refused() -> None:
    root, _ = _ca()
    with pytest.raises(TrustStoreError, match="exactly one source of trust"):
        load(ca_certificate=pem(root))


def test_a_ca_certificate_must_be_a_ca() -> None:
    from .test_saml_chain import leaf

    for not_a_ca in (issuer_cert(), leaf().cert):  # no extensions at all; an end-entity certificate
        with pytest.raises(TrustStoreError, match="CA certificate 0: not a CA certificate"):
            load(certificate=None, ca_certificate=pem(not_a_ca))
    with pytest.raises(TrustStoreError, match="keyCertSign"):
        load(certificate=None, ca_certificate=pem(_ca_without_key_cert_sign()))
    # the key rules of pinned certificates apply to CA certificates too
    with pytest.raises(TrustStoreError, match="at least 2048"):
        load(certificate=None, ca_certificate=pem(certificate(rsa_key(1024, "weak"))))


def _ca_without_key_cert_sign() -> Any:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no keyCertSign")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .sign(key, hashes.SHA256()))
