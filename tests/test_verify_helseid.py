"""The HelseID path in the library: profile helseid-at-1.0 (HELSEID.md sections 9-11) — an access token with
the enriched attestation, presented with a DPoP proof."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attest import MemoryReplayCache, TrustStore, VerifyContext, verify
from attest.conformance.forge import DROP
from attest.dpop import access_token_hash, normalize_htu
from attest.helseid import dpop_public_jwk, jkt
from attest.jose import b64url, sign_compact
from attest.keys import generate_private_key
from attest.verify import profile_for
from tests.support.helseid import (
    AUDIENCE,
    CLIENT_ID,
    HPR,
    ISSUER,
    LEGAL_ENTITY,
    METHOD,
    PATIENT,
    PID,
    SCOPE,
    URL,
    dpop_key,
    enriched,
    helseid_kid,
    make_at,
    make_proof,
)
from tests.support.tokens import KEYS, NOW, ROOT, trust_store

PROFILE = "helseid-at-1.0"
REAL_TOKEN = ROOT / "tests" / "fixtures" / "nhn" / "helseid-access-token-test-env.jwt"  # from ../shared/testdata/nhn


def ctx(token: str | None = None, proof: str | None = ..., **kw: Any) -> VerifyContext:  # type: ignore[assignment]
    args: dict[str, Any] = {"now": NOW, "http_method": METHOD, "http_url": URL, "authorization_scheme": "DPoP",
                            "patient_id": PATIENT}
    args["dpop_proof"] = make_proof(token) if proof is ... else proof
    args.update(kw)
    return VerifyContext(**args)


def decide(token: str, context: VerifyContext | None = None, *, profile: str = PROFILE,
           trust: TrustStore | None = None, replay: MemoryReplayCache | None = None) -> Any:
    return verify(token, trust or trust_store(), profile, context if context is not None else ctx(token),
                  replay=replay)


def codes(token: str, context: VerifyContext | None = None, **kw: Any) -> list[str]:
    return decide(token, context, **kw).codes


# --- the good case ---------------------------------------------------------------------------------------

def test_access_token_with_dpop_is_permitted() -> None:
    tok = make_at()
    d = decide(tok)
    assert d.permitted, d.to_dict()
    doc = d.to_dict()
    assert doc["profile"] == PROFILE
    assert doc["token"]["iss"] == ISSUER and doc["token"]["client_id"] == CLIENT_ID
    assert doc["token"]["cnf_jkt"] == jkt(dpop_key()) == doc["token"]["dpop"]["jkt"]
    assert doc["token"]["dpop"]["htm"] == "GET"
    att = doc["attestation"]
    assert att["practitioner"]["identifier"]["id"] == PID
    assert att["care_relation"]["purpose_of_use"]["code"] == "TREAT"  # care_relationship normalised
    assert "toa" not in att
    assert d.warnings == ()


def test_the_same_access_token_is_reusable_but_a_proof_is_single_use() -> None:
    tok = make_at()
    cache = MemoryReplayCache(clock=lambda: NOW)
    first = make_proof(tok)
    assert decide(tok, ctx(tok, first), replay=cache).permitted
    assert decide(tok, ctx(tok), replay=cache).permitted          # a fresh proof: permitted again
    assert decide(tok, ctx(tok), replay=cache).permitted
    assert codes(tok, ctx(tok, first), replay=cache) == ["dpop_replayed"]  # the same proof twice


def test_a_denied_request_does_not_burn_its_proof() -> None:
    tok = make_at()
    cache = MemoryReplayCache(clock=lambda: NOW)
    proof = make_proof(tok)
    assert "dpop_htm_mismatch" in codes(tok, ctx(tok, proof, http_method="POST"), replay=cache)
    assert decide(tok, ctx(tok, proof), replay=cache).permitted


def test_the_profile_follows_from_the_issuer() -> None:
    # the example store's HelseID entry names the test profile (its keys are test material)
    assert profile_for(make_at(), trust_store()) == "helseid-at-1.0-test"
    assert profile_for("not a token", trust_store()) == "tillitsrammeverk-1.1"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "JWT", "at+JWT", "Application/AT+JWT", "jwt"])
def test_typ_at_jwt_or_jwt(typ: str) -> None:
    """typ is a media type: compared case-insensitively, "application/" optional (RFC 7515 4.1.9)."""
    assert decide(make_at(typ=typ)).permitted


@pytest.mark.parametrize("typ", ["attestation+jwt", "dpop+jwt", "application/json", "at+jwt2", ""])
def test_other_typ_is_refused(typ: str) -> None:
    assert codes(make_at(typ=typ)) == ["invalid_token_type"]


# --- token checks ------------------------------------------------------------------------------------------

def test_wrong_issuer_key_and_algorithm() -> None:
    assert codes(make_at(issuer="https://helseid-sts.nhn.no")) == ["unknown_issuer"]
    assert codes(make_at(kid="0000")) == ["unknown_key"]
    other = generate_private_key("RS256")
    from attest.helseid import access_token as issue

    forged = issue(enriched(), key=other, kid=helseid_kid(), issuer=ISSUER, audience=AUDIENCE, client_id=CLIENT_ID,
                   pid=PID, scope=SCOPE, dpop_key=dpop_key(), now=NOW)
    assert codes(forged) == ["invalid_signature"]
    # the authorization server allows RS256 only: a PS256 signature by the same key is refused
    assert codes(make_at(alg="PS256")) == ["unsupported_algorithm"]


def test_a_self_signed_attestation_issuer_cannot_issue_access_tokens() -> None:
    from tests.support.tokens import org

    fagersta = org("fagersta")
    from attest.helseid import access_token as issue

    tok = issue(enriched(), key=fagersta.key, kid=fagersta.kid, issuer=fagersta.iss, audience=AUDIENCE,
                client_id=CLIENT_ID, pid=PID, scope=SCOPE, dpop_key=dpop_key(), now=NOW)
    assert codes(tok) == ["unknown_issuer"]


def test_audience() -> None:
    assert codes(make_at(audience="nhn:other-api")) == ["invalid_audience"]
    d = decide(make_at(audience=[AUDIENCE, "nhn:other-api"]))
    assert d.permitted and [w.code for w in d.warnings] == ["multiple_audiences"]


def test_time_claims_have_a_five_second_leeway() -> None:
    tok = make_at(now=NOW - 300)          # exp = NOW
    assert codes(tok, ctx(tok, make_proof(tok, now=NOW + 4), now=NOW + 4)) == []
    assert codes(tok, ctx(tok, make_proof(tok, now=NOW + 5), now=NOW + 5)) == ["token_expired"]
    future = make_at(now=NOW + 6)
    assert set(codes(future)) == {"token_not_yet_valid"}
    assert codes(make_at(now=NOW + 5)) == []


def test_lifetime_and_required_claims() -> None:
    assert codes(make_at(lifetime=3601)) == ["lifetime_too_long"]
    assert codes(make_at(extra={"client_id": None})) == ["missing_claim"]
    assert codes(make_at(extra={"jti": None, "sub": None})) == []  # RFC 9068 claims HELSEID.md does not require


def test_scopes() -> None:
    assert codes(make_at(scope=["nhn:phr/mhd/read-document"])) == ["insufficient_scope"]
    assert codes(make_at(scope=None, extra={"scope": None})) == ["insufficient_scope"]
    assert codes(make_at(scope="openid nhn:phr/mhd/read-documentreferences")) == []
    assert codes(make_at(scope=42)) == ["invalid_claim"]  # type: ignore[arg-type]


def test_the_user() -> None:
    assert codes(make_at(pid=None)) == ["invalid_person_identifier"]  # no pid is no valid F/D-number (HELSEID 10)
    assert codes(make_at(pid=None, extra={"helseid://claims/identity/pid": 5086900124})) == [
        "invalid_person_identifier"]
    assert codes(make_at(pid="05086900125")) == ["invalid_person_identifier", "practitioner_mismatch"]
    assert codes(make_at(security_level="3", assurance_level="substantial")) == ["insufficient_security_level"]
    assert codes(make_at(security_level=None, assurance_level=None)) == ["insufficient_security_level"]
    assert codes(make_at(security_level="3", assurance_level="high")) == []
    for level in (4, 4.0, " 4"):  # a string or a number
        assert codes(make_at(security_level=None, assurance_level=None,
                             extra={"helseid://claims/identity/security_level": level})) == [], level
    for level in (3, 4.5, True, [4]):
        assert codes(make_at(security_level=None, assurance_level=None,
                             extra={"helseid://claims/identity/security_level": level})) == [
            "insufficient_security_level"], level


def test_synthetic_users_only_in_the_test_profile() -> None:
    synthetic = "05898597468"  # the user of HelseID's real test-environment token (Tenor, month + 80)
    tok = make_at(pid=synthetic, attestation=enriched(practitioner={
        k: v for k, v in enriched()["practitioner"].items() if k != "identifier"}))
    assert codes(tok) == ["invalid_person_identifier"]
    assert codes(tok, profile="helseid-at-1.0-test") == []


def test_context_user_must_be_the_token_user() -> None:
    tok = make_at()
    assert codes(tok, ctx(tok, authenticated_pid=PID, authenticated_hpr=HPR)) == []
    assert "practitioner_mismatch" in codes(tok, ctx(tok, authenticated_pid="20086600138"))
    assert "hpr_mismatch" in codes(tok, ctx(tok, authenticated_hpr="9144897"))


# --- the attestation: where and in what form ----------------------------------------------------------------

AT_CLAIM = "nhn:tillitsrammeverk:parameters"


@pytest.mark.parametrize("form", ["object", "string", "envelope", "envelope-string", "typed", "care_relation"])
def test_attestation_forms_in_the_claim(form: str) -> None:
    att: Any = enriched()
    if form == "string":
        att = json.dumps(att)
    elif form == "envelope":
        att = {"issuer_type": "helseid", "issued_at": NOW, "value": att}
    elif form == "envelope-string":
        att = {"issuer_type": "helseid", "issued_at": NOW, "value": json.dumps(att)}
    elif form == "typed":
        att = {"type": AT_CLAIM, **att}
    elif form == "care_relation":
        att["care_relation"] = att.pop("care_relationship")
    d = decide(make_at(att))
    assert d.permitted, d.codes
    assert d.attestation["care_relation"]["decision_ref"]["user_selected"] is True


@pytest.mark.parametrize("container", ["authorization_details", "assertion_details"])
@pytest.mark.parametrize("shape", ["array", "object", "string-element"])
def test_attestation_in_a_rar_element(container: str, shape: str) -> None:
    element: Any = {"type": AT_CLAIM, **enriched()}
    if shape == "array":
        value: Any = [{"type": "other"}, element]
    elif shape == "object":
        value = element
    else:
        value = [json.dumps(element)]
    d = decide(make_at(None, extra={container: value}))
    assert d.permitted, d.codes


def test_attestation_missing_or_unreadable() -> None:
    assert codes(make_at(None)) == ["missing_attestation"]
    assert codes(make_at(None, extra={"authorization_details": [{"type": "other"}]})) == ["missing_attestation"]
    for bad in (42, "not json", "[1, 2]", '{"a": 1, "a": 2}', [enriched()]):
        found = codes(make_at(bad))
        assert found == ["invalid_field"], (bad, found)
    two = [{"type": AT_CLAIM, **enriched()}, {"type": AT_CLAIM, **enriched()}]
    assert codes(make_at(None, extra={"authorization_details": two})) == ["invalid_field"]


def test_business_rules_run_on_the_attestation() -> None:
    att = enriched()
    att["care_relationship"]["purpose_of_use"]["code"] = "FOO"
    att["practitioner"]["legal_entity"]["system"] = "urn:oid:1.2.3"
    del att["care_relationship"]["decision_ref"]["user_selected"]
    found = codes(make_at(att))
    assert set(found) == {"invalid_code", "invalid_identifier_system", "invalid_decision_ref"}


def test_a_toa_when_present_is_checked() -> None:
    assert codes(make_at({**enriched(), "toa": NOW - 3601})) == ["attestation_has_expired"]
    assert codes(make_at({**enriched(), "toa": NOW - 60})) == []


def test_fields_helseid_lists_as_required_are_warnings_when_absent() -> None:
    att = enriched()
    del att["practitioner"]["department"]
    del att["care_relationship"]["purpose_of_use_details"]
    att["patients"] = [{}]
    d = decide(make_at(att))
    assert d.permitted, d.codes
    assert {(w.code, w.path) for w in d.warnings} >= {
        ("missing_field", "attestation.practitioner.department"),
        ("missing_field", "attestation.care_relation.purpose_of_use_details"),
        ("missing_field", "attestation.patients[0].point_of_care")}
    del att["patients"]
    assert decide(make_at(att)).permitted


# --- cross-checks between HelseID's claims and the attestation ---------------------------------------------

def test_practitioner_is_the_token_user() -> None:
    other = enriched()
    other["practitioner"]["identifier"]["id"] = "20086600138"
    assert codes(make_at(other)) == ["practitioner_mismatch"]
    nobody = enriched()
    del nobody["practitioner"]["identifier"], nobody["practitioner"]["hpr_nr"]
    d = decide(make_at(nobody))
    assert d.permitted
    assert d.attestation["practitioner"]["identifier"] == {"id": PID, "system": "urn:oid:2.16.578.1.12.4.1.4.1"}
    assert d.attestation["practitioner"]["hpr_nr"]["id"] == HPR


def test_hpr_and_organisations_are_the_token_ones() -> None:
    att = enriched()
    att["practitioner"]["hpr_nr"]["id"] = "9144897"
    assert codes(make_at(att)) == ["hpr_mismatch"]
    assert codes(make_at(att, hpr_number="009144897")) == []  # leading zeros: the same HPR number
    assert codes(make_at(orgnr_parent="997506499")) == ["legal_entity_mismatch"]
    assert codes(make_at(orgnr_child="974589095")) == ["point_of_care_mismatch"]
    assert codes(make_at(orgnr_parent=None, orgnr_child=None)) == []  # compared when both sides are present


def test_authorization_server_legal_entities(tmp_path: Path) -> None:
    trust = _trust(tmp_path, legal_entities=["100100673"])
    assert codes(make_at(), trust=trust) == ["legal_entity_mismatch"]
    assert codes(make_at(), trust=_trust(tmp_path, legal_entities=[LEGAL_ENTITY])) == []


# --- the patient of the request -----------------------------------------------------------------------------

def test_patient_comes_from_the_request() -> None:
    tok = make_at()
    d = decide(tok, ctx(tok, patient_id="04056600324"))
    assert d.permitted  # never denied for being absent from the attestation
    d = decide(tok, ctx(tok, patient_id=None))
    assert d.permitted and [w.code for w in d.warnings] == ["context_not_provided"]


def test_an_attestation_that_does_identify_patients_binds_them() -> None:
    att = enriched(patients=[{"identifier": {"id": PATIENT, "system": "urn:oid:2.16.578.1.12.4.1.4.1"}}])
    tok = make_at(att)
    assert codes(tok) == []
    assert codes(tok, ctx(tok, patient_id="04056600324")) == ["patient_not_in_attestation"]


def _rar() -> dict[str, Any]:
    """The enriched attestation as a helseid-rar-1.0 element (whose schema also requires patients'
    departments)."""
    rar = {"type": AT_CLAIM, **enriched()}
    rar["patients"][0]["department"] = {"id": "109765", "system": "urn:oid:2.16.578.1.12.4.1.4.102"}
    return rar


def test_helseid_rar_profile_no_longer_denies_the_requested_patient() -> None:
    """helseid-rar-1.0 denied patient_not_in_attestation whenever a patient was given (issue 10)."""
    from tests.support.tokens import make_token, org

    rar = _rar()
    del rar["practitioner"]["identifier"], rar["practitioner"]["hpr_nr"]
    o = org("fagersta")
    rar["practitioner"]["legal_entity"]["id"] = rar["practitioner"]["point_of_care"]["id"] = o.legal_entity
    tok = make_token(DROP, authorization_details=[rar])
    d = verify(tok, trust_store(), "helseid-rar-1.0",
               VerifyContext(now=NOW, authenticated_pid=PID, authenticated_hpr=HPR, patient_id=PATIENT))
    assert d.permitted, d.codes


def test_helseid_rar_compares_the_practitioner_with_the_login() -> None:
    """helseid-rar-1.0 replaced the token's practitioner with the context's, so a token for practitioner A
    was permitted for user B (issue 11 item 2)."""
    from tests.support.tokens import make_token, org

    rar = _rar()
    o = org("fagersta")
    rar["practitioner"]["legal_entity"]["id"] = rar["practitioner"]["point_of_care"]["id"] = o.legal_entity
    tok = make_token(DROP, authorization_details=[rar])
    d = verify(tok, trust_store(), "helseid-rar-1.0",
               VerifyContext(now=NOW, authenticated_pid="20086600138", authenticated_hpr="9144897"))
    assert set(d.codes) == {"practitioner_mismatch", "hpr_mismatch"}
    assert d.attestation["practitioner"]["identifier"]["id"] == PID


# --- DPoP (HELSEID.md section 11): every check with its code -------------------------------------------------

def raw_proof(token: str | None, *, header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None,
              key: Any = None, alg: str = "ES256", drop: tuple[str, ...] = ()) -> str:
    k = key or dpop_key()
    h: dict[str, Any] = {"typ": "dpop+jwt", "alg": alg, "jwk": dpop_public_jwk(k)}
    c: dict[str, Any] = {"jti": "proof-1", "htm": METHOD, "htu": URL, "iat": NOW}
    if token is not None:
        c["ath"] = access_token_hash(token)
    h.update(header or {})
    c.update(claims or {})
    for name in drop:
        h.pop(name, None)
        c.pop(name, None)
    return sign_compact(h, c, k, alg)


def _hs256_proof(token: str) -> str:
    secret = b"0123456789abcdef0123456789abcdef"
    return sign_compact({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64url(secret)}},
                        {"jti": "p", "htm": METHOD, "htu": URL, "iat": NOW, "ath": access_token_hash(token)},
                        secret, "HS256")


def _private_jwk_proof(token: str) -> str:
    from jwt.algorithms import ECAlgorithm

    jwk = ECAlgorithm.to_jwk(dpop_key(), as_dict=True)
    return raw_proof(token, header={"jwk": jwk})


def _bad_signature(token: str) -> str:
    h, p, s = raw_proof(token).split(".")
    return f"{h}.{p}.{s[:-4]}{'AAAA' if not s.endswith('AAAA') else 'BBBB'}"


# HelseID's test-token service's broken-proof switches (HELSEID.md section 11), each with its code
SWITCHES: dict[str, tuple[Any, str]] = {
    "no htu": (lambda t: raw_proof(t, drop=("htu",)), "dpop_htu_mismatch"),
    "no htm": (lambda t: raw_proof(t, drop=("htm",)), "dpop_htm_mismatch"),
    "iat in the past": (lambda t: raw_proof(t, claims={"iat": NOW - 11}), "dpop_proof_expired"),
    "iat in the future": (lambda t: raw_proof(t, claims={"iat": NOW + 6}), "dpop_proof_expired"),
    "no ath": (lambda t: raw_proof(t, drop=("ath",)), "dpop_ath_mismatch"),
    "no alg": (lambda t: raw_proof(t, drop=("alg",)), "invalid_dpop_proof"),
    "no jwk": (lambda t: raw_proof(t, drop=("jwk",)), "invalid_dpop_proof"),
    "no jti": (lambda t: raw_proof(t, drop=("jti",)), "invalid_dpop_proof"),
    "symmetric alg": (_hs256_proof, "invalid_dpop_proof"),
    "private key in jwk": (_private_jwk_proof, "invalid_dpop_proof"),
    "wrong typ": (lambda t: raw_proof(t, header={"typ": "JWT"}), "invalid_dpop_proof"),
    "typ missing": (lambda t: raw_proof(t, drop=("typ",)), "invalid_dpop_proof"),
    "bad signature": (_bad_signature, "invalid_dpop_proof"),
    "wrong ath": (lambda t: raw_proof(t, claims={"ath": access_token_hash(t + "x")}), "dpop_ath_mismatch"),
    "wrong htm": (lambda t: raw_proof(t, claims={"htm": "POST"}), "dpop_htm_mismatch"),
    "wrong htu": (lambda t: raw_proof(t, claims={"htu": URL + "/other"}), "dpop_htu_mismatch"),
    "alg none": (lambda t: raw_proof(t, header={"alg": "none"}), "invalid_dpop_proof"),
    "two proofs": (lambda t: raw_proof(t) + "," + raw_proof(t), "invalid_dpop_proof"),
    "not a jws": (lambda t: "not-a-proof", "invalid_dpop_proof"),
    "crit header": (lambda t: raw_proof(t, header={"crit": ["x"]}), "invalid_dpop_proof"),
    "iat a string": (lambda t: raw_proof(t, claims={"iat": str(NOW)}), "invalid_dpop_proof"),
}


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_broken_proof_switches(switch: str) -> None:
    tok = make_at()
    build, code = SWITCHES[switch]
    assert codes(tok, ctx(tok, build(tok))) == [code]


def test_wrong_jkt_in_the_token() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    tok = make_at(dpop_key=other)
    assert codes(tok) == ["dpop_key_mismatch"]


def test_weak_or_mismatched_proof_keys() -> None:
    tok = make_at()
    rsa_small = generate_private_key("RS256")  # 3072 bits: fine
    assert codes(tok, ctx(tok, raw_proof(tok, key=rsa_small, alg="RS256"))) == ["dpop_key_mismatch"]
    # an EC key claimed as ES384, an RSA key claimed as ES256: not a key of that alg
    assert codes(tok, ctx(tok, raw_proof(tok, header={"alg": "ES384"}))) == ["invalid_dpop_proof"]
    assert codes(tok, ctx(tok, raw_proof(tok, key=rsa_small, alg="RS256", header={"alg": "ES256"}))) == [
        "invalid_dpop_proof"]
    ed = generate_private_key("EdDSA")  # not in the default proof algorithms
    assert codes(tok, ctx(tok, raw_proof(tok, key=ed, alg="EdDSA"))) == ["invalid_dpop_proof"]


def test_presentation() -> None:
    tok = make_at()
    assert codes(tok, ctx(tok, authorization_scheme="Bearer")) == ["dpop_required"]
    assert codes(tok, ctx(tok, None)) == ["dpop_proof_missing"]
    assert codes(tok, ctx(tok, None, authorization_scheme=None)) == ["dpop_proof_missing"]
    unbound = make_at(dpop_key=None)
    assert codes(unbound, ctx(unbound, authorization_scheme="Bearer", proof=None)) == ["dpop_required"]


def test_dpop_allowed_and_forbidden_policies(tmp_path: Path) -> None:
    allowed = _trust(tmp_path, dpop="allowed")
    unbound = make_at(dpop_key=None)
    assert codes(unbound, ctx(unbound, None, authorization_scheme="Bearer"), trust=allowed) == []
    assert codes(unbound, ctx(unbound, authorization_scheme="DPoP"), trust=allowed) == ["dpop_key_mismatch"]
    bound = make_at()
    assert codes(bound, trust=allowed) == []
    assert codes(bound, ctx(bound, None, authorization_scheme="Bearer"), trust=allowed) == ["dpop_required"]
    forbidden = _trust(tmp_path, dpop="forbidden")
    assert codes(unbound, ctx(unbound, None, authorization_scheme="Bearer"), trust=forbidden) == []
    assert codes(bound, trust=forbidden) == ["invalid_claim"]


@pytest.mark.parametrize(("htu", "url"), [
    ("https://API.Source.example/fhir/DocumentReference", URL),
    ("https://api.source.example:443/fhir/DocumentReference", URL),
    ("https://api.source.example/fhir/DocumentReference", URL + "?patient.identifier=x|1#frag"),
    ("https://api.source.example/fhir/./DocumentReference", URL),
    ("https://api.source.example/fhir/%44ocumentReference", URL),
])
def test_htu_is_compared_after_normalisation(htu: str, url: str) -> None:
    tok = make_at()
    assert codes(tok, ctx(tok, raw_proof(tok, claims={"htu": htu}), http_url=url)) == []


def test_htu_normalisation_refuses_what_is_not_an_http_url() -> None:
    assert normalize_htu("ftp://x/y") is None and normalize_htu("https:///x") is None
    assert normalize_htu("https://user@x/y") is None and normalize_htu(None) is None
    assert normalize_htu("http://X:80") == "http://x/"
    assert normalize_htu("https://[::1]:8443/a/../b") == "https://[::1]:8443/b"


def test_unknown_request_fails_closed() -> None:
    tok = make_at()
    assert set(codes(tok, ctx(tok, http_method=None, http_url=None))) == {"dpop_htm_mismatch", "dpop_htu_mismatch"}


# --- the real HelseID token of NHN's test environment ------------------------------------------------------------

def test_real_helseid_test_token_is_denied_and_never_raises(tmp_path: Path) -> None:
    token = REAL_TOKEN.read_text().strip()
    d = verify(token, trust_store(), PROFILE, VerifyContext(dpop_proof=None))
    assert d.codes == ["unknown_issuer"] and d.token["iss"] == "https://helseid-sts.test.nhn.no"
    # HelseID's test issuer configured, but not its key: unknown_key (token-level checks stop there)
    path = tmp_path / "trust.yaml"
    path.write_text(json.dumps({"authorization_servers": [{
        "issuer": "https://helseid-sts.test.nhn.no", "audience": "nhn:phr-repo",
        "jwks_file": str(KEYS / "helseid-test" / "jwks.json")}]}))
    d = verify(token, TrustStore.load(path), "helseid-at-1.0-test", VerifyContext())
    assert d.codes == ["unknown_key"]
    assert d.token["kid"] == "23AAF565A131CE4F1C3B324218DA49BB4A8548AD" and d.token["cnf_jkt"]


def _trust(tmp_path: Path, **server: Any) -> TrustStore:
    entry = {"issuer": ISSUER, "jwks_file": str(KEYS / "helseid-test" / "jwks.json"), "audience": AUDIENCE,
             "required_scopes": ["nhn:phr/mhd/read-documentreferences"], **server}
    path = tmp_path / f"trust-{time.monotonic_ns()}.yaml"
    path.write_text(json.dumps({"authorization_servers": [entry]}))
    return TrustStore.load(path)


def test_proof_typ_is_a_media_type() -> None:
    tok = make_at()
    assert codes(tok, ctx(tok, raw_proof(tok, header={"typ": "DPoP+JWT"}))) == []
    assert codes(tok, ctx(tok, raw_proof(tok, header={"typ": "application/dpop+jwt"}))) == []


def test_any_header_parameter_of_an_access_token_is_tolerated_but_never_used() -> None:
    """HELSEID.md 9: HelseID's header carries x5t; whatever else a header names, the key comes from the
    configured authorization server (an attacker key in jwk or x5c is never used: its signature would not
    verify), and crit is still refused."""
    from attest.helseid import dpop_public_jwk as pub

    other = ec.generate_private_key(ec.SECP256R1())
    h, p, _ = make_at().split(".")
    for extra in ({"x5t": "abc", "x5t#S256": "def"}, {"cty": "JWT"}):
        header = {**json.loads(base64_decode(h)), **extra}
        forged_header = b64url(json.dumps(header).encode())
        resigned = _resign(forged_header, p)
        assert codes(resigned, ctx(resigned)) == [], extra
    with_jwk = _resign(b64url(json.dumps({**json.loads(base64_decode(h)), "jwk": pub(other)}).encode()), p)
    assert codes(with_jwk, ctx(with_jwk)) == []  # signed by HelseID's key; the jwk is ignored
    crit = _resign(b64url(json.dumps({**json.loads(base64_decode(h)), "crit": ["x"], "x": 1}).encode()), p)
    assert codes(crit, ctx(crit)) == ["unsupported_critical_header"]


def base64_decode(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _resign(header_segment: str, payload_segment: str) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from attest.jose import b64url
    from tests.support.helseid import helseid_key

    signing_input = f"{header_segment}.{payload_segment}".encode()
    sig = helseid_key().sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header_segment}.{payload_segment}.{b64url(sig)}"


def test_cross_checks_that_cannot_run_are_findings() -> None:
    """A binding HelseID's claims cannot confirm (no hpr_number, no orgnr_parent/orgnr_child) is a
    context_not_provided warning, never silence; a claim of the wrong type is a mismatch, never a skip."""
    d = decide(make_at(hpr_number=None, orgnr_parent=None, orgnr_child=None))
    assert d.permitted
    assert {(w.code, w.rule) for w in d.warnings} == {("context_not_provided", "ATT-29b"),
                                                      ("context_not_provided", "ATT-13"),
                                                      ("context_not_provided", "ATT-18a")}
    assert codes(make_at(orgnr_parent=None, extra={"helseid://claims/client/claims/orgnr_parent": 993467049})) == [
        "legal_entity_mismatch"]
