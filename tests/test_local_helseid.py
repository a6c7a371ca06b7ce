"""The local HelseID (attest.local_helseid) and the EPJ's side of the token request (attest.helseid):
client assertions, token-request proofs, enrichment, HID errors, key rotation; every token it issues is
verified with attest's own helseid-at-1.0 profile."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from attest import AttestationRefused, TrustStore, VerifyContext, generate_private_key, load_private_key, verify
from attest.helseid import CLIENT_ASSERTION_TYP, client_assertion, dpop_proof, request_attestation
from attest.jose import parse_compact
from attest.local_helseid import DOUBLE_STRUCTURE, JWT_BEARER, LocalHelseId, LocalHelseIdConfig, create_app
from attest.model import AT_CLAIM
from attest.verify import profile_for

from .support.helseid import fagersta_request_attestation
from .support.tokens import KEYS

BASE = "http://127.0.0.1:8443"
TOKEN_URL = BASE + "/connect/token"
ISSUER = "https://helseid-sts.test.example"
API = "https://api.source.example/fhir/DocumentReference"


def attestation() -> dict[str, Any]:
    return fagersta_request_attestation()


CLIENT_KEY = load_private_key(KEYS / "epj-client" / "private.pem")
DPOP_KEY = load_private_key(KEYS / "epj-dpop" / "private.pem")


@pytest.fixture()
def helseid() -> Iterator[tuple[LocalHelseId, TestClient]]:
    state = LocalHelseId(LocalHelseIdConfig.load(KEYS / "local-helseid.yaml"), BASE)
    with TestClient(create_app(state), base_url=BASE, client=("127.0.0.1", 50000)) as c:
        yield state, c


def ask(c: TestClient, att: dict[str, Any] | None = None, *, form: dict[str, str] | None = None,
        assertion: str | None = None, proof: str | bool | None = True, **kw: Any) -> Any:
    body = {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion or client_assertion(att if att is not None else attestation(),
                                                              key=CLIENT_KEY, client_id="fagersta-epj",
                                                              audience=ISSUER, **kw)}
    body.update(form or {})
    headers = {}
    if proof is True:
        headers["DPoP"] = dpop_proof(DPOP_KEY, method="POST", url=TOKEN_URL)
    elif isinstance(proof, str):
        headers["DPoP"] = proof
    return c.post("/connect/token", data=body, headers=headers)


def trust(state: LocalHelseId) -> TrustStore:
    return TrustStore.from_dict({"authorization_servers": [{
        "issuer": ISSUER, "jwks": state.keys.jwks(), "audience": "nhn:phr",
        "required_scopes": ["nhn:phr/mhd/read-documentreferences"], "profile": "helseid-at-1.0-test"}]})


def api_verify(state: LocalHelseId, token: str, proof_key: Any = DPOP_KEY) -> Any:
    ctx = VerifyContext(dpop_proof=dpop_proof(proof_key, method="GET", url=API, access_token=token),
                        http_method="GET", http_url=API, authorization_scheme="DPoP", patient_id="13116900216")
    store = trust(state)
    return verify(token, store, profile_for(token, store), context=ctx)


# --- the client assertion (EPJ side) ---------------------------------------------------------------------

def test_client_assertion_has_helseids_shape() -> None:
    now = int(time.time())
    token = client_assertion(attestation(), key=CLIENT_KEY, client_id="fagersta-epj", audience=ISSUER, now=now)
    jws = parse_compact(token)
    assert jws.header["typ"] == CLIENT_ASSERTION_TYP and jws.header["alg"] == "ES256"
    c = jws.payload
    assert c["iss"] == c["sub"] == "fagersta-epj" and c["aud"] == ISSUER
    assert c["exp"] - c["iat"] == 60 and c["nbf"] == c["iat"] == now and c["jti"]
    [element] = c["assertion_details"]
    assert element["type"] == "nhn:tillitsrammeverk:parameters" and "care_relationship" in element
    # HelseID's narrow request shape: id/code + system only, no practitioner identifier or HPR number
    assert "identifier" not in element["practitioner"] and "hpr_nr" not in element["practitioner"]
    assert element["practitioner"]["legal_entity"] == {"id": "100100673", "system": "urn:oid:2.16.578.1.12.4.1.4.101"}
    assert all(set(v) <= {"code", "system"} for v in element["care_relationship"].values()
               if isinstance(v, dict) and "code" in v)


def test_client_assertion_refuses_an_attestation_that_breaks_the_request_profile() -> None:
    att = attestation()
    del att["care_relationship"]["purpose_of_use"]
    att["practitioner"]["legal_entity"]["id"] = "123456780"
    with pytest.raises(AttestationRefused) as exc:
        client_assertion(att, key=CLIENT_KEY, client_id="fagersta-epj", audience=ISSUER)
    assert {f.code for f in exc.value.findings} >= {"missing_field", "invalid_organization_number"}
    with pytest.raises(ValueError, match="lifetime"):
        client_assertion(None, key=CLIENT_KEY, client_id="c", audience=ISSUER, lifetime=61)


def test_request_attestation_is_narrow_and_checked() -> None:
    narrow = request_attestation(attestation())
    assert narrow["care_relationship"]["decision_ref"] == {"id": "30F4AB40-DBC2-41A7-8AC4-181AD3FDC25B",
                                                           "user_selected": True}


# --- the token endpoint ------------------------------------------------------------------------------------

def test_a_token_request_gets_a_dpop_bound_enriched_token_that_attest_permits(
        helseid: tuple[LocalHelseId, TestClient]) -> None:
    state, c = helseid
    r = ask(c)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP" and r.headers["cache-control"] == "no-store"
    token = r.json()["access_token"]
    jws = parse_compact(token)
    assert jws.header == {"alg": "RS256", "kid": "EAFAD988B37EF0E78352ABF4D402F551832EF58B", "typ": "at+jwt"}
    claims = jws.payload
    assert claims["iss"] == ISSUER and claims["client_id"] == "fagersta-epj"
    assert claims["helseid://claims/identity/pid"] == "20086600138"
    assert claims["helseid://claims/client/claims/orgnr_parent"] == "100100673"
    att = claims[AT_CLAIM]
    # enriched as HelseID does: the user from the login, names from the register, texts from the code lists
    assert att["practitioner"]["identifier"]["id"] == "20086600138"
    assert att["practitioner"]["identifier"]["name"] == "August September"
    assert att["practitioner"]["hpr_nr"]["id"] == "9144897"
    assert att["practitioner"]["legal_entity"]["name"] == "Norsk Helsenett SF Fagersta Testlegekontor"
    assert att["practitioner"]["authorization"]["text"] == "Lege"
    assert att["care_relationship"]["purpose_of_use"]["text"] == "Behandling"
    assert att["care_relationship"]["purpose_of_use_details"]["text"] == "Poliklinisk besøk"
    assert "toa" not in att and all("identifier" not in p for p in att["patients"])
    d = api_verify(state, token)
    assert d.permitted, d.to_dict()["errors"]
    # bound to the EPJ's DPoP key: a proof from another key is refused
    assert api_verify(state, token, generate_private_key("ES256")).codes == ["dpop_key_mismatch"]


def test_both_structures_are_refused_as_helseid_does(helseid: tuple[LocalHelseId, TestClient]) -> None:
    _, c = helseid
    element = {**request_attestation(attestation())}
    r = ask(c, form={"authorization_details": json.dumps([element])})
    assert r.status_code == 400 and r.json()["error_description"].startswith(DOUBLE_STRUCTURE)
    # the attestation in the form only is fine
    r = ask(c, form={"authorization_details": json.dumps([element])},
            assertion=client_assertion(None, key=CLIENT_KEY, client_id="fagersta-epj", audience=ISSUER))
    assert r.status_code == 200, r.text
    assert AT_CLAIM in parse_compact(r.json()["access_token"]).payload


@pytest.mark.parametrize("case,expect", [
    ("no proof", "HID-DPOP"),
    ("proof for another URL", "HID-DPOP"),
    ("old proof", "HID-DPOP"),
    ("assertion for another audience", "HID-CLIENT-AUTH"),
    ("assertion signed by another key", "HID-CLIENT-AUTH"),
    ("unknown client", "HID-CLIENT-AUTH"),
    ("expired assertion", "HID-CLIENT-AUTH"),
    ("wrong typ", "HID-CLIENT-AUTH"),
    ("scope not registered", "HID-SCOPE"),
    ("unknown test user", "HID-USER"),
    ("another organisation", "HID-ORGNR"),
])
def test_refusals_have_their_hid_codes(helseid: tuple[LocalHelseId, TestClient], case: str, expect: str) -> None:
    _, c = helseid
    now = int(time.time())

    def assertion(**kw: Any) -> str:
        args: dict[str, Any] = {"key": CLIENT_KEY, "client_id": "fagersta-epj", "audience": ISSUER}
        args.update(kw)
        return client_assertion(attestation(), **args)

    if case == "no proof":
        r = ask(c, proof=None)
    elif case == "proof for another URL":
        r = ask(c, proof=dpop_proof(DPOP_KEY, method="POST", url=BASE + "/other"))
    elif case == "old proof":
        r = ask(c, proof=dpop_proof(DPOP_KEY, method="POST", url=TOKEN_URL, now=now - 120))
    elif case == "assertion for another audience":
        r = ask(c, assertion=assertion(audience="https://elsewhere.example"))
    elif case == "assertion signed by another key":
        r = ask(c, assertion=assertion(key=generate_private_key("ES256")))
    elif case == "unknown client":
        r = ask(c, assertion=assertion(client_id="nobody"))
    elif case == "expired assertion":
        r = ask(c, assertion=assertion(now=now - 300))
    elif case == "wrong typ":
        from attest.jose import sign_compact

        jws = parse_compact(assertion())
        r = ask(c, assertion=sign_compact({**jws.header, "typ": "JWT"}, jws.payload, CLIENT_KEY, "ES256"))
    elif case == "scope not registered":
        r = ask(c, form={"scope": "nhn:phr/mhd/read-documentreferences nhn:phr/everything"})
    elif case == "unknown test user":
        r = ask(c, form={"test_user": "13116900216"})
    else:
        att = attestation()
        att["practitioner"]["legal_entity"] = {"id": "993467049", "system": "urn:oid:2.16.578.1.12.4.1.4.101"}
        r = ask(c, att)
    assert r.status_code in (400, 401), r.text
    assert r.json()["error_description"].startswith(expect), r.text


def test_an_attestation_helseid_would_refuse_is_refused(helseid: tuple[LocalHelseId, TestClient]) -> None:
    _, c = helseid
    element = copy.deepcopy(request_attestation(attestation()))
    element["care_relationship"]["purpose_of_use"]["code"] = "NOSUCH"
    r = ask(c, form={"authorization_details": json.dumps(element)},
            assertion=client_assertion(None, key=CLIENT_KEY, client_id="fagersta-epj", audience=ISSUER))
    assert r.status_code == 400 and r.json()["error_description"].startswith("HID-ATTESTATION")
    assert "purpose_of_use" in r.json()["error_description"]


def test_assertions_and_proofs_are_single_use(helseid: tuple[LocalHelseId, TestClient]) -> None:
    _, c = helseid
    assertion = client_assertion(attestation(), key=CLIENT_KEY, client_id="fagersta-epj", audience=ISSUER)
    assert ask(c, assertion=assertion).status_code == 200
    again = ask(c, assertion=assertion)
    assert again.status_code == 401 and "already used" in again.json()["error_description"]
    proof = dpop_proof(DPOP_KEY, method="POST", url=TOKEN_URL)
    assert ask(c, proof=proof).status_code == 200
    assert "already used" in ask(c, proof=proof).json()["error_description"]


def test_the_logged_in_user_decides_the_security_level(helseid: tuple[LocalHelseId, TestClient]) -> None:
    state, c = helseid
    r = ask(c, form={"test_user": "03117000205"})  # a registered person logged in at level 3
    assert r.status_code == 200
    assert api_verify(state, r.json()["access_token"]).codes == ["insufficient_security_level"]


def test_form_is_strict(helseid: tuple[LocalHelseId, TestClient]) -> None:
    _, c = helseid
    assert c.post("/connect/token", json={"grant_type": "client_credentials"}).status_code == 400
    r = c.post("/connect/token", content="grant_type=client_credentials&grant_type=password",
               headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "more than once" in r.json()["error_description"]
    r = c.post("/connect/token", data={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_discovery_and_key_rotation(helseid: tuple[LocalHelseId, TestClient]) -> None:
    state, c = helseid
    meta = c.get("/.well-known/openid-configuration").json()
    assert meta["issuer"] == ISSUER and meta["token_endpoint"] == TOKEN_URL and meta["jwks_uri"] == BASE + "/jwks"
    old = ask(c).json()["access_token"]
    new_kid = c.post("/admin/rotate").json()["active_kid"]
    assert len(new_kid) == 40 and new_kid == new_kid.upper()
    assert [k["kid"] for k in c.get("/jwks").json()["keys"]][-1] == new_kid
    new = ask(c).json()["access_token"]
    assert parse_compact(new).header["kid"] == new_kid
    assert api_verify(state, new).permitted and api_verify(state, old).permitted  # both published
    c.post("/admin/retire")
    assert [k["kid"] for k in c.get("/jwks").json()["keys"]] == [new_kid]
    assert api_verify(state, old).codes == ["unknown_key"]


# --- the test-token service (TTT) -------------------------------------------------------------------------

def test_every_test_token_switch_gets_the_decision_it_announces(helseid: tuple[LocalHelseId, TestClient]) -> None:
    """Each switch (the conformance suite's HelseID cases) gives a token and proof that attest decides as
    the switch says, for a request to the API of this test."""
    state, c = helseid
    switches = c.get("/test-token/switches").json()
    names = {s["switch"] for s in switches}
    assert {"permit-valid", "token-expired", "dpop-no-htu", "dpop-no-ath", "dpop-wrong-jkt", "dpop-replay",
            "token-security-level-3"} <= names
    for sw in switches:
        answer = c.post("/test-token", json={"switch": sw["switch"], "method": "GET", "url": API}).json()
        assert answer["switch"] == sw["switch"] and answer["request"]["url"].startswith(API)
        headers = [tuple(h) for h in answer["request"]["headers"]]
        auth = next((v for k, v in headers if k == "Authorization"), None)
        proofs = [v for k, v in headers if k == "DPoP"]
        store = TrustStore.from_dict({"authorization_servers": [{
            "issuer": state.issuer, "jwks": state.keys.jwks(), "audience": state.config.audience,
            "required_scopes": list(state.config.clients["fagersta-epj"].scopes), "profile": "helseid-at-1.0-test"}]})
        from attest import MemoryReplayCache

        cache = MemoryReplayCache()
        scheme, _, token = (auth or " ").partition(" ")
        ctx = VerifyContext(dpop_proof=",".join(proofs) or None, http_method="GET", http_url=answer["request"]["url"],
                            authorization_scheme=scheme or None, patient_id="13116900216")
        for _ in range(answer["send_times"]):
            d = verify(token, store, profile_for(token, store), context=ctx, replay=cache)
        assert d.decision == sw["expect"], (sw, d.codes)
        if sw["expect"] == "deny":
            assert set(d.codes) & set(sw["codes"]), (sw, d.codes)
    assert c.post("/test-token", json={"switch": "nope", "url": API}).json()["error_description"].startswith(
        "TTT-SWITCH")


def test_a_multi_tenant_client_acts_only_for_its_delegations_and_admin_is_local() -> None:
    """Outside review (finding 9): a multi-tenant client got a token for any organisation it named, and the
    admin routes answered anyone when the server listened beyond loopback."""
    cfg = LocalHelseIdConfig.load(KEYS / "local-helseid.yaml")
    vendor = dataclasses.replace(cfg.clients["fagersta-epj"], client_id="vendor", orgnr_parent=None,
                                 orgnr_child=None, legal_entities=frozenset({"100100673"}))
    cfg.clients = {"vendor": vendor}
    state = LocalHelseId(cfg, BASE)
    with TestClient(create_app(state), base_url=BASE, client=("127.0.0.1", 50000)) as c:
        def token(att: dict[str, Any]) -> Any:
            return c.post("/connect/token", data={
                "grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
                "client_assertion": client_assertion(att, key=CLIENT_KEY, client_id="vendor", audience=ISSUER)},
                headers={"DPoP": dpop_proof(DPOP_KEY, method="POST", url=TOKEN_URL)})

        assert token(attestation()).status_code == 200
        other = attestation()
        other["practitioner"]["legal_entity"] = {"id": "993467049", "system": "urn:oid:2.16.578.1.12.4.1.4.101"}
        r = token(other)
        assert r.status_code == 400 and r.json()["error_description"].startswith("HID-ORGNR")
    with TestClient(create_app(state), base_url=BASE, client=("192.0.2.7", 50000)) as remote:
        assert remote.post("/admin/rotate").status_code == 403
        assert remote.post("/admin/retire").status_code == 403
