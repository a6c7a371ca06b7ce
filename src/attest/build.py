"""Building and signing attestations: strict in what we issue.

:func:`build` normalises the attestation to spec v1.1 spelling, sets ``toa`` (now, unless given), checks it
against the profile's rules and its issue-only rules (free-text limits, no patient names, no retired
codes, a HelseID-safe ``decision_ref.id``, ...), and refuses with
:class:`~attest.errors.AttestationRefused` listing every problem. The token gets ``typ``, ``kid``, ``iat``,
``exp = min(iat + lifetime, toa + 3600)``, a random ``jti`` and ``aud``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from .context import VerifyContext
from .errors import AttestationRefused, Finding
from .jose import sign_compact
from .keys import PrivateKey, signing_algorithm
from .model import RAR_TYPE, locate, normalise, to_helseid_rar
from .profiles import DEFAULT_PROFILE, Profile, load_profile
from .rules import RuleContext, evaluate

#: rule kinds that need a verifier's context or trust store; not applied when issuing
_CONTEXT_KINDS = frozenset({"context_pid", "context_hpr", "context_patient", "issuer_legal_entity",
                            "issuer_member"})


def check_attestation(attestation: dict[str, Any], profile: str | Profile = DEFAULT_PROFILE,
                      now: int | None = None) -> tuple[dict[str, Any], list[Finding], list[Finding]]:
    """Normalise ``attestation`` and check it as the issuer would. Returns ``(normalised, errors,
    warnings)``. Does not raise for bad content."""
    if not isinstance(attestation, dict):
        raise TypeError("attestation must be a dict")
    prof = load_profile(profile)
    now = int(time.time()) if now is None else int(now)
    raw = attestation.get("attestation", attestation) if isinstance(attestation.get("attestation"), dict) \
        else attestation
    normalised, errors = normalise(raw)
    warnings: list[Finding] = []
    rules = tuple(r for r in prof.rules + prof.issue_rules if r.kind not in _CONTEXT_KINDS)
    evaluate(rules, RuleContext(now, prof, None, VerifyContext(now=now), normalised), errors, warnings)
    return normalised, errors, warnings


def build(
    attestation: dict[str, Any],
    *,
    key: PrivateKey,
    kid: str,
    iss: str,
    audience: str | list[str],
    profile: str | Profile = DEFAULT_PROFILE,
    lifetime: int = 600,
    now: int | None = None,
    toa: int | None = None,
    jti: str | None = None,
    alg: str | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """Build, check and sign an attestation JWT; return the compact token.

    ``attestation`` holds the 13 fields (any accepted spelling; ``toa`` optional). Raises
    :class:`AttestationRefused` when it breaks the profile, ``ValueError`` for bad arguments (lifetime over
    the profile's limit, a ``toa`` so old the token would already be expired), and
    :class:`~attest.errors.KeyError_` when ``alg`` does not fit ``key``.
    """
    prof = load_profile(profile)
    now = int(time.time()) if now is None else int(now)
    if not isinstance(lifetime, int) or isinstance(lifetime, bool) or not 0 < lifetime <= prof.max_lifetime:
        raise ValueError(f"lifetime must be 1..{prof.max_lifetime} seconds")
    att = dict(attestation.get("attestation", attestation)) if isinstance(attestation, dict) else attestation
    if not isinstance(att, dict):
        raise TypeError("attestation must be a dict")
    claims: dict[str, Any] = dict(extra_claims or {})
    if prof.emit == "spec":
        if toa is not None:
            att["toa"] = toa
        elif att.get("toa") is None:
            att["toa"] = now
    claims.update({"iss": iss, "aud": audience, "iat": now, "jti": jti or str(uuid.uuid4())})
    exp = now + lifetime
    if prof.emit == "spec":
        t = att["toa"]
        if isinstance(t, int) and not isinstance(t, bool):
            exp = min(exp, t + prof.max_age)
        claims["attestation"] = att
    else:
        claims["authorization_details"] = [{**att, "type": RAR_TYPE}]
    claims["exp"] = exp
    return sign(claims, key=key, kid=kid, profile=prof, alg=alg, now=now)


def sign(
    claims: dict[str, Any],
    *,
    key: PrivateKey,
    kid: str,
    profile: str | Profile = DEFAULT_PROFILE,
    alg: str | None = None,
    now: int | None = None,
) -> str:
    """Check a complete claim set (registered claims + the attestation) against the profile and sign it.

    The attestation is re-emitted in the profile's spelling (spec v1.1, or the HelseID RAR element). Raises
    :class:`AttestationRefused` for any problem, listing all of them."""
    prof = load_profile(profile)
    now = int(time.time()) if now is None else int(now)
    if not isinstance(kid, str) or not kid or not kid.isascii() or not kid.isprintable() or len(kid) > 256:
        raise ValueError("kid must be 1-256 printable ASCII characters")
    algorithm = signing_algorithm(key, alg)
    if algorithm not in prof.algorithms:
        raise ValueError(f"algorithm {algorithm} is not allowed by profile {prof.id}")
    problems: list[Finding] = []
    for name in ("iss", "aud", "iat", "exp", "jti"):
        if claims.get(name) in (None, "", []):
            problems.append(Finding("missing_claim", "RFC7519-4.1", name, f"claim {name!r} is required"))
    iat, exp = claims.get("iat"), claims.get("exp")
    if isinstance(iat, int) and isinstance(exp, int):
        if not 0 < exp - iat <= prof.max_lifetime:
            problems.append(Finding("lifetime_too_long", "RFC8725-3.10", "exp",
                                    f"exp - iat must be 1..{prof.max_lifetime} s"))
        if exp <= now:
            problems.append(Finding("token_expired", "ATT-58b", "exp", "the token would already be expired "
                                    "(toa is more than the attestation's maximum age ago)"))
    located, reason = locate(claims, prof.shapes)
    if located is None:
        raise AttestationRefused([*problems, Finding("missing_attestation", "ATT-1", "attestation", reason)])
    normalised, errors, _ = check_attestation(located.raw, prof, now)
    problems.extend(errors)
    toa = normalised.get("toa")
    if prof.emit == "spec" and isinstance(toa, int) and isinstance(exp, int) and exp > toa + prof.max_age:
        problems.append(Finding("lifetime_too_long", "ATT-58b", "exp",
                                "exp must not be later than toa + the attestation's maximum age"))
    if problems:
        raise AttestationRefused(problems)
    out = {k: v for k, v in claims.items() if k not in ("attestation", "authorization_details")
           and k not in ("practitioner", "care_relation", "care_relationship", "patients", "toa")}
    if prof.emit == "spec":
        out["attestation"] = normalised
    else:
        out["authorization_details"] = [to_helseid_rar(normalised)]
    header = {"alg": algorithm, "kid": kid, "typ": prof.typ}
    return sign_compact(header, out, key, algorithm)
