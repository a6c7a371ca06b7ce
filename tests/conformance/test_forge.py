"""Deterministic keys and signatures, and the identifier helpers the corpus builds its values with."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from attest import VerifyContext, verify
from attest.conformance import forge as fg
from attest.conformance.cases_rules import NO_SUCH_DATE_FNR, PRACTITIONER_DNR, TENOR_FNR
from attest.conformance.cases_valid import FNR_2032, PATIENT_DNR, PATIENT_FHNR, PATIENT_HNR
from attest.identifiers import (
    OID_DNR,
    OID_FNR,
    OID_HNR,
    check_organization_number,
    check_person_number,
)

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def forge() -> fg.Forge:
    return fg.Forge.generate(now=NOW)


def test_keys_and_every_signature_are_deterministic(forge: fg.Forge) -> None:
    fg._KEY_CACHE.clear()   # derive again from the seed, not from the cache
    again = fg.Forge.generate(now=NOW)
    for name, key in forge.issuer.keys.items():
        assert key.public_jwk() == again.issuer.keys[name].public_jwk()
        assert forge.token("x", key=key) == again.token("x", key=again.issuer.keys[name]), name


def test_another_seed_gives_other_keys(forge: fg.Forge) -> None:
    other = fg.Forge.generate(now=NOW, seed="another seed")
    assert other.issuer.key.public_jwk() != forge.issuer.key.public_jwk()
    assert other.jti("a") != forge.jti("a")


def test_derived_rsa_keys_are_sound(forge: fg.Forge) -> None:
    for name in ("rs256", "ps256"):
        key = forge.issuer.keys[name].private_key
        assert key.key_size == 2048
        n = key.private_numbers()
        assert n.p * n.q == n.public_numbers.n and n.public_numbers.e == 65537


def test_deterministic_pss_is_a_valid_pss_signature(forge: fg.Forge) -> None:
    key = forge.issuer.keys["ps256"]
    sig = key.sign(b"signing input")
    assert sig == key.sign(b"signing input")
    key.private_key.public_key().verify(sig, b"signing input",
                                        padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        key.private_key.public_key().verify(sig, b"other input",
                                            padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())


def test_every_issuer_key_signs_a_permitted_token(forge: fg.Forge) -> None:
    trust = forge.trust_store()
    ctx = VerifyContext(audience=forge.audience, now=NOW)
    for party in (forge.issuer, forge.other_issuer):
        for key in party.keys.values():
            att = forge.attestation()
            att["practitioner"]["legal_entity"]["id"] = party.legal_entities[0]
            att["practitioner"]["point_of_care"]["id"] = party.legal_entities[0]
            d = verify(forge.token("k", att, key=key, party=party), trust, context=ctx)
            assert d.permitted, (key.name, d.codes)


def test_given_issuer_key_replaces_the_primary_key() -> None:
    from attest import generate_private_key

    key = generate_private_key("ES256")
    f = fg.Forge.generate(now=NOW, issuer_key=key, issuer_kid="my-kid", iss="https://epj.example")
    assert f.issuer.key.kid == "my-kid" and f.issuer.key.alg == "ES256"
    assert f.issuer.iss == "https://epj.example" and f.other_issuer.iss == "https://epj.example/b"
    d = verify(f.token("t"), f.trust_store(), context=VerifyContext(audience=f.audience, now=NOW))
    assert d.permitted, d.codes
    with pytest.raises(ValueError, match="collides"):
        fg.Forge.generate(now=NOW, issuer_key=key, issuer_kid="conf-a-eddsa")


@pytest.mark.parametrize(("number", "system", "kind"), [
    (PRACTITIONER_DNR, OID_DNR, "D"), (PATIENT_DNR, OID_DNR, "D"), (PATIENT_HNR, OID_HNR, "H"),
    (PATIENT_FHNR, OID_HNR, "FH"), (FNR_2032, OID_FNR, "F"),
])
def test_generated_person_numbers_are_what_the_cases_say(number: str, system: str, kind: str) -> None:
    r = check_person_number(number, system)
    assert r.ok and r.kind == kind, r.reason
    assert r.rule_2032 == (number == FNR_2032)


def test_deliberately_bad_person_numbers_fail_for_the_stated_reason() -> None:
    assert "date" in check_person_number(NO_SUCH_DATE_FNR, OID_FNR).reason
    assert "synthetic" in check_person_number(TENOR_FNR, OID_FNR).reason
    assert check_person_number(TENOR_FNR, OID_FNR, allow_synthetic=True).ok
    assert "control digits" in check_person_number(fg.bad_check_digit(fg.PATIENT_FNR), OID_FNR).reason


def test_generated_organisation_numbers_are_valid() -> None:
    for prefix in ("9100000", "9200000"):
        assert check_organization_number(fg.find_organization_number(prefix)) is None
    assert check_organization_number(fg.bad_check_digit(fg.ORG_GP)) is not None
