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
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .context import VerifyContext
from .errors import Finding
from .jose import JoseError, check_header, parse_compact, verify_signature
from .model import locate, normalise
from .profiles import DEFAULT_PROFILE, Profile, load_profile
from .replay import ReplayCache
from .rules import MAX_NUMERIC_DATE, RuleContext, evaluate_groups
from .trust import Issuer, TrustStore

PERMIT = "permit"
DENY = "deny"


@dataclass(frozen=True)
class Decision:
    """The decision document. ``decision`` is ``permit`` exactly when ``errors`` is empty."""

    decision: str
    profile: str
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    token: dict[str, Any] | None
    attestation: dict[str, Any] | None
    #: the trust-store issuer whose key verified the signature (not part of the document)
    issuer: Issuer | None = field(default=None, compare=False, repr=False)
    #: evaluation time used (unix seconds)
    evaluated_at: int = 0

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
    if aud is None:
        if "aud" in req:
            errors.append(Finding("missing_claim", "RFC7519-4.1.3", "aud", "claim 'aud' is required"))
    elif not (isinstance(aud, str) and aud) and not (
            isinstance(aud, list) and aud and all(isinstance(a, str) and a for a in aud)):
        errors.append(Finding("invalid_claim", "RFC7519-4.1.3", "aud",
                              "claim 'aud' must be a non-empty string or a non-empty array of strings"))
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


def _deny_token(profile: Profile, err: JoseError, info: dict[str, Any] | None, now: int) -> Decision:
    return Decision(DENY, profile.id, (Finding(err.code, err.rule, err.path, err.message),), (), info or None,
                    None, None, now)


@dataclass(slots=True)
class _Evaluated:
    """Everything but the replay check: the decision's parts, and what the replay check needs."""

    profile: Profile
    errors: list[Finding]
    warnings: tuple[Finding, ...]
    info: dict[str, Any] | None
    attestation: dict[str, Any] | None
    issuer: Issuer
    now: int
    iss: str
    jti: str | None
    exp: int | None

    @property
    def replay_key(self) -> tuple[str, str, int] | None:
        """``(iss, jti, keep_until)`` when the replay cache must be asked: only for an otherwise valid
        token, so that an invalid one cannot burn a jti."""
        if self.errors or self.jti is None or self.exp is None:
            return None
        return self.iss, self.jti, self.exp + self.profile.leeway

    def decision(self, replayed: bool = False) -> Decision:
        errors = self.errors
        if replayed:
            errors.append(Finding("token_replayed", "RFC7519-4.1.7", "jti",
                                  "this issuer's jti was already used; an attestation token is single-use"))
        return Decision(DENY if errors else PERMIT, self.profile.id, tuple(errors), self.warnings, self.info,
                        self.attestation, self.issuer, self.now)


def verify(
    token: str | bytes,
    trust: TrustStore,
    profile: str | Profile = DEFAULT_PROFILE,
    context: VerifyContext | None = None,
    *,
    replay: ReplayCache | None = None,
) -> Decision:
    """Verify ``token`` against ``profile`` with keys from ``trust``; return the :class:`Decision`.

    Error codes (CONTRACT.md section 5): token level ``malformed_token``, ``unsupported_algorithm``,
    ``invalid_token_type``, ``unsupported_critical_header``, ``unknown_issuer``, ``unknown_key``,
    ``missing_claim``/``invalid_claim`` (for ``iss``), ``invalid_signature``; then every claim, attestation
    and context finding; ``token_replayed`` when ``replay`` is given and the ``jti`` was seen.
    """
    evaluated = _evaluate(token, trust, profile, context)
    if isinstance(evaluated, Decision):
        return evaluated
    key = evaluated.replay_key
    return evaluated.decision(replayed=key is not None and replay is not None and not replay.check_and_store(*key))


async def verify_async(
    token: str | bytes,
    trust: TrustStore,
    profile: str | Profile = DEFAULT_PROFILE,
    context: VerifyContext | None = None,
    *,
    replay: ReplayCache | None = None,
) -> Decision:
    """:func:`verify` for an event loop whose replay cache is a network service: the verification runs on
    the loop (CPU work of well under a millisecond) and only the replay check is awaited, through the
    cache's ``check_and_store_async`` when it has one (the Redis cache does), else in a worker thread."""
    evaluated = _evaluate(token, trust, profile, context)
    if isinstance(evaluated, Decision):
        return evaluated
    key = evaluated.replay_key
    if key is None or replay is None:
        return evaluated.decision()
    check = getattr(replay, "check_and_store_async", None)
    if check is not None:
        fresh = bool(await check(*key))
    else:
        fresh = await asyncio.to_thread(replay.check_and_store, *key)
    return evaluated.decision(replayed=not fresh)


def _evaluate(token: str | bytes, trust: TrustStore, profile: str | Profile,
              context: VerifyContext | None) -> Decision | _Evaluated:
    """The whole verification except the replay check: a Decision for a token-level deny, else the parts."""
    if not isinstance(trust, TrustStore):
        raise TypeError("trust must be a TrustStore")
    if context is not None and not isinstance(context, VerifyContext):
        raise TypeError("context must be a VerifyContext")
    prof = load_profile(profile)
    ctx = context or VerifyContext()
    now = int(time.time()) if ctx.now is None else int(ctx.now)

    # --- JOSE: strict parse, header policy, key lookup, signature ------------------------------------
    info: dict[str, Any] | None = None
    try:
        jws = parse_compact(token, prof.limits)
        info = _token_info(jws.header, jws.payload)
        alg, kid = check_header(jws.header, algorithms=prof.algorithms, typ=prof.typ,
                                allowed_params=prof.header_params)
        iss = jws.payload.get("iss")
        if iss is None:
            raise JoseError("missing_claim", "RFC7519-4.1.1", "iss", "claim 'iss' is required to find the key")
        if not isinstance(iss, str):
            raise JoseError("invalid_claim", "RFC7519-4.1.1", "iss", "claim 'iss' must be a string")
        issuer = trust.issuers.get(iss)
        if issuer is None:
            raise JoseError("unknown_issuer", "RFC8725-3.8", "iss", "the issuer is not in the trust store")
        key = issuer.keys.get(kid)
        if key is None:
            raise JoseError("unknown_key", "RFC8725-3.8", "header.kid", "the issuer has no key with this kid")
        if alg not in key.algorithms:
            raise JoseError("unsupported_algorithm", "RFC8725-3.1", "header.alg",
                            f"algorithm {alg} does not match the key found (it verifies "
                            f"{', '.join(sorted(key.algorithms))})")
        if not verify_signature(jws, alg, key.public_key):
            raise JoseError("invalid_signature", "RFC7515-5.2", "signature", "the signature does not verify")
    except JoseError as err:
        return _deny_token(prof, err, info, now)

    # --- registered claims -----------------------------------------------------------------------------
    payload = jws.payload
    errors: list[Finding] = []
    warnings: list[Finding] = []
    audience = ctx.audience if ctx.audience is not None else trust.audience
    _, exp, jti = _check_claims(payload, prof, now, audience, errors, warnings)

    # --- the attestation ---------------------------------------------------------------------------------
    located, reason = locate(payload, prof.shapes)
    attestation: dict[str, Any] | None = None
    if located is None:
        errors.append(Finding("missing_attestation", "ATT-1", "attestation", reason))
    else:
        attestation, conflicts = normalise(located.raw)
        errors.extend(conflicts)
        if prof.practitioner_from_context:
            _practitioner_from_context(attestation, ctx)
        evaluate_groups(prof.rule_groups, RuleContext(now, prof, issuer, ctx, attestation), errors, warnings)
    return _Evaluated(prof, errors, tuple(warnings), info, attestation, issuer, now, iss, jti, exp)


def _practitioner_from_context(attestation: dict[str, Any], ctx: VerifyContext) -> None:
    """helseid-rar: the practitioner's pid and HPR number come from the HelseID login (the context)."""
    from .identifiers import OID_DNR, OID_FNR, OID_HPR

    practitioner = attestation.get("practitioner")
    if not isinstance(practitioner, dict):
        return
    if ctx.authenticated_pid is not None:
        system = OID_DNR if ctx.authenticated_pid[:1] in ("4", "5", "6", "7") else OID_FNR
        practitioner["identifier"] = {"id": ctx.authenticated_pid, "system": system}
    if ctx.authenticated_hpr is not None:
        practitioner["hpr_nr"] = {"id": ctx.authenticated_hpr, "system": OID_HPR}
