"""POST /v1/attestations: build and sign an attestation with the service's issuing key. For test harnesses:
off unless ATTEST_ISSUING_KEY and ATTEST_ISSUER are set, and then only for the admin bearer token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ... import AttestationRefused, build
from ..deps import get_runtime, get_settings, require_admin
from ..models import IssueRequest
from ..problems import ProblemError
from ..runtime import Runtime
from ..settings import Settings

router = APIRouter(tags=["attestations"])
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.post("/v1/attestations", status_code=201, summary="Issue a signed attestation (test harnesses)",
             responses={201: {"content": {"application/json": {"example": {"token": "eyJ..."}}}},
                        401: _PROBLEM, 404: _PROBLEM, 422: _PROBLEM},
             dependencies=[Depends(require_admin)])
def issue_attestation(
    body: IssueRequest,
    runtime: Runtime = Depends(get_runtime),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
) -> JSONResponse:
    issuing = runtime.issuing
    if issuing is None:
        raise ProblemError(404, "issuing-disabled", "Not Found",
                           "issuing is disabled (set ATTEST_ISSUING_KEY and ATTEST_ISSUER to enable it)")
    audience = body.audience or settings.audience or runtime.trust.store.audience
    if not audience:
        raise ProblemError(422, "audience-required", "Unprocessable Content",
                           "give 'audience' (the service has no default audience)")
    try:
        token = build(body.attestation, key=issuing.key, kid=issuing.kid, iss=issuing.iss, audience=audience,
                      profile=settings.profile, lifetime=body.lifetime, toa=body.toa, alg=issuing.alg)
    except AttestationRefused as exc:
        raise ProblemError(422, "attestation-refused", "Unprocessable Content",
                           f"the attestation breaks profile {settings.profile}",
                           errors=[f.to_dict() for f in exc.findings]) from None
    except (ValueError, TypeError) as exc:
        raise ProblemError(422, "invalid-request", "Unprocessable Content", str(exc)) from None
    return JSONResponse({"token": token}, status_code=201)
