"""POST /v1/verify: verify a token, commit its audit trail, answer the decision document."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from fastapi import APIRouter, Depends

from ... import DependencyUnavailable, VerifyContext, verify
from ...audit.fhir import audit_outcome
from ..deps import get_runtime, get_settings
from ..models import VerifyRequest
from ..problems import ProblemError
from ..runtime import Runtime
from ..settings import Settings

router = APIRouter(tags=["verify"])
log = logging.getLogger("attest.service.verify")

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.post(
    "/v1/verify",
    summary="Verify an attestation token",
    description="200 with the decision document (CONTRACT.md section 4) for permit and deny alike. The "
                "decision's AuditEvents are committed before the answer; when the audit store or the replay "
                "cache is down the answer is 503 and no decision.",
    responses={400: _PROBLEM, 413: _PROBLEM, 422: _PROBLEM, 503: _PROBLEM},
)
def verify_token(
    body: VerifyRequest,
    runtime: Runtime = Depends(get_runtime),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
) -> dict[str, Any]:
    context = VerifyContext.from_dict(body.context.model_dump(exclude_none=True) if body.context else None)
    if context.now is not None and not settings.allow_context_now:
        raise ProblemError(422, "context-now-not-allowed", "Unprocessable Content",
                           "this service evaluates at its own clock; context.now is accepted only when "
                           "ATTEST_ALLOW_CONTEXT_NOW is set (test harnesses)")
    if context.audience is None and settings.audience:
        context = dataclasses.replace(context, audience=settings.audience)
    start = time.perf_counter()
    try:
        decision = verify(body.token, runtime.trust.store, settings.profile, context, replay=runtime.replay)
    except DependencyUnavailable:
        runtime.metrics.unavailable.labels("replay_cache").inc()
        raise
    try:
        ids = runtime.trail.record(decision, context, token=body.token)
    except DependencyUnavailable:
        runtime.metrics.unavailable.labels("audit_store").inc()
        token = decision.token or {}
        if decision.permitted:  # the jti was recorded for a decision nobody received: let the caller retry
            release = getattr(runtime.replay, "release", None)
            if callable(release):
                release(token.get("iss"), token.get("jti"))
        raise
    elapsed = time.perf_counter() - start
    doc = decision.to_dict()
    codes = decision.codes
    runtime.metrics.verify_seconds.observe(elapsed)
    runtime.metrics.audit_events.inc(len(ids))
    runtime.metrics.decision(decision.decision, audit_outcome(doc), codes)
    log.info("verification", extra={
        "decision": decision.decision, "codes": codes,
        "issuer": decision.issuer.iss if decision.issuer else None,
        "audit_events": ids, "ms": round(elapsed * 1000, 2)})
    return doc
