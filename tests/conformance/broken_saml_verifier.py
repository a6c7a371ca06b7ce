"""Deliberately broken SAML verifiers (test doubles for the SAML mode of the harness).

A small ASGI app with attest's ``POST /v1/verify`` for SAML: ``{"saml": <assertion>, "context": {…}}`` in, the
decision document out. It calls ``attest.verify_saml`` with the trust store it is given, a replay cache (and
``context.now`` when the request carries one, else its own clock). Each bug is a classic SAML verifier mistake:

* ``ignore-audience``: it skips the audience check (``invalid_audience`` findings are dropped), so an
  assertion made for another service is accepted;
* ``accept-unsigned``: it verifies a signature only when there is one, so an unsigned assertion (or one whose
  signature was removed) is accepted ("On Breaking SAML", section 4: signature exclusion);
* ``ignore-one-time-use``: it accepts a OneTimeUse assertion however often it is presented
  (``token_replayed`` findings are dropped);
* ``skip-chain-validation``: for an issuer trusted through a CA it takes the certificates KeyInfo carries as
  they come, without validating a path to the CA (or their key usage); it still checks that the certificate is
  valid at the evaluation time and that it verifies the signature.

``bug=None`` is a correct verifier.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from attest import TrustStore, VerifyContext, saml
from attest.replay import MemoryReplayCache
from attest.saml import verify_saml
from attest.verify import Decision

BUGS = ("ignore-audience", "accept-unsigned", "ignore-one-time-use", "skip-chain-validation")


def _without(d: Decision, code: str) -> Decision:
    errors = tuple(f for f in d.errors if f.code != code)
    return Decision("deny" if errors else "permit", d.profile, errors, d.warnings, d.token, d.attestation, d.issuer,
                    d.evaluated_at)


def _carried_as_they_come(carried: list[bytes], issuer: Any, when: Any) -> list[x509.Certificate]:
    """``attest.saml._chained`` without the path validation: every certificate KeyInfo carries is a candidate."""
    return [x509.load_der_x509_certificate(der) for der in carried]


def create_saml_verifier(trust: TrustStore, bug: str | None = None) -> Starlette:
    if bug is not None and bug not in BUGS:
        raise ValueError(bug)
    replay = MemoryReplayCache()  # OneTimeUse is enforced, as by a correct verifier

    async def verify(request: Request) -> JSONResponse:
        body = await request.json()
        assertion = body.get("saml") if isinstance(body, dict) else None
        if not isinstance(assertion, str):
            return JSONResponse({"title": "give 'saml'"}, status_code=422)
        context = VerifyContext.from_dict(body.get("context"))
        if bug == "accept-unsigned" and assertion.lstrip().startswith("<") and "Signature" not in assertion:
            return JSONResponse(Decision("permit", "xua-saml-1.0-test", (), (), None, None).to_dict())
        if bug == "skip-chain-validation":
            with mock.patch.object(saml, "_chained", _carried_as_they_come):
                d = verify_saml(assertion, trust, None, context, replay=replay)
        else:
            d = verify_saml(assertion, trust, None, context, replay=replay)
        if bug == "ignore-audience":
            d = _without(d, "invalid_audience")
        elif bug == "ignore-one-time-use":
            d = _without(d, "token_replayed")
        return JSONResponse(d.to_dict())

    return Starlette(routes=[Route("/v1/verify", verify, methods=["POST"])])
