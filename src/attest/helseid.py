"""The client's side of the HelseID path, and access tokens for tests (HELSEID.md sections 9 and 11).

* :func:`dpop_proof` builds the DPoP proof (RFC 9449 section 4) an EPJ sends with every API request: a
  ``dpop+jwt`` JWS signed with the EPJ's DPoP key, whose public key travels in the header; ``htm``/``htu``
  name the request, ``ath`` binds the proof to the access token, ``jti`` makes it single-use.
* :func:`access_token` issues an access token in HelseID's shape (RFC 9068 ``at+jwt``, HelseID's flat
  claims, the attestation in ``nhn:tillitsrammeverk:parameters``, ``cnf.jkt`` for DPoP). It is a **test
  tool**: in production only HelseID issues access tokens. Tests, the benchmark and the README's
  walk-through use it with the example key in ``keys_example/helseid-test/``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from .access_token import (
    ASSURANCE_LEVEL,
    CLIENT_NAME,
    CLIENT_TENANCY,
    HPR_NUMBER,
    NETWORK,
    ORGNR_CHILD,
    ORGNR_PARENT,
    ORGNR_SUPPLIER,
    PID,
    SECURITY_LEVEL,
)
from .dpop import PROOF_TYP, access_token_hash
from .jose import sign_compact
from .keys import PrivateKey, public_jwk, signing_algorithm, thumbprint
from .model import AT_CLAIM


def dpop_public_jwk(key: PrivateKey, alg: str | None = None) -> dict[str, Any]:
    """The public JWK a proof carries (only the key's public members: no ``kid``, ``use`` or ``alg``)."""
    jwk = public_jwk(key, signing_algorithm(key, alg))
    return {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}


def jkt(key: PrivateKey) -> str:
    """The RFC 7638 thumbprint of ``key``'s public key: what HelseID puts in ``cnf.jkt``."""
    return thumbprint(dpop_public_jwk(key))


def dpop_proof(key: PrivateKey, *, method: str, url: str, access_token: str | None = None,
               now: int | None = None, jti: str | None = None, alg: str | None = None,
               nonce: str | None = None) -> str:
    """A DPoP proof for one request: ``method`` and ``url`` (query and fragment are dropped from ``htu``),
    ``ath`` when ``access_token`` is given (an API request; a token request has none)."""
    algorithm = signing_algorithm(key, alg)
    header = {"typ": PROOF_TYP, "alg": algorithm, "jwk": dpop_public_jwk(key, algorithm)}
    htu = url.split("#", 1)[0].split("?", 1)[0]
    claims: dict[str, Any] = {"jti": jti or str(uuid.uuid4()), "htm": method, "htu": htu,
                              "iat": int(time.time()) if now is None else int(now)}
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    return sign_compact(header, claims, key, algorithm)


def access_token(
    attestation: dict[str, Any] | None,
    *,
    key: PrivateKey,
    kid: str,
    issuer: str,
    audience: str | list[str],
    client_id: str,
    pid: str | None,
    hpr_number: str | None = None,
    scope: list[str] | str | None = None,
    dpop_key: PrivateKey | None = None,
    lifetime: int = 300,
    now: int | None = None,
    security_level: str | None = "4",
    assurance_level: str | None = "high",
    orgnr_parent: str | None = None,
    orgnr_child: str | None = None,
    orgnr_supplier: str | None = None,
    name: str | None = None,
    client_name: str = "Test EPJ",
    client_tenancy: str = "single-tenant",
    typ: str = "at+jwt",
    alg: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A test access token in HelseID's shape (see module doc). ``attestation`` (the enriched attestation,
    HelseID spelling or spec spelling) goes in ``nhn:tillitsrammeverk:parameters``; ``dpop_key`` binds the
    token (``cnf.jkt``); ``extra`` adds or replaces claims (None values remove them)."""
    t = int(time.time()) if now is None else int(now)
    claims: dict[str, Any] = {
        "iss": issuer, "aud": audience, "nbf": t, "iat": t, "exp": t + lifetime,
        "jti": uuid.uuid4().hex.upper(), "sub": uuid.uuid4().hex, "auth_time": t - 2, "idp": "testidp-oidc",
        "amr": ["pwd"], "client_id": client_id, "client_amr": "private_key_jwt",
        "scope": scope if scope is not None else [],
    }
    if dpop_key is not None:
        claims["cnf"] = {"jkt": jkt(dpop_key)}
    user = {PID: pid, SECURITY_LEVEL: security_level, ASSURANCE_LEVEL: assurance_level, HPR_NUMBER: hpr_number,
            "name": name, NETWORK: "helsenett", ORGNR_PARENT: orgnr_parent, ORGNR_CHILD: orgnr_child,
            ORGNR_SUPPLIER: orgnr_supplier, CLIENT_NAME: client_name, CLIENT_TENANCY: client_tenancy}
    claims.update({k: v for k, v in user.items() if v is not None})
    if attestation is not None:
        claims[AT_CLAIM] = attestation
    for k, v in (extra or {}).items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    algorithm = signing_algorithm(key, alg)
    return sign_compact({"alg": algorithm, "kid": kid, "typ": typ}, claims, key, algorithm)
