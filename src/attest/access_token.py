"""The claims of an access token (RFC 9068; HelseID's claims, HELSEID.md section 10) that are not about the
attestation: scopes, the audience policy, the user (pid, security level) and the verify context's user.

The claim names and accepted levels are profile data (the ``access_token`` section of a profile; defaults
below are HelseID's). The cross-checks between these claims and the attestation are rule kinds
(``claim_person``, ``claim_hpr``, ``claim_organization`` in :mod:`attest.rules`), so that a profile lists
them with their ATT ids like every other rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import VerifyContext
from .errors import Finding
from .identifiers import OID_DNR, OID_FNR, OID_HPR, check_person_number, redact_identity_numbers, same_hpr_number

PID = "helseid://claims/identity/pid"
HPR_NUMBER = "helseid://claims/hpr/hpr_number"
SECURITY_LEVEL = "helseid://claims/identity/security_level"
ASSURANCE_LEVEL = "helseid://claims/identity/assurance_level"
ORGNR_PARENT = "helseid://claims/client/claims/orgnr_parent"
ORGNR_CHILD = "helseid://claims/client/claims/orgnr_child"
ORGNR_SUPPLIER = "helseid://claims/client/claims/orgnr_supplier"
CLIENT_NAME = "helseid://claims/client/client_name"
CLIENT_TENANCY = "helseid://claims/client/client_tenancy"
NETWORK = "helseid://claims/identity/network"


@dataclass(frozen=True)
class AccessTokenPolicy:
    """Where a profile finds the user in an access token and what it accepts (profile section
    ``access_token``)."""

    pid_claim: str = PID
    hpr_claim: str = HPR_NUMBER
    security_level_claim: str = SECURITY_LEVEL
    assurance_level_claim: str = ASSURANCE_LEVEL
    #: values of the security-level claim that mean "high" (ATT-9): HelseID's level 4
    security_levels: frozenset[str] = frozenset({"4"})
    #: values of the assurance-level claim that mean "high" (eIDAS)
    assurance_levels: frozenset[str] = frozenset({"high"})
    #: a token without a pid (a client-credentials token) names no practitioner: refuse it
    require_pid: bool = True

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AccessTokenPolicy:
        known = {"pid_claim", "hpr_claim", "security_level_claim", "assurance_level_claim", "security_levels",
                 "assurance_levels", "require_pid"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"access_token: unknown member(s) {sorted(unknown)}")
        kw: dict[str, Any] = {k: str(v) for k, v in d.items() if k.endswith("_claim")}
        for k in ("security_levels", "assurance_levels"):
            if k in d:
                kw[k] = frozenset(str(x) for x in d[k])
        if "require_pid" in d:
            kw["require_pid"] = bool(d["require_pid"])
        return cls(**kw)


def scopes(claim: Any) -> set[str] | None:
    """The token's scopes: a JSON array of strings, or one space-separated string (RFC 8693 / RFC 9068).
    None when the claim has another form."""
    if isinstance(claim, str):
        return set(claim.split())
    if isinstance(claim, list) and all(isinstance(s, str) for s in claim):
        return set(claim)
    return None


def _level(v: Any) -> str | None:
    """A level claim as text: a string, or a number ("4", 4 and 4.0 are the same level)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int | str):
        return str(v).strip()
    return None


def check_user(claims: dict[str, Any], policy: AccessTokenPolicy, ctx: VerifyContext, *, allow_synthetic: bool,
               allow_2032: bool, errors: list[Finding]) -> str | None:
    """The user of the token: a valid F- or D-number in the pid claim, authenticated at a high level of
    assurance (ATT-9), the same user as the verify context names (ATT-11, ATT-29b). Returns the pid when
    it is a valid person number."""
    pid_claim = policy.pid_claim
    pid = claims.get(pid_claim)
    valid_pid: str | None = None
    if pid is None:
        if policy.require_pid:
            # HELSEID.md 10: the user's pid must be a valid F- or D-number; none is not one
            errors.append(Finding("invalid_person_identifier", "ATT-10", pid_claim,
                                  "the access token names no user (no pid claim); a practitioner must be logged in"))
    elif not isinstance(pid, str):
        errors.append(Finding("invalid_person_identifier", "ATT-10", pid_claim,
                              "the pid claim must be a string holding an F- or D-number"))
    else:
        system = OID_DNR if pid[:1] in ("4", "5", "6", "7") else OID_FNR
        result = check_person_number(pid, system, allow_synthetic=allow_synthetic, allow_2032=allow_2032)
        if result.ok:
            valid_pid = pid
        else:
            errors.append(Finding("invalid_person_identifier", "ATT-10", pid_claim,
                                  redact_identity_numbers(f"the user's pid is not a valid F- or D-number: "
                                                          f"{result.reason}")))
    security = _level(claims.get(policy.security_level_claim))
    assurance = _level(claims.get(policy.assurance_level_claim))
    if security not in policy.security_levels and assurance not in policy.assurance_levels:
        shown = "absent" if security is None and assurance is None else \
            f"security level {security!r}, assurance level {assurance!r}"[:120]
        errors.append(Finding("insufficient_security_level", "ATT-9", policy.security_level_claim,
                              f"the user was not authenticated at a high level of assurance ({shown}; "
                              f"required: security level {' or '.join(sorted(policy.security_levels))} or "
                              f"assurance level {' or '.join(sorted(policy.assurance_levels))})"))
    if ctx.authenticated_pid is not None and isinstance(pid, str) and pid != ctx.authenticated_pid:
        errors.append(Finding("practitioner_mismatch", "ATT-11", pid_claim,
                              "the token's user is not the user the request context names"))
    hpr = claims.get(policy.hpr_claim)
    if ctx.authenticated_hpr is not None and hpr is not None and not (
            isinstance(hpr, str | int) and not isinstance(hpr, bool)
            and same_hpr_number(str(hpr), ctx.authenticated_hpr)):
        errors.append(Finding("hpr_mismatch", "ATT-29b", policy.hpr_claim,
                              "the token's HPR number is not the one the request context names"))
    return valid_pid


def check_scopes(claims: dict[str, Any], required: tuple[str, ...], errors: list[Finding]) -> None:
    """Every required scope is granted (RFC 6750 section 3.1: ``insufficient_scope``)."""
    if not required:
        return
    granted = scopes(claims.get("scope"))
    if granted is None:
        if "scope" in claims:
            errors.append(Finding("invalid_claim", "RFC9068-2.2.3", "scope",
                                  "claim 'scope' must be a string or an array of strings"))
            return
        granted = set()
    missing = [s for s in required if s not in granted]
    if missing:
        errors.append(Finding("insufficient_scope", "RFC6750-3.1", "scope",
                              f"the token lacks the scope(s) this API requires: {', '.join(missing)[:200]}"))


def practitioner_from_claims(attestation: dict[str, Any], claims: dict[str, Any], policy: AccessTokenPolicy,
                             pid: str | None) -> None:
    """HELSEID.md section 10: when the attestation names no practitioner identifier (or HPR number), the
    token's (valid) pid (and HPR number) is the practitioner. Never overwrites what the attestation says:
    the rules compare that with the claims."""
    practitioner = attestation.get("practitioner")
    if not isinstance(practitioner, dict):
        return
    if "identifier" not in practitioner and pid is not None:
        practitioner["identifier"] = {"id": pid, "system": OID_DNR if pid[:1] in "4567" else OID_FNR}
    hpr = claims.get(policy.hpr_claim)
    if "hpr_nr" not in practitioner and isinstance(hpr, str) and hpr.isascii() and hpr.isdigit():
        practitioner["hpr_nr"] = {"id": hpr, "system": OID_HPR}
