"""Response schemas of the HTTP API, for the OpenAPI document only.

Routes return plain dicts (no response validation on the hot path); these models say what those dicts
look like, so that clients and the API fuzzing suite (tests/hardening/test_api_fuzz.py, schemathesis)
can check every answer against its documented schema. :func:`problem_responses` declares error answers:
every one of them is ``application/problem+json`` (RFC 9457) with the :class:`Problem` schema.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ..errors import ERROR_CODES

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
#: RFC 9110 names where Python's HTTPStatus still has the older ones
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}

class Problem(BaseModel):
    """RFC 9457 problem details. ``type`` is ``urn:attest:problem:<slug>``. Extra members: ``errors``
    (422: where the request is wrong, never the offending value), ``checks`` (503 from /readyz)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(pattern=r"^urn:attest:problem:[a-z0-9-]+$")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = Field(None, description="absent when there is nothing to add")
    errors: list[Any] | None = Field(None, description="422: what is wrong and where (never the value)")
    checks: dict[str, str] | None = Field(None, description="503 from /readyz: the state of each dependency")


class Finding(BaseModel):
    """One error or warning of a verification (CONTRACT.md section 4)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(description="stable code (CONTRACT.md section 5)",
                      json_schema_extra={"enum": list[JsonValue](sorted(ERROR_CODES))})
    rule: str = Field(description="the rule enforced: an ATT id or an RFC section")
    path: str = Field(description="JSON path of the offending value")
    message: str = Field(description="for people; token content escaped, identity numbers masked")


class DecisionDocument(BaseModel):
    """The decision document (CONTRACT.md section 4). ``decision`` is ``permit`` exactly when ``errors``
    is empty; ``attestation`` is null unless the signature verified."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["permit", "deny"]
    profile: str
    errors: list[Finding]
    warnings: list[Finding]
    token: dict[str, Any] | None = Field(description="alg, kid, iss, jti, iat, exp as far as they were read")
    attestation: dict[str, Any] | None = Field(description="the normalised attestation (spec v1.1 spelling)")


class InspectReport(BaseModel):
    """An untrusted view of a token: header, claims, the attestation field by field with display texts and
    identifier checks (person numbers masked), and the decision when the issuer is in the trust store."""

    model_config = ConfigDict(extra="allow")
    trusted: Literal[False]
    note: str
    profile: str
    now: int
    error: dict[str, Any] | None
    header: dict[str, Any] | None
    claims: dict[str, Any] | None
    times: dict[str, Any]
    fields: list[dict[str, Any]]
    attestation: dict[str, Any] | None
    decision: DecisionDocument | None
    explanations: dict[str, Any] | None = Field(
        None, description="for every finding: its code's summary and stage (`codes`), its rule's source and "
                          "the profile's descriptions of it (`rules`)")
    share_text: str | None = Field(None, description="the report as plain text for people, with no identity "
                                                     "numbers (masked or not), to paste into a support ticket")


class IssuedToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(description="the signed attestation JWT (compact JWS)")


class ProfileSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    status: str
    rules: int = Field(ge=0, description="number of rules")


class ProfileDescription(BaseModel):
    """A profile: its token policy, claims, attestation fields, identifier and code lists, and rules."""

    model_config = ConfigDict(extra="allow")
    id: str
    title: str
    rules: list[dict[str, Any]]


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok"]


class Readiness(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ready"]
    checks: dict[str, str]
    issuers: int = Field(ge=0)
    authorization_servers: int = Field(0, ge=0)
    key_sets: dict[str, dict[str, Any]] | None = Field(
        None, description="remote key sets (jwks_uri, discovery) by trust-store entry: source, keys, "
                          "age_seconds, expires_in_seconds, fetches, failures, last_error")


class AuditBundle(BaseModel):
    """A FHIR R4 ``Bundle`` of type ``searchset``: AuditEvents (``search.mode`` ``match``) and, for a record
    that cannot be opened, an ``OperationOutcome`` (``search.mode`` ``outcome``)."""

    model_config = ConfigDict(extra="allow", title="AuditBundle")
    resourceType: Literal["Bundle"]
    id: str
    type: Literal["searchset"]
    timestamp: str
    link: list[dict[str, str]]
    entry: list[dict[str, Any]]


class CitizenLog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    entries: list[dict[str, Any]]
    note: str


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for error answers: each is problem+json with the :class:`Problem` schema."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"description": _TITLES.get(status) or HTTPStatus(status).phrase,
                       "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}}
    return out


def ok(model: type[BaseModel], description: str = "OK") -> dict[str, Any]:
    """A ``responses=`` entry documenting a JSON answer by its model (documentation only)."""
    return {"model": model, "description": description}
