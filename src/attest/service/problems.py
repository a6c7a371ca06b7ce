"""RFC 9457 problem details (``application/problem+json``) for every error answer of the service."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

PROBLEM = "application/problem+json"
_TYPE = "urn:attest:problem:"


def problem(status: int, slug: str, title: str, detail: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": _TYPE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class ProblemError(Exception):
    """Raised by routes and dependencies; turned into a problem response by the app's handler."""

    def __init__(self, status: int, slug: str, title: str, detail: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers, self.extra = headers, extra

    def response(self) -> JSONResponse:
        return problem(self.status, self.slug, self.title, self.detail, self.headers, **self.extra)
