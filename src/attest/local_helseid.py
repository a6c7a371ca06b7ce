"""A local HelseID for development and conformance: discovery, JWKS (rotated on demand) and a token endpoint
that authenticates EPJ clients by ``private_key_jwt``, validates and enriches the attestation they send, and
issues DPoP-bound access tokens in HelseID's shape (HELSEID.md sections 9-11). ``attest helseid serve``.

It is a **test tool**: its signing keys are test material, its users a small test register, and it binds to
loopback only unless told otherwise. What it does, as HelseID does it:

* ``GET /.well-known/openid-configuration`` and ``GET /jwks`` (every key not retired: after a rotation the
  previous key stays published until ``POST /admin/retire``, so tokens it signed keep verifying).
* ``POST /connect/token`` (``application/x-www-form-urlencoded``): ``grant_type=client_credentials``, the
  client assertion (``client_assertion_type`` jwt-bearer; ``typ`` ``client-authentication+jwt``, signed with
  a registered key of the client, ``iss`` = ``sub`` = client id, ``aud`` the issuer or the token endpoint,
  at most 60 s of life, single-use ``jti``), a DPoP proof for the token request (RFC 9449 section 5; the token
  is bound to its key), ``scope`` (a subset of the client's), and the attestation either in the assertion's
  ``assertion_details`` or in the form's ``authorization_details``: both is ``HID-DOUBLE-STRUCTURE``. The
  attestation must pass ``helseid-rar-1.0`` (HelseID's request schema); it is then enriched: names and texts
  from the packaged code lists and the register, the practitioner's pid and HPR number from the logged-in
  test user (the client's, or ``test_user`` naming a registered person).
* ``GET /test-token/switches`` and ``POST /test-token`` (in the spirit of HelseID's test-token service, TTT):
  an access token and DPoP proof for a request (``method``, ``url``) with one **switch** that breaks one
  thing: every case of the conformance suite's HelseID mode (:mod:`attest.conformance.helseid_cases`):
  expired, wrong audience, wrong issuer, wrong signing key, security level 3, missing pid, no attestation,
  and each broken-proof switch of HELSEID.md section 11. The tokens are signed with this server's active key
  (the wrong-key switches with a key nobody trusts), bound to a DPoP key of this server whose private JWK is
  in the answer, so the caller can make further proofs.
* ``POST /admin/rotate`` (a new signing key becomes active), ``POST /admin/retire`` (only the active key stays
  published).

Errors are OAuth error documents (RFC 6749 section 5.2) whose ``error_description`` starts with a HelseID-style
code (``HID-...``).

The configuration (YAML, :meth:`LocalHelseIdConfig.load`)::

    issuer: "https://helseid-sts.test.example"   # what tokens name (default: http://<host>:<port>)
    audience: "nhn:phr"
    signing_key: "helseid-test/private.pem"        # RS256; kid = SHA-1 of the public key, 40 hex digits
    token_lifetime: 300
    organisations: {"100100673": "Norsk Helsenett SF Fagersta Testlegekontor"}
    people: [{pid: "20086600138", name: "August September", hpr_number: "9144897"}]
    clients:
      - client_id: "fagersta-epj"
        name: "Fagersta EPJ"
        jwks_file: "epj-dpop/public.jwk.json"    # a JWK or a JWKS: the keys its assertions are signed with
        scopes: ["nhn:phr/mhd/read-documentreferences"]
        orgnr_parent: "100100673"                # single-tenant: the legal entity the client acts for
        user: "20086600138"                      # the logged-in test user (a pid of `people`)
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from . import codes
from .build import check_attestation
from .conformance.helseid_cases import KEY_SERVER, Setup, helseid_cases
from .conformance.helseid_mint import Material, MintError, mint, private_jwk
from .dpop import DPoPPolicy, check_token_request_proof
from .errors import ConfigurationError, TrustStoreError
from .helseid import (
    CLIENT_ASSERTION_MAX_LIFETIME,
    CLIENT_ASSERTION_TYP,
    REQUEST_PROFILE,
    access_token,
    helseid_kid,
)
from .identifiers import OID_DNR, OID_FNR, OID_HPR
from .jose import JoseError, media_type, parse_compact, verify_signature
from .keys import generate_private_key, load_private_key, public_jwk
from .keysets import TrustedKey, load_jwk, load_jwks
from .model import RAR_TYPES
from .replay import MemoryReplayCache

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: HelseID's error when a request carries the attestation both in the client assertion and in the form
DOUBLE_STRUCTURE = "HID-DOUBLE-STRUCTURE"
TOKEN_PATH = "/connect/token"  # noqa: S105 - a URL path, not a secret
JWKS_PATH = "/jwks"
_LEEWAY = 5
DEFAULT_SCOPE = "nhn:phr/mhd/read-documentreferences"

AUTHORITIES = {OID_FNR: "https://www.skatteetaten.no", OID_DNR: "https://www.skatteetaten.no",
               OID_HPR: "https://www.helsedirektoratet.no/",
               "urn:oid:2.16.578.1.12.4.1.4.101": "https://www.brreg.no",
               "urn:oid:2.16.578.1.12.4.1.4.102": "https://www.nhn.no",
               "urn:oid:2.16.578.1.12.4.1.4.103": "https://www.nhn.no"}
ASSIGNERS = {"urn:oid:2.16.578.1.12.4.1.1.9060": "https://www.helsedirektoratet.no/",
             "urn:oid:2.16.578.1.12.4.1.1.8655": "https://www.helsedirektoratet.no/",
             "urn:oid:2.16.578.1.12.4.1.1.8451": "https://www.helsedirektoratet.no/",
             "urn:oid:2.16.840.1.113883.1.11.20448": "http://terminology.hl7.org",
             "urn:AuditEventHL7Norway/CodeSystem/carerelation": "https://www.hl7.no"}


class TokenError(Exception):
    """An OAuth error answer: ``error`` (RFC 6749 5.2), a description starting with a HID code."""

    def __init__(self, error: str, code: str, description: str, status: int = 400) -> None:
        super().__init__(f"{code}: {description}")
        self.error, self.code, self.description, self.status = error, code, description, status

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error, "error_description": f"{self.code}: {self.description}"},
                            status_code=self.status, headers={"Cache-Control": "no-store"})


@dataclass(frozen=True)
class Person:
    pid: str
    name: str | None = None
    hpr_number: str | None = None
    security_level: str = "4"
    assurance_level: str = "high"


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    keys: tuple[TrustedKey, ...]
    scopes: tuple[str, ...]
    user: str | None
    orgnr_parent: str | None = None
    orgnr_child: str | None = None
    orgnr_supplier: str | None = None
    #: a multi-tenant client (no orgnr_parent): the legal entities it may act for (HelseID checks a
    #: supplier's delegation); an empty set: none
    legal_entities: frozenset[str] = frozenset()

    @property
    def tenancy(self) -> str:
        return "single-tenant" if self.orgnr_parent else "multi-tenant"


@dataclass
class LocalHelseIdConfig:
    issuer: str | None
    audience: str
    signing_key: rsa.RSAPrivateKey  # checked at load: HelseID signs with RS256
    clients: dict[str, Client]
    people: dict[str, Person]
    organisations: dict[str, str]
    token_lifetime: int = 300

    @classmethod
    def load(cls, path: str | Path) -> LocalHelseIdConfig:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{p}: cannot read the local HelseID configuration ({exc})") from None
        return cls.from_dict(data, p.parent, str(p))

    @classmethod
    def from_dict(cls, data: Any, base: Path, where: str = "<config>") -> LocalHelseIdConfig:
        if not isinstance(data, dict):
            raise ConfigurationError(f"{where}: the configuration is a mapping")
        try:
            key_path = base / str(data["signing_key"])
            signing_key = load_private_key(key_path)
        except KeyError:
            raise ConfigurationError(f"{where}: 'signing_key' (an RSA private key PEM) is required") from None
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"{where}: cannot load the signing key ({exc})") from None
        if not isinstance(signing_key, rsa.RSAPrivateKey):
            raise ConfigurationError(f"{where}: the signing key must be RSA (HelseID signs with RS256)")
        people = {}
        for i, p in enumerate(data.get("people") or []):
            if not isinstance(p, dict) or not isinstance(p.get("pid"), str):
                raise ConfigurationError(f"{where}: people[{i}] needs a pid")
            people[p["pid"]] = Person(p["pid"], p.get("name"), _opt_str(p.get("hpr_number")),
                                      str(p.get("security_level", "4")), str(p.get("assurance_level", "high")))
        clients = {}
        for i, c in enumerate(data.get("clients") or []):
            client = _client(c, base, f"{where}: clients[{i}]")
            if client.user is not None and client.user not in people:
                raise ConfigurationError(f"{where}: clients[{i}].user is not a pid of 'people'")
            clients[client.client_id] = client
        if not clients:
            raise ConfigurationError(f"{where}: register at least one client")
        orgs = {str(k): str(v) for k, v in (data.get("organisations") or {}).items()}
        lifetime = int(data.get("token_lifetime", 300))
        if not 0 < lifetime <= 3600:
            raise ConfigurationError(f"{where}: token_lifetime must be 1..3600 seconds")
        return cls(_opt_str(data.get("issuer")), str(data.get("audience", "nhn:phr")), signing_key, clients,
                   people, orgs, lifetime)


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)


def _client(c: Any, base: Path, where: str) -> Client:
    if not isinstance(c, dict) or not isinstance(c.get("client_id"), str) or not c["client_id"]:
        raise ConfigurationError(f"{where}: a client needs a client_id")
    try:
        if "jwks_file" in c:
            doc = json.loads((base / str(c["jwks_file"])).read_text(encoding="utf-8"))
        else:
            doc = c.get("jwks")
        keys = (tuple(load_jwks(doc, where).values()) if isinstance(doc, dict) and "keys" in doc
                else (load_jwk(doc, where),))
    except (OSError, ValueError, TrustStoreError) as exc:
        raise ConfigurationError(f"{where}: cannot load the client's keys ({exc})") from None
    return Client(c["client_id"], str(c.get("name", c["client_id"])), keys,
                  tuple(str(s) for s in c.get("scopes") or ()), _opt_str(c.get("user")),
                  _opt_str(c.get("orgnr_parent")), _opt_str(c.get("orgnr_child")), _opt_str(c.get("orgnr_supplier")),
                  frozenset(str(x) for x in c.get("legal_entities") or ()))


# --- signing keys -------------------------------------------------------------------------------------------

@dataclass
class SigningKeys:
    """The active signing key and the ones still published (rotation on demand)."""

    active: tuple[str, rsa.RSAPrivateKey]
    published: list[tuple[str, rsa.RSAPrivateKey]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def starting_with(cls, key: rsa.RSAPrivateKey) -> SigningKeys:
        entry = (helseid_kid(key), key)
        return cls(entry, [entry])

    def rotate(self) -> str:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        entry = (helseid_kid(key), key)
        with self.lock:
            self.active = entry
            self.published.append(entry)
        return entry[0]

    def retire(self) -> list[str]:
        with self.lock:
            gone = [kid for kid, _ in self.published if kid != self.active[0]]
            self.published = [self.active]
        return gone

    def jwks(self) -> dict[str, Any]:
        with self.lock:
            return {"keys": [{**public_jwk(k, "RS256"), "kid": kid, "use": "sig", "alg": "RS256"}
                             for kid, k in self.published]}


# --- the token endpoint ------------------------------------------------------------------------------------

@dataclass
class TokenRequest:
    """A token request, checked: who, for which key, with which attestation."""

    client: Client
    user: Person
    jkt: str
    scopes: list[str]
    attestation: dict[str, Any] | None


class LocalHelseId:
    """The state of one local HelseID: configuration, keys, single-use caches."""

    def __init__(self, config: LocalHelseIdConfig, base_url: str) -> None:
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.issuer = config.issuer or self.base_url
        self.keys = SigningKeys.starting_with(config.signing_key)
        self.assertions = MemoryReplayCache(max_entries=100_000)
        self.proofs = MemoryReplayCache(max_entries=100_000)
        # the test-token service's own keys (made once per start): the EPJ's DPoP key it binds tokens to,
        # another client's, and a signing key nobody trusts
        self._ttt_keys = {"epj-dpop": generate_private_key("ES256"), "epj-dpop-other": generate_private_key("ES256"),
                          "untrusted-signer": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self._ttt_secret = os.urandom(32)

    # --- the test-token service -------------------------------------------------------------------------

    def _setup(self) -> Setup:
        client = next(iter(self.config.clients.values()))
        return Setup(issuer=self.issuer, audience=self.config.audience, scopes=client.scopes or (DEFAULT_SCOPE,),
                     client_id=client.client_id, kid=self.keys.active[0], unknown_kid="0" * 40)

    def switches(self) -> list[dict[str, Any]]:
        """The switches of the test-token service: one per case of the conformance suite's HelseID mode."""
        return [{"switch": c.id, "description": c.description, "expect": c.expect.decision,
                 "codes": sorted(c.expect.errors)} for c in helseid_cases(self._setup())]

    def test_token(self, switch: str, method: str, url: str) -> dict[str, Any]:
        """An access token, its proof(s) and the request for ``method``/``url`` with ``switch``. Raises
        :class:`TokenError` for an unknown switch or URL."""
        cases = {c.id: c for c in helseid_cases(self._setup())}
        case = cases.get(switch)
        if case is None or case.recipe is None:
            raise TokenError("invalid_request", "TTT-SWITCH", "unknown switch (GET /test-token/switches lists them)")
        if not url.startswith(("https://", "http://")) or len(url) > 2048:
            raise TokenError("invalid_request", "TTT-URL", "url must be an absolute http(s) URL")
        material = Material({**self._ttt_keys, KEY_SERVER: self.keys.active[1]}, self._ttt_secret)
        try:
            minted = mint(case.recipe, material, url=url, method=method)
        except MintError as exc:
            raise TokenError("invalid_request", "TTT-MINT", str(exc)) from None
        return {"switch": case.id, "description": case.description, "expect": case.expect.decision,
                "codes": sorted(case.expect.errors), "access_token": minted.token,
                "dpop_proofs": list(minted.proofs), "send_times": int(case.recipe.get("repeat", 1)),
                "request": {"method": minted.method, "url": minted.url,
                            "headers": [list(h) for h in minted.headers]},
                "dpop_key": private_jwk(self._ttt_keys["epj-dpop"])}

    @property
    def token_endpoint(self) -> str:
        return self.base_url + TOKEN_PATH

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "jwks_uri": self.base_url + JWKS_PATH, "token_endpoint": self.token_endpoint,
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
                "dpop_signing_alg_values_supported": sorted(DPoPPolicy().algorithms),
                "authorization_details_types_supported": [RAR_TYPES[0]],
                "scopes_supported": sorted({s for c in self.config.clients.values() for s in c.scopes})}

    def issue(self, form: dict[str, str], dpop: str | None, now: int | None = None) -> dict[str, Any]:
        """The answer to a token request; raises :class:`TokenError`."""
        t = int(time.time()) if now is None else now
        req = self.check(form, dpop, t)
        enriched = self.enrich(req.attestation, req.client, req.user) if req.attestation is not None else None
        kid, key = self.keys.active
        org_parent = req.client.orgnr_parent or _org(enriched, "legal_entity")
        org_child = req.client.orgnr_child or _org(enriched, "point_of_care")
        token = access_token(
            enriched, key=key, kid=kid, issuer=self.issuer, audience=self.config.audience,
            client_id=req.client.client_id, pid=req.user.pid, hpr_number=req.user.hpr_number, scope=req.scopes,
            lifetime=self.config.token_lifetime, now=t, security_level=req.user.security_level,
            assurance_level=req.user.assurance_level, orgnr_parent=org_parent, orgnr_child=org_child,
            orgnr_supplier=req.client.orgnr_supplier, name=req.user.name, client_name=req.client.name,
            client_tenancy=req.client.tenancy, extra={"cnf": {"jkt": req.jkt}})
        return {"access_token": token, "token_type": "DPoP", "expires_in": self.config.token_lifetime,
                "scope": " ".join(req.scopes)}

    def check(self, form: dict[str, str], dpop: str | None, now: int) -> TokenRequest:
        if form.get("grant_type") != "client_credentials":
            raise TokenError("unsupported_grant_type", "HID-GRANT", "only grant_type=client_credentials")
        if form.get("client_assertion_type") != JWT_BEARER or not form.get("client_assertion"):
            raise TokenError("invalid_client", "HID-CLIENT-AUTH", "a client assertion (private_key_jwt) is required",
                             401)
        client, claims = self._client_assertion(form["client_assertion"], now)
        proof = check_token_request_proof(dpop, method="POST", url=self.token_endpoint, now=now)
        if proof.errors or proof.proof is None or proof.replay is None:
            reason = "; ".join(f"{e.code}: {e.message}" for e in proof.errors) or "the proof was not accepted"
            raise TokenError("invalid_dpop_proof", "HID-DPOP", reason)
        if not self.proofs.check_and_store(proof.replay.namespace, proof.replay.jti, proof.replay.keep_until):
            raise TokenError("invalid_dpop_proof", "HID-DPOP", "this DPoP proof was already used")
        scopes = (form.get("scope") or " ".join(client.scopes)).split()
        extra = [s for s in scopes if s not in client.scopes]
        if extra:
            raise TokenError("invalid_scope", "HID-SCOPE", f"the client may not ask for {', '.join(extra)}")
        user_pid = form.get("test_user") or client.user
        if user_pid is None or user_pid not in self.config.people:
            raise TokenError("invalid_request", "HID-USER", "no logged-in test user: register one for the client "
                                                            "or name a registered person with test_user")
        return TokenRequest(client, self.config.people[user_pid], str(proof.proof["jkt"]), scopes,
                            self._attestation(claims, form, client, now))

    def _client_assertion(self, assertion: str, now: int) -> tuple[Client, dict[str, Any]]:
        def refuse(why: str) -> TokenError:
            return TokenError("invalid_client", "HID-CLIENT-AUTH", why, 401)
        try:
            jws = parse_compact(assertion)
        except JoseError as exc:
            raise refuse(f"the client assertion is not a JWS ({exc.message})") from None
        h, c = jws.header, jws.payload
        iss = c.get("iss")
        client = self.config.clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise refuse("unknown client (iss)")
        if not isinstance(h.get("typ"), str) or media_type(h["typ"]) != CLIENT_ASSERTION_TYP:
            raise refuse(f"the client assertion's typ must be {CLIENT_ASSERTION_TYP}")
        alg = h.get("alg")
        keys = [k for k in client.keys if isinstance(alg, str) and alg in k.algorithms
                and (h.get("kid") is None or h.get("kid") == k.kid)]
        if not any(verify_signature(jws, str(alg), k.public_key) for k in keys):
            raise refuse("the client assertion is not signed with a registered key of the client")
        if c.get("sub") != client.client_id:
            raise refuse("sub must equal iss (the client id)")
        aud = c.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not any(a in (self.issuer, self.token_endpoint) for a in auds):
            raise refuse("aud must be the issuer or the token endpoint")
        iat, exp, jti = c.get("iat"), c.get("exp"), c.get("jti")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)) or not isinstance(jti, str):
            raise refuse("iat, exp (numbers) and jti are required")
        assert isinstance(iat, int) and isinstance(exp, int)
        if exp <= now - _LEEWAY or exp - iat > CLIENT_ASSERTION_MAX_LIFETIME or iat > now + _LEEWAY:
            raise refuse(f"the client assertion is expired, from the future, or lives over "
                         f"{CLIENT_ASSERTION_MAX_LIFETIME} s")
        nbf = c.get("nbf")
        if isinstance(nbf, int) and nbf > now + _LEEWAY:
            raise refuse("the client assertion is not valid yet (nbf)")
        if not self.assertions.check_and_store(client.client_id, jti, exp + _LEEWAY):
            raise refuse("the client assertion was already used (jti)")
        return client, c

    def _attestation(self, claims: dict[str, Any], form: dict[str, str], client: Client,
                     now: int) -> dict[str, Any] | None:
        in_assertion = _elements(claims.get("assertion_details"))
        in_form: list[dict[str, Any]] = []
        if form.get("authorization_details"):
            try:
                in_form = _elements(json.loads(form["authorization_details"]))
            except ValueError:
                raise TokenError("invalid_request", "HID-AUTHORIZATION-DETAILS",
                                 "authorization_details is not JSON") from None
        if in_assertion and in_form:
            raise TokenError("invalid_request", DOUBLE_STRUCTURE, "the attestation is in both the client "
                             "assertion (assertion_details) and the request (authorization_details)")
        found = in_assertion or in_form
        if len(found) > 1:
            raise TokenError("invalid_request", "HID-ATTESTATION", "more than one nhn:tillitsrammeverk:parameters")
        if not found:
            return None
        normalised, errors, _ = check_attestation(found[0], REQUEST_PROFILE, now)
        if errors:
            raise TokenError("invalid_request", "HID-ATTESTATION",
                             "; ".join(f"{e.code} at {e.path}" for e in errors[:10]))
        le = _org(normalised, "legal_entity")
        if client.orgnr_parent and le is not None and le != client.orgnr_parent:
            raise TokenError("invalid_request", "HID-ORGNR", "practitioner.legal_entity is not the organisation "
                                                             "this single-tenant client is registered for")
        if not client.orgnr_parent and (le is None or le not in client.legal_entities):
            raise TokenError("invalid_request", "HID-ORGNR", "this multi-tenant client has no delegation from "
                                                             "practitioner.legal_entity (legal_entities)")
        return normalised

    def enrich(self, att: dict[str, Any], client: Client, user: Person) -> dict[str, Any]:
        """What HelseID adds (HELSEID.md section 9): the user's identity and HPR number, names of the
        organisations, texts of the codes, authorities and assigners; spelled as HelseID does
        (``care_relationship``)."""
        pr = dict(att.get("practitioner") or {})
        pr["identifier"] = _drop_none({"id": user.pid, "name": user.name,
                                       "system": OID_DNR if user.pid[:1] in "4567" else OID_FNR,
                                       "authority": AUTHORITIES[OID_FNR]})
        if user.hpr_number:
            pr["hpr_nr"] = {"id": user.hpr_number, "system": OID_HPR, "authority": AUTHORITIES[OID_HPR]}
        else:
            pr.pop("hpr_nr", None)
        for name in ("legal_entity", "point_of_care", "department"):
            if isinstance(pr.get(name), dict):
                pr[name] = self._organisation(pr[name])
        if isinstance(pr.get("authorization"), dict):
            pr["authorization"] = _code(pr["authorization"])
        cr = {k: (_code(v) if k != "decision_ref" and isinstance(v, dict) else v)
              for k, v in (att.get("care_relation") or {}).items()}
        patients = []
        for p in att.get("patients") or []:
            patients.append({k: (self._organisation(v) if isinstance(v, dict) else v) for k, v in p.items()
                             if k != "identifier"})
        return {"practitioner": pr, "care_relationship": cr, "patients": patients}

    def _organisation(self, v: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {k: v[k] for k in ("id", "system") if k in v}
        name = self.config.organisations.get(str(v.get("id")))
        if name:
            out["name"] = name
        authority = AUTHORITIES.get(str(v.get("system")))
        if authority:
            out["authority"] = authority
        return out


def _code(v: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v[k] for k in ("code", "system") if k in v}
    system, code = v.get("system"), v.get("code")
    text = codes.display(system, code) if isinstance(system, str) and isinstance(code, str) else None
    pou = codes.code_lists()["purpose_of_use"]
    if system in pou.systems and isinstance(code, str):  # HelseID writes the Norwegian text ("Behandling")
        text = (pou.extra.get(code) or {}).get("display_nb") or text
    if text:
        out["text"] = text
    assigner = ASSIGNERS.get(str(system))
    if assigner:
        out["assigner"] = assigner
    return out


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _org(att: dict[str, Any] | None, name: str) -> str | None:
    v = ((att or {}).get("practitioner") or {}).get(name)
    return v.get("id") if isinstance(v, dict) and isinstance(v.get("id"), str) else None


def _elements(v: Any) -> list[dict[str, Any]]:
    items = v if isinstance(v, list) else [v] if isinstance(v, dict) else []
    return [e for e in items if isinstance(e, dict) and e.get("type") in RAR_TYPES]


def _local(request: Request) -> bool:
    """Whether the caller is on this machine (the admin routes answer only to loopback, even when the server
    was told to listen elsewhere)."""
    from .keysets import is_loopback_host

    host = request.client.host if request.client is not None else None
    return host is not None and is_loopback_host(host)


def _admin_refused() -> JSONResponse:
    return JSONResponse({"error": "access_denied", "error_description": "the admin routes answer to loopback only"},
                        status_code=403)


# --- the app -----------------------------------------------------------------------------------------------

MAX_FORM = 64 * 1024


def create_app(state: LocalHelseId) -> FastAPI:
    app = FastAPI(title="attest local HelseID (TEST TOOL)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.helseid = state

    @app.get("/.well-known/openid-configuration")
    def discovery() -> JSONResponse:
        return JSONResponse(state.discovery())

    @app.get(JWKS_PATH)
    def jwks() -> JSONResponse:
        return JSONResponse(state.keys.jwks(), headers={"Cache-Control": "max-age=60"})

    @app.post(TOKEN_PATH)
    async def token(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_FORM:
            return TokenError("invalid_request", "HID-SIZE", "the request is too large", 413).response()
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return TokenError("invalid_request", "HID-FORM", "the token request is a form "
                              "(application/x-www-form-urlencoded)").response()
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            return TokenError("invalid_request", "HID-FORM", "the form is not UTF-8").response()
        if any(len(v) > 1 for v in parsed.values()):
            return TokenError("invalid_request", "HID-FORM", "a parameter is given more than once").response()
        form = {k: v[0] for k, v in parsed.items()}
        proofs = request.headers.getlist("dpop")
        if len(proofs) > 1:
            return TokenError("invalid_dpop_proof", "HID-DPOP", "more than one DPoP header").response()
        try:
            answer = state.issue(form, proofs[0] if proofs else None)
        except TokenError as exc:
            return exc.response()
        return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @app.get("/test-token/switches")
    def switches() -> JSONResponse:
        return JSONResponse(state.switches())

    @app.post("/test-token")
    async def test_token(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return TokenError("invalid_request", "TTT-BODY", "a JSON object: switch, method, url").response()
        switch, method, url = body.get("switch", "permit-valid"), body.get("method", "GET"), body.get("url")
        if not isinstance(switch, str) or not isinstance(method, str) or not isinstance(url, str):
            return TokenError("invalid_request", "TTT-BODY", "switch, method and url are strings").response()
        try:
            answer = state.test_token(switch, method, url)
        except TokenError as exc:
            return exc.response()
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    @app.post("/admin/rotate")
    def rotate(request: Request) -> JSONResponse:
        if not _local(request):
            return _admin_refused()
        return JSONResponse({"active_kid": state.keys.rotate()})

    @app.post("/admin/retire")
    def retire(request: Request) -> JSONResponse:
        if not _local(request):
            return _admin_refused()
        return JSONResponse({"retired": state.keys.retire(), "active_kid": state.keys.active[0]})

    return app
