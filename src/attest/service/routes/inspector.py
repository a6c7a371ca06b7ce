"""GET / (the index), GET /inspect (the token inspector page) and its packaged assets under
/static/inspector/. HTML for people: not part of the API, so not in the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from ..deps import get_runtime
from ..inspector import NO_STORE, PAGE_HEADERS, asset, index_page, inspector_page
from ..problems import ProblemError
from ..runtime import Runtime

router = APIRouter(include_in_schema=False)


@router.get("/")
def index(runtime: Runtime = Depends(get_runtime)) -> Response:  # noqa: B008
    return HTMLResponse(index_page(runtime), headers=PAGE_HEADERS)


@router.get("/inspect")
def inspector(runtime: Runtime = Depends(get_runtime)) -> Response:  # noqa: B008
    return HTMLResponse(inspector_page(runtime), headers={**PAGE_HEADERS, **NO_STORE})


@router.get("/static/inspector/{name}")
def inspector_asset(name: str) -> Response:
    found = asset(name)
    if found is None:
        raise ProblemError(404, "http-404", "Not Found")
    text, media_type = found
    return Response(text, media_type=media_type, headers={**PAGE_HEADERS, "Cache-Control": "no-cache"})
