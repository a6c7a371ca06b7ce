"""Request bodies of the HTTP API (CONTRACT.md section 6). Strict types: a number where a string belongs
is a 422, not a coercion. Unknown members are ignored, as the verify context specifies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

MAX_NUMERIC_DATE = 253402300799


class ContextIn(BaseModel):
    """The verify context (CONTRACT.md section 3). Every member is optional."""

    model_config = ConfigDict(extra="ignore")
    audience: StrictStr | None = Field(None, max_length=1024, description="this verifier's identity")
    authenticated_pid: StrictStr | None = Field(None, max_length=64,
                                                description="F/D-number of the authenticated user (ATT-11)")
    authenticated_hpr: StrictStr | None = Field(None, max_length=64,
                                                description="HPR number of the authenticated user (ATT-29b)")
    patient_id: StrictStr | None = Field(None, max_length=64,
                                         description="identifier of the patient the request is for (ATT-4)")
    now: StrictInt | None = Field(None, ge=1, le=MAX_NUMERIC_DATE,
                                  description="evaluation time (unix seconds); only if the service allows it")


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: StrictStr = Field(..., description="the attestation JWT (compact JWS)")
    context: ContextIn | None = None


class InspectRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: StrictStr


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    attestation: dict[str, Any] = Field(..., description="the 13 fields (any spelling); toa optional")
    audience: StrictStr | list[StrictStr] | None = Field(None, description="default: the service's audience")
    lifetime: StrictInt = Field(600, ge=1, le=3600)
    toa: StrictInt | None = Field(None, ge=1, le=MAX_NUMERIC_DATE)
