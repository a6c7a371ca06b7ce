"""GET /healthz (liveness), /readyz (audit store and replay cache reachable), /metrics (Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..deps import get_runtime
from ..problems import problem
from ..runtime import Runtime
from ..schemas import Health, Readiness, ok, problem_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness", response_model=Health)
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: audit store and replay cache reachable",
            response_model=None, responses={200: ok(Readiness), **problem_responses(503)})
def readyz(runtime: Runtime = Depends(get_runtime)) -> JSONResponse:  # noqa: B008
    checks = {
        "audit_store": "ok" if runtime.trail.store.ping() else "unavailable",
        "replay_cache": "ok" if runtime.replay.ping() else "unavailable",
        "trust_store": "ok" if runtime.trust.last_error is None else "stale (last reload failed)",
    }
    process = runtime.audit_process
    if process is not None:  # ATTEST_AUDIT_PROCESS: the child that records every decision
        checks["audit_process"] = "ok" if process.alive() else "unavailable"
    if any(checks[k] != "ok" for k in ("audit_store", "replay_cache", "audit_process") if k in checks):
        return problem(503, "not-ready", "Service Unavailable", "a dependency is down", checks=checks)
    store = runtime.trust.store
    remote = _remote_key_sets(runtime)
    body: dict[str, Any] = {"status": "ready", "checks": checks, "issuers": len(store.issuers),
                            "authorization_servers": len(store.authorization_servers)}
    if remote:
        # a failed fetch keeps the last good keys in service: reported, not a reason to stop serving
        body["key_sets"] = {name: status for name, status in remote}
    return JSONResponse(body)


def _remote_key_sets(runtime: Runtime) -> list[tuple[str, dict[str, Any]]]:
    return [(name, ks.status()) for name, ks in runtime.trust.store.key_sets() if ks.remote_source]


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"description": "Prometheus text exposition format",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(runtime: Runtime = Depends(get_runtime)) -> Response:  # noqa: B008
    runtime.metrics.key_sets(_remote_key_sets(runtime))
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
