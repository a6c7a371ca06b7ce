"""POST /v1/inspect: an untrusted view of a token (identity numbers masked), with the decision when the
issuer is in the trust store. Not an access decision: no replay check, no audit record."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ... import VerifyContext, inspect
from ..deps import get_runtime, get_settings
from ..models import InspectRequest
from ..runtime import Runtime
from ..settings import Settings

router = APIRouter(tags=["inspect"])
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.post("/v1/inspect", summary="Inspect a token (nothing is trusted)",
             responses={400: _PROBLEM, 413: _PROBLEM, 422: _PROBLEM})
def inspect_token(
    body: InspectRequest,
    runtime: Runtime = Depends(get_runtime),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
) -> dict[str, Any]:
    return inspect(body.token, trust=runtime.trust.store, profile=settings.profile,
                   context=VerifyContext(audience=settings.audience))
