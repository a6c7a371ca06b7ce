"""DPoP at the resource server (RFC 9449 sections 4.3 and 7; HELSEID.md section 11).

This module knows JOSE and keys, nothing of the trust framework. :func:`check_presentation` decides how an
access token was presented (scheme, proof, ``cnf.jkt``) and checks the proof; it returns the findings and,
for a proof that passed every check, the replay-cache entry the caller must record (only then: a proof
that fails anything else cannot burn its ``jti``).

Every check has its own code (HELSEID.md section 11):

===========================  ===========================================================================
``dpop_required``            the token is DPoP-bound (``cnf.jkt``) but was presented as ``Bearer``, or the
                             policy is ``required`` and the token is not bound
``dpop_proof_missing``       ``DPoP`` scheme or ``cnf.jkt``, but no proof
``invalid_dpop_proof``       more than one proof, not one compact JWS, ``typ`` not ``dpop+jwt``, ``alg``
                             not an allowed asymmetric algorithm, ``jwk`` missing, holding private members
                             or not a public key of that ``alg``, bad signature, ``jti`` or ``iat`` missing
``dpop_key_mismatch``        the RFC 7638 thumbprint of the proof's ``jwk`` is not ``cnf.jkt`` (or the token
                             is not bound although presented with the ``DPoP`` scheme)
``dpop_ath_mismatch``        ``ath`` missing or not base64url(SHA-256(access token))
``dpop_htm_mismatch``        ``htm`` is not the request's method
``dpop_htu_mismatch``        ``htu`` is not the request's URL (RFC 3986 normalisation; query and fragment
                             ignored)
``dpop_proof_expired``       ``iat`` older than ``max_age`` or later than now + ``leeway``
``dpop_replayed``            the proof's ``jti`` was seen before within its window (the caller's replay
                             cache, in its own namespace)
===========================  ===========================================================================
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from .errors import Finding
from .jose import JoseError, JoseLimits, b64url, media_type, parse_compact, verify_signature
from .keys import CURVE_ALGORITHMS, has_roca_fingerprint, thumbprint

PROOF_TYP = "dpop+jwt"
RULE = "RFC9449-4.3"
RULE_BINDING = "RFC9449-7.1"
#: the replay cache's namespace for proof jtis (trust-store issuers may not start with "urn:attest:")
REPLAY_NAMESPACE = "urn:attest:dpop-proof"
#: a proof is small: a header with one public key and five claims
PROOF_LIMITS = JoseLimits(max_token_bytes=8192, max_json_depth=4)
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
_JTI = re.compile(r"[\x21-\x7e]{1,256}", re.ASCII)


@dataclass(frozen=True)
class DPoPPolicy:
    """The resource server's DPoP policy: ``mode`` ``required`` | ``allowed`` | ``forbidden``; proofs at
    most ``max_age`` seconds old and at most ``leeway`` seconds in the future; ``algorithms`` allowed for
    proofs."""

    mode: str = "required"
    max_age: int = 10
    leeway: int = 5
    algorithms: frozenset[str] = frozenset({"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256",
                                            "RS384", "RS512"})


@dataclass(frozen=True)
class ReplayEntry:
    """What the caller records in its replay cache for a proof that passed: ``check_and_store(namespace,
    jti, keep_until)``; ``keep_until`` is on the evaluation clock."""

    namespace: str
    jti: str
    keep_until: int


@dataclass(frozen=True)
class Presentation:
    """The outcome of :func:`check_presentation`: ``errors`` (empty when the presentation is good),
    what is known of the proof (for the decision document and ``inspect``), and the replay entry to record
    when there were no errors."""

    errors: tuple[Finding, ...]
    proof: dict[str, Any] | None
    replay: ReplayEntry | None


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url(SHA-256(ASCII of the access token)) (RFC 9449 section 4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii", "surrogateescape")).digest())


_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


def _normalise_pct(path: str) -> str:
    """Percent-encodings in upper case, unreserved characters decoded (RFC 3986 6.2.2.1-2)."""
    def repl(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()
    return _PCT.sub(repl, path)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4."""
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if len(out) > 1:
                out.pop()
        elif seg != ".":
            out.append(seg)
    result = "/".join(out)
    if path.endswith(("/.", "/..")):
        result += "/"
    return result if result.startswith("/") else "/" + result


def normalize_htu(url: Any) -> str | None:
    """The URL as ``htu`` is compared (RFC 9449 4.3 item 9, RFC 3986 6.2.2-6.2.3): scheme and host in
    lower case, the default port dropped, percent-encodings normalised, dot segments removed, an empty path
    as ``/``, no query, no fragment, no user info. None for anything that is not an absolute http(s) URL."""
    if not isinstance(url, str) or len(url) > 8192:
        return None
    # the query and fragment are dropped first (they may name a patient): what is cached is the rest, which
    # repeats from request to request
    return _normalize_htu(url.split("#", 1)[0].split("?", 1)[0])


@lru_cache(maxsize=1024)
def _normalize_htu(url: str) -> str | None:
    if not url or len(url) > 8192 or not url.isprintable() or " " in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    host = host.lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _remove_dot_segments(_normalise_pct(parts.path or "/"))
    return f"{scheme}://{netloc}{path}"


# The public key of a proof and its thumbprint, by the JWK members they are made of: a client signs every
# proof with the same key, and building the key object (point validation, RSA checks) costs more than the
# signature check. Only the public members enter the key (and the RFC 7638 thumbprint), so equal members mean
# an equal key.
_KEY_CACHE: OrderedDict[tuple[str, ...], tuple[str, Any, str]] = OrderedDict()
_KEY_CACHE_SIZE = 4096
_KEY_CACHE_LOCK = threading.Lock()


def proof_key(jwk: Any, alg: str) -> tuple[str, Any]:
    """``(thumbprint, public key)`` of the proof's ``jwk`` for ``alg``; raises ValueError saying why not."""
    if not isinstance(jwk, dict):
        raise ValueError("the header's jwk is missing or not an object")
    present = [m for m in _PRIVATE_MEMBERS if m in jwk]
    if present:
        raise ValueError(f"the jwk holds private key member(s) {present}")
    kty = jwk.get("kty")
    members = _PUBLIC_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError("the jwk is not an RSA, EC or OKP public key (a symmetric key is never a proof key)")
    values = [jwk.get(m) for m in members]
    if not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"the jwk lacks {'/'.join(members)} as strings")
    # the members the key (and its thumbprint) are made of: equal members, equal key
    cache_key: tuple[str, ...] = (str(kty), *(str(v) for v in values))
    with _KEY_CACHE_LOCK:
        cached = _KEY_CACHE.get(cache_key)
        if cached is not None:
            _KEY_CACHE.move_to_end(cache_key)
    if cached is None:
        try:
            key = (RSAAlgorithm.from_jwk(jwk) if kty == "RSA" else ECAlgorithm.from_jwk(jwk) if kty == "EC"
                   else OKPAlgorithm.from_jwk(jwk))
        except Exception as exc:
            raise ValueError(f"the jwk is not a valid {kty} public key") from exc
        if hasattr(key, "private_bytes"):
            raise ValueError("the jwk is a private key")
        if isinstance(key, rsa.RSAPublicKey):
            numbers = key.public_numbers()
            if key.key_size < 2048 or numbers.e < 65537 or numbers.n % 2 == 0 or has_roca_fingerprint(numbers.n):
                raise ValueError("the jwk is a weak RSA key (under 2048 bits, a small exponent or ROCA)")
        fixed = (CURVE_ALGORITHMS.get(str(jwk.get("crv"))) if kty in ("EC", "OKP") else "RSA")
        cached = (str(fixed), key, thumbprint(jwk))
        with _KEY_CACHE_LOCK:
            _KEY_CACHE[cache_key] = cached
            if len(_KEY_CACHE) > _KEY_CACHE_SIZE:
                _KEY_CACHE.popitem(last=False)
    family, key, jkt = cached
    if family == "RSA":
        if not alg.startswith(("RS", "PS")):
            raise ValueError(f"an RSA jwk cannot verify {alg}")
    elif family != alg:
        raise ValueError(f"the jwk's curve takes {family}, not {alg}")
    if isinstance(key, ec.EllipticCurvePublicKey) and not alg.startswith("ES"):  # pragma: no cover - above
        raise ValueError(f"an EC jwk cannot verify {alg}")
    return jkt, key


def _numeric(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v):
        return int(v)
    return None


def _f(code: str, path: str, message: str, rule: str = RULE) -> Finding:
    return Finding(code, rule, path, message)


def check_presentation(*, access_token: str, cnf: Any, proof: str | None, scheme: str | None,
                       method: str | None, url: str | None, now: int,
                       policy: DPoPPolicy = DPoPPolicy(), ath: str | None = None) -> Presentation:
    """Check how an access token was presented (RFC 9449 section 7.1) and its proof (section 4.3).

    ``cnf`` is the token's ``cnf`` claim (or None); ``proof`` the ``DPoP`` header value (several headers
    joined by commas count as more than one proof); ``scheme`` the ``Authorization`` scheme (None: not
    known, then the token's binding decides); ``method``/``url`` the request the client made; ``ath`` the
    token's hash when the caller has it already (:func:`access_token_hash`)."""
    jkt_claim = cnf.get("jkt") if isinstance(cnf, dict) else None
    errors: list[Finding] = []
    if cnf is not None and (not isinstance(cnf, dict) or ("jkt" in cnf and not (isinstance(jkt_claim, str)
                                                                                 and jkt_claim))):
        errors.append(_f("invalid_claim", "cnf", "claim 'cnf' must be an object whose 'jkt' is a thumbprint",
                         "RFC9449-6.1"))
        return Presentation(tuple(errors), None, None)
    bound = isinstance(jkt_claim, str)
    scheme_l = scheme.lower() if isinstance(scheme, str) else None
    if policy.mode == "forbidden":
        if bound:
            errors.append(_f("invalid_claim", "cnf.jkt", "the token is DPoP-bound, but this API accepts bearer "
                                                          "tokens only (dpop: forbidden)", RULE_BINDING))
        return Presentation(tuple(errors), None, None)
    if bound and scheme_l == "bearer":
        errors.append(_f("dpop_required", "authorization", "the token is DPoP-bound (cnf.jkt) but was presented "
                                                           "with the Bearer scheme", RULE_BINDING))
        return Presentation(tuple(errors), None, None)
    if not bound and policy.mode == "required":
        errors.append(_f("dpop_required", "cnf.jkt", "this API requires DPoP-bound access tokens, and the token "
                                                     "has no cnf.jkt", RULE_BINDING))
        return Presentation(tuple(errors), None, None)
    if not bound and (scheme_l == "bearer" or (scheme_l is None and not proof)):
        return Presentation((), None, None)  # a bearer token where the policy allows one (a proof is ignored)
    if not proof:
        errors.append(_f("dpop_proof_missing", "dpop", "the request carries no DPoP proof (DPoP header)",
                         RULE_BINDING))
        return Presentation(tuple(errors), None, None)
    return _check_proof(proof, ath=ath or access_token_hash(access_token), jkt_claim=jkt_claim if bound else None,
                        method=method, url=url, now=now, policy=policy)


def check_token_request_proof(proof: str | None, *, method: str, url: str, now: int,
                              policy: DPoPPolicy = DPoPPolicy()) -> Presentation:
    """The proof of a token request (RFC 9449 section 5): every check of section 4.3 except the binding to
    an access token (there is none yet: no ``ath``, no ``cnf.jkt``); ``info["jkt"]`` is the key the new
    token is to be bound to. Used by the local HelseID (:mod:`attest.local_helseid`)."""
    if not proof:
        return Presentation((_f("dpop_proof_missing", "dpop", "the token request carries no DPoP proof"),), None,
                            None)
    return _check_proof(proof, ath=None, jkt_claim=None, method=method, url=url, now=now, policy=policy)


def _check_proof(proof: str, *, ath: str | None, jkt_claim: str | None, method: str | None, url: str | None,
                 now: int, policy: DPoPPolicy) -> Presentation:
    """``ath`` None: a token request's proof (no binding to check)."""
    # --- the proof as a JWS (any failure: invalid_dpop_proof, nothing of it is trusted) --------------------
    if "," in proof:
        return Presentation((_f("invalid_dpop_proof", "dpop", "more than one DPoP proof in the request"),), None,
                            None)
    try:
        jws = parse_compact(proof.strip(" \t"), PROOF_LIMITS)
    except JoseError as err:
        return Presentation((_f("invalid_dpop_proof", f"dpop.{err.path}", f"the proof is not a JWS: {err.message}"),),
                            None, None)
    header, claims = jws.header, jws.payload
    info: dict[str, Any] = {}
    reason = None
    alg = header.get("alg")
    if "crit" in header:
        reason = ("header.crit", "the proof marks header extensions as critical")
    elif not isinstance(header.get("typ"), str) or media_type(header["typ"]) != PROOF_TYP:
        reason = ("header.typ", f"the proof's typ must be {PROOF_TYP!r}")
    elif not isinstance(alg, str) or alg not in policy.algorithms:
        reason = ("header.alg", "the proof's alg is missing or not an allowed asymmetric algorithm "
                                f"({', '.join(sorted(policy.algorithms))})")
    if reason is not None:
        return Presentation((_f("invalid_dpop_proof", f"dpop.{reason[0]}", reason[1]),), None, None)
    assert isinstance(alg, str)
    try:
        jkt, key = proof_key(header.get("jwk"), alg)
    except ValueError as exc:
        return Presentation((_f("invalid_dpop_proof", "dpop.header.jwk", str(exc)),), None, None)
    if not verify_signature(jws, alg, key):
        return Presentation((_f("invalid_dpop_proof", "dpop.signature", "the proof's signature does not verify "
                                                                        "with its jwk"),), None, None)
    # --- the proof's claims (signed by the key it names) -------------------------------------------------
    errors: list[Finding] = []
    jti = claims.get("jti")
    iat = _numeric(claims.get("iat"))
    info = {"jkt": jkt, "alg": alg, "htm": claims.get("htm"), "htu": claims.get("htu"), "iat": iat,
            "jti": jti if isinstance(jti, str) else None}
    if not isinstance(jti, str) or _JTI.fullmatch(jti) is None:
        errors.append(_f("invalid_dpop_proof", "dpop.jti", "the proof has no jti (1-256 printable ASCII "
                                                           "characters)"))
    if iat is None:
        errors.append(_f("invalid_dpop_proof", "dpop.iat", "the proof has no iat (a NumericDate)"))
    if ath is None:
        pass  # a token request: nothing is bound yet
    elif jkt_claim is None:
        errors.append(_f("dpop_key_mismatch", "cnf.jkt", "the token is not DPoP-bound (no cnf.jkt), yet it was "
                                                         "presented with the DPoP scheme", RULE_BINDING))
    elif jkt != jkt_claim:
        errors.append(_f("dpop_key_mismatch", "dpop.header.jwk", "the proof's key is not the key the token is "
                                                                 "bound to (cnf.jkt)", RULE_BINDING))
    proof_ath = claims.get("ath")
    if ath is None:
        pass
    elif not isinstance(proof_ath, str) or proof_ath != ath:
        errors.append(_f("dpop_ath_mismatch", "dpop.ath", "the proof has no ath" if proof_ath is None else
                         "the proof's ath is not the hash of this access token"))
    htm = claims.get("htm")
    if not isinstance(htm, str) or method is None or htm != method:
        errors.append(_f("dpop_htm_mismatch", "dpop.htm",
                         "the proof has no htm" if htm is None else
                         "the request method is not known" if method is None else
                         "the proof's htm is not the request method"))
    htu = claims.get("htu")
    target = normalize_htu(url)
    if not isinstance(htu, str) or target is None or normalize_htu(htu) != target:
        errors.append(_f("dpop_htu_mismatch", "dpop.htu",
                         "the proof has no htu" if htu is None else
                         "the request URL is not known" if target is None else
                         "the proof's htu is not the request URL"))
    if iat is not None:
        if now - iat > policy.max_age:
            errors.append(_f("dpop_proof_expired", "dpop.iat", f"the proof was made {now - iat} s ago; the limit "
                                                               f"is {policy.max_age} s"))
        elif iat > now + policy.leeway:
            errors.append(_f("dpop_proof_expired", "dpop.iat", f"the proof was made {iat - now} s in the future"))
    replay = None
    if not errors and isinstance(jti, str) and iat is not None:
        # accepted while now - max_age <= iat <= now + leeway: remember it that long
        replay = ReplayEntry(REPLAY_NAMESPACE, f"{jkt}:{jti}", max(iat, now) + policy.max_age + policy.leeway + 1)
    return Presentation(tuple(errors), info, replay)


def replayed_finding() -> Finding:
    return _f("dpop_replayed", "dpop.jti", "this DPoP proof was already used; a proof is single-use", "RFC9449-11.1")
