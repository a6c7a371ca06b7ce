"""POST /v1/verify: verify a token, commit its audit trail, answer the decision document."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ... import DependencyUnavailable, MemoryReplayCache, VerifyContext, verify, verify_async
from ...audit.fhir import audit_outcome
from ..body import json_body
from ..models import VerifyRequest
from ..problems import ProblemError
from ..runtime import Runtime
from ..schemas import DecisionDocument, ok, problem_responses

router = APIRouter(tags=["verify"])
log = logging.getLogger("attest.service.verify")


@router.post(
    "/v1/verify",
    summary="Verify an attestation token",
    description="200 with the decision document (CONTRACT.md section 4) for permit and deny alike. The "
                "decision's AuditEvents are committed before the answer; when the audit store or the replay "
                "cache is down the answer is 503 and no decision.",
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
    if context.audience is None and settings.audience:
        context = dataclasses.replace(context, audience=settings.audience)
    start = time.perf_counter()
    try:
        # verification is CPU work of well under a millisecond: it runs on the event loop; a replay cache
        # that is a network service (Redis) is awaited, not called from the loop
        if isinstance(runtime.replay, MemoryReplayCache):
            decision = verify(body.token, runtime.trust.store, settings.profile, context, replay=runtime.replay)
        else:
            decision = await verify_async(body.token, runtime.trust.store, settings.profile, context,
                                          replay=runtime.replay)
    except DependencyUnavailable:
        runtime.metrics.unavailable.labels("replay_cache").inc()
        raise
    try:
        # the commit is awaited (group commit by the store's writer thread) before the answer is sent
        doc = decision.to_dict()
        ids = await runtime.trail.record_async(decision, context, token=body.token, doc=doc)
    except DependencyUnavailable:
        runtime.metrics.unavailable.labels("audit_store").inc()
        token = decision.token or {}
        if decision.permitted:  # the jti was recorded for a decision nobody received: let the caller retry
            release = getattr(runtime.replay, "release", None)
            if callable(release):
                await run_in_threadpool(release, token.get("iss"), token.get("jti"))
        raise
    elapsed = time.perf_counter() - start
    codes = decision.codes
    runtime.metrics.verify_seconds.observe(elapsed)
    runtime.metrics.audit_events.inc(len(ids))
    runtime.metrics.decision(decision.decision, audit_outcome(doc), codes)
    # one log line per request: the access-log line of RequestContextMiddleware carries these fields
    request.state.log = {"decision": decision.decision, "codes": codes,
                         "issuer": decision.issuer.iss if decision.issuer else None,
                         "audit_events": ids, "verify_ms": round(elapsed * 1000, 2)}
    # the document is JSON by construction (parsed from the token, or built here): serialised by orjson
    # directly rather than through FastAPI's encoder and response validation (the OpenAPI schema of the
    # operation is unchanged)
    return _json_response(doc)


def _json_response(doc: dict[str, Any]) -> Response:
    try:
        body = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits, which a token may carry
        body = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(body, media_type="application/json")
