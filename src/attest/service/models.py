"""Request bodies of the HTTP API (CONTRACT.md section 6, HELSEID.md section 13). Strict types: a number
where a string belongs is a 422, not a coercion. Unknown members of the body are ignored; unknown members of
``context`` are refused (422): a misspelled ``patientId`` must not silently drop the patient binding."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

MAX_NUMERIC_DATE = 253402300799


class ContextIn(BaseModel):
    """The verify context (CONTRACT.md section 3). Every member is optional; an unknown member is refused."""

    model_config = ConfigDict(extra="forbid")
    audience: StrictStr | None = Field(None, max_length=1024, description="this verifier's identity")
    authenticated_pid: StrictStr | None = Field(None, max_length=64,
                                                description="F/D-number of the authenticated user (ATT-11)")
    authenticated_hpr: StrictStr | None = Field(None, max_length=64,
                                                description="HPR number of the authenticated user (ATT-29b)")
    patient_id: StrictStr | None = Field(None, max_length=64,
                                         description="identifier of the patient the request is for (ATT-4)")
    now: StrictInt | None = Field(None, ge=1, le=MAX_NUMERIC_DATE,
                                  description="evaluation time (unix seconds); only if the service allows it")


#: an HTTP method is an RFC 9110 token
METHOD_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$"


class HttpRequestIn(BaseModel):
    """The request the client made to the API (for the DPoP proof's htm and htu)."""

    model_config = ConfigDict(extra="forbid")
    method: StrictStr = Field(..., pattern=METHOD_PATTERN, description="the request's method (htm)")
    url: StrictStr = Field(..., min_length=1, max_length=8192,
                           description="the URL the client called (htu: scheme, host, port and path; the "
                                       "query and fragment are ignored)")


class VerifyRequest(BaseModel):
    """Either ``token`` (a self-signed attestation JWT, the service's profile) or ``access_token`` (a HelseID
    access token: the profile of its authorization server), never both."""

    model_config = ConfigDict(extra="ignore")
    token: StrictStr | None = Field(None, description="the attestation JWT (compact JWS)")
    access_token: StrictStr | None = Field(None, description="a HelseID access token (at+jwt) carrying the "
                                                             "attestation (HELSEID.md section 13)")
    dpop: StrictStr | None = Field(None, max_length=16384, description="the DPoP header's value (the proof)")
    authorization_scheme: Literal["DPoP", "Bearer"] | None = Field(
        None, description="how the access token was presented (default: DPoP when a proof is given)")
    request: HttpRequestIn | None = Field(None, description="the request the client made (method and URL)")
    saml: StrictStr | None = Field(None, description="a signed SAML 2.0 assertion (XML, or base64 of it as it "
                                                     "travels in a WS-Security header; profile xua-saml-1.0)")
    context: ContextIn | None = None

    @model_validator(mode="after")
    def _one_token(self) -> VerifyRequest:
        if sum(v is not None for v in (self.token, self.access_token, self.saml)) != 1:
            raise ValueError("give exactly one of 'token', 'access_token' and 'saml'")
        if self.access_token is None and (self.dpop is not None or self.request is not None
                                          or self.authorization_scheme is not None):
            raise ValueError("'dpop', 'request' and 'authorization_scheme' go with 'access_token'")
        return self


class InspectRequest(BaseModel):
    """A token to inspect (an attestation JWT or a HelseID access token: told apart by its content), with the
    DPoP proof and the request it came with, if any."""

    model_config = ConfigDict(extra="ignore")
    token: StrictStr
    dpop: StrictStr | None = Field(None, max_length=16384, description="the DPoP proof presented with an access "
                                                                       "token (its binding is shown and verified)")
    request: HttpRequestIn | None = Field(None, description="the request the proof was made for (method and URL)")
    reveal_identifiers: StrictBool = Field(False, description="answer national identity numbers unmasked (masked "
                                                              "by default)")


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    attestation: dict[str, Any] = Field(..., description="the 13 fields (any spelling); toa optional")
    audience: StrictStr | list[StrictStr] | None = Field(None, description="default: the service's audience")
    lifetime: StrictInt = Field(600, ge=1, le=3600)
    toa: StrictInt | None = Field(None, ge=1, le=MAX_NUMERIC_DATE)
