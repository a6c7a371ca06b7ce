"""The one error table of `attest`, the finding type and the exception tree.

Every finding a verification produces has a stable snake_case ``code`` from :data:`ERROR_CODES`, the
``rule`` it enforces (an ATT id or an RFC section) and the JSON ``path`` of the offending value.
HTTP status, CLI exit code and the FHIR AuditEvent outcome are all derived from this table; no other
module invents its own message category for the same failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Stage = Literal["token", "claims", "attestation", "context", "replay", "warning"]


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One row of the error table."""

    code: str
    stage: Stage
    summary: str
    #: FHIR AuditEvent.outcome for a deny carrying this code (4 minor, 8 serious failure).
    audit_outcome: str = "4"


_TABLE: tuple[ErrorCode, ...] = (
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
    # --- warnings only (never make a deny) ---------------------------------------------------------
    ErrorCode("context_not_provided", "warning", "a context check the profile asks for had no input"),
    ErrorCode("deprecated_code", "warning", "a retired code or code system (accepted on verify, never issued)"),
    ErrorCode("advisory", "warning", "a recommendation of the specification is not followed"),
)

#: code -> row. The stable public error codes of CONTRACT.md section 5 (plus warning codes).
ERROR_CODES: dict[str, ErrorCode] = {row.code: row for row in _TABLE}

#: the codes that come before (or instead of) a verified signature
TOKEN_CODES = frozenset(c for c, row in ERROR_CODES.items() if row.stage == "token")


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
