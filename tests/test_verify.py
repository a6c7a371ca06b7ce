from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from attest import MemoryReplayCache, TrustStore, VerifyContext, generate_private_key, public_jwk, verify
from attest.jose import b64url, sign_compact

from .support.tokens import AUDIENCE, DROP, NOW, claims_for, make_token, org, spec_example, trust_store

CTX = VerifyContext(audience=AUDIENCE, now=NOW)
#: the patient and the user of the valid token (the production profile warns when either is absent)
BINDINGS = {"patient_id": "13116900216", "authenticated_pid": "20086600138"}


def _codes(token: str, profile: str = "tillitsrammeverk-1.1", ctx: VerifyContext = CTX, **kw: Any) -> list[str]:
    return sorted(f.code for f in verify(token, trust_store(), profile, ctx, **kw).errors)


def test_permit_and_decision_document() -> None:
    d = verify(make_token(jti="abc"), trust_store(), context=CTX)
    assert d.permitted and d.decision == "permit"
    doc = d.to_dict()
    assert set(doc) == {"decision", "profile", "errors", "warnings", "token", "attestation"}
    assert doc["token"] == {"alg": "ES256", "kid": org("fagersta").kid, "iss": "https://epj.fagersta.example",
                            "jti": "abc", "iat": NOW - 60, "exp": NOW + 540}
    assert doc["attestation"]["care_relation"]["purpose_of_use"]["code"] == "TREAT"
    assert d.issuer is not None and d.issuer.name.startswith("Norsk Helsenett")


def test_every_example_org_verifies() -> None:
    for name, le, poc in (("oslo-kommune", "997506499", "875300342"), ("ous", "993467049", "874716782")):
        att = claims_for()["attestation"]
        att["practitioner"]["legal_entity"]["id"] = le
        att["practitioner"]["point_of_care"]["id"] = poc
        assert _codes(make_token(att, org_name=name)) == []


# --- token level: only token errors, attestation null ---------------------------------------------------

@pytest.mark.parametrize("kwargs,code", [
    ({"iss": "https://unknown.example"}, "unknown_issuer"),
    ({"iss": DROP}, "missing_claim"),
    ({"iss": ["https://epj.fagersta.example"]}, "invalid_claim"),
    ({"header": {"kid": "no-such-kid"}}, "unknown_key"),
    ({"header": {"kid": DROP}}, "unknown_key"),
    ({"header": {"typ": "JWT"}}, "invalid_token_type"),
    ({"header": {"x5u": "https://evil.example/cert"}}, "malformed_token"),
    ({"sign_with": "ous"}, "unsupported_algorithm"),  # RS256 header, fagersta's ES256 key
])
def test_token_level_errors(kwargs: dict[str, Any], code: str) -> None:
    d = verify(make_token(**kwargs), trust_store(), context=CTX)
    assert [f.code for f in d.errors] == [code]
    assert d.attestation is None


def test_key_of_another_issuer_is_not_used() -> None:
    # signed by the hospital's key with the hospital's kid, claiming to be the GP office (C6)
    tok = make_token(header={"kid": org("ous").kid}, sign_with="ous")
    assert _codes(tok) == ["unknown_key"]


def test_tampered_payload_fails_signature() -> None:
    h, p, s = make_token().split(".")
    claims = json.loads(jwt.utils.base64url_decode(p))
    claims["attestation"]["care_relation"]["purpose_of_use"]["code"] = "BTG"
    tampered = f"{h}.{b64url(json.dumps(claims).encode())}.{s}"
    assert _codes(tampered) == ["invalid_signature"]


def test_attacker_key_with_trusted_kid() -> None:
    attacker = generate_private_key("ES256")
    tok = sign_compact({"alg": "ES256", "kid": org("fagersta").kid, "typ": "attestation+jwt"}, claims_for(),
                       attacker, "ES256")
    assert _codes(tok) == ["invalid_signature"]


def test_alg_none_and_hmac_confusion() -> None:
    h = b64url(json.dumps({"alg": "none", "kid": org("fagersta").kid, "typ": "attestation+jwt"}).encode())
    p = b64url(json.dumps(claims_for()).encode())
    assert _codes(f"{h}.{p}.AAAA") == ["unsupported_algorithm"]
    pem = (Path(__file__).parents[1] / "keys_example" / "fagersta" / "jwks.json").read_bytes()
    h = b64url(json.dumps({"alg": "HS256", "kid": org("fagersta").kid, "typ": "attestation+jwt"}).encode())
    sig = hmac.new(pem, f"{h}.{p}".encode(), hashlib.sha256).digest()
    assert _codes(f"{h}.{p}.{b64url(sig)}") == ["unsupported_algorithm"]


def test_ecdsa_high_s_is_the_same_token_for_replay() -> None:
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    tok = make_token(jti="replay-me")
    h, p, s = tok.split(".")
    raw = jwt.utils.base64url_decode(s)
    r, s_int = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    twin = f"{h}.{p}.{b64url(r.to_bytes(32, 'big') + (n - s_int).to_bytes(32, 'big'))}"
    cache = MemoryReplayCache(clock=lambda: NOW)
    assert _codes(twin, replay=cache) == []
    assert _codes(tok, replay=cache) == ["token_replayed"]
    assert decode_dss_signature  # keeps the import honest: cryptography provides the DSS helpers


def test_replay_only_after_all_checks() -> None:
    cache = MemoryReplayCache(clock=lambda: NOW)
    bad = make_token(jti="victim", aud="someone-else")
    assert _codes(bad, replay=cache) == ["invalid_audience"]
    good = make_token(jti="victim")
    assert _codes(good, replay=cache) == []
    assert _codes(good, replay=cache) == ["token_replayed"]
    # the same jti from another issuer is a different token
    other = claims_for(org_name="epj-vendor", jti="victim")
    assert _codes(make_token(payload=other, org_name="epj-vendor"), replay=cache) == []


def test_replay_entries_expire_with_the_token() -> None:
    clock = [NOW]
    cache = MemoryReplayCache(clock=lambda: clock[0])
    assert cache.check_and_store("i", "j", NOW + 10)
    assert not cache.check_and_store("i", "j", NOW + 10)
    clock[0] = NOW + 11
    assert cache.check_and_store("i", "j", NOW + 20)
    assert len(cache) == 1


# --- registered claims ------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides,codes", [
    ({"aud": "someone-else"}, ["invalid_audience"]),
    ({"aud": ["x", AUDIENCE]}, []),
    ({"aud": []}, ["invalid_claim"]),
    ({"aud": [AUDIENCE, 1]}, ["invalid_claim"]),
    ({"aud": AUDIENCE.upper()}, ["invalid_audience"]),
    ({"aud": DROP}, ["missing_claim"]),
    ({"exp": DROP}, ["missing_claim"]),
    ({"iat": DROP}, ["missing_claim"]),
    ({"jti": DROP}, ["missing_claim"]),
    ({"jti": ""}, ["invalid_claim"]),
    ({"jti": "x" * 129}, ["invalid_claim"]),
    ({"jti": 7}, ["invalid_claim"]),
    ({"exp": str(NOW + 100)}, ["invalid_claim"]),
    ({"exp": True}, ["invalid_claim"]),
    ({"iat": NOW - 60.5}, ["invalid_claim"]),
    ({"exp": 10**30}, ["invalid_claim"]),
    ({"exp": float(NOW + 100)}, []),
    ({"exp": NOW - 30}, ["token_expired"]),       # now >= exp + leeway
    ({"exp": NOW - 29}, []),
    ({"iat": NOW + 31, "exp": NOW + 600}, ["token_not_yet_valid"]),
    ({"iat": NOW + 30, "exp": NOW + 600}, []),
    ({"nbf": NOW + 31}, ["token_not_yet_valid"]),
    ({"nbf": NOW}, []),
    ({"nbf": None}, ["invalid_claim"]),
    ({"exp": None}, ["missing_claim"]),
    ({"iat": NOW - 3000, "exp": NOW + 601}, ["lifetime_too_long"]),
    ({"iat": NOW - 3000, "exp": NOW + 600}, []),
    ({"iat": NOW, "exp": NOW}, ["invalid_claim"]),
])
def test_registered_claims(overrides: dict[str, Any], codes: list[str]) -> None:
    assert _codes(make_token(**overrides)) == codes


def test_audience_from_the_trust_store_and_warning_without_one() -> None:
    d = verify(make_token(aud="x"), trust_store(), context=VerifyContext(now=NOW))
    assert [f.code for f in d.errors] == ["invalid_audience"]  # trust store says nhn:pjd
    bare = TrustStore.from_dict({"issuers": [{"iss": org("fagersta").iss, "legal_entities": ["100100673"],
                                              "member": True, "jwks": {"keys": [public_jwk(org("fagersta").key, "ES256")]}}]})
    d = verify(make_token(aud="x"), bare, context=VerifyContext(now=NOW, **BINDINGS))
    assert d.permitted and [(f.code, f.rule) for f in d.warnings] == [("context_not_provided", "RFC8725-3.9")]


def test_membership_flag() -> None:
    jwk = public_jwk(org("fagersta").key, "ES256")
    for member, errors in ((False, ["legal_entity_not_member"]), (True, [])):
        entry: dict[str, Any] = {"iss": org("fagersta").iss, "legal_entities": ["100100673"], "jwks": {"keys": [jwk]},
                                 "member": member}
        d = verify(make_token(), TrustStore.from_dict({"issuers": [entry], "audience": AUDIENCE}), context=CTX)
        assert [f.code for f in d.errors] == errors


# --- where the attestation is --------------------------------------------------------------------------

def test_missing_attestation() -> None:
    assert _codes(make_token(attestation=DROP)) == ["missing_attestation"]
    assert _codes(make_token(attestation="yes")) == ["missing_attestation"]


def test_flat_shape_is_accepted() -> None:
    claims = claims_for(attestation=DROP)
    claims.update(claims_for()["attestation"])
    d = verify(make_token(payload=claims), trust_store(), context=CTX)
    assert d.permitted and d.attestation is not None and d.attestation["toa"] == NOW - 60


def test_helseid_rar_profile() -> None:
    att = claims_for()["attestation"]
    rar = {"type": "nhn:tillitsrammeverk:parameters",
           "practitioner": {k: att["practitioner"][k] for k in ("authorization", "legal_entity", "point_of_care")},
           "care_relationship": {**att["care_relation"],
                                 "purpose_of_use_details": {"code": "BEHANDLER",
                                                            "system": "urn:AuditEventHL7Norway/CodeSystem/carerelation"}},
           "patients": [{"point_of_care": {"id": "100100673", "system": "urn:oid:2.16.578.1.12.4.1.4.101"},
                         "department": {"id": "705592", "system": "urn:oid:2.16.578.1.12.4.1.4.102"}}]}
    rar["practitioner"]["department"] = {"id": "705592", "system": "urn:oid:2.16.578.1.12.4.1.4.102"}
    ctx = VerifyContext(audience=AUDIENCE, now=NOW, authenticated_pid="20086600138", authenticated_hpr="9144897")
    for details in ([rar], rar, [{"type": "other"}, rar]):
        claims = claims_for(attestation=DROP, authorization_details=details)
        d = verify(make_token(payload=claims), trust_store(), "helseid-rar-1.0", ctx)
        assert d.permitted, d.to_dict()["errors"]
        assert d.attestation["practitioner"]["identifier"]["id"] == "20086600138"
    # a bad pid from the login is checked like an attested one (ATT-10)
    bad = VerifyContext(audience=AUDIENCE, now=NOW, authenticated_pid="20086600139")
    d = verify(make_token(payload=claims_for(attestation=DROP, authorization_details=[rar])), trust_store(),
               "helseid-rar-1.0", bad)
    assert [f.code for f in d.errors] == ["invalid_person_identifier"]
    # without the login context: a warning, and HelseID-required fields still enforced
    del rar["practitioner"]["department"]
    d = verify(make_token(payload=claims_for(attestation=DROP, authorization_details=rar)), trust_store(),
               "helseid-rar-1.0", CTX)
    assert [(f.code, f.path) for f in d.errors] == [("missing_field", "attestation.practitioner.department")]
    assert "context_not_provided" in [f.code for f in d.warnings]
    two = claims_for(attestation=DROP, authorization_details=[rar, rar])
    assert _codes(make_token(payload=two), "helseid-rar-1.0") == ["missing_attestation"]


# --- the four examples of the data-model specification ----------------------------------------------

EXAMPLES = {
    "example-1-gp.json": ("fagersta", {("missing_field", "ATT-38", "attestation.care_relation.purpose_of_use"),
                                       ("missing_field", "ATT-46", "attestation.care_relation.decision_ref"),
                                       ("invalid_person_identifier", "ATT-4", "attestation.patients[0].identifier.id")}),
    "example-2-municipality.json": ("oslo-kommune", {
        ("missing_field", "ATT-46", "attestation.care_relation.decision_ref"),
        ("invalid_person_identifier", "ATT-4", "attestation.patients[0].identifier.id")}),
    "example-3-hospital.json": ("ous", {
        ("missing_field", "ATT-46", "attestation.care_relation.decision_ref"),
        ("invalid_person_identifier", "ATT-4", "attestation.patients[0].identifier.id")}),
    "full-model.json": ("ous", {
        ("invalid_code_system", "ATT-45", "attestation.care_relation.purpose_of_use_details.system"),
        ("invalid_person_identifier", "ATT-4", "attestation.patients[0].identifier.id")}),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_spec_examples(name: str) -> None:
    org_name, defects = EXAMPLES[name]
    att = spec_example(name)
    att["toa"] = NOW - 120  # none of the examples carries toa; the harness adds it
    tok = make_token(att, org_name=org_name)
    test = verify(tok, trust_store(), "tillitsrammeverk-1.1-test", CTX)
    assert test.permitted, test.to_dict()["errors"]
    prod = verify(tok, trust_store(), "tillitsrammeverk-1.1", CTX)
    assert prod.decision == "deny"
    assert {(f.code, f.rule, f.path) for f in prod.errors} == defects


# --- a token made outside this project ------------------------------------------------------------------

def test_plain_pyjwt_token_with_a_hand_written_trust_store(tmp_path: Path) -> None:
    key = generate_private_key("RS256")
    jwk = public_jwk(key, "PS256", kid="outside-1")
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (tmp_path / "trust.json").write_text(json.dumps({"issuers": [
        {"iss": "https://epj.outside.example", "name": "Outside EPJ", "legal_entities": ["100100673"],
         "member": True, "jwks_file": "jwks.json"}]}))
    store = TrustStore.load(tmp_path / "trust.json")
    claims = claims_for(iss="https://epj.outside.example")
    token = jwt.encode(claims, key, algorithm="PS256", headers={"kid": "outside-1", "typ": "attestation+jwt"})
    d = verify(token, store, context=CTX)
    assert d.permitted, d.to_dict()
    # the key is bound to PS256: the same key signing RS256 is refused
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "outside-1", "typ": "attestation+jwt"})
    assert [f.code for f in verify(token, store, context=CTX).errors] == ["unsupported_algorithm"]


def test_programming_errors_raise() -> None:
    with pytest.raises(TypeError):
        verify(make_token(), "trust.yaml")  # type: ignore[arg-type]
    from attest import ProfileError

    with pytest.raises(ProfileError):
        verify(make_token(), trust_store(), "no-such-profile")


# --- verify_async: the same decisions, the replay check awaited ------------------------------------------

class _AsyncCache:
    """A replay cache with only the async check (as a network cache offers): records which path was used."""

    def __init__(self) -> None:
        self.inner = MemoryReplayCache()
        self.async_calls = 0

    def check_and_store(self, iss: str, jti: str, expires_at: int) -> bool:  # pragma: no cover - must not run
        raise AssertionError("verify_async must await check_and_store_async")

    async def check_and_store_async(self, iss: str, jti: str, expires_at: int) -> bool:
        self.async_calls += 1
        return self.inner.check_and_store(iss, jti, expires_at)

    def ping(self) -> bool:
        return True


def test_verify_async_decides_as_verify() -> None:
    import asyncio

    from attest import verify_async

    bad = claims_for()
    bad["aud"] = "someone-else"
    tokens = [make_token(jti="a-1"), make_token(payload=bad, jti="a-2"), "not.a.token", make_token(jti="a-1")]
    sync_cache, thread_cache, async_cache = MemoryReplayCache(), MemoryReplayCache(), _AsyncCache()
    for tok in tokens:
        expected = verify(tok, trust_store(), "tillitsrammeverk-1.1", CTX, replay=sync_cache).to_dict()
        for cache in (thread_cache, async_cache):
            got = asyncio.run(verify_async(tok, trust_store(), "tillitsrammeverk-1.1", CTX, replay=cache))
            assert got.to_dict() == expected
    # the last token replays the first; only the two otherwise valid tokens reached the cache
    assert expected["errors"][0]["code"] == "token_replayed"
    assert async_cache.async_calls == 2
