"""The trust store's ``saml_issuers`` section (issue 14): pinned certificates for SAML assertion issuers."""

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
    ({"certificate": None}, "exactly one of 'certificate'"),
    ({"certificate_file": "x.pem"}, "exactly one of 'certificate'"),
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
