"""Test helpers for the HelseID path: the example HelseID key, an EPJ's DPoP key, an enriched attestation
in HelseID's spelling, and builders for (possibly broken) access tokens and DPoP proofs."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from attest import load_private_key
from attest.helseid import access_token, dpop_proof

from .tokens import KEYS, NOW, ROOT

ISSUER = "https://helseid-sts.test.example"
AUDIENCE = "nhn:phr"
SCOPE = ["nhn:phr/mhd/read-documentreferences", "nhn:phr/mhd/read-document"]
CLIENT_ID = "2141d734-7604-42ca-a377-27f1b712f4e6"
PID = "05086900124"          # "Ben Reddik", the data model's example 3 (a valid F-number)
HPR = "222200068"
LEGAL_ENTITY = "993467049"   # Oslo universitetssykehus HF
POINT_OF_CARE = "874716782"  # OUS Rikshospitalet - somatikk
PATIENT = "13116900216"      # the patient of the request (a valid F-number)
URL = "https://api.source.example/fhir/DocumentReference"
METHOD = "GET"

#: the enriched attestation as HelseID puts it in an access token (HELSEID.md section 9), from the example
#: the README's walk-through and the benchmark use
ENRICHED: dict[str, Any] = json.loads((ROOT / "examples" / "helseid-enriched-attestation.json").read_text("utf-8"))


@cache
def helseid_key() -> Any:
    return load_private_key(KEYS / "helseid-test" / "private.pem")


@cache
def helseid_kid() -> str:
    return str(json.loads((KEYS / "helseid-test" / "public.jwk.json").read_text())["kid"])


@cache
def dpop_key() -> Any:
    return load_private_key(KEYS / "epj-dpop" / "private.pem")


def enriched(**changes: Any) -> dict[str, Any]:
    """A copy of :data:`ENRICHED`; ``changes`` replace top-level categories."""
    att = copy.deepcopy(ENRICHED)
    att.update(changes)
    return att


def make_at(attestation: Any = ..., *, now: int = NOW, key: Any = None, kid: str | None = None,
            **kw: Any) -> str:
    """An access token as HelseID issues it for the example client (overrides as in ``access_token``)."""
    args: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "client_id": CLIENT_ID, "pid": PID,
                            "hpr_number": HPR, "scope": SCOPE, "dpop_key": dpop_key(),
                            "orgnr_parent": LEGAL_ENTITY, "orgnr_child": POINT_OF_CARE, "name": "BEN REDDIK",
                            "lifetime": 300}
    args.update(kw)
    return access_token(enriched() if attestation is ... else attestation, key=key or helseid_key(),
                        kid=kid or helseid_kid(), now=now, **args)


def make_proof(token: str | None, *, method: str = METHOD, url: str = URL, now: int = NOW, key: Any = None,
               **kw: Any) -> str:
    return dpop_proof(key or dpop_key(), method=method, url=url, access_token=token, now=now, **kw)


def fagersta_request_attestation() -> dict[str, Any]:
    """The example attestation for the local HelseID's Fagersta client (its registered organisation), with
    every field HelseID's request schema needs (the patients' department)."""
    att = enriched()
    org = {"id": "100100673", "system": "urn:oid:2.16.578.1.12.4.1.4.101"}
    att["practitioner"]["legal_entity"] = dict(org)
    att["practitioner"]["point_of_care"] = dict(org)
    att["patients"][0]["department"] = {"id": "705592", "system": "urn:oid:2.16.578.1.12.4.1.4.102"}
    return att
