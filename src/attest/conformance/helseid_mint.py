"""Minting a HelseID case at run time: the access token, the DPoP proof(s) and the HTTP request of a recipe
(:mod:`attest.conformance.helseid_cases`), for the URL and method the target is called with.

A proof is acceptable for seconds (HELSEID.md section 11: ``iat`` at most 10 s old) and names the request
(``htm``, ``htu``), so nothing is minted when the corpus is generated: the runner calls :func:`mint` just
before it sends each request. The valid parts are made by :func:`attest.helseid.access_token` and
:func:`attest.helseid.dpop_proof`; a broken-proof switch rebuilds the proof those made, with one thing
changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ..errors import ConfigurationError
from ..helseid import access_token, dpop_proof
from ..jose import b64url, json_bytes
from ..keys import PrivateKey, load_private_key
from .forge import OID_FNR, Drbg, b64decode, raw_sign
from .helseid_cases import KEY_NAMES

#: the FHIR search parameter that names the patient (HELSEID.md section 9)
DEFAULT_PATIENT_PARAM = "patient.identifier"
#: where a proof's ``htu`` points for the "another host" switch (``.invalid``: never resolvable)
OTHER_HOST = "other-api.conformance.invalid"
OTHER_PATH = "/conformance-other-resource"
#: what the "wrong ath" proof is bound to instead of the access token
OTHER_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJub3QiOiJ0aGlzIHRva2VuIn0.c2lnbmF0dXJl"  # noqa: S105 - not a secret


class MintError(Exception):
    """The corpus's key material or a recipe cannot be used (the message says which)."""


@dataclass(frozen=True)
class Material:
    """The corpus's private keys by role, and the secret of the symmetric-alg switch (from the seed)."""

    keys: Mapping[str, PrivateKey]
    hmac_secret: bytes

    def key(self, name: Any) -> PrivateKey:
        if not isinstance(name, str) or name not in self.keys:
            raise MintError(f"the recipe names key {name!r}, which the corpus does not hold")
        return self.keys[name]


def key_file(root: Path, name: str) -> Path:
    return root / "keys" / f"{name}.pem"


def hmac_secret(seed: str) -> bytes:
    return Drbg(seed).bytes("helseid/dpop-hmac", 32)


def load_material(root: Path, seed: str) -> Material:
    """The keys of the corpus at ``root`` (``keys/<role>.pem``; the names are fixed, not read from it)."""
    keys: dict[str, PrivateKey] = {}
    for name in KEY_NAMES:
        try:
            keys[name] = load_private_key(key_file(root, name))
        except ConfigurationError as exc:
            raise MintError(str(exc)) from exc
    return Material(keys, hmac_secret(seed))


@dataclass(frozen=True)
class Minted:
    """One request, ready to send: ``url`` holds the patient in its query; ``headers`` may repeat a name
    (two ``DPoP`` headers)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    token: str
    scheme: str | None
    proofs: tuple[str, ...]
    patient: str | None


def mint(recipe: Mapping[str, Any], material: Material, *, url: str, method: str = "GET",
         patient_param: str = DEFAULT_PATIENT_PARAM, now: int | None = None) -> Minted:
    """The request of ``recipe`` for ``method`` and ``url`` (the target; ``htu`` is it without its query),
    minted at ``now`` (default: the clock)."""
    t = int(time.time()) if now is None else int(now)
    method = method.upper()
    try:
        token = _token(recipe["token"], material, t)
        htu = url.split("#", 1)[0].split("?", 1)[0]
        proofs = _proofs(recipe["proof"], material, token=token, method=method, url=htu, now=t)
        return _request(recipe["request"], token, proofs, url=url, method=method, patient_param=patient_param)
    except MintError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MintError(f"the recipe cannot be minted ({type(exc).__name__}: {exc})") from exc


def _token(spec: Mapping[str, Any], material: Material, now: int) -> str:
    bound = spec["bound_to"]
    return access_token(
        spec["attestation"], key=material.key(spec["signer"]), kid=spec["kid"], issuer=spec["issuer"],
        audience=spec["audience"], client_id=spec["client_id"], pid=spec["pid"], hpr_number=spec["hpr_number"],
        scope=spec["scope"], dpop_key=material.key(bound) if bound is not None else None,
        lifetime=int(spec["lifetime"]), now=now + int(spec["offset"]), security_level=spec["security_level"],
        assurance_level=spec["assurance_level"], orgnr_parent=spec["orgnr_parent"],
        orgnr_child=spec["orgnr_child"], orgnr_supplier=spec["orgnr_supplier"], name=spec["name"],
        typ=spec["typ"], alg=spec["alg"], extra=dict(spec["extra"]))


def other_method(method: str) -> str:
    return "GET" if method.upper() == "POST" else "POST"


def _other_url(url: str, which: str) -> str:
    parts = urlsplit(url)
    if which == "other-host":
        return urlunsplit((parts.scheme, OTHER_HOST, parts.path, "", ""))
    return urlunsplit((parts.scheme, parts.netloc, OTHER_PATH, "", ""))


def _proofs(spec: Mapping[str, Any] | None, material: Material, *, token: str, method: str, url: str,
            now: int) -> tuple[str, ...]:
    if spec is None:
        return ()
    return tuple(_proof(spec, material, token=token, method=method, url=url, now=now)
                 for _ in range(int(spec["copies"])))


_VALID = {"htm": "request", "htu": "request", "jti": "fresh", "typ": "dpop+jwt", "alg": "key", "jwk": "public",
          "signature": "valid"}


def _proof(spec: Mapping[str, Any], material: Material, *, token: str, method: str, url: str, now: int) -> str:
    key = material.key(spec["key"])
    htm = other_method(method) if spec["htm"] == "other" else method
    htu = _other_url(url, spec["htu"]) if spec["htu"] in ("other-host", "other-path") else url
    bound = {"token": token, "other": OTHER_TOKEN}.get(spec["ath"])   # "absent": no ath
    proof = dpop_proof(key, method=htm, url=htu, access_token=bound, now=now + int(spec["offset"]))
    if all(spec[k] == v for k, v in _VALID.items()):
        return proof
    head, body, _ = proof.split(".")
    header, claims = json.loads(b64decode(head)), json.loads(b64decode(body))
    for name in ("htm", "htu", "jti"):
        if spec[name] == "absent":
            claims.pop(name, None)
    header["typ"] = spec["typ"]
    if spec["jwk"] == "absent":
        header.pop("jwk", None)
    elif spec["jwk"] == "private":
        header["jwk"] = private_jwk(key)
    alg = header["alg"]
    if spec["alg"] == "absent":
        header.pop("alg", None)
    elif spec["alg"] != "key":
        header["alg"] = spec["alg"]
    return _sign(header, claims, key, alg, str(spec["signature"]), material)


def private_jwk(key: PrivateKey) -> dict[str, Any]:
    """The key as a JWK *with* its private members (what a proof must never carry)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return dict(ECAlgorithm.to_jwk(key, as_dict=True))
    if isinstance(key, rsa.RSAPrivateKey):
        return dict(RSAAlgorithm.to_jwk(key, as_dict=True))
    raise MintError("the private-jwk switch needs an EC or RSA DPoP key")


def _sign(header: dict[str, Any], claims: dict[str, Any], key: PrivateKey, key_alg: str, signature: str,
          material: Material) -> str:
    """Sign with the key's own algorithm (or HMAC when the header says HS256); ``signature``: ``valid``,
    ``bad`` (one bit flipped), ``absent`` (an empty third segment), ``cut`` (two segments only)."""
    signing_input = f"{b64url(json_bytes(header))}.{b64url(json_bytes(claims))}"
    if signature == "cut":
        return signing_input
    if signature == "absent":
        return signing_input + "."
    data = signing_input.encode("ascii")
    if header.get("alg") == "HS256":
        sig = hmac.new(material.hmac_secret, data, hashlib.sha256).digest()
    else:
        sig = raw_sign(key, key_alg, data)
    if signature == "bad":
        sig = bytes([sig[0] ^ 0x01]) + sig[1:]
    return f"{signing_input}.{b64url(sig)}"


def patient_query(param: str, patient: str) -> str:
    """``patient.identifier=urn:oid:2.16.578.1.12.4.1.4.1|<F-number>`` (a FHIR token search, ``|`` encoded)."""
    return urlencode([(param, f"{OID_FNR}|{patient}")], quote_via=quote, safe=":")


def _request(spec: Mapping[str, Any], token: str, proofs: tuple[str, ...], *, url: str, method: str,
             patient_param: str) -> Minted:
    scheme = spec["scheme"]
    headers: list[tuple[str, str]] = []
    if scheme != "absent":
        headers.append(("Authorization", f"{scheme} {token}"))
    headers += [("DPoP", p) for p in proofs]
    patient = spec["patient"]
    target = url.split("#", 1)[0]
    if patient is not None:
        target += ("&" if "?" in target else "?") + patient_query(patient_param, str(patient))
    return Minted(method, target, tuple(headers), token, None if scheme == "absent" else str(scheme),
                  proofs, None if patient is None else str(patient))
