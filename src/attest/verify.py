"""The verification pipeline (CONTRACT.md sections 3, 4 and 8).

    token ─► jose (strict parse, header policy) ─► trust (iss + kid → key) ─► jose (signature)
          ─► claims (registered claims, time, lifetime) ─► model (find + normalise the attestation)
          ─► rules (profile rules, then context rules) ─► replay cache ─► Decision

:func:`verify` never raises for anything about the token. It raises ``TypeError`` for wrong argument
types, :class:`~attest.errors.ProfileError` for an unknown profile, and
:class:`~attest.errors.DependencyUnavailable` when a replay cache it was given cannot answer (the caller
must then fail closed: no decision).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from . import access_token as at
from .context import VerifyContext
from .dpop import DPoPPolicy, access_token_hash, check_presentation, replayed_finding
from .errors import Finding
from .jose import DEFAULT_LIMITS, CompactJWS, JoseError, JoseLimits, check_header, parse_compact, verify_signature
from .keysets import KeySet
from .model import AT_CLAIM, Located, attestation_carriers, locate, locate_access_token, normalise
from .profiles import DEFAULT_PROFILE, Profile, load_profile
from .replay import ReplayCache
from .rules import MAX_NUMERIC_DATE, RuleContext, evaluate_groups
from .trust import DEFAULT_AT_PROFILE, AuthorizationServer, Issuer, SamlIssuer, TrustStore

PERMIT: Final = "permit"
DENY: Final = "deny"


@dataclass(frozen=True, init=False)
class Decision:
    """The decision document. ``decision`` is ``permit`` exactly when ``errors`` is empty."""

    decision: str
    profile: str
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    token: dict[str, Any] | None
    attestation: dict[str, Any] | None
    #: the trust-store issuer (an authorization server, a SAML issuer) whose key verified the signature (not
    #: part of the document)
    issuer: Issuer | AuthorizationServer | SamlIssuer | None = field(default=None, compare=False, repr=False)
    #: evaluation time used (unix seconds)
    evaluated_at: int = 0

    def __init__(self, decision: str, profile: str, errors: tuple[Finding, ...], warnings: tuple[Finding, ...],
                 token: dict[str, Any] | None, attestation: dict[str, Any] | None,
                 issuer: Issuer | AuthorizationServer | SamlIssuer | None = None, evaluated_at: int = 0) -> None:
        # the dataclass' own __init__ would be generated Python even in the compiled build (one Decision per
        # verification); this one compiles, and sets the frozen fields as that one does
        setattr_ = object.__setattr__
        setattr_(self, "decision", decision)
        setattr_(self, "profile", profile)
        setattr_(self, "errors", errors)
        setattr_(self, "warnings", warnings)
        setattr_(self, "token", token)
        setattr_(self, "attestation", attestation)
        setattr_(self, "issuer", issuer)
        setattr_(self, "evaluated_at", evaluated_at)

    @property
    def permitted(self) -> bool:
        return self.decision == PERMIT

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.errors]

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "profile": self.profile,
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
            "token": self.token,
            "attestation": self.attestation,
        }


def _numeric_date(payload: dict[str, Any], name: str, errors: list[Finding], required: bool) -> int | None:
    """A NumericDate: a JSON integer (an integral float is accepted), not a boolean, not a string,
    0 < value <= 253402300799."""
    v = payload.get(name)
    if type(v) is int and 0 < v <= MAX_NUMERIC_DATE:  # the usual case
        return v
    if v is None:
        if required:  # absent, or null (as PyJWT's ``require`` counts it)
            errors.append(Finding("missing_claim", "RFC7519-4.1", name, f"claim {name!r} is required"))
        elif name in payload:  # an optional claim that is present must still be a NumericDate
            errors.append(Finding("invalid_claim", "RFC7519-2", name,
                                  f"claim {name!r} must be an integer NumericDate, not null"))
        return None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        errors.append(Finding("invalid_claim", "RFC7519-2", name,
                              f"claim {name!r} must be an integer NumericDate (unix seconds)"))
        return None
    if not 0 < v <= MAX_NUMERIC_DATE:
        errors.append(Finding("invalid_claim", "RFC7519-2", name,
                              f"claim {name!r} is outside 1..{MAX_NUMERIC_DATE}"))
        return None
    return v


def _check_claims(payload: dict[str, Any], profile: Profile, now: int, audience: str | None,
                  errors: list[Finding], warnings: list[Finding]) -> tuple[int | None, int | None, str | None]:
    req = profile.required_claims
    # aud
    aud = payload.get("aud")
    if profile.access_token is not None and isinstance(aud, list) and len(aud) > 1:
        warnings.append(Finding("multiple_audiences", "RFC9068-4", "aud",
                                f"the access token names {len(aud)} audiences; it is valid at other APIs too"))
    if aud is None:
        if "aud" in req:
            errors.append(Finding("missing_claim", "RFC7519-4.1.3", "aud", "claim 'aud' is required"))
    elif not (isinstance(aud, str) and aud) and not (
            isinstance(aud, list) and aud and all(isinstance(a, str) and a for a in aud)):
        errors.append(Finding("invalid_claim", "RFC7519-4.1.3", "aud",
                              "claim 'aud' must be a non-empty string or a non-empty array of strings"))
    elif audience is None and profile.access_token is not None:
        # an access token accepted without its audience could be one issued for another API (RFC 9068 4)
        errors.append(Finding("invalid_audience", "RFC9068-4", "aud",
                              "no audience is configured for this API, so the access token cannot be accepted"))
    elif audience is None:
        warnings.append(Finding("context_not_provided", "RFC8725-3.9", "aud",
                                "no verifier audience is configured, so 'aud' was not checked"))
    elif not (aud == audience if isinstance(aud, str) else audience in aud):
        errors.append(Finding("invalid_audience", "RFC8725-3.9", "aud",
                              "the token is not addressed to this verifier's audience"))
    # times
    iat = _numeric_date(payload, "iat", errors, "iat" in req)
    exp = _numeric_date(payload, "exp", errors, "exp" in req)
    nbf = _numeric_date(payload, "nbf", errors, "nbf" in req)
    leeway = profile.leeway
    if exp is not None and now >= exp + leeway:
        errors.append(Finding("token_expired", "RFC7519-4.1.4", "exp", f"the token expired {now - exp} s ago"))
    if iat is not None and iat > now + leeway:
        errors.append(Finding("token_not_yet_valid", "RFC7519-4.1.6", "iat",
                              f"the token was issued {iat - now} s in the future"))
    if nbf is not None and nbf > now + leeway:
        errors.append(Finding("token_not_yet_valid", "RFC7519-4.1.5", "nbf",
                              f"the token is not valid for another {nbf - now} s"))
    if iat is not None and exp is not None:
        if exp <= iat:
            errors.append(Finding("invalid_claim", "RFC7519-4.1.4", "exp", "'exp' must be later than 'iat'"))
        elif exp - iat > profile.max_lifetime:
            errors.append(Finding("lifetime_too_long", "RFC8725-3.10", "exp",
                                  f"exp - iat is {exp - iat} s; the limit is {profile.max_lifetime} s"))
    # jti
    jti = payload.get("jti")
    if jti is None:
        if "jti" in req:
            errors.append(Finding("missing_claim", "RFC7519-4.1.7", "jti", "claim 'jti' is required"))
        jti = None
    elif not isinstance(jti, str) or not 1 <= len(jti) <= profile.jti_max_length or not jti.isprintable():
        errors.append(Finding("invalid_claim", "RFC7519-4.1.7", "jti",
                              f"claim 'jti' must be a string of 1-{profile.jti_max_length} printable characters"))
        jti = None
    for name in _other_required(req):
        if payload.get(name) is None:
            errors.append(Finding("missing_claim", "RFC7519-4.1", name, f"claim {name!r} is required"))
    return iat, exp, jti


@lru_cache(maxsize=64)
def _other_required(required: tuple[str, ...]) -> tuple[str, ...]:
    """A profile's required claims other than the registered ones checked one by one above."""
    return tuple(n for n in required if n not in ("iss", "aud", "iat", "exp", "nbf", "jti"))


def _access_token_info(info: dict[str, Any], header: dict[str, Any], payload: dict[str, Any]) -> None:
    """What the decision document says of an access token besides the registered claims: typ, client_id,
    cnf.jkt (strings)."""
    for name, value in (("typ", header.get("typ")), ("client_id", payload.get("client_id"))):
        if isinstance(value, str):
            info[name] = value
    cnf = payload.get("cnf")
    if isinstance(cnf, dict) and isinstance(cnf.get("jkt"), str):
        info["cnf_jkt"] = cnf["jkt"]


def _token_info(header: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """alg, kid (strings from the header), iss, jti (strings), iat, exp (integers) of the payload."""
    info: dict[str, Any] = {}
    v = header.get("alg")
    if isinstance(v, str):
        info["alg"] = v
    v = header.get("kid")
    if isinstance(v, str):
        info["kid"] = v
    v = payload.get("iss")
    if isinstance(v, str):
        info["iss"] = v
    v = payload.get("jti")
    if isinstance(v, str):
        info["jti"] = v
    v = payload.get("iat")
    if isinstance(v, int) and not isinstance(v, bool):
        info["iat"] = v
    v = payload.get("exp")
    if isinstance(v, int) and not isinstance(v, bool):
        info["exp"] = v
    return info


#: a token-level deny quotes what it read of the unauthenticated token only this far (per value)
_UNVERIFIED_TEXT: Final = 256


def _deny_token(profile: Profile, err: JoseError, info: dict[str, Any] | None, now: int) -> Decision:
    if info:  # nothing of it is authenticated: anyone can send megabytes of kid or iss
        info = {k: v[:_UNVERIFIED_TEXT] if isinstance(v, str) else v for k, v in info.items()}
    return Decision(DENY, profile.id, (Finding(err.code, err.rule, err.path, err.message),), (), info or None,
                    None, None, now)


class _Evaluated:
    """Everything but the replay checks: the decision's parts, and what the replay checks need. A plain class
    (compiled, with its ``__init__``), not a dataclass, whose generated ``__init__`` would stay interpreted."""

    __slots__ = ("attestation", "errors", "info", "issuer", "now", "profile", "replay_entries", "warnings")

    def __init__(self, profile: Profile, errors: list[Finding], warnings: tuple[Finding, ...],
                 info: dict[str, Any] | None, attestation: dict[str, Any] | None,
                 issuer: Issuer | AuthorizationServer, now: int,
                 replay_entries: list[tuple[str, str, int, Finding]]) -> None:
        self.profile = profile
        self.errors = errors
        self.warnings = warnings
        self.info = info
        self.attestation = attestation
        self.issuer = issuer
        self.now = now
        #: ``(namespace, jti, keep_until, finding if already used)``: the token's ``iss`` and ``jti``
        #: (self-signed profiles), a DPoP proof's namespace and ``jkt:jti``
        self.replay_entries = replay_entries

    @property
    def replay_keys(self) -> list[tuple[str, str, int, Finding]]:
        """The replay-cache entries to record: only for an otherwise valid token, so that an invalid one
        cannot burn a jti (a token's, or a DPoP proof's)."""
        return [] if self.errors else self.replay_entries

    def decision(self, replayed: list[Finding] | None = None) -> Decision:
        errors = self.errors
        if replayed:
            errors.extend(replayed)
        return Decision(DENY if errors else PERMIT, self.profile.id, tuple(errors), self.warnings, self.info,
                        self.attestation, self.issuer, self.now)


class _AccessTokenCache:
    """An access token is presented many times within its lifetime, each time with a fresh DPoP proof
    (HELSEID.md section 11). Its strict parse, the hash a proof binds to (``ath``) and the fact that its
    signature verified with a given key object are kept here, by the exact token string, for the next
    presentation; every other check (time, claims, rules, the proof, replay) runs again each time.

    A token enters only after its signature verified, so unauthenticated input cannot fill the cache; the
    entry names the key object that verified it and is used only while the authorization server's key set
    still holds that same object (a refreshed or reloaded key set never matches: the signature is checked
    again). Entries are bounded in number and size. The cached payload is never mutated (normalisation
    copies; rule kinds only read)."""

    def __init__(self, size: int = 512, max_token_bytes: int = 16384) -> None:
        self._entries: OrderedDict[str, _CachedToken] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self._max_bytes = max_token_bytes

    def get(self, token: object, limits: JoseLimits) -> _CachedToken | None:
        if type(token) is not str or len(token) > self._max_bytes:
            return None
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                self._entries.move_to_end(token)
        return entry if entry is not None and entry.limits == limits else None

    def put(self, token: str, entry: _CachedToken) -> None:
        if len(token) > self._max_bytes:
            return
        with self._lock:
            self._entries[token] = entry
            self._entries.move_to_end(token)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _CachedToken:
    jws: CompactJWS
    limits: JoseLimits
    public_key: Any
    alg: str
    ath: str


_ACCESS_TOKENS: Final = _AccessTokenCache()


_TOKEN_REPLAYED: Final = Finding("token_replayed", "RFC7519-4.1.7", "jti",
                          "this issuer's jti was already used; an attestation token is single-use")


def verify(
    token: str | bytes | object,
    trust: TrustStore,
    profile: str | Profile = DEFAULT_PROFILE,
    context: VerifyContext | None = None,
    *,
    replay: ReplayCache | None = None,
) -> Decision:
    """Verify ``token`` against ``profile`` with keys from ``trust``; return the :class:`Decision`.
    ``token`` is the compact JWS as text or bytes; anything else is a ``malformed_token`` deny, not an
    exception (the annotation says ``object`` so that the compiled build accepts it as the sources do).

    Error codes (CONTRACT.md section 5, HELSEID.md section 14): token level ``malformed_token``,
    ``unsupported_algorithm``, ``invalid_token_type``, ``unsupported_critical_header``, ``unknown_issuer``,
    ``unknown_key``, ``missing_claim``/``invalid_claim`` (for ``iss``), ``invalid_signature``; then every
    claim, attestation, context and (for an access token) DPoP finding; ``token_replayed`` (a self-signed
    token's ``jti``) and ``dpop_replayed`` (a proof's ``jti``) when ``replay`` is given and it was seen.

    A remote key set (``jwks_uri``, ``discovery``) that is due for a refresh, or that lacks the token's
    ``kid`` and was not fetched within the last minute, is fetched first (blocking; see
    :mod:`attest.keysets`).
    """
    evaluated = _evaluate(token, trust, profile, context)
    if isinstance(evaluated, KeySet):
        evaluated.refresh()
        evaluated = _evaluate(token, trust, profile, context, refresh=False)
    assert not isinstance(evaluated, KeySet)
    if isinstance(evaluated, Decision):
        return evaluated
    if replay is None:
        return evaluated.decision()
    replayed = [f for ns, jti, until, f in evaluated.replay_keys if not replay.check_and_store(ns, jti, until)]
    return evaluated.decision(replayed)


async def verify_async(
    token: str | bytes | object,
    trust: TrustStore,
    profile: str | Profile = DEFAULT_PROFILE,
    context: VerifyContext | None = None,
    *,
    replay: ReplayCache | None = None,
) -> Decision:
    """:func:`verify` for an event loop whose replay cache is a network service: the verification runs on
    the loop (CPU work of well under a millisecond) and only the replay check is awaited, through the
    cache's ``check_and_store_async`` when it has one (the Redis cache does), else in a worker thread. A key
    set that must be fetched first is fetched in a worker thread."""
    evaluated = _evaluate(token, trust, profile, context)
    if isinstance(evaluated, KeySet):
        await asyncio.to_thread(evaluated.refresh)
        evaluated = _evaluate(token, trust, profile, context, refresh=False)
    assert not isinstance(evaluated, KeySet)
    if isinstance(evaluated, Decision):
        return evaluated
    keys = evaluated.replay_keys
    if not keys or replay is None:
        return evaluated.decision()
    check = getattr(replay, "check_and_store_async", None)
    replayed: list[Finding] = []
    for ns, jti, until, finding in keys:
        if check is not None:
            fresh = bool(await check(ns, jti, until))
        else:
            fresh = await asyncio.to_thread(replay.check_and_store, ns, jti, until)
        if not fresh:
            replayed.append(finding)
    return evaluated.decision(replayed)


#: ``typ`` values of an OAuth access token (RFC 9068)
AT_TYPS: Final = frozenset({"at+jwt", "application/at+jwt"})


def is_access_token(header: dict[str, Any], payload: dict[str, Any]) -> bool:
    """An OAuth access token (RFC 9068 ``typ``) or a token with HelseID's claims or its attestation claim."""
    typ = header.get("typ")
    return (isinstance(typ, str) and typ.lower() in AT_TYPS) or AT_CLAIM in payload or \
        any(isinstance(k, str) and k.startswith("helseid://") for k in payload)


def profile_for(token: str | bytes | object, trust: TrustStore | None,
                default: str | Profile = DEFAULT_PROFILE) -> str | Profile:
    """The profile for ``token`` when the caller names none: the configured profile of the authorization
    server whose exact ``issuer`` the (not yet verified) token names; else ``helseid-at-1.0`` for what looks
    like an access token (then its issuer is looked up among the authorization servers only); else
    ``default``. Safe because an access-token profile looks the key up only in an authorization server's key
    set: a token naming HelseID must be signed by HelseID's key, whatever it looks like."""
    cached = _ACCESS_TOKENS.get(token, DEFAULT_LIMITS)
    try:
        jws = cached.jws if cached is not None else parse_compact(token)
    except JoseError:
        return default
    iss = jws.payload.get("iss")
    server = trust.authorization_servers.get(iss) if trust is not None and isinstance(iss, str) else None
    if server is not None:
        return server.profile
    return DEFAULT_AT_PROFILE if is_access_token(jws.header, jws.payload) else default


def _evaluate(token: str | bytes | object, trust: TrustStore, profile: str | Profile,
              context: VerifyContext | None, refresh: bool = True) -> Decision | _Evaluated | KeySet:
    """The whole verification except the replay check: a Decision for a token-level deny, else the parts;
    or the key set the caller must refresh first (only when ``refresh``)."""
    if not isinstance(trust, TrustStore):
        raise TypeError("trust must be a TrustStore")
    if context is not None and not isinstance(context, VerifyContext):
        raise TypeError("context must be a VerifyContext")
    prof = load_profile(profile)
    ctx = context or VerifyContext()
    now = int(time.time()) if ctx.now is None else int(ctx.now)
    server = prof.issuer_kind == "authorization_server"

    # --- JOSE: strict parse, header policy, key lookup, signature ------------------------------------
    info: dict[str, Any] | None = None
    issuer: Issuer | AuthorizationServer | None
    cached = _ACCESS_TOKENS.get(token, prof.limits) if server else None
    try:
        jws = cached.jws if cached is not None else parse_compact(token, prof.limits)
        info = _token_info(jws.header, jws.payload)
        if server:
            _access_token_info(info, jws.header, jws.payload)
        alg, kid = check_header(jws.header, algorithms=prof.algorithms, typ=prof.typ_policy,
                                allowed_params=prof.header_params)
        iss = jws.payload.get("iss")
        if iss is None:
            raise JoseError("missing_claim", "RFC7519-4.1.1", "iss", "claim 'iss' is required to find the key")
        if not isinstance(iss, str):
            raise JoseError("invalid_claim", "RFC7519-4.1.1", "iss", "claim 'iss' must be a string")
        if server:
            issuer = trust.authorization_servers.get(iss)
            if issuer is None:
                raise JoseError("unknown_issuer", "RFC8725-3.8", "iss",
                                "the issuer is not an authorization server of the trust store")
            if alg not in issuer.algorithms:
                raise JoseError("unsupported_algorithm", "RFC8725-3.1", "header.alg",
                                f"algorithm {alg} is not among the authorization server's algorithms "
                                f"({', '.join(sorted(issuer.algorithms))})")
        else:
            issuer = trust.issuers.get(iss)
            if issuer is None:
                raise JoseError("unknown_issuer", "RFC8725-3.8", "iss", "the issuer is not in the trust store")
        keyset = issuer.keyset
        if refresh and keyset.wants_refresh(kid):
            return keyset
        key = keyset.get(kid)
        if key is None:
            raise JoseError("unknown_key", "RFC8725-3.8", "header.kid", "the issuer has no key with this kid")
        if alg not in key.algorithms:
            raise JoseError("unsupported_algorithm", "RFC8725-3.1", "header.alg",
                            f"algorithm {alg} does not match the key found (it verifies "
                            f"{', '.join(sorted(key.algorithms))})")
        if cached is None or cached.public_key is not key.public_key or cached.alg != alg:
            if not verify_signature(jws, alg, key.public_key):
                raise JoseError("invalid_signature", "RFC7515-5.2", "signature", "the signature does not verify")
            if server and isinstance(token, str):
                cached = _CachedToken(jws, prof.limits, key.public_key, alg, access_token_hash(token))
                _ACCESS_TOKENS.put(token, cached)
    except JoseError as err:
        return _deny_token(prof, err, info, now)

    # --- registered claims -----------------------------------------------------------------------------
    payload = jws.payload
    errors: list[Finding] = []
    warnings: list[Finding] = []
    if isinstance(issuer, AuthorizationServer) and issuer.audience is not None:
        audience: str | None = issuer.audience
    else:
        audience = ctx.audience if ctx.audience is not None else trust.audience
    _, exp, jti = _check_claims(payload, prof, now, audience, errors, warnings)
    replay_entries: list[tuple[str, str, int, Finding]] = []
    # a replay entry lives as long as the token (or proof) is acceptable *by the evaluation clock*, expressed
    # on the replay cache's clock: with context.now in the past, an entry keyed to exp itself would already
    # have expired in the cache, and an expired-by-now token could be replayed without limit (issue 11 item 7)
    # (never shorter than before: a cache on its own clock, as in tests, keeps the entry until exp)
    shift = 0 if ctx.now is None else max(0, int(time.time()) - now)
    if prof.token_replay and jti is not None and exp is not None:
        replay_entries.append((iss, jti, exp + prof.leeway + shift, _TOKEN_REPLAYED))

    # --- access token: scopes, the user, DPoP (HELSEID.md sections 10 and 11) ---------------------------
    pid: str | None = None
    if prof.access_token is not None:
        if isinstance(issuer, AuthorizationServer):
            at.check_scopes(payload, issuer.required_scopes, errors)
        pid = at.check_user(payload, prof.access_token, ctx, allow_synthetic=prof.allow_synthetic,
                            allow_2032=prof.allow_2032_rule, errors=errors)
    if isinstance(issuer, AuthorizationServer):
        policy = DPoPPolicy(issuer.dpop, issuer.dpop_max_age, issuer.dpop_leeway, issuer.dpop_algorithms)
        presented = check_presentation(
            access_token=token if isinstance(token, str) else bytes(token).decode("ascii", "replace")
            if isinstance(token, bytes | bytearray) else "",
            cnf=payload.get("cnf"), proof=ctx.dpop_proof, scheme=ctx.authorization_scheme,
            method=ctx.http_method, url=ctx.http_url, now=now, policy=policy,
            ath=cached.ath if cached is not None else None)
        errors.extend(presented.errors)
        if presented.proof is not None and info is not None:
            info["dpop"] = presented.proof
        if presented.replay is not None:
            entry = presented.replay
            replay_entries.append((entry.namespace, entry.jti, entry.keep_until + shift, replayed_finding()))

    # --- the attestation ---------------------------------------------------------------------------------
    located: Located | None
    if "access_token" in prof.shapes:
        located, problem = locate_access_token(payload)
        if problem is not None:
            errors.append(Finding(problem.code, "ATT-1", problem.path, problem.message))
    else:
        located, reason = locate(payload, prof.shapes)
        if located is None:
            errors.append(Finding("missing_attestation", "ATT-1", "attestation", reason))
        else:
            carriers = attestation_carriers(payload)
            if len(carriers) > 1:  # permitting on one of them would be a guess (issue 11 item 7)
                errors.append(Finding("invalid_field", "ATT-1", "attestation",
                                      f"the token carries more than one attestation ({', '.join(carriers)}); "
                                      "an attestation must be unambiguous"))
                located = None
    attestation: dict[str, Any] | None = None
    if located is not None:
        attestation, conflicts = normalise(located.raw)
        errors.extend(conflicts)
        if prof.practitioner_from_context:
            _practitioner_from_context(attestation, ctx)
        if prof.practitioner_from_claims and prof.access_token is not None:
            at.practitioner_from_claims(attestation, payload, prof.access_token, pid)
        evaluate_groups(prof.rule_groups, RuleContext(now, prof, issuer, ctx, attestation, payload),
                        errors, warnings)
    return _Evaluated(prof, errors, tuple(warnings), info, attestation, issuer, now, replay_entries)


def _practitioner_from_context(attestation: dict[str, Any], ctx: VerifyContext) -> None:
    """helseid-rar: when the attestation names no practitioner identifier (or HPR number), the HelseID login
    (the context) does. What the attestation names is never replaced: the context rules compare it with
    the login (ATT-11, ATT-29b), so a token for practitioner A is not permitted for user B."""
    from .identifiers import OID_DNR, OID_FNR, OID_HPR

    practitioner = attestation.get("practitioner")
    if not isinstance(practitioner, dict):
        return
    if ctx.authenticated_pid is not None and "identifier" not in practitioner:
        system = OID_DNR if ctx.authenticated_pid[:1] in ("4", "5", "6", "7") else OID_FNR
        practitioner["identifier"] = {"id": ctx.authenticated_pid, "system": system}
    if ctx.authenticated_hpr is not None and "hpr_nr" not in practitioner:
        practitioner["hpr_nr"] = {"id": ctx.authenticated_hpr, "system": OID_HPR}
