"""Deliberately broken resource-server protectors (test doubles for the HelseID mode of the harness).

A small ASGI app in front of a pretend FHIR API: it reads the request as a protector does (``Authorization``,
``DPoP``, the method, the URL it was called with, the patient from ``patient.identifier``), calls
``attest.verify`` and answers 200 (a Bundle) or 401. Each bug is a classic resource-server mistake:

* ``ignore-ath``: it does not bind the proof to the token (a ``dpop_ath_mismatch`` finding is dropped);
* ``no-replay-cache``: it keeps no replay cache (``replay=None``), so a replayed proof is accepted;
* ``ignore-security-level``: it accepts a low-assurance login (``insufficient_security_level`` is dropped).

``bug=None`` is a correct protector.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from attest import MemoryReplayCache, TrustStore, VerifyContext, verify
from attest.trust import DEFAULT_AT_PROFILE
from attest.verify import profile_for

BUGS = ("ignore-ath", "no-replay-cache", "ignore-security-level")
_DROPPED = {"ignore-ath": {"dpop_ath_mismatch"}, "ignore-security-level": {"insufficient_security_level"}}


def _patient(request: Request) -> str | None:
    values = [v for k, v in parse_qsl(request.url.query) if k == "patient.identifier"]
    return values[0].rpartition("|")[2] if len(values) == 1 else None


def create_protector(trust: TrustStore, bug: str | None = None) -> Starlette:
    if bug is not None and bug not in BUGS:
        raise ValueError(bug)
    cache = None if bug == "no-replay-cache" else MemoryReplayCache()
    dropped = _DROPPED.get(bug or "", set())

    async def fhir(request: Request) -> Response:
        auths = request.headers.getlist("authorization")
        scheme, _, token = (auths[0] if len(auths) == 1 else "").partition(" ")
        proofs = request.headers.getlist("dpop")
        # the URL the client called: this double is reached directly on loopback, so Host is its own
        url = f"http://{request.headers.get('host', '')}{request.url.path}"
        ctx = VerifyContext(patient_id=_patient(request), dpop_proof=",".join(proofs) or None,
                            http_method=request.method, http_url=url, authorization_scheme=scheme or None)
        decision = verify(token, trust, profile_for(token, trust, DEFAULT_AT_PROFILE), ctx, replay=cache)
        errors = [f.code for f in decision.errors if f.code not in dropped]
        if errors:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"resourceType": "Bundle", "type": "searchset", "total": 0})

    return Starlette(routes=[Route("/fhir/{rest:path}", fhir, methods=["GET", "POST"])])
