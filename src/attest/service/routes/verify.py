"""POST /v1/verify: verify a token (a self-signed attestation, or a HelseID access token with its DPoP
proof), commit its audit trail, answer the decision document."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from ... import Profile, VerifyContext
from ...errors import ProfileError
from ...profiles import load_profile
from ...saml import saml_profile_for
from ...trust import DEFAULT_AT_PROFILE
from ...verify import profile_for
from ..body import json_body
from ..decide import decide, saml_verifier
from ..models import VerifyRequest
from ..problems import ProblemError
from ..runtime import Runtime
from ..schemas import DecisionDocument, ok, problem_responses

router = APIRouter(tags=["verify"])
log = logging.getLogger("attest.service.verify")


@router.post(
    "/v1/verify",
    summary="Verify an attestation token or a HelseID access token",
    description="200 with the decision document (CONTRACT.md section 4) for permit and deny alike. The body "
                "carries either `token` (a self-signed attestation JWT, verified with the service's profile) or "
                "`access_token` with `dpop` and `request` (a HelseID access token, verified with the profile of "
                "its authorization server, HELSEID.md section 13), or `saml` (a signed SAML 2.0 assertion, "
                "verified with the profile of its SAML issuer, xua-saml-1.0). The decision's AuditEvents are committed "
                "before the answer; when the audit store or the replay cache is down the answer is 503 and no "
                "decision.",
    response_model=None,
    responses={200: ok(DecisionDocument, "the decision document (permit or deny)"),
               **problem_responses(400, 413, 422, 503)},
    # the body is read by json_body (the hot path skips FastAPI's dependency resolution; same answers)
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/VerifyRequest"}}}}},
)
async def verify_token(request: Request) -> Response:
    body = await json_body(request, VerifyRequest)
    runtime: Runtime = request.app.state.runtime  # what deps.get_runtime returns
    settings = runtime.settings
    context = VerifyContext.from_dict(body.context.model_dump(exclude_none=True) if body.context else None)
    if context.now is not None and not settings.allow_context_now:
        raise ProblemError(422, "context-now-not-allowed", "Unprocessable Content",
                           "this service evaluates at its own clock; context.now is accepted only when "
                           "ATTEST_ALLOW_CONTEXT_NOW is set (test harnesses)")
    if context.audience is not None and not settings.allow_context_audience:
        raise ProblemError(422, "context-audience-not-allowed", "Unprocessable Content",
                           "this service checks tokens against its own audience; context.audience is accepted only "
                           "when ATTEST_ALLOW_CONTEXT_AUDIENCE is set (test harnesses)")
    if context.audience is None and settings.audience:
        context = dataclasses.replace(context, audience=settings.audience)
    profile: str | Profile
    if body.access_token is not None:
        # HELSEID.md section 13: the profile is the configured one of the token's authorization server
        token = body.access_token
        profile = profile_for(token, runtime.trust.store, DEFAULT_AT_PROFILE)
        scheme = body.authorization_scheme or ("DPoP" if body.dpop is not None else None)
        context = dataclasses.replace(
            context, dpop_proof=body.dpop, authorization_scheme=scheme,
            http_method=body.request.method if body.request else None,
            http_url=body.request.url if body.request else None)
    elif body.saml is not None:
        # issue 14: the profile the trust store configures for the assertion's SAML issuer (xua-saml-1.0)
        token, profile = body.saml, saml_profile_for(body.saml, runtime.trust.store)
    else:
        assert body.token is not None
        token, profile = body.token, settings.profile
    if settings.context_required:
        _require_context(profile, context)
    recorded = await decide(request, runtime, token, profile, context,
                            verifier=saml_verifier if body.saml is not None else None)
    # the document is JSON by construction (parsed from the token, or built here): serialised by orjson
    # directly rather than through FastAPI's encoder and response validation (the OpenAPI schema of the
    # operation is unchanged)
    return _json_response(recorded.doc)


def _require_context(profile: str | Profile, context: VerifyContext) -> None:
    """Issue 11 item 1: a permit must be bound to the patient and the user of the request. The members the
    profile requires (``context.required``) must be given, unless the deployment opted out."""
    try:
        required = load_profile(profile).context_required
    except ProfileError:
        return  # decide() answers an unknown profile as it always has
    missing = [m for m in required if getattr(context, m) is None]
    if missing:
        names = " and ".join(f"context.{m}" for m in missing)
        raise ProblemError(422, "context-required", "Unprocessable Content",
                           f"profile {load_profile(profile).id} requires {names}: without them a permit would "
                           "not be bound to the patient and the user of this request (ATT-4, ATT-11). Set "
                           "ATTEST_CONTEXT_REQUIRED=false to accept such requests (each absent binding is then "
                           "a context_not_provided warning in the decision)")


def _json_response(doc: dict[str, Any]) -> Response:
    try:
        body = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits, which a token may carry
        body = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(body, media_type="application/json")
