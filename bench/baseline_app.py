"""The baselines a team would write instead of attest: a FastAPI endpoint that only calls ``jwt.decode``
(audience and issuer checked), no audit trail, no replay cache, no log line.

* ``POST /v1/verify``: an ``async def`` endpoint (the stronger peer and the reference: it runs on the event
  loop, as attest's verification does);
* ``POST /v1/verify-sync``: the same as a plain ``def`` endpoint (FastAPI runs it in its thread pool).

Configured by BASELINE_KEY (public key PEM), BASELINE_ISS, BASELINE_AUD."""

from __future__ import annotations

import os
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Body, FastAPI

app = FastAPI()
KEY = load_pem_public_key(open(os.environ["BASELINE_KEY"], "rb").read())  # noqa: SIM115
ISS = os.environ["BASELINE_ISS"]
AUD = os.environ["BASELINE_AUD"]


def _decide(token: Any) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, KEY, algorithms=["ES256"], audience=AUD, issuer=ISS)
    except Exception as exc:
        return {"decision": "deny", "error": type(exc).__name__}
    return {"decision": "permit", "jti": claims.get("jti")}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/verify")
async def verify(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    return _decide(body["token"])


@app.post("/v1/verify-sync")
def verify_sync(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    return _decide(body["token"])
