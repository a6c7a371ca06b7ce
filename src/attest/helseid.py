"""The client's side of the HelseID path, and access tokens for tests (HELSEID.md sections 9 and 11).

* :func:`dpop_proof` builds the DPoP proof (RFC 9449 section 4) an EPJ sends with every API request: a
  ``dpop+jwt`` JWS signed with the EPJ's DPoP key, whose public key travels in the header; ``htm``/``htu``
  name the request, ``ath`` binds the proof to the access token, ``jti`` makes it single-use.
* :func:`client_assertion` builds what an EPJ sends to HelseID's token endpoint to authenticate
  (``private_key_jwt``, RFC 7523) and to carry the attestation: ``typ`` ``client-authentication+jwt``,
  ``iss`` = ``sub`` = the client id, ``aud`` = HelseID's issuer, at most 60 s of life, and the attestation as
  an ``assertion_details`` element of type ``nhn:tillitsrammeverk:parameters`` in HelseID's narrow request
  shape (``id``/``code`` + ``system`` only, ``care_relationship``), checked against ``helseid-rar-1.0``
  before it is signed.
* :func:`request_token` does an EPJ's whole token request against a HelseID (discovery, client assertion,
  DPoP proof for the token request, ``client_credentials`` grant) and returns HelseID's answer.
* :func:`access_token` issues an access token in HelseID's shape (RFC 9068 ``at+jwt``, HelseID's flat
  claims, the attestation in ``nhn:tillitsrammeverk:parameters``, ``cnf.jkt`` for DPoP). It is a **test
  tool**: in production only HelseID issues access tokens. Tests, the benchmark and the README's
  walk-through use it with the example key in ``keys_example/helseid-test/``.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization

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
from .build import check_attestation
from .dpop import PROOF_TYP, access_token_hash
from .errors import AttestationRefused
from .jose import sign_compact
from .keys import PrivateKey, public_jwk, signing_algorithm, thumbprint
from .model import AT_CLAIM, to_helseid_rar

#: the ``typ`` of a client assertion at HelseID (``client-authentication+jwt``)
CLIENT_ASSERTION_TYP = "client-authentication+jwt"
#: HelseID's limit on a client assertion's life (exp - iat), seconds
CLIENT_ASSERTION_MAX_LIFETIME = 60
#: the profile a client assertion's attestation is checked against: HelseID's request shape
REQUEST_PROFILE = "helseid-rar-1.0"


def request_attestation(attestation: dict[str, Any], *, now: int | None = None) -> dict[str, Any]:
    """The attestation as HelseID's token request carries it (``assertion_details`` or
    ``authorization_details`` element): normalised, checked against ``helseid-rar-1.0`` as an issuer would
    (raises :class:`~attest.errors.AttestationRefused` listing every problem), then narrowed to HelseID's
    request shape. The practitioner's pid and HPR number are not in it: HelseID takes them from the login."""
    normalised, errors, _ = check_attestation(attestation, REQUEST_PROFILE, now)
    if errors:
        raise AttestationRefused(errors)
    return to_helseid_rar(normalised)


def client_assertion(attestation: dict[str, Any] | None, *, key: PrivateKey, client_id: str, audience: str,
                     kid: str | None = None, lifetime: int = CLIENT_ASSERTION_MAX_LIFETIME,
                     now: int | None = None, jti: str | None = None, alg: str | None = None) -> str:
    """A client assertion (``private_key_jwt``) for HelseID's token endpoint, carrying ``attestation`` (any
    accepted spelling; None: a token without an attestation) as its ``assertion_details`` element. ``kid``
    defaults to the key's RFC 7638 thumbprint (as HelseID's client registration lists it)."""
    if not isinstance(client_id, str) or not client_id:
        raise ValueError("client_id must be a non-empty string")
    if not isinstance(audience, str) or not audience:
        raise ValueError("audience (HelseID's issuer) must be a non-empty string")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 0 < lifetime <= CLIENT_ASSERTION_MAX_LIFETIME:
        raise ValueError(f"lifetime must be 1..{CLIENT_ASSERTION_MAX_LIFETIME} seconds")
    t = int(time.time()) if now is None else int(now)
    claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": audience, "iat": t, "nbf": t,
                              "exp": t + lifetime, "jti": jti or str(uuid.uuid4())}
    if attestation is not None:
        claims["assertion_details"] = [request_attestation(attestation, now=t)]
    algorithm = signing_algorithm(key, alg)
    header = {"alg": algorithm, "kid": kid or thumbprint(public_jwk(key, algorithm)), "typ": CLIENT_ASSERTION_TYP}
    return sign_compact(header, claims, key, algorithm)


def helseid_kid(key: PrivateKey) -> str:
    """HelseID's ``kid`` spelling: 40 upper-case hex digits (a SHA-1 thumbprint), here of the public key's
    DER (SubjectPublicKeyInfo)."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


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


class TokenRequestError(Exception):
    """HelseID refused the token request, or could not be reached (the message says which and why)."""


def request_token(base_url: str, attestation: dict[str, Any] | None, *, client_key: PrivateKey, client_id: str,
                  dpop_key: PrivateKey, scope: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """Ask the HelseID at ``base_url`` for a DPoP-bound access token carrying ``attestation``: read its
    discovery document, build the client assertion (checked against ``helseid-rar-1.0``) and a DPoP proof for
    the token endpoint, post the ``client_credentials`` grant. Returns HelseID's JSON answer
    (``access_token``, ``token_type`` ``DPoP``, ``expires_in``, ``scope``). Raises :class:`TokenRequestError`
    and :class:`~attest.errors.AttestationRefused`. No redirects are followed and no proxy from the
    environment is used."""
    import httpx

    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as http:
            r = http.get(base_url.rstrip("/") + "/.well-known/openid-configuration")
            if r.status_code != 200:
                raise TokenRequestError(f"discovery answered {r.status_code}")
            meta = r.json()
            issuer, endpoint = meta.get("issuer"), meta.get("token_endpoint")
            if not isinstance(issuer, str) or not isinstance(endpoint, str):
                raise TokenRequestError("the discovery document names no issuer or token_endpoint")
            form = {"grant_type": "client_credentials",
                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    "client_assertion": client_assertion(attestation, key=client_key, client_id=client_id,
                                                         audience=issuer)}
            if scope:
                form["scope"] = scope
            r = http.post(endpoint, data=form, headers={"DPoP": dpop_proof(dpop_key, method="POST", url=endpoint)})
    except (httpx.HTTPError, ValueError) as exc:
        raise TokenRequestError(f"HelseID at {base_url} could not be asked ({type(exc).__name__}: {exc})") from None
    try:
        answer = r.json()
    except ValueError:
        raise TokenRequestError(f"the token endpoint answered {r.status_code} without JSON") from None
    if r.status_code != 200 or not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
        detail = answer.get("error_description") or answer.get("error") if isinstance(answer, dict) else None
        raise TokenRequestError(f"the token endpoint answered {r.status_code}: {detail}")
    return answer
