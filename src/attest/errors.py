"""The one error table of `attest`, the finding type and the exception tree.

Every finding a verification produces has a stable snake_case ``code`` from :data:`ERROR_CODES`, the
``rule`` it enforces (an ATT id or an RFC section) and the JSON ``path`` of the offending value.
HTTP status, CLI exit code and the FHIR AuditEvent outcome are all derived from this table; no other
module invents its own message category for the same failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

Stage = Literal["token", "claims", "attestation", "context", "replay", "dpop", "warning"]

#: HTTP status of a deny at a protected resource (the forward-auth endpoint), by stage: the token or its
#: proof cannot be accepted (401, RFC 6750 3.1 / RFC 9449 7.1) or the request is refused by policy (403)
_STATUS_BY_STAGE: Final = {"token": 401, "claims": 401, "replay": 401, "dpop": 401, "attestation": 403, "context": 403,
                    "warning": 200}


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One row of the error table."""

    code: str
    stage: Stage
    summary: str
    #: FHIR AuditEvent.outcome for a deny carrying this code (4 minor, 8 serious failure).
    audit_outcome: str = "4"
    #: the status a protected resource answers for a deny with this code (0: by the stage)
    status: int = 0
    #: the ``error`` of a ``WWW-Authenticate`` challenge for it, if not the default: ``invalid_token`` for every
    #: 401, a bad token or a bad proof alike (HELSEID.md section 13, RFC 6750 3.1, RFC 9449 7.1)
    oauth_error: str | None = None

    @property
    def http_status(self) -> int:
        return self.status or _STATUS_BY_STAGE[self.stage]

    @property
    def challenge_error(self) -> str | None:
        if self.oauth_error is not None:
            return self.oauth_error
        return "invalid_token" if self.http_status == 401 else None


_TABLE: Final[tuple[ErrorCode, ...]] = (
    # --- token level: the signature could not be checked, or failed -----------------------------
    ErrorCode("malformed_token", "token",
              "not a three-part compact JWS; bad base64url; header or payload not a strict UTF-8 JSON "
              "object (duplicate members, NaN, BOM, too deep); a header parameter outside the allow-list; "
              "over the size limit", "8"),
    ErrorCode("unsupported_algorithm", "token",
              "alg not in the profile's allow-list (none, HS*, unknown) or not matching the key found", "8"),
    ErrorCode("invalid_token_type", "token", "typ missing or not the profile's", "8"),
    ErrorCode("unsupported_critical_header", "token",
              "crit names an extension the verifier does not implement", "8"),
    ErrorCode("unknown_issuer", "token", "iss not in the trust store", "8"),
    ErrorCode("unknown_key", "token", "no key of that issuer with that kid (or no kid)", "8"),
    ErrorCode("invalid_signature", "token", "the signature does not verify", "8"),
    # --- SAML 2.0 assertions (profile xua-saml-1.0; attest.saml) -------------------------------------
    ErrorCode("invalid_saml", "token",
              "not one well-formed SAML 2.0 Assertion within the limits: over the size, depth or element "
              "limit; a DOCTYPE, entity declaration or processing instruction; not UTF-8; bad base64; the root "
              "is not saml:Assertion; Version, ID, IssueInstant or Issuer missing or malformed", "8"),
    ErrorCode("not_a_health_personnel_attestation", "token",
              "the SAML assertion is not about a health-personnel user (a citizen's helsenorge assertion: the "
              "subject is a person-number user acting for themselves, ISO 14265 purpose 'subject of care uses')",
              "8"),
    # --- registered claims (signature verified) ----------------------------------------------------
    ErrorCode("missing_claim", "claims", "a required registered claim is absent"),
    ErrorCode("invalid_claim", "claims", "a registered claim is of the wrong type or form"),
    ErrorCode("invalid_audience", "claims", "aud does not contain the verifier's audience"),
    ErrorCode("token_expired", "claims", "now >= exp + leeway"),
    ErrorCode("token_not_yet_valid", "claims", "nbf or iat later than now + leeway"),
    ErrorCode("lifetime_too_long", "claims", "exp - iat > the profile's limit (3600 s)"),
    ErrorCode("token_replayed", "replay", "the jti was already used by this issuer", "8"),
    # --- the attestation ---------------------------------------------------------------------------
    ErrorCode("missing_attestation", "attestation", "no attestation object in the token"),
    ErrorCode("attestation_has_expired", "attestation",
              "now - toa > 3600 s (ATT-58c; this exact string is prescribed by the specification)"),
    ErrorCode("toa_in_future", "attestation", "toa later than now + leeway"),
    ErrorCode("missing_field", "attestation", "a field the profile requires is absent"),
    ErrorCode("invalid_field", "attestation", "a field has the wrong JSON type or shape"),
    ErrorCode("invalid_identifier_system", "attestation",
              "an identifier's system is not allowed for that field (ATT-10, ATT-15, ATT-18b, ATT-29a, ...)"),
    ErrorCode("invalid_person_identifier", "attestation",
              "F/D/H-number fails length, date or mod-11 check digits"),
    ErrorCode("invalid_organization_number", "attestation", "organisation number fails length or mod-11"),
    ErrorCode("invalid_hpr_number", "attestation", "HPR number not 1-9 digits"),
    ErrorCode("invalid_code_system", "attestation",
              "a code's system is not allowed for that field (ATT-32, ATT-37, ATT-38-41, ATT-45)"),
    ErrorCode("invalid_code", "attestation", "the code is not in the code list known for that system"),
    ErrorCode("missing_care_relation_detail", "attestation",
              "neither healthcare_service nor purpose_of_use_details (ATT-43a, ATT-36)"),
    ErrorCode("invalid_decision_ref", "attestation",
              "decision_ref malformed, user_selected not a boolean (ATT-46, ATT-48)"),
    # --- context ------------------------------------------------------------------------------------
    ErrorCode("legal_entity_mismatch", "context",
              "legal_entity.id is not one of the issuer's legal_entities (ATT-13, ATT-2)", "8"),
    ErrorCode("legal_entity_not_member", "context",
              "the issuer's organisation is not a Helsenettet member (ATT-12)"),
    ErrorCode("practitioner_mismatch", "context",
              "practitioner.identifier.id differs from the authenticated user (ATT-11)", "8"),
    ErrorCode("hpr_mismatch", "context", "hpr_nr.id differs from the authenticated user's HPR number (ATT-29b)"),
    ErrorCode("patient_not_in_attestation", "context",
              "the requested patient is not among patients[].identifier (ATT-4)"),
    ErrorCode("ambiguous_patient", "context",
              "the request names more than one patient (forward-auth): one request may concern one patient "
              "(ATT-4)"),
    # --- access tokens (HELSEID.md sections 10 and 14) -----------------------------------------------
    ErrorCode("insufficient_security_level", "context",
              "the user was not authenticated at a high level of assurance: security_level 4 or "
              "assurance_level high (ATT-9)", "8"),
    ErrorCode("insufficient_scope", "claims", "the access token lacks a scope the API requires", "4", 403,
              "insufficient_scope"),
    ErrorCode("point_of_care_mismatch", "context",
              "practitioner.point_of_care.id differs from the token's orgnr_child (ATT-18a)", "8"),
    # --- DPoP (HELSEID.md section 11, RFC 9449) ------------------------------------------------------
    ErrorCode("dpop_required", "dpop",
              "a DPoP-bound token presented as Bearer, or an unbound token where the policy requires DPoP",
              "8"),
    ErrorCode("dpop_proof_missing", "dpop", "DPoP scheme or cnf.jkt, but no DPoP proof", "8"),
    ErrorCode("invalid_dpop_proof", "dpop",
              "the proof is not one valid dpop+jwt JWS signed by the public key in its header, or lacks jti/iat",
              "8"),
    ErrorCode("dpop_key_mismatch", "dpop", "the proof's key thumbprint is not the token's cnf.jkt", "8"),
    ErrorCode("dpop_ath_mismatch", "dpop", "ath missing or not the hash of the access token", "8"),
    ErrorCode("dpop_htm_mismatch", "dpop", "htm is not the request method", "8"),
    ErrorCode("dpop_htu_mismatch", "dpop", "htu is not the request URL (normalised, without query)", "8"),
    ErrorCode("dpop_proof_expired", "dpop", "the proof's iat is older than its max age or in the future", "4"),
    ErrorCode("dpop_replayed", "dpop", "the proof's jti was already used (proofs are single-use)", "8"),
    # --- warnings only (never make a deny) ---------------------------------------------------------
    ErrorCode("context_not_provided", "warning", "a context check the profile asks for had no input"),
    ErrorCode("deprecated_code", "warning", "a retired code or code system (accepted on verify, never issued)"),
    ErrorCode("advisory", "warning", "a recommendation of the specification is not followed"),
    ErrorCode("multiple_audiences", "warning",
              "the access token names more than one audience (it is valid at other APIs too)"),
)

#: code -> row. The stable public error codes of CONTRACT.md section 5 (plus warning codes).
ERROR_CODES: Final[dict[str, ErrorCode]] = {row.code: row for row in _TABLE}

#: the codes that come before (or instead of) a verified signature
TOKEN_CODES: Final = frozenset(c for c, row in ERROR_CODES.items() if row.stage == "token")


@dataclass(frozen=True, slots=True)
class Finding:
    """One error or warning of a verification.

    ``code`` is a key of :data:`ERROR_CODES`; ``rule`` is the ATT id (``ATT-58c``) or RFC section
    (``RFC8725-3.1``); ``path`` is the JSON path of the offending value (``attestation.toa``).
    """

    code: str
    rule: str
    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "rule": self.rule, "path": self.path, "message": self.message}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(str(d["code"]), str(d["rule"]), str(d["path"]), str(d["message"]))


class AttestError(Exception):
    """Base of every exception `attest` raises on purpose."""


class ConfigurationError(AttestError):
    """A profile, trust store, key or setting cannot be used. The message names the file and entry."""


class ProfileError(ConfigurationError):
    """Unknown profile name or an invalid profile file."""


class TrustStoreError(ConfigurationError):
    """The trust store cannot be loaded (file, entry and reason are in the message)."""


class KeyError_(ConfigurationError):
    """A signing key cannot be loaded or does not fit the requested algorithm."""


class AttestationRefused(AttestError):
    """``build``/``sign`` refused to sign because the attestation breaks the profile.

    ``findings`` lists every problem (same codes as verification).
    """

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        lines = "; ".join(f"{f.code} at {f.path} ({f.rule}): {f.message}" for f in findings[:10])
        more = f" (and {len(findings) - 10} more)" if len(findings) > 10 else ""
        super().__init__(f"refusing to sign: {lines}{more}")


class DependencyUnavailable(AttestError):
    """A dependency needed to make a decision (audit store, replay cache) is down: fail closed."""
