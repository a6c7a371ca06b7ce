"""The baseline a team would write instead of attest: a FastAPI endpoint that only calls ``jwt.decode``
(audience and issuer checked). Configured by BASELINE_KEY (public key PEM), BASELINE_ISS, BASELINE_AUD."""

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


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/verify")
def verify(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    try:
        claims = jwt.decode(body["token"], KEY, algorithms=["ES256"], audience=AUD, issuer=ISS)
    except Exception as exc:  # noqa: BLE001
        return {"decision": "deny", "error": type(exc).__name__}
    return {"decision": "permit", "jti": claims.get("jti")}
