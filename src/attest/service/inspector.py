"""The token inspector: the report ``POST /v1/inspect`` answers (the library's inspect report plus what people
need to read it: explanations of every finding and a shareable plain text), and the inspector page of
``GET /inspect`` with its packaged assets.

Privacy by construction (issue 15): the page and its assets come from this package only (no CDN, no web
fonts), under a Content-Security-Policy that allows nothing but this origin, no inline script or style,
and Trusted Types (a string can never be assigned to ``innerHTML``); the token is posted to this server
only, answered with ``Cache-Control: no-store``, not audited (it is not a decision) and not logged (the
access log names the route, never a body); it is counted in the metrics (``attest_inspections_total``).
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from .. import VerifyContext, __version__, inspect
from ..explain import explanations, share_text
from ..verify import profile_for
from .models import InspectRequest
from .runtime import Runtime

#: the page's policy: this origin only; no inline script or style; no string reaches an HTML sink
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
#: headers of every inspector response (page, assets)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
#: what an answer that carries token content must never be: cached (by the browser or a proxy)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

#: the packaged assets (``service/static/``) served under /static/inspector/, by name; nothing else is
ASSETS: dict[str, str] = {
    "inspector.js": "text/javascript; charset=utf-8",
    "inspector.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


def inspect_request(runtime: Runtime, body: InspectRequest) -> dict[str, Any]:
    """The report of ``POST /v1/inspect``: :func:`attest.inspect` with the profile ``POST /v1/verify`` would use
    (an access token: its authorization server's; else the service's), the service's audience and the given
    DPoP proof and request; then ``explanations`` and ``share_text`` (:mod:`attest.explain`). The decision,
    when the trust store knows the issuer, is the verify pipeline's without the replay check: inspecting
    consumes no ``jti`` and writes no audit record. Counted in the metrics."""
    settings = runtime.settings
    store = runtime.trust.store
    request = body.request
    context = VerifyContext(audience=settings.audience, dpop_proof=body.dpop,
                            authorization_scheme="DPoP" if body.dpop is not None else None,
                            http_method=request.method if request else None,
                            http_url=request.url if request else None)
    if body.token.lstrip().startswith("<"):  # XML is never a JWT: a SAML assertion (issue 14)
        from ..saml import inspect_saml

        report = inspect_saml(body.token, trust=store, context=context, reveal_identifiers=body.reveal_identifiers)
    else:
        report = inspect(body.token, trust=store, profile=profile_for(body.token, store, settings.profile),
                         context=context, reveal_identifiers=body.reveal_identifiers)
    report["explanations"] = explanations(report)
    report["share_text"] = share_text(report)
    decision = report.get("decision")
    runtime.metrics.inspection(_kind(report), str(decision.get("decision")) if isinstance(decision, dict) else "")
    return report


def _kind(report: dict[str, Any]) -> str:
    if report.get("error"):
        return "undecodable"
    if report.get("shape") == "saml2-assertion":
        return "saml"
    return "access_token" if report.get("access_token") else "attestation"


@cache
def _read(name: str) -> str:
    return resources.files("attest.service").joinpath("static", name).read_text(encoding="utf-8")


def asset(name: str) -> tuple[str, str] | None:
    """(text, media type) of a packaged asset, None for any other name."""
    media_type = ASSETS.get(name)
    return None if media_type is None else (_read(name), media_type)


def _trust_summary(runtime: Runtime) -> str:
    store = runtime.trust.store
    issuers, servers = len(store.issuers), len(store.authorization_servers)
    return (f"{issuers} issuer{'s' if issuers != 1 else ''} and {servers} authorization "
            f"server{'s' if servers != 1 else ''}")


def _page(name: str, runtime: Runtime) -> str:
    settings = runtime.settings
    test_material = runtime.trust.store.test_material
    values = {
        "version": __version__,
        "profile": settings.profile,
        "trust": _trust_summary(runtime),
        "test_material": "" if not test_material else (
            "This service trusts TEST keys (a test-material trust store): its decisions say nothing about "
            "production."),
    }
    return Template(_read(name)).substitute({k: html.escape(v) for k, v in values.items()})


def inspector_page(runtime: Runtime) -> str:
    """The inspector page (``GET /inspect``), with the service's version, profile and trust store filled in."""
    return _page("inspect.html", runtime)


def index_page(runtime: Runtime) -> str:
    """The service's index (``GET /``): what runs here, and links to the inspector and the API documentation."""
    return _page("index.html", runtime)
