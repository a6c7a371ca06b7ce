"""GET /healthz (liveness), /readyz (audit store and replay cache reachable), /metrics (Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..deps import get_runtime
from ..problems import problem
from ..runtime import Runtime

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: audit store and replay cache reachable",
            responses={503: {"content": {"application/problem+json": {}}}})
def readyz(runtime: Runtime = Depends(get_runtime)) -> JSONResponse:  # noqa: B008
    checks = {
        "audit_store": "ok" if runtime.trail.store.ping() else "unavailable",
        "replay_cache": "ok" if runtime.replay.ping() else "unavailable",
        "trust_store": "ok" if runtime.trust.last_error is None else "stale (last reload failed)",
    }
    if checks["audit_store"] != "ok" or checks["replay_cache"] != "ok":
        return problem(503, "not-ready", "Service Unavailable", "a dependency is down", checks=checks)
    return JSONResponse({"status": "ready", "checks": checks,
                         "issuers": len(runtime.trust.store.issuers)})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(runtime: Runtime = Depends(get_runtime)) -> Response:  # noqa: B008
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
