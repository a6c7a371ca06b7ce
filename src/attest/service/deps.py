"""FastAPI dependencies: the only way routes reach settings and the runtime (tests override them)."""

from __future__ import annotations

import secrets

from fastapi import Depends, Request

from .problems import ProblemError
from .runtime import Runtime
from .settings import Settings

# The dependencies are ``async def`` although they do no I/O: FastAPI runs a plain ``def`` dependency in the
# thread pool, and three thread hops per request were most of the service's latency under load.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_settings(runtime: Runtime = Depends(get_runtime)) -> Settings:  # noqa: B008 - FastAPI idiom
    return runtime.settings


async def require_admin(request: Request, settings: Settings = Depends(get_settings)) -> None:  # noqa: B008
    """``Authorization: Bearer <ATTEST_ADMIN_TOKEN>``; 401 otherwise (constant-time comparison)."""
    expected = settings.admin_token
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not secrets.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), expected.encode("utf-8")):
        raise ProblemError(401, "unauthorized", "Unauthorized",
                           "this endpoint needs the admin bearer token (ATTEST_ADMIN_TOKEN)",
                           headers={"WWW-Authenticate": 'Bearer realm="attest"'})
