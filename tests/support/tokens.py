"""Test helpers: the example organisations' keys and a builder for (possibly broken) tokens.

Tokens are signed with ``attest.jose.sign_compact``, which applies no policy, so tests can produce
anything a hostile or buggy issuer could.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from attest import TrustStore, load_private_key
from attest.conformance.forge import DROP, with_overrides
from attest.jose import sign_compact

ROOT = Path(__file__).resolve().parents[2]
KEYS = ROOT / "keys_example"
#: the project's reference material, when this checkout sits beside it (tests that compare against it skip
#: otherwise; everything the suite needs is vendored or packaged)
SHARED = ROOT.parent / "shared"
AUDIENCE = "nhn:pjd"
#: a fixed evaluation time (2027-01-15T08:00:00Z) so that tests are deterministic
NOW = 1_800_000_000


@dataclass(frozen=True)
class Org:
    name: str
    iss: str
    kid: str
    alg: str
    key: Any
    legal_entity: str | None


_ORGS = {
    "fagersta": ("https://epj.fagersta.example", "100100673"),
    "oslo-kommune": ("https://epj.oslo-kommune.example", "997506499"),
    "ous": ("https://epj.ous.example", "993467049"),
    "epj-vendor": ("https://epj-vendor.example", None),
}


@cache
def org(name: str) -> Org:
    iss, le = _ORGS[name]
    jwk = json.loads((KEYS / name / "public.jwk.json").read_text())
    return Org(name, iss, jwk["kid"], jwk["alg"], load_private_key(KEYS / name / "private.pem"), le)


@cache
def trust_store() -> TrustStore:
    return TrustStore.load(KEYS / "trust.yaml")


_VALID = {
    "toa": NOW - 60,
    "practitioner": {
        "identifier": {"id": "20086600138", "name": "August September",
                       "system": "urn:oid:2.16.578.1.12.4.1.4.1", "authority": "https://www.skatteetaten.no"},
        "hpr_nr": {"id": "9144897", "system": "urn:oid:2.16.578.1.12.4.1.4.4",
                   "authority": "https://www.helsedirektoratet.no/"},
        "authorization": {"code": "LE", "text": "Lege", "system": "urn:oid:2.16.578.1.12.4.1.1.9060",
                          "assigner": "https://www.helsedirektoratet.no/"},
        "legal_entity": {"id": "100100673", "name": "Norsk Helsenett SF Fagersta Testlegekontor",
                         "system": "urn:oid:2.16.578.1.12.4.1.4.101", "authority": "https://www.brreg.no"},
        "point_of_care": {"id": "100100673", "name": "Norsk Helsenett SF Fagersta Testlegekontor",
                          "system": "urn:oid:2.16.578.1.12.4.1.4.101", "authority": "https://www.brreg.no"},
    },
    "care_relation": {
        "healthcare_service": {"code": "KX17", "text": "Fastlege, liste uten fast lege",
                               "system": "urn:oid:2.16.578.1.12.4.1.1.8655", "assigner": "https://www.volven.no/"},
        "purpose_of_use": {"code": "TREAT", "text": "Behandling", "system": "urn:oid:2.16.840.1.113883.1.11.20448",
                           "assigner": "https://www.hl7.org"},
        "decision_ref": {"id": "fagersta-0001", "user_selected": False, "description": "Fastlegeliste"},
    },
    "patients": [
        {"identifier": {"id": "13116900216", "system": "urn:oid:2.16.578.1.12.4.1.4.1",
                        "authority": "https://www.skatteetaten.no"}}
    ],
}

#: F-numbers that pass every check, for tests that need more than one person
VALID_FNRS = ("20086600138", "13116900216", "04056600324", "03117000205", "05086900124")


def valid_attestation() -> dict[str, Any]:
    """A fresh copy of an attestation that passes tillitsrammeverk-1.1 (GP office, Fagersta)."""
    return copy.deepcopy(_VALID)


def claims_for(attestation: Any = None, *, org_name: str = "fagersta", now: int = NOW, **overrides: Any) -> dict[str, Any]:
    o = org(org_name)
    claims: dict[str, Any] = {"iss": o.iss, "aud": AUDIENCE, "iat": now - 60, "exp": now + 540,
                              "jti": f"jti-{now}-{id(overrides)}",
                              "attestation": valid_attestation() if attestation is None else attestation}
    if attestation is DROP:
        del claims["attestation"]
    return with_overrides(claims, overrides)


def make_token(attestation: Any = None, *, org_name: str = "fagersta", header: dict[str, Any] | None = None,
               payload: dict[str, Any] | bytes | None = None, now: int = NOW, sign_with: str | None = None,
               **claim_overrides: Any) -> str:
    """A token from ``org_name`` (signed with ``sign_with``'s key if given). ``header`` entries override
    the default header (``DROP`` removes one); ``payload`` replaces the claims entirely."""
    o = org(org_name)
    signer = org(sign_with) if sign_with else o
    h = with_overrides({"alg": signer.alg, "kid": o.kid, "typ": "attestation+jwt"}, header or {})
    body = payload if payload is not None else claims_for(attestation, org_name=org_name, now=now, **claim_overrides)
    return sign_compact(h, body, signer.key, signer.alg)


def spec_example(name: str) -> dict[str, Any]:
    """One of the four examples of the data-model specification (``example-1-gp.json``, …), from the
    package's copy (``attest/data/spec_examples.json``)."""
    from importlib import resources

    data = json.loads(resources.files("attest").joinpath("data", "spec_examples.json").read_text(encoding="utf-8"))
    return copy.deepcopy(data["examples"][name.removesuffix(".json")])
