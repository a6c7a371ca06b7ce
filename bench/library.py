"""Library benchmark: attest's full verification against a bare PyJWT decode and raw signature checks.

For ES256, RS256, PS256 and EdDSA, on a realistic attestation token (all 13 fields, ~3 KB), measured in
one run with the variants interleaved round by round (so that machine load hits all of them alike):

- ``raw``: `cryptography` verifying the same signature over the same signing input (the physical limit);
- ``pyjwt``: ``jwt.decode(token, key, algorithms=[alg], audience=…, issuer=…)`` (the baseline);
- ``attest``: ``attest.verify`` with every rule of ``tillitsrammeverk-1.1`` and the context checks on
  (practitioner, HPR number, patient, legal entity, membership).

Also: the cost split by stage, and how verification time grows with the number of issuers in the trust
store (1 → 10,000) and the number of patients in the attestation (1 → 100).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from attest import TrustStore, VerifyContext, generate_private_key, load_profile, public_jwk, verify
from attest.jose import check_header, parse_compact, sign_compact, verify_signature
from attest.model import locate, normalise
from attest.rules import RuleContext, evaluate_groups
from attest.verify import _check_claims

ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
ISS = "https://epj.fagersta.example"
AUD = "nhn:pjd"
PID, HPR, PATIENT = "20086600138", "9144897", "13116900216"


def realistic_attestation(now: int, patients: int = 1) -> dict[str, Any]:
    """All 13 fields plus toa, with the spec examples' names and texts."""
    patient = {
        "identifier": {"id": PATIENT, "system": "urn:oid:2.16.578.1.12.4.1.4.1",
                       "authority": "https://www.skatteetaten.no"},
        "point_of_care": {"id": "974589095", "name": "OSLO UNIVERSITETSSYKEHUS HF ULLEVÅL - SOMATIKK",
                          "system": "urn:oid:2.16.578.1.12.4.1.4.101", "authority": "https://www.brreg.no"},
        "department": {"id": "109765", "name": "Øye dagkir/pol 1. etasje",
                       "system": "urn:oid:2.16.578.1.12.4.1.4.102", "authority": "https://www.nhn.no"},
    }
    return {
        "toa": now - 30,
        "practitioner": {
            "identifier": {"id": PID, "name": "August September", "system": "urn:oid:2.16.578.1.12.4.1.4.1",
                           "authority": "https://www.skatteetaten.no"},
            "hpr_nr": {"id": HPR, "system": "urn:oid:2.16.578.1.12.4.1.4.4",
                       "authority": "https://www.helsedirektoratet.no/"},
            "authorization": {"code": "LE", "text": "Lege", "system": "urn:oid:2.16.578.1.12.4.1.1.9060",
                              "assigner": "https://www.helsedirektoratet.no/"},
            "legal_entity": {"id": "993467049", "name": "OSLO UNIVERSITETSSYKEHUS HF",
                             "system": "urn:oid:2.16.578.1.12.4.1.4.101", "authority": "https://www.brreg.no"},
            "point_of_care": {"id": "874716782", "name": "OSLO UNIVERSITETSSYKEHUS HF RIKSHOSPITALET - SOMATIKK",
                              "system": "urn:oid:2.16.578.1.12.4.1.4.101", "authority": "https://www.brreg.no"},
            "department": {"id": "705592", "name": "Anestesiologi Seksjon RH",
                           "system": "urn:oid:2.16.578.1.12.4.1.4.102", "authority": "https://www.nhn.no"},
        },
        "care_relation": {
            "healthcare_service": {"code": "300", "text": "Øyesykdommer", "system": "urn:oid:2.16.578.1.12.4.1.1.8451",
                                   "assigner": "https://www.helsedirektoratet.no/"},
            "purpose_of_use": {"code": "TREAT", "text": "Behandling", "system": "urn:oid:2.16.840.1.113883.1.11.20448",
                               "assigner": "https://www.hl7.org"},
            "purpose_of_use_details": {"code": "POLBESOK", "text": "Poliklinisk besøk",
                                       "system": "urn:AuditEventHL7Norway/CodeSystem/carerelation",
                                       "assigner": "https://www.hl7.no"},
            "decision_ref": {"id": "ous-tilgang-2026-000123", "user_selected": False,
                             "description": "Poliklinisk time, øyeavdelingen"},
        },
        "patients": [patient] * patients,
    }


@dataclass
class Case:
    alg: str
    token: str
    trust: TrustStore
    public_key: Any
    context: VerifyContext
    raw_verify: Callable[[], None]
    extra: dict[str, Any] = field(default_factory=dict)


def _raw_verifier(alg: str, pub: Any, signing_input: bytes, sig: bytes) -> Callable[[], None]:
    if alg == "ES256":
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        return lambda: pub.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    if alg == "RS256":
        return lambda: pub.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
    if alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return lambda: pub.verify(sig, signing_input, pss, hashes.SHA256())
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    return lambda: pub.verify(sig, signing_input)


def make_case(alg: str, now: int, *, issuers: int = 1, patients: int = 1, rsa_bits: int = 2048,
              key: Any = None) -> Case:
    if key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits) if alg in ("RS256", "PS256") \
            else generate_private_key(alg)
    jwk = public_jwk(key, alg)
    entries = [{"iss": ISS, "name": "OUS", "legal_entities": ["993467049"], "member": True, "jwks": {"keys": [jwk]}}]
    if issuers > 1:
        filler = public_jwk(generate_private_key("EdDSA"), "EdDSA")
        entries += [{"iss": f"https://epj-{i}.example", "legal_entities": ["100100673"], "member": True,
                     "jwks": {"keys": [filler]}} for i in range(issuers - 1)]
    trust = TrustStore.from_dict({"audience": AUD, "issuers": entries})
    claims = {"iss": ISS, "aud": AUD, "iat": now - 30, "exp": now + 3000, "jti": "5b0d7f1e-8c1f-4b55-9d7e-0c2a9f1e3b44",
              "attestation": realistic_attestation(now, patients)}
    token = sign_compact({"alg": alg, "kid": jwk["kid"], "typ": "attestation+jwt"}, claims, key, alg)
    jws = parse_compact(token)
    ctx = VerifyContext(audience=AUD, authenticated_pid=PID, authenticated_hpr=HPR, patient_id=PATIENT, now=now)
    case = Case(alg, token, trust, key.public_key(), ctx,
                _raw_verifier(alg, key.public_key(), jws.signing_input, jws.signature))
    decision = verify(token, trust, "tillitsrammeverk-1.1", ctx)
    assert decision.permitted, decision.to_dict()["errors"]
    assert not decision.warnings, decision.to_dict()["warnings"]
    return case


def interleaved_samples(variants: dict[str, Callable[[], Any]], *, rounds: int,
                        per_round: int) -> dict[str, list[float]]:
    """Operations per second of each variant in each round, the variants running in turn ``rounds`` times."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            for _ in range(per_round):
                fn()
            samples[name].append(per_round / (time.perf_counter() - t0))
    return samples


def interleaved(variants: dict[str, Callable[[], Any]], *, rounds: int, per_round: int) -> dict[str, float]:
    """Median operations per second of each variant, running them in turn ``rounds`` times."""
    samples = interleaved_samples(variants, rounds=rounds, per_round=per_round)
    return {name: statistics.median(v) for name, v in samples.items()}


def _ratio_spread(samples: dict[str, list[float]], a: str, b: str) -> tuple[float, float]:
    """The lowest and highest per-round ratio of ``a`` to ``b`` (rounds are interleaved, so each pair of
    samples met the same machine load)."""
    ratios = [x / y for x, y in zip(samples[a], samples[b], strict=True)]
    return min(ratios), max(ratios)


def measure_algorithms(now: int, rounds: int, per_round: int) -> list[dict[str, Any]]:
    prof = load_profile("tillitsrammeverk-1.1")
    rows = []
    for alg in ALGORITHMS:
        c = make_case(alg, now)
        decode_key = c.public_key
        samples = interleaved_samples({
            "raw": c.raw_verify,
            "pyjwt": lambda c=c, k=decode_key: jwt.decode(c.token, k, algorithms=[c.alg], audience=AUD, issuer=ISS),
            "attest": lambda c=c: verify(c.token, c.trust, prof, c.context),
        }, rounds=rounds, per_round=per_round)
        rates = {name: statistics.median(v) for name, v in samples.items()}
        rows.append({"alg": alg, "token_bytes": len(c.token), **rates,
                     "attest_vs_pyjwt": rates["attest"] / rates["pyjwt"],
                     "attest_vs_raw": rates["attest"] / rates["raw"],
                     "attest_vs_pyjwt_spread": _ratio_spread(samples, "attest", "pyjwt"),
                     "attest_vs_raw_spread": _ratio_spread(samples, "attest", "raw")})
    return rows


def stage_split(now: int, alg: str = "ES256", n: int = 2000) -> dict[str, float]:
    """Microseconds per call of each stage, run separately."""
    c = make_case(alg, now)
    prof = load_profile("tillitsrammeverk-1.1")
    jws = parse_compact(c.token, prof.limits)
    key = c.trust.key(ISS, jws.header["kid"])
    issuer = c.trust.issuer(ISS)
    att, _ = normalise(jws.payload["attestation"])

    def t(fn: Callable[[], Any]) -> float:
        best = min(_timed(fn, n) for _ in range(3))
        return best * 1e6

    stages = {
        "parse (base64url + strict JSON)": t(lambda: parse_compact(c.token, prof.limits)),
        "header policy + key lookup": t(lambda: (check_header(jws.header, algorithms=prof.algorithms, typ=prof.typ,
                                                              allowed_params=prof.header_params),
                                                 c.trust.issuers.get(ISS), c.trust.key(ISS, jws.header["kid"]))),
        "signature": t(lambda: verify_signature(jws, alg, key.public_key)),
        "registered claims": t(lambda: _check_claims(jws.payload, prof, now, AUD, [], [])),
        "locate + normalise": t(lambda: normalise(locate(jws.payload, prof.shapes)[0].raw)),  # type: ignore[union-attr]
        "rules (profile + context)": t(lambda: evaluate_groups(prof.rule_groups,
                                                               RuleContext(now, prof, issuer, c.context, att), [], [])),
        "full verify": t(lambda: verify(c.token, c.trust, prof, c.context)),
    }
    return stages


def _timed(fn: Callable[[], Any], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def growth(now: int, n: int = 1000) -> dict[str, list[tuple[int, float]]]:
    """Microseconds per verification (EdDSA) by number of issuers in the trust store and by patients."""
    prof = load_profile("tillitsrammeverk-1.1")
    issuer_cases = {count: make_case("EdDSA", now, issuers=count) for count in (1, 10, 100, 1000, 10000)}
    patient_cases = {count: make_case("EdDSA", now, patients=count) for count in (1, 10, 25, 50, 100)}
    best: dict[tuple[str, int], float] = {}
    for _ in range(3):  # rounds over every case, so that machine load hits them alike; best of the rounds
        for kind, cases in (("issuers", issuer_cases), ("patients", patient_cases)):
            for count, c in cases.items():
                calls = n if kind == "issuers" else max(50, n // count)
                us = _timed(lambda c=c: verify(c.token, c.trust, prof, c.context), calls) * 1e6
                best[kind, count] = min(us, best.get((kind, count), us))
    return {kind: [(count, best[kind, count]) for count in cases]
            for kind, cases in (("issuers", issuer_cases), ("patients", patient_cases))}
