"""POST /v1/inspect: an untrusted view of a token (identity numbers masked unless asked), with the decision
when the issuer is in the trust store. Not an access decision: no replay check, no audit record. Answered
with ``Cache-Control: no-store`` (it carries token content)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from ..deps import get_runtime
from ..inspector import NO_STORE, inspect_request
from ..models import InspectRequest
from ..runtime import Runtime
from ..schemas import InspectReport, ok, problem_responses

router = APIRouter(tags=["inspect"])


@router.post("/v1/inspect", summary="Inspect a token (nothing is trusted)",
             description="200 with the report for people: header, claims, times, the 13 fields with code "
                         "display texts and identifier checks, the rule findings, an explanation of every "
                         "finding's code and rule, a shareable plain text without identity numbers, and the "
                         "decision when the trust store knows the issuer. A HelseID access token is inspected "
                         "with the profile of its authorization server, with its DPoP proof (`dpop`) and the "
                         "request (`request`) when given. National identity numbers are masked unless "
                         "`reveal_identifiers` is true. Not an access: no audit record, no `jti` consumed.",
             response_model=None,
             responses={200: ok(InspectReport, "the report (never an access decision)"),
                        **problem_responses(400, 413, 422)})
def inspect_token(
    body: InspectRequest,
    response: Response,
    runtime: Runtime = Depends(get_runtime),  # noqa: B008
) -> dict[str, Any]:
    response.headers.update(NO_STORE)
    return inspect_request(runtime, body)
