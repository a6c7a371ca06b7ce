"""``/v1/authorize``: forward-auth for a reverse proxy in front of an existing API (nginx ``auth_request``,
Traefik ForwardAuth, Envoy ``ext_authz`` in HTTP mode; HELSEID.md section 13).

The proxy forwards the client's ``Authorization`` and ``DPoP`` headers and says what the original request was
(``X-Forwarded-Method`` / ``X-Original-Method``; ``X-Original-URL``, or ``X-Forwarded-Proto`` +
``X-Forwarded-Host`` + ``X-Forwarded-Uri``), which only a configured trusted proxy may do. The patient comes
from the original URL's query or a header (``ATTEST_AUTHORIZE_PATIENT``). The access token is verified with its
authorization server's profile, and every answer is audited like ``POST /v1/verify`` (the audit record holds
the patient of the request):

* **200** permit, with headers the upstream may use: ``X-Attest-Decision``, ``X-Attest-Audit-Id``,
  ``X-Attest-Hpr-Number``, ``X-Attest-Purpose-Of-Use``, ``X-Attest-Legal-Entity``, ``X-Attest-Point-Of-Care``,
  ``X-Attest-Client-Id`` (never a national identity number);
* **401** the token or its proof cannot be accepted, with ``WWW-Authenticate: DPoP error="invalid_token"`` (or
  ``invalid_dpop_proof``, RFC 9449 7.1; ``Bearer ...`` for a bearer token, RFC 6750 3.1), and a challenge
  without ``error`` when the request carries no credentials at all;
* **403** a rule deny (``X-Attest-Errors`` lists the codes; ``insufficient_scope`` with its challenge);
* **503** the audit store or the replay cache is down: no decision.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ... import ERROR_CODES, VerifyContext
from ...errors import Finding
from ...model import get
from ...trust import DEFAULT_AT_PROFILE, TrustStore
from ...verify import Decision, profile_for
from ..decide import decide
from ..forwarded import Network, original_request, parse_networks, peer_is_trusted, requested_patients
from ..problems import problem
from ..runtime import Runtime
from ..schemas import problem_responses

router = APIRouter(tags=["verify"])


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """The trusted proxies' networks (settings were checked at start), parsed once."""
    return parse_networks(proxies, "ATTEST_TRUSTED_PROXIES")


def _header_value(v: Any, limit: int = 200) -> str | None:
    """A token-derived value as an HTTP header value: printable ASCII only, bounded; else None."""
    if isinstance(v, bool) or not isinstance(v, str | int):
        return None
    s = str(v)
    if not s or len(s) > limit or not (s.isascii() and s.isprintable()):
        return None
    return s


def _quoted(text: str) -> str:
    """Text for a quoted-string auth-param: printable ASCII without quotes or backslashes (RFC 6750 3)."""
    clean = "".join(c if " " <= c <= "~" and c not in '"\\' else "'" if c in '"\\' else " " for c in text)
    return clean[:200]


def _algs(trust: TrustStore) -> str:
    algs: set[str] = set()
    for server in trust.authorization_servers.values():
        algs |= server.dpop_algorithms
    return " ".join(sorted(algs))


def _challenge(scheme: str, trust: TrustStore, error: str | None = None, description: str | None = None) -> str:
    params = []
    if error:
        params.append(f'error="{error}"')
        if description:
            params.append(f'error_description="{_quoted(description)}"')
    if scheme == "DPoP":
        algs = _algs(trust)
        if algs:
            params.append(f'algs="{algs}"')
    return scheme + (" " + ", ".join(params) if params else "")


def _status(decision: Decision) -> int:
    """401 when the token or its proof cannot be accepted, else 403 (a rule deny)."""
    statuses = [ERROR_CODES[f.code].http_status for f in decision.errors]
    return 401 if 401 in statuses else 403


def _permit_headers(doc: dict[str, Any], ids: list[str]) -> dict[str, str]:
    att = doc.get("attestation") or {}
    token = doc.get("token") or {}
    values = {
        "X-Attest-Decision": "permit",
        "X-Attest-Audit-Id": ids[0] if ids else None,
        "X-Attest-Hpr-Number": _header_value(get(att, "practitioner", "hpr_nr", "id"), 9),
        "X-Attest-Purpose-Of-Use": _header_value(get(att, "care_relation", "purpose_of_use", "code"), 16),
        "X-Attest-Legal-Entity": _header_value(get(att, "practitioner", "legal_entity", "id"), 9),
        "X-Attest-Point-Of-Care": _header_value(get(att, "practitioner", "point_of_care", "id"), 9),
        "X-Attest-Client-Id": _header_value(token.get("client_id"), 128),
    }
    return {k: v for k, v in values.items() if v}


def _ambiguous_patient(patients: list[str]) -> Any:
    def adjust(decision: Decision) -> Decision:
        finding = Finding("ambiguous_patient", "ATT-4", "request",
                          f"the request names {len(patients)} patients; one request may concern one patient")
        return dataclasses.replace(decision, decision="deny", errors=(*decision.errors, finding))
    return adjust


@router.get(
    "/v1/authorize",
    summary="Forward-auth for a reverse proxy (HelseID access token + DPoP)",
    description="Decides whether the proxy may pass the original request on: 200 (permit, with X-Attest-* "
                "headers for the upstream), 401 (the access token or its DPoP proof cannot be accepted; "
                "WWW-Authenticate per RFC 9449 7.1 / RFC 6750 3.1), 403 (a rule deny; X-Attest-Errors). Every "
                "answer is audited like POST /v1/verify. The original method and URL are read from "
                "X-Forwarded-Method / X-Original-Method and X-Original-URL or X-Forwarded-Proto + "
                "X-Forwarded-Host + X-Forwarded-Uri, from trusted proxies only (ATTEST_TRUSTED_PROXIES).",
    response_model=None,
    responses={200: {"description": "permit: the proxy passes the request on"},
               **problem_responses(401, 403, 503)},
)
async def authorize(request: Request) -> Response:
    return await _authorize(request)


# A proxy may send its auth subrequest with the original request's method (nginx does unless told
# otherwise): the same endpoint answers them all; the OpenAPI document lists GET.
router.add_api_route("/v1/authorize", authorize, methods=["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                     include_in_schema=False, response_model=None)


async def _authorize(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    trust = runtime.trust.store
    headers = request.headers
    trusted = peer_is_trusted(request.scope, _networks(settings.trusted_proxies))
    original = original_request(headers, trusted)
    patients = requested_patients(original.url, headers, settings.authorize_patient, trusted)

    authorizations = headers.getlist("authorization")
    scheme, _, token = (authorizations[0] if len(authorizations) == 1 else "").strip().partition(" ")
    scheme = {"dpop": "DPoP", "bearer": "Bearer"}.get(scheme.lower(), "")
    token = token.strip()
    proofs = headers.getlist("dpop")
    context = VerifyContext(
        audience=settings.audience, patient_id=patients[0] if len(patients) == 1 else None,
        dpop_proof=",".join(proofs) if proofs else None, http_method=original.method, http_url=original.url,
        authorization_scheme=scheme or None)
    profile = profile_for(token, trust, DEFAULT_AT_PROFILE) if token else DEFAULT_AT_PROFILE
    recorded = await decide(request, runtime, token if scheme else "", profile, context,
                            adjust=_ambiguous_patient(patients) if len(patients) > 1 else None)
    decision, doc, ids = recorded.decision, recorded.doc, recorded.audit_ids
    if decision.permitted:
        return Response(status_code=200, headers=_permit_headers(doc, ids))

    status = _status(decision)
    codes = list(dict.fromkeys(decision.codes))
    out: dict[str, str] = {"X-Attest-Decision": "deny", "X-Attest-Errors": " ".join(codes)[:1000]}
    if ids:
        out["X-Attest-Audit-Id"] = ids[0]
    challenges: list[str] = []
    if not scheme:
        # no credentials (RFC 6750 3.1): a challenge without an error code
        challenges.append(_challenge("DPoP", trust))
    else:
        first = next((f for f in decision.errors if ERROR_CODES[f.code].http_status == status), decision.errors[0])
        error = ERROR_CODES[first.code].challenge_error
        if error is not None:
            challenges.append(_challenge(scheme, trust, error, first.message))
            if scheme == "Bearer" and first.code == "dpop_required":
                challenges.append(_challenge("DPoP", trust))  # RFC 9449 7.2: say how to present it
    title = "Unauthorized" if status == 401 else "Forbidden"
    response = problem(status, "unauthorized" if status == 401 else "forbidden", title,
                       "the request is not permitted: " + ", ".join(codes), headers=out, decision=doc["decision"],
                       errors=[{"code": f["code"], "rule": f["rule"], "path": f["path"]} for f in doc["errors"]])
    for challenge in challenges:  # one header line per challenge (RFC 9110 11.6.1)
        response.headers.append("WWW-Authenticate", challenge)
    return response
