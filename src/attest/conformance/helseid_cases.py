"""The cases of a HelseID corpus (HELSEID.md sections 9-11 and 14): recipes for (access token, DPoP proof,
HTTP request) triples, and what a conforming resource server decides for each.

A recipe is plain JSON, complete in itself (no defaults are filled in at run time), in three parts that
:mod:`attest.conformance.helseid_mint` turns into a request just before it is sent:

* ``token``: the arguments of :func:`attest.helseid.access_token` (issuer, audience, client, user, scopes,
  organisation numbers, the attestation in HelseID's spelling or ``null``), plus which corpus key signs it
  (``signer``), its ``kid`` and ``alg``, which DPoP key it is bound to (``bound_to``, ``null``: unbound) and
  its times relative to the moment of minting (``offset``, ``lifetime``); ``extra`` adds, replaces or (with
  ``null``) removes claims;
* ``proof``: ``null`` (no ``DPoP`` header), or the DPoP key and the broken-proof switches of HelseID's
  test-token service: ``htm``/``htu`` (``request``, another one, ``absent``), ``ath`` (``token``,
  ``other``, ``absent``), ``jti``, ``typ``, ``alg`` (``key``, ``absent``, ``none``, ``HS256``), ``jwk``
  (``public``, ``absent``, ``private``), ``signature`` (``valid``, ``bad``, ``absent``), ``offset`` (its
  ``iat`` relative to minting) and ``copies`` (two ``DPoP`` headers);
* ``request``: the ``Authorization`` scheme (``DPoP``, ``Bearer``, ``absent``) and the patient named in the
  request (``null``: none).

``repeat: 2`` sends the very same request twice, in order: the first must be permitted, the second is the
case (a replayed proof).

The identity numbers are the data model's example people (valid F-numbers, RULES.md d.7), the
organisations its example organisations: no real person's data.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from .corpus import Case, Expectation, deny, permit
from .forge import (
    HPR,
    OID_ORGNR,
    OID_POU,
    OID_RESH,
    ORG_GP,
    ORG_OSLO,
    ORG_OUS,
    ORG_OUS_RH,
    ORG_OUS_ULL,
    OTHER_FNRS,
    PATIENT_FNR,
    PRACTITIONER_FNR,
    SYS_CARERELATION,
    bad_check_digit,
    practitioner_identity,
)

#: the corpus's keys, by role (file ``keys/<name>.pem``)
KEY_SERVER = "authorization-server"   # signs the access tokens (RS256; its public key is in jwks.json)
KEY_UNTRUSTED = "untrusted-signer"    # an RSA key nobody trusts ("wrong signing key", "unknown kid")
KEY_EPJ = "epj-dpop"                  # the EPJ's DPoP key (ES256): the tokens are bound to it
KEY_EPJ_OTHER = "epj-dpop-other"      # another client's DPoP key ("wrong jkt in the token")
KEY_NAMES = (KEY_SERVER, KEY_UNTRUSTED, KEY_EPJ, KEY_EPJ_OTHER)

PATIENT = PATIENT_FNR                 # the patient of every request that names one
OTHER_PID = OTHER_FNRS[0]             # another valid F-number (the attestation's practitioner, mismatch)
OTHER_HPR = "565501872"
OTHER_AUDIENCE = "urn:attest:conformance:another-api"


@dataclass(frozen=True)
class Setup:
    """What the recipes name: the authorization server (issuer, kid), this API's audience and required
    scopes, the EPJ's client id, and a kid no key set holds."""

    issuer: str
    audience: str
    scopes: tuple[str, ...]
    client_id: str
    kid: str
    unknown_kid: str


def enriched_attestation() -> dict[str, Any]:
    """The attestation as HelseID puts it in an access token (HELSEID.md section 9: HelseID's spelling
    ``care_relationship``, names and authorities added, no patient identifier, no ``toa``)."""
    return {
        "practitioner": {
            **practitioner_identity(),
            "legal_entity": {"id": ORG_OUS, "name": "OSLO UNIVERSITETSSYKEHUS HF", "system": OID_ORGNR,
                             "authority": "https://www.brreg.no"},
            "point_of_care": {"id": ORG_OUS_RH, "name": "OSLO UNIVERSITETSSYKEHUS HF RIKSHOSPITALET - SOMATIKK",
                              "system": OID_ORGNR, "authority": "https://www.brreg.no"},
            "department": {"id": "705592", "name": "Anestesiologi Seksjon RH", "system": OID_RESH,
                           "authority": "https://www.nhn.no"},
        },
        "care_relationship": {
            "healthcare_service": {"code": "S03", "text": "Indremedisin", "system": "urn:oid:2.16.578.1.12.4.1.1.8655",
                                   "assigner": "https://www.helsedirektoratet.no/"},
            "purpose_of_use": {"code": "TREAT", "text": "Behandling", "system": OID_POU,
                               "assigner": "http://terminology.hl7.org"},
            "purpose_of_use_details": {"code": "POLBESOK", "text": "Poliklinisk besøk", "system": SYS_CARERELATION,
                                       "assigner": "https://www.hl7.no"},
            "decision_ref": {"id": "6D3C1E0A-5B7F-4E2A-9C1D-2F4B8A6E0C31", "user_selected": True},
        },
        "patients": [{"point_of_care": {"id": ORG_OUS_ULL, "name": "OSLO UNIVERSITETSSYKEHUS HF ULLEVÅL - SOMATIKK",
                                        "system": OID_ORGNR}}],
    }


def default_token(setup: Setup) -> dict[str, Any]:
    """A valid access token: what HelseID issues to the EPJ for a logged-in doctor (section 9)."""
    return {
        "signer": KEY_SERVER, "kid": setup.kid, "alg": "RS256", "typ": "at+jwt",
        "issuer": setup.issuer, "audience": setup.audience, "client_id": setup.client_id,
        "scope": list(setup.scopes), "pid": PRACTITIONER_FNR, "hpr_number": HPR,
        "security_level": "4", "assurance_level": "high", "orgnr_parent": ORG_OUS, "orgnr_child": ORG_OUS_RH,
        "orgnr_supplier": ORG_GP, "name": "AUGUST SEPTEMBER", "bound_to": KEY_EPJ, "offset": 0, "lifetime": 300,
        "extra": {}, "attestation": enriched_attestation(),
    }


def default_proof() -> dict[str, Any]:
    """A valid, fresh DPoP proof for the request, bound to the token (section 11)."""
    return {"key": KEY_EPJ, "offset": 0, "htm": "request", "htu": "request", "ath": "token", "jti": "fresh",
            "typ": "dpop+jwt", "alg": "key", "jwk": "public", "signature": "valid", "copies": 1}


def default_request() -> dict[str, Any]:
    return {"scheme": "DPoP", "patient": PATIENT}


def recipe(setup: Setup, *, token: dict[str, Any] | None = None, attestation: Any = ..., proof: Any = ...,
           request: dict[str, Any] | None = None, repeat: int = 1) -> dict[str, Any]:
    """A complete recipe: the defaults with ``token``/``proof``/``request`` members replaced; ``attestation``
    replaces the token's attestation (``None``: none); ``proof=None``: no proof."""
    tok = default_token(setup)
    tok.update(copy.deepcopy(token or {}))
    if attestation is not ...:
        tok["attestation"] = attestation
    prf: dict[str, Any] | None = None
    if proof is not None:
        prf = default_proof()
        prf.update(proof if isinstance(proof, dict) else {})
    req = default_request()
    req.update(request or {})
    out: dict[str, Any] = {"token": tok, "proof": prf, "request": req}
    if repeat != 1:
        out["repeat"] = repeat
    return out


def _attestation(**edits: Any) -> dict[str, Any]:
    """The enriched attestation with ``edits``: ``"practitioner.hpr_nr.id": "…"`` sets a value, ``None``
    removes it."""
    att = enriched_attestation()
    for path, value in edits.items():
        *parents, last = path.split(".")
        node = att
        for step in parents:
            node = node[step]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return att


def _case(setup: Setup, cid: str, group: str, rule: str, covers: tuple[str, ...], description: str,
          expect: Expectation, **kw: Any) -> Case:
    return Case(id=cid, group=group, rule=rule, covers=covers, description=description, token="", context={},
                expect=expect, signed_by="authorization-server", recipe=recipe(setup, **kw))


def _permits(s: Setup) -> list[Case]:
    g = "helseid-valid"
    return [
        _case(s, "permit-valid", g, "HELSEID-9", ("permit",),
              "a valid DPoP-bound access token with a fresh proof, the patient in the request: permitted",
              permit("HELSEID-9")),
        _case(s, "permit-typ-jwt", g, "RFC9068-2.1", ("permit", "invalid_token_type"),
              "typ JWT instead of at+jwt (HelseID's rules allow both): permitted", permit("RFC9068-2.1"),
              token={"typ": "JWT"}),
        _case(s, "permit-assurance-high", g, "ATT-9", ("permit", "insufficient_security_level"),
              "security level 3 but assurance level high: permitted (either one suffices)", permit("ATT-9"),
              token={"security_level": "3"}),
        _case(s, "permit-scope-string", g, "RFC9068-2.2.3", ("permit", "insufficient_scope"),
              "scope as one space-separated string holding the required scope: permitted",
              permit("RFC9068-2.2.3"), token={"scope": " ".join(["openid", *s.scopes])}),
        _case(s, "permit-multiple-audiences", g, "RFC9068-4", ("permit", "multiple_audiences"),
              "aud names this API and another one: permitted (warning multiple_audiences)", permit("RFC9068-4"),
              token={"audience": [s.audience, OTHER_AUDIENCE]}),
        _case(s, "permit-attestation-as-string", g, "HELSEID-9", ("permit", "missing_attestation"),
              "the attestation claim is a string holding the JSON object: permitted", permit("HELSEID-9"),
              attestation=json.dumps(enriched_attestation(), ensure_ascii=False)),
        _case(s, "permit-practitioner-from-pid", g, "ATT-11", ("permit", "practitioner_mismatch"),
              "the attestation names no practitioner identifier (the pid claim is the practitioner): permitted",
              permit("ATT-11"), attestation=_attestation(**{"practitioner.identifier": None})),
        _case(s, "permit-no-patient", g, "ATT-4", ("permit",),
              "the request names no patient (GET of a single resource): permitted, with a warning",
              permit("ATT-4"), request={"patient": None}),
    ]


def _token_cases(s: Setup) -> list[Case]:
    g = "helseid-token"
    at = "attestation_rules"
    return [
        _case(s, "token-expired", g, "RFC7519-4.1.4", ("token_expired",),
              "the access token expired 100 s ago", deny("token_expired", "RFC7519-4.1.4"),
              token={"offset": -400, "lifetime": 300}),
        _case(s, "token-not-yet-valid", g, "RFC7519-4.1.5", ("token_not_yet_valid",),
              "nbf and iat 120 s in the future", deny("token_not_yet_valid", ("RFC7519-4.1.5", "RFC7519-4.1.6")),
              token={"offset": 120}),
        _case(s, "token-lifetime-too-long", g, "RFC8725-3.10", ("lifetime_too_long",),
              "exp - iat is 7200 s (the limit is 3600 s)", deny("lifetime_too_long", "RFC8725-3.10"),
              token={"lifetime": 7200}),
        _case(s, "token-wrong-audience", g, "RFC8725-3.9", ("invalid_audience",),
              "aud names another API only", deny("invalid_audience", "RFC8725-3.9"),
              token={"audience": OTHER_AUDIENCE}),
        _case(s, "token-wrong-issuer", g, "RFC8725-3.8", ("unknown_issuer",),
              "iss is another authorization server, signed with the trusted key and kid",
              deny("unknown_issuer", "RFC8725-3.8"), token={"issuer": "https://helseid-sts.conformance.invalid"}),
        _case(s, "token-issuer-trailing-slash", g, "RFC8725-3.8", ("unknown_issuer",),
              "iss is the configured issuer with a trailing slash (compared exactly)",
              deny("unknown_issuer", "RFC8725-3.8"), token={"issuer": s.issuer + "/"}),
        _case(s, "token-wrong-signing-key", g, "RFC7515-5.2", ("invalid_signature",),
              "signed by an untrusted RSA key under the trusted kid", deny("invalid_signature", "RFC7515-5.2"),
              token={"signer": KEY_UNTRUSTED}),
        _case(s, "token-unknown-kid", g, "RFC8725-3.8", ("unknown_key",),
              "signed by an untrusted RSA key under a kid the JWKS does not hold", deny("unknown_key", "RFC8725-3.8"),
              token={"signer": KEY_UNTRUSTED, "kid": s.unknown_kid}),
        _case(s, "token-alg-ps256", g, "RFC8725-3.1", ("unsupported_algorithm",),
              "signed PS256 with the trusted key (the server's allow-list is RS256)",
              deny("unsupported_algorithm", "RFC8725-3.1"), token={"alg": "PS256"}),
        _case(s, "token-wrong-typ", g, "RFC8725-3.11", ("invalid_token_type",),
              "typ dpop+jwt (a proof is not an access token)", deny("invalid_token_type", "RFC8725-3.11"),
              token={"typ": "dpop+jwt"}),
        _case(s, "token-no-client-id", g, "RFC7519-4.1", ("missing_claim",),
              "no client_id claim", deny("missing_claim", "RFC7519-4.1"), token={"extra": {"client_id": None}}),
        _case(s, "token-missing-scope", g, "RFC6750-3.1", ("insufficient_scope",),
              "scope holds openid only, not the scope this API requires",
              deny("insufficient_scope", "RFC6750-3.1"), token={"scope": ["openid"]}),
        _case(s, "token-security-level-3", g, "ATT-9", ("insufficient_security_level",),
              "security level 3 and assurance level substantial (a low-assurance login)",
              deny("insufficient_security_level", "ATT-9"),
              token={"security_level": "3", "assurance_level": "substantial"}),
        _case(s, "token-no-pid", g, "ATT-10", ("invalid_person_identifier",),
              "no pid claim: the token names no logged-in user", deny("invalid_person_identifier", "ATT-10"),
              token={"pid": None}, attestation=_attestation(**{"practitioner.identifier": None})),
        _case(s, "token-invalid-pid", g, "ATT-10", ("invalid_person_identifier",),
              "the pid claim fails the F-number check digits", deny("invalid_person_identifier", "ATT-10"),
              token={"pid": bad_check_digit(PRACTITIONER_FNR)},
              attestation=_attestation(**{"practitioner.identifier": None})),
        _case(s, "token-no-attestation", g, "ATT-1", ("missing_attestation",),
              "no nhn:tillitsrammeverk:parameters claim", deny("missing_attestation", "ATT-1"), attestation=None),
        _case(s, "token-attestation-purpose-of-use", g, "ATT-38", (at,),
              "the attestation's purpose_of_use code is not in the PurposeOfUse list",
              deny("invalid_code", "ATT-38"),
              attestation=_attestation(**{"care_relationship.purpose_of_use.code": "SHOPPING"})),
        _case(s, "token-attestation-decision-ref", g, "ATT-48", (at,),
              "the attestation's decision_ref.user_selected is a string, not a boolean",
              deny("invalid_decision_ref", "ATT-48"),
              attestation=_attestation(**{"care_relationship.decision_ref.user_selected": "true"})),
        _case(s, "token-pid-mismatch", g, "ATT-11", ("practitioner_mismatch",),
              "the attestation's practitioner is another person than the pid claim",
              deny("practitioner_mismatch", "ATT-11"),
              attestation=_attestation(**{"practitioner.identifier.id": OTHER_PID})),
        _case(s, "token-hpr-mismatch", g, "ATT-29b", ("hpr_mismatch",),
              "the attestation's HPR number is not the hpr_number claim", deny("hpr_mismatch", "ATT-29b"),
              attestation=_attestation(**{"practitioner.hpr_nr.id": OTHER_HPR})),
        _case(s, "token-orgnr-parent-mismatch", g, "ATT-13", ("legal_entity_mismatch",),
              "orgnr_parent is another organisation than the attestation's legal entity",
              deny("legal_entity_mismatch", "ATT-13"), token={"orgnr_parent": ORG_OSLO}),
        _case(s, "token-orgnr-child-mismatch", g, "ATT-18a", ("point_of_care_mismatch",),
              "orgnr_child is another organisation than the attestation's point of care",
              deny("point_of_care_mismatch", "ATT-18a"), token={"orgnr_child": ORG_OUS_ULL}),
    ]


def _dpop(s: Setup, cid: str, rule: str, covers: tuple[str, ...], description: str, code: str,
          **kw: Any) -> Case:
    return _case(s, cid, "helseid-dpop", rule, covers, description, deny(code, rule), **kw)


def _dpop_cases(s: Setup) -> list[Case]:
    p43, p71 = "RFC9449-4.3", "RFC9449-7.1"
    bad = "invalid_dpop_proof"
    return [
        _dpop(s, "dpop-no-proof", p71, ("dpop_proof_missing",), "the DPoP scheme without a DPoP header",
              "dpop_proof_missing", proof=None),
        _dpop(s, "dpop-bearer-scheme", p71, ("dpop_required",),
              "the DPoP-bound token presented as Bearer, without a proof", "dpop_required",
              proof=None, request={"scheme": "Bearer"}),
        _dpop(s, "dpop-token-not-bound", p71, ("dpop_required",),
              "a token without cnf.jkt where DPoP is required, with a valid proof", "dpop_required",
              token={"bound_to": None}),
        _dpop(s, "dpop-no-htu", p43, ("dpop_htu_mismatch", "switch-no-htu"), "the proof has no htu",
              "dpop_htu_mismatch", proof={"htu": "absent"}),
        _dpop(s, "dpop-no-htm", p43, ("dpop_htm_mismatch", "switch-no-htm"), "the proof has no htm",
              "dpop_htm_mismatch", proof={"htm": "absent"}),
        _dpop(s, "dpop-iat-past", p43, ("dpop_proof_expired", "switch-iat-past"),
              "the proof's iat is 60 s old (max age 10 s)", "dpop_proof_expired", proof={"offset": -60}),
        _dpop(s, "dpop-iat-future", p43, ("dpop_proof_expired", "switch-iat-future"),
              "the proof's iat is 60 s in the future (leeway 5 s)", "dpop_proof_expired", proof={"offset": 60}),
        _dpop(s, "dpop-no-ath", p43, ("dpop_ath_mismatch", "switch-no-ath"), "the proof has no ath",
              "dpop_ath_mismatch", proof={"ath": "absent"}),
        _dpop(s, "dpop-wrong-ath", p43, ("dpop_ath_mismatch",), "the proof's ath is the hash of another token",
              "dpop_ath_mismatch", proof={"ath": "other"}),
        _dpop(s, "dpop-no-alg", p43, (bad, "switch-no-alg"), "the proof's header has no alg", bad,
              proof={"alg": "absent"}),
        _dpop(s, "dpop-alg-none", p43, (bad, "switch-no-alg"), "the proof says alg none and has no signature",
              bad, proof={"alg": "none", "signature": "absent"}),
        _dpop(s, "dpop-no-jwk", p43, (bad, "switch-no-jwk"), "the proof's header has no jwk", bad,
              proof={"jwk": "absent"}),
        _dpop(s, "dpop-no-jti", p43, (bad, "switch-no-jti"), "the proof has no jti", bad, proof={"jti": "absent"}),
        _dpop(s, "dpop-symmetric-alg", p43, (bad, "switch-symmetric-alg"),
              "the proof is signed HS256 (a symmetric algorithm)", bad, proof={"alg": "HS256"}),
        _dpop(s, "dpop-private-jwk", p43, (bad, "switch-private-jwk"),
              "the proof's jwk holds the private key (d)", bad, proof={"jwk": "private"}),
        _dpop(s, "dpop-wrong-typ", p43, (bad, "switch-wrong-typ"), "the proof's typ is JWT, not dpop+jwt", bad,
              proof={"typ": "JWT"}),
        _dpop(s, "dpop-bad-signature", p43, (bad, "switch-bad-signature"),
              "the proof's signature does not verify with its jwk", bad, proof={"signature": "bad"}),
        _dpop(s, "dpop-not-jws", p43, (bad,), "the proof is two segments, not a compact JWS", bad,
              proof={"signature": "cut"}),
        _dpop(s, "dpop-two-proofs", p43, (bad,), "two DPoP headers, each a valid proof", bad, proof={"copies": 2}),
        _dpop(s, "dpop-wrong-jkt", p71, ("dpop_key_mismatch", "switch-wrong-jkt"),
              "the token is bound to another client's key (cnf.jkt) than the proof's", "dpop_key_mismatch",
              token={"bound_to": KEY_EPJ_OTHER}),
        _dpop(s, "dpop-wrong-htm", p43, ("dpop_htm_mismatch",), "the proof's htm is another method",
              "dpop_htm_mismatch", proof={"htm": "other"}),
        _dpop(s, "dpop-wrong-htu-host", p43, ("dpop_htu_mismatch",),
              "the proof's htu is the same path on another host", "dpop_htu_mismatch",
              proof={"htu": "other-host"}),
        _dpop(s, "dpop-wrong-htu-path", p43, ("dpop_htu_mismatch",),
              "the proof's htu is another path on the same origin", "dpop_htu_mismatch",
              proof={"htu": "other-path"}),
        _dpop(s, "dpop-replay", "RFC9449-11.1", ("dpop_replayed", "switch-replay"),
              "the same token and proof sent twice: the second request is refused", "dpop_replayed", repeat=2),
    ]


def helseid_cases(setup: Setup) -> list[Case]:
    """Every case of a HelseID corpus, in report order."""
    cases = [*_permits(setup), *_token_cases(setup), *_dpop_cases(setup)]
    ids = [c.id for c in cases]
    if len(ids) != len(set(ids)):  # pragma: no cover - a programming error in the tables
        raise RuntimeError("duplicate case ids")
    return cases
