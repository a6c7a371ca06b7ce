"""Key material: generating key pairs, loading private keys, public JWKs and RFC 7638 thumbprints.

Public JWKs are produced and parsed with PyJWT's algorithm classes (``to_jwk``/``from_jwk``); this module
only adds what PyJWT lacks: the thumbprint, the algorithm a private key signs with, key generation, and the
ROCA fingerprint test for RSA moduli (:func:`has_roca_fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from .errors import KeyError_
from .jose import b64url

#: the algorithm fixed by an elliptic curve (RFC 7518 3.4, RFC 8037)
CURVE_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "Ed25519": "EdDSA", "Ed448": "EdDSA"}
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
KEYGEN_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "PS256", "RS384", "PS384", "RS512", "PS512", "EdDSA")

_EC_CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1,
                                                         "ES512": ec.SECP521R1}
_EC_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey


def generate_private_key(alg: str = "ES256") -> PrivateKey:
    """A new private key for ``alg`` (RSA keys are 3072 bits)."""
    if alg in _EC_CURVES:
        return ec.generate_private_key(_EC_CURVES[alg]())
    if alg in RSA_ALGORITHMS:
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise KeyError_(f"cannot generate a key for algorithm {alg!r}; choose one of {', '.join(KEYGEN_ALGORITHMS)}")


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(path: str | Path, password: bytes | None = None) -> PrivateKey:
    """Load a PEM private key; raises :class:`KeyError_` naming the file on any problem."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise KeyError_(f"{p}: cannot read the private key ({exc.strerror})") from exc
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise KeyError_(f"{p}: not a PEM private key this library can use ({exc})") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
                      | ed448.Ed448PrivateKey):
        raise KeyError_(f"{p}: unsupported key type {type(key).__name__}")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise KeyError_(f"{p}: RSA key of {key.key_size} bits; at least 2048 are required")
    return key


def signing_algorithm(key: PrivateKey, requested: str | None = None) -> str:
    """The JWS algorithm for ``key``: fixed by the curve for EC/EdDSA keys, ``requested`` (default RS256)
    for RSA keys. Raises :class:`KeyError_` when ``requested`` does not fit the key."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = CURVE_ALGORITHMS.get(_EC_NAMES.get(key.curve.name, ""), "")
    elif isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        alg = "EdDSA"
    else:
        alg = requested or "RS256"
        if alg not in RSA_ALGORITHMS:
            raise KeyError_(f"algorithm {alg!r} does not fit an RSA key")
    if not alg:
        raise KeyError_("unsupported elliptic curve")
    if requested is not None and requested != alg:
        raise KeyError_(f"algorithm {requested!r} does not fit this key (it signs with {alg})")
    return alg


def public_jwk(key: Any, alg: str | None = None, kid: str | None = None) -> dict[str, Any]:
    """The public JWK of a private or public key, with ``use: sig``, ``alg`` and ``kid`` (default: the
    RFC 7638 thumbprint)."""
    pub = key.public_key() if hasattr(key, "private_bytes") else key
    if isinstance(pub, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(pub, as_dict=True)
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(pub, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(pub, as_dict=True)
    jwk = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}
    jwk["use"] = "sig"
    if alg:
        jwk["alg"] = alg
    jwk["kid"] = kid or thumbprint(jwk)
    return jwk


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
    names = members.get(str(jwk.get("kty")))
    if names is None:
        raise KeyError_(f"cannot compute a thumbprint for kty {jwk.get('kty')!r}")
    canonical = json.dumps({n: jwk[n] for n in names}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


# --- ROCA (CVE-2017-15361) ---------------------------------------------------------------------------------
# Nemec, Sys, Svenda, Klinec, Matyas: "The Return of Coppersmith's Attack: Practical Factorization of Widely
# Used RSA Moduli" (ACM CCS 2017). Infineon's RSALib made every prime as p = k*M + (65537^a mod M), M a
# primorial (the product of the first 39, 71, 126 or 225 primes, by key size). Then N = p*q = 65537^(a+b)
# (mod M), so for every prime r dividing M, N mod r lies in the subgroup of (Z/rZ)* that 65537 generates.
# The first 39 primes (2 ... 167) divide M for every key size; 2 says nothing (N is odd and 65537 = 1 mod 2),
# so the test uses the 38 odd ones. A random modulus passes all of them with probability about 4e-9.
_ROCA_GENERATOR = 65537
_ROCA_PRIMES = tuple(r for r in range(3, 168) if all(r % d for d in range(2, int(r ** 0.5) + 1)))


def _generated_subgroup(r: int) -> frozenset[int]:
    members = {1}
    x = _ROCA_GENERATOR % r
    while x != 1:
        members.add(x)
        x = x * _ROCA_GENERATOR % r
    return frozenset(members)


_ROCA_SUBGROUPS = tuple((r, _generated_subgroup(r)) for r in _ROCA_PRIMES)


def has_roca_fingerprint(modulus: int) -> bool:
    """True if the RSA ``modulus`` has the ROCA fingerprint (it was made by a vulnerable Infineon RSALib
    and can be factored, CVE-2017-15361): ``modulus mod r`` is a power of 65537 modulo every small prime
    ``r`` that divides RSALib's primorial."""
    return all(modulus % r in subgroup for r, subgroup in _ROCA_SUBGROUPS)
