from __future__ import annotations

import jwt
import pytest

from attest import AttestationRefused, VerifyContext, build, check_attestation, sign, verify
from attest.errors import KeyError_
from attest.jose import parse_compact

from .support.tokens import AUDIENCE, NOW, org, trust_store, valid_attestation

F = org("fagersta")


def _build(att: dict | None = None, **kw: object) -> str:
    args: dict = {"key": F.key, "kid": F.kid, "iss": F.iss, "audience": AUDIENCE, "now": NOW}
    args.update(kw)
    return build(valid_attestation() if att is None else att, **args)


def test_build_sets_the_envelope_and_verifies() -> None:
    att = valid_attestation()
    del att["toa"]
    token = _build(att, lifetime=600)
    jws = parse_compact(token)
    assert jws.header == {"alg": "ES256", "kid": F.kid, "typ": "attestation+jwt"}
    p = jws.payload
    assert p["iat"] == NOW and p["exp"] == NOW + 600 and p["attestation"]["toa"] == NOW
    assert len(p["jti"]) == 36 and p["aud"] == AUDIENCE
    assert verify(token, trust_store(), context=VerifyContext(now=NOW)).permitted


def test_exp_is_bounded_by_toa() -> None:
    att = valid_attestation()
    att["toa"] = NOW - 3500
    p = parse_compact(_build(att, lifetime=600)).payload
    assert p["exp"] == NOW - 3500 + 3600


def test_emits_spec_spelling_from_variants() -> None:
    att = valid_attestation()
    att["care-relationship"] = att.pop("care_relation")
    att["care-relationship"]["purpose-of-use"] = att["care-relationship"].pop("purpose_of_use")
    p = parse_compact(_build(att)).payload
    assert "purpose_of_use" in p["attestation"]["care_relation"]
    assert "care-relationship" not in p["attestation"]


@pytest.mark.parametrize("mutate,code", [
    (lambda a: a["practitioner"]["identifier"].update(id="20086600139"), "invalid_person_identifier"),
    (lambda a: a["patients"][0]["identifier"].update(name="Kari Nordmann"), "invalid_field"),
    (lambda a: a["care_relation"]["decision_ref"].update(id="has spaces"), "invalid_decision_ref"),
    (lambda a: a["practitioner"]["authorization"].update(code="MT"), "invalid_code"),
    (lambda a: a["care_relation"]["purpose_of_use"].update(text=""), "invalid_field"),
    (lambda a: a["practitioner"]["identifier"].update(name="x" * 300), "invalid_field"),
    (lambda a: a["practitioner"]["identifier"].update(name="Dr\u202eEvil"), "invalid_field"),
    (lambda a: a["care_relation"].pop("decision_ref"), "missing_field"),
])
def test_refuses_what_it_must_not_issue(mutate: object, code: str) -> None:
    att = valid_attestation()
    mutate(att)  # type: ignore[operator]
    with pytest.raises(AttestationRefused) as exc:
        _build(att)
    assert code in [f.code for f in exc.value.findings]
    assert "20086600139" not in str(exc.value)


def test_refuses_an_already_expired_attestation_and_bad_arguments() -> None:
    att = valid_attestation()
    att["toa"] = NOW - 4000
    with pytest.raises(AttestationRefused) as exc:
        _build(att)
    assert {"attestation_has_expired", "token_expired"} <= {f.code for f in exc.value.findings}
    with pytest.raises(ValueError):
        _build(lifetime=3601)
    with pytest.raises(KeyError_):
        _build(alg="RS256")


def test_sign_checks_a_full_claim_set() -> None:
    claims = {"iss": F.iss, "aud": AUDIENCE, "iat": NOW, "exp": NOW + 4000, "jti": "j",
              "attestation": valid_attestation()}
    with pytest.raises(AttestationRefused) as exc:
        sign(claims, key=F.key, kid=F.kid, now=NOW)
    assert "lifetime_too_long" in [f.code for f in exc.value.findings]
    claims["exp"] = NOW + 600
    token = sign(claims, key=F.key, kid=F.kid, now=NOW)
    # a plain PyJWT decode with the public key agrees with our signature
    pub = F.key.public_key()
    decoded = jwt.decode(token, pub, algorithms=["ES256"], audience=AUDIENCE, options={"verify_exp": False,
                                                                                          "verify_iat": False})
    assert decoded["jti"] == "j"


def test_rsa_pss_and_eddsa_signing() -> None:
    ous = org("ous")
    att = valid_attestation()
    att["practitioner"]["legal_entity"]["id"] = "993467049"
    att["practitioner"]["point_of_care"]["id"] = "874716782"
    token = build(att, key=ous.key, kid=ous.kid, iss=ous.iss, audience=AUDIENCE, now=NOW)
    assert parse_compact(token).header["alg"] == "RS256"
    assert verify(token, trust_store(), context=VerifyContext(now=NOW)).permitted
    vendor = org("epj-vendor")
    token = build(valid_attestation(), key=vendor.key, kid=vendor.kid, iss=vendor.iss, audience=AUDIENCE, now=NOW)
    assert parse_compact(token).header["alg"] == "EdDSA"
    assert verify(token, trust_store(), context=VerifyContext(now=NOW)).permitted


def test_helseid_rar_issuing() -> None:
    att = valid_attestation()
    att["practitioner"]["department"] = {"id": "705592", "system": "urn:oid:2.16.578.1.12.4.1.4.102"}
    att["care_relation"]["purpose_of_use_details"] = {"code": "BEHANDLER",
                                                      "system": "urn:AuditEventHL7Norway/CodeSystem/carerelation"}
    att["patients"] = [{"point_of_care": {"id": "100100673", "system": "urn:oid:2.16.578.1.12.4.1.4.101"},
                        "department": {"id": "705592", "system": "urn:oid:2.16.578.1.12.4.1.4.102"}}]
    token = _build(att, profile="helseid-rar-1.0")
    p = parse_compact(token).payload
    assert "attestation" not in p
    (rar,) = p["authorization_details"]
    assert rar["type"] == "nhn:tillitsrammeverk:parameters" and "care_relationship" in rar
    assert "identifier" not in rar["practitioner"]
    ctx = VerifyContext(now=NOW, authenticated_pid="20086600138")
    assert verify(token, trust_store(), "helseid-rar-1.0", ctx).permitted


def test_check_attestation_reports_without_raising() -> None:
    _, errors, _warnings = check_attestation({"practitioner": 1}, now=NOW)
    assert {"invalid_field", "missing_field"} <= {f.code for f in errors}
