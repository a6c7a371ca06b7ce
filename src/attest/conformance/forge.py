"""Deterministic key material and token forging for the conformance corpus.

Everything here is derived from a seed string, so a corpus generated twice with the same seed and ``now``
is byte-for-byte identical:

* keys are derived, not drawn: an Ed25519 private key from 32 seed-derived bytes, an EC private value from
  a seed-derived integer, RSA primes by a seeded search (Miller-Rabin with seed-derived bases);
* signatures are deterministic: Ed25519 and RSASSA-PKCS1-v1_5 by construction, ECDSA per RFC 6979
  (``cryptography``'s ``deterministic_signing``), RSASSA-PSS with a salt derived from the seed and the
  signing input (PSS is randomised by design; a verifier cannot tell a derived salt from a random one).

:func:`sign_jws` applies no policy at all: it signs whatever header and payload bytes it is given, which
is what attack tokens need. The classes here are reusable outside the corpus (the hardening tests build a
:class:`Forge` and run every attack class of :mod:`attest.conformance.cases_attacks` against the library).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ..jose import b64url, json_bytes
from ..keys import public_jwk

# --- identifiers (own implementation of RULES.md d.1 / d.4, independent of attest.identifiers) ---------

W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
WORG = (3, 2, 7, 6, 5, 4, 3, 2)

OID_FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
OID_DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
OID_HNR = "urn:oid:2.16.578.1.12.4.1.4.3"
OID_HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
OID_ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"
OID_RESH = "urn:oid:2.16.578.1.12.4.1.4.102"
OID_9060 = "urn:oid:2.16.578.1.12.4.1.1.9060"
OID_9151 = "urn:oid:2.16.578.1.12.4.1.1.9151"
OID_POU = "urn:oid:2.16.840.1.113883.1.11.20448"
SYS_CARERELATION = "urn:AuditEventHL7Norway/CodeSystem/carerelation"
SYS_DIPS = "https://terminology.dips.com/decisiontemplate"


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11


def person_number(first9: str, *, rule_2032: bool = False) -> str | None:
    """Complete nine digits to an 11-digit F/D/H-number (both control digits), or None when no control
    digit exists. ``rule_2032`` picks a first control digit whose remainder is 1-3 (numbers issued from
    2032; RULES.md d.1) instead of the classic remainder 0."""
    r = _weighted(first9, W1)
    if rule_2032:
        k1s = [k for k in range(10) if (r + k) % 11 in (1, 2, 3)]
        if not k1s:
            return None
        k1 = k1s[0]
    else:
        k1 = (11 - r) % 11
        if k1 == 10:
            return None
    ten = first9 + str(k1)
    k2 = (11 - _weighted(ten, W2)) % 11
    if k2 == 10:
        return None
    return ten + str(k2)


def find_person_number(ddmmyy: str, start: int = 100, *, rule_2032: bool = False) -> str:
    """The first valid number for the date part ``ddmmyy`` with individual number >= ``start``."""
    for ind in range(start, 1000):
        n = person_number(f"{ddmmyy}{ind:03d}", rule_2032=rule_2032)
        if n is not None:
            return n
    raise ValueError(f"no valid number for {ddmmyy}")  # pragma: no cover


def organization_number(first8: str) -> str | None:
    k = (11 - _weighted(first8, WORG)) % 11
    return None if k == 10 else first8 + str(k)


def find_organization_number(prefix: str) -> str:
    for i in range(10 ** (8 - len(prefix))):
        n = organization_number(f"{prefix}{i:0{8 - len(prefix)}d}")
        if n is not None:
            return n
    raise ValueError(prefix)  # pragma: no cover


def bad_check_digit(number: str) -> str:
    """``number`` with its last digit changed (so a mod-11 check fails)."""
    return number[:-1] + str((int(number[-1]) + 1) % 10)


# --- deterministic randomness ----------------------------------------------------------------------------

class Drbg:
    """Labelled, deterministic byte source: ``bytes(label, n)`` depends only on the seed and the label
    (HMAC-SHA-256 in counter mode), so adding a case never shifts the bytes of another."""

    def __init__(self, seed: str) -> None:
        self._key = hashlib.sha256(b"attest-conformance-drbg-v1\x00" + seed.encode("utf-8")).digest()

    def bytes(self, label: str, n: int) -> bytes:
        out = b""
        i = 0
        while len(out) < n:
            out += hmac.new(self._key, f"{label}\x00{i}".encode(), hashlib.sha256).digest()
            i += 1
        return out[:n]

    def int_below(self, label: str, bound: int) -> int:
        size = (bound.bit_length() + 7) // 8 + 8
        return int.from_bytes(self.bytes(label, size), "big") % bound

    def hex(self, label: str, n: int = 16) -> str:
        return self.bytes(label, n).hex()


_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p ** 0.5) + 1))]
_PRIMORIAL = math.prod(_SMALL_PRIMES)


def _probably_prime(n: int, drbg: Drbg, label: str, rounds: int = 8) -> bool:
    # 8 Miller-Rabin rounds on random candidates of >= 512 bits: error far below 2^-100 (FIPS 186-5 B.3)
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for i in range(rounds):
        a = 2 + drbg.int_below(f"{label}/mr{i}", n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(drbg: Drbg, label: str, bits: int, e: int) -> int:
    for i in range(100_000):
        c = int.from_bytes(drbg.bytes(f"{label}/{i}", bits // 8), "big")
        c |= (3 << (bits - 2)) | 1  # top two bits set, so p*q has exactly 2*bits bits
        if math.gcd(c, _PRIMORIAL) != 1:
            continue
        if math.gcd(e, c - 1) != 1:
            continue
        if _probably_prime(c, drbg, f"{label}/{i}"):
            return c
    raise RuntimeError("no prime found")  # pragma: no cover


_KEY_CACHE: dict[tuple[str, str, str], Any] = {}


def derive_rsa_key(drbg: Drbg, label: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    e = 65537
    p = _prime(drbg, f"rsa/{label}/p", bits // 2, e)
    q = _prime(drbg, f"rsa/{label}/q", bits // 2, e)
    if p == q:  # pragma: no cover - astronomically unlikely
        raise RuntimeError("p == q")
    if p < q:
        p, q = q, p
    d = pow(e, -1, math.lcm(p - 1, q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                    rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key()


_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(),
                                        "P-521": ec.SECP521R1(), "secp256k1": ec.SECP256K1()}
_ORDERS = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "P-384": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
                 "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16),
    "P-521": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
    "secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
}
ED25519_L = 2**252 + 27742317777372353535851937790883648493


def derive_ec_key(drbg: Drbg, label: str, curve: str) -> ec.EllipticCurvePrivateKey:
    n = _ORDERS[curve]
    return ec.derive_private_key(1 + drbg.int_below(f"ec/{label}", n - 1), _CURVES[curve])


def derive_ed25519_key(drbg: Drbg, label: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(drbg.bytes(f"ed25519/{label}", 32))


def derive_key(drbg: Drbg, label: str, alg: str, bits: int = 2048) -> Any:
    """A private key for ``alg`` derived from ``drbg`` and ``label`` (cached per seed and label)."""
    cache_key = (drbg.hex("cache-id"), label, f"{alg}/{bits}")
    if cache_key not in _KEY_CACHE:
        if alg == "EdDSA":
            key: Any = derive_ed25519_key(drbg, label)
        elif alg in ("ES256", "ES384", "ES512", "ES256K"):
            key = derive_ec_key(drbg, label, {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521",
                                             "ES256K": "secp256k1"}[alg])
        elif alg[:2] in ("RS", "PS"):
            key = derive_rsa_key(drbg, label, bits)
        else:
            raise ValueError(f"cannot derive a key for {alg}")
        _KEY_CACHE[cache_key] = key
    return _KEY_CACHE[cache_key]


# --- signing ---------------------------------------------------------------------------------------------

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384,
                                                         "512": hashes.SHA512}
_HASHLIB = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
_EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66, "ES256K": 32}


def _mgf1(seed: bytes, length: int, hf: Any) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hf(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def _pss_sign(key: rsa.RSAPrivateKey, data: bytes, bits_name: str, salt: bytes) -> bytes:
    """RSASSA-PSS (RFC 8017 8.1.1) with MGF1 and the given salt (salt length = hash length, RFC 7518 3.5)."""
    hf = _HASHLIB[bits_name]
    numbers = key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    mod_bits = n.bit_length()
    em_bits = mod_bits - 1
    em_len = (em_bits + 7) // 8
    m_hash = hf(data).digest()
    h_len = len(m_hash)
    h = hf(b"\x00" * 8 + m_hash + salt).digest()
    db = b"\x00" * (em_len - len(salt) - h_len - 2) + b"\x01" + salt
    masked = bytes(a ^ b for a, b in zip(db, _mgf1(h, em_len - h_len - 1, hf), strict=True))
    masked = bytes([masked[0] & (0xFF >> (8 * em_len - em_bits))]) + masked[1:]
    em = masked + h + b"\xbc"
    s = pow(int.from_bytes(em, "big"), d, n)
    return s.to_bytes((mod_bits + 7) // 8, "big")


@dataclass(frozen=True)
class SigningKey:
    """A private key with the ``kid`` and ``alg`` it is published under."""

    name: str
    kid: str
    alg: str
    private_key: Any
    #: seed-derived secret for PSS salts (and HMAC keys); empty for keys that need none
    salt_key: bytes = b""

    def public_jwk(self, *, alg: str | None = None) -> dict[str, Any]:
        if isinstance(
            self.private_key, bytes
        ):  # an HMAC secret (kty oct), only for trust-store hygiene cases
            return {"kty": "oct", "k": b64url(self.private_key), "alg": self.alg, "kid": self.kid}
        return public_jwk(self.private_key, alg or self.alg, self.kid)

    def sign(self, signing_input: bytes, alg: str | None = None) -> bytes:
        return raw_sign(self.private_key, alg or self.alg, signing_input, self.salt_key)


def raw_sign(private_key: Any, alg: str, data: bytes, salt_key: bytes = b"") -> bytes:
    """Deterministic JWS signature of ``data`` with ``alg`` (no policy: any key, any known alg)."""
    if alg.startswith("HS"):
        secret = private_key if isinstance(private_key, bytes) else bytes(private_key)
        return hmac.new(secret, data, _HASHLIB[alg[2:]]).digest()
    if alg == "EdDSA" or alg == "Ed25519":
        return bytes(private_key.sign(data))
    if alg in _EC_SIZES:
        h = hashes.SHA256() if alg == "ES256K" else _HASHES[alg[2:]]()
        der = private_key.sign(data, ec.ECDSA(h, deterministic_signing=True))
        r, s = decode_dss_signature(der)
        size = _EC_SIZES[alg]
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg.startswith("RS"):
        return bytes(private_key.sign(data, padding.PKCS1v15(), _HASHES[alg[2:]]()))
    if alg.startswith("PS"):
        salt_len = _HASHES[alg[2:]]().digest_size
        salt = hmac.new(salt_key or b"pss", data, hashlib.sha256).digest()
        salt = (salt * 2)[:salt_len]
        return _pss_sign(private_key, data, alg[2:], salt)
    raise ValueError(f"cannot sign with {alg!r}")


def segment(part: dict[str, Any] | bytes | str) -> str:
    """base64url of a JSON object (compact), of raw bytes, or a ready-made segment string."""
    if isinstance(part, str):
        return part
    return b64url(part if isinstance(part, bytes) else json_bytes(part))


def sign_jws(header: dict[str, Any] | bytes | str, payload: dict[str, Any] | bytes | str,
             key: SigningKey | None, alg: str | None = None) -> str:
    """``b64url(header).b64url(payload).b64url(signature)``; ``key=None`` gives an empty signature.

    ``alg`` defaults to the key's own; pass it to sign under another algorithm of the same key family
    (PS256 with an RS256 key, for example). Bytes and strings are used exactly as given."""
    h, p = segment(header), segment(payload)
    if key is None:
        return f"{h}.{p}."
    return f"{h}.{p}.{b64url(key.sign(f'{h}.{p}'.encode('ascii'), alg))}"


def split(token: str) -> tuple[str, str, str]:
    h, p, s = token.split(".")
    return h, p, s


def b64decode(seg: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


# --- parties and the forge -------------------------------------------------------------------------------

@dataclass
class Party:
    """A trusted issuer: ``iss``, the organisations it may attest for, membership and keys."""

    iss: str
    name: str
    legal_entities: tuple[str, ...]
    member: bool
    keys: dict[str, SigningKey]
    primary: str

    @property
    def key(self) -> SigningKey:
        return self.keys[self.primary]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys.values()]}

    def trust_entry(self, jwks_file: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "iss": self.iss,
            "name": self.name,
            "legal_entities": list(self.legal_entities),
            "member": self.member,
        }
        if jwks_file is None:
            entry["jwks"] = self.jwks()
        else:
            entry["jwks_file"] = jwks_file
        return entry


#: the organisations of the data model's examples (RULES.md a.4); all pass mod-11
ORG_GP = "100100673"           # Norsk Helsenett SF Fagersta Testlegekontor (legal entity = point of care)
ORG_OSLO = "997506499"         # Oslo kommune helseetaten
ORG_OSLO_POC = "875300342"     # Madserudhjemmet
ORG_OUS = "993467049"          # Oslo universitetssykehus HF
ORG_OUS_RH = "874716782"       # OUS Rikshospitalet - somatikk
ORG_OUS_ULL = "974589095"      # OUS Ullevål - somatikk

#: a valid F-number for the practitioner (E1 "August September") and patients (RULES.md d.7)
PRACTITIONER_FNR = "20086600138"
PATIENT_FNR = "13116900216"
OTHER_FNRS = ("04056600324", "03117000205", "05086900124")
HPR = "9144897"

DEFAULT_AUDIENCE = "urn:attest:conformance:source"
DEFAULT_ISSUER = "https://issuer.conformance.example"
DEFAULT_SEED = "attest-conformance"
LIFETIME = 3600   # exp - iat of every well-formed corpus token (the maximum the contract allows)
AGE = 60          # iat and toa lie this many seconds before ``now``


def practitioner_identity() -> dict[str, Any]:
    """The corpus practitioner (August September, a GP): identifier, HPR number and authorisation, as
    HelseID enriches them; the organisations differ by scenario."""
    return {
        "identifier": {"id": PRACTITIONER_FNR, "name": "August September", "system": OID_FNR,
                       "authority": "https://www.skatteetaten.no"},
        "hpr_nr": {"id": HPR, "system": OID_HPR, "authority": "https://www.helsedirektoratet.no/"},
        "authorization": {"code": "LE", "text": "Lege", "system": OID_9060,
                          "assigner": "https://www.helsedirektoratet.no/"},
    }


def base_attestation(toa: int) -> dict[str, Any]:
    """A GP-office attestation (DM example 1, completed: purpose of use, decision ref, a valid patient)
    that passes every rule of tillitsrammeverk-1.1."""
    return {
        "toa": toa,
        "practitioner": {
            **practitioner_identity(),
            "legal_entity": {"id": ORG_GP, "name": "Norsk Helsenett SF Fagersta Testlegekontor",
                             "system": OID_ORGNR, "authority": "https://www.brreg.no"},
            "point_of_care": {"id": ORG_GP, "name": "Norsk Helsenett SF Fagersta Testlegekontor",
                              "system": OID_ORGNR, "authority": "https://www.brreg.no"},
        },
        "care_relation": {
            "healthcare_service": {"code": "KX17", "text": "Fastlege, liste uten fast lege",
                                   "system": "urn:oid:2.16.578.1.12.4.1.1.8655",
                                   "assigner": "https://www.volven.no/"},
            "purpose_of_use": {"code": "TREAT", "text": "Behandling", "system": OID_POU,
                               "assigner": "https://www.hl7.org"},
            "decision_ref": {"id": "conformance-decision-0001", "user_selected": False,
                             "description": "Fastlegeliste"},
        },
        "patients": [{"identifier": {"id": PATIENT_FNR, "system": OID_FNR,
                                     "authority": "https://www.skatteetaten.no"}}],
    }


@dataclass
class Forge:
    """Everything needed to forge corpus tokens: the trusted issuers, an attacker, the audience and the
    evaluation time. Build one with :meth:`generate`."""

    seed: str
    now: int
    audience: str
    issuer: Party            # "A": signs the valid attestations (a multi-tenant EPJ)
    other_issuer: Party      # "B": trusted, but for other organisations
    non_member: Party        # "C": trusted keys, but not a Helsenett member (ATT-12)
    attacker: dict[str, SigningKey]   # untrusted keys, by algorithm
    extra: dict[str, SigningKey] = field(default_factory=dict)
    drbg: Drbg = field(default=None)  # type: ignore[assignment]

    @classmethod
    def generate(cls, *, seed: str = DEFAULT_SEED, now: int, audience: str = DEFAULT_AUDIENCE,
                 iss: str = DEFAULT_ISSUER, issuer_key: Any = None, issuer_kid: str | None = None,
                 issuer_alg: str | None = None) -> Forge:
        """Derive every key from ``seed``. ``issuer_key`` (a private key object) replaces the primary
        issuer's generated EdDSA key; its ``alg`` defaults to the one the key type fixes (RS256 for RSA)."""
        drbg = Drbg(seed)

        def key(name: str, alg: str, kid: str | None = None, bits: int = 2048) -> SigningKey:
            return SigningKey(name, kid or f"conf-{name}", alg, derive_key(drbg, name, alg, bits),
                              drbg.bytes(f"salt/{name}", 32))

        a_keys = {
            "eddsa": key("a-eddsa", "EdDSA"),
            "es256": key("a-es256", "ES256"),
            "es384": key("a-es384", "ES384"),
            "rs256": key("a-rs256", "RS256"),
            "ps256": key("a-ps256", "PS256"),
        }
        primary = "eddsa"
        if issuer_key is not None:
            from ..keys import signing_algorithm

            alg = signing_algorithm(issuer_key, issuer_alg)
            kid = issuer_kid or public_jwk(issuer_key, alg)["kid"]
            if kid in {k.kid for k in a_keys.values()}:
                raise ValueError(f"kid {kid!r} collides with a generated key's kid")
            a_keys["given"] = SigningKey("a-given", kid, alg, issuer_key, drbg.bytes("salt/a-given", 32))
            primary = "given"
        issuer = Party(iss, "Conformance test issuer A (multi-tenant EPJ; TEST ONLY)",
                       (ORG_GP, ORG_OSLO, ORG_OUS), True, a_keys, primary)
        org_b = find_organization_number("9100000")
        org_c = find_organization_number("9200000")
        other = Party(_sibling(iss, "b"), "Conformance test issuer B (another organisation; TEST ONLY)",
                      (org_b,), True, {"es256": key("b-es256", "ES256")}, "es256")
        non_member = Party(
            _sibling(iss, "c"),
            "Conformance test issuer C (not a Helsenett member; TEST ONLY)",
            (org_c,),
            False,
            {"eddsa": key("c-eddsa", "EdDSA")},
            "eddsa",
        )
        attacker = {
            "EdDSA": key("attacker-eddsa", "EdDSA", "attacker-eddsa"),
            "ES256": key("attacker-es256", "ES256", "attacker-es256"),
            "ES384": key("attacker-es384", "ES384", "attacker-es384"),
            "RS256": key("attacker-rs256", "RS256", "attacker-rs256"),
        }
        extra = {
            "es256k": key("x-es256k", "ES256K", "conf-x-es256k"),
            "rsa1024": key("x-rsa1024", "RS256", "conf-x-rsa1024", bits=1024),
            "c7-es256": key("x-c7-es256", "ES256", "conf-x-c7"),
            "hmac": SigningKey("x-hmac", "conf-x-oct", "HS256", drbg.bytes("hmac/x", 32)),
        }
        return cls(seed, now, audience, issuer, other, non_member, attacker, extra, drbg)

    # -- building blocks ------------------------------------------------------------------------------

    @property
    def iat(self) -> int:
        return self.now - AGE

    def jti(self, label: str) -> str:
        """A jti unique per seed, ``now`` and label (a fresh corpus never collides with a replay cache
        filled by an earlier run)."""
        return "conf-" + self.drbg.hex(f"jti/{self.now}/{label}", 12)

    def attestation(self) -> dict[str, Any]:
        return base_attestation(self.now - AGE)

    def claims(self, label: str, attestation: Any = None, *, party: Party | None = None,
               **overrides: Any) -> dict[str, Any]:
        """Registered claims + ``attestation`` (a fresh valid one unless given); ``overrides`` replace
        claims, :data:`DROP` removes one."""
        p = party or self.issuer
        claims: dict[str, Any] = {
            "iss": p.iss, "aud": self.audience, "iat": self.iat, "exp": self.iat + LIFETIME,
            "jti": self.jti(label),
            "attestation": self.attestation() if attestation is None else attestation,
        }
        if attestation is DROP:
            del claims["attestation"]
        return with_overrides(claims, overrides)

    def header(self, key: SigningKey, **overrides: Any) -> dict[str, Any]:
        return with_overrides({"alg": key.alg, "kid": key.kid, "typ": "attestation+jwt"}, overrides)

    def token(self, label: str, attestation: Any = None, *, key: SigningKey | None = None,
              party: Party | None = None, header: dict[str, Any] | None = None, alg: str | None = None,
              **claim_overrides: Any) -> str:
        """A token signed by ``key`` (default: the party's primary key)."""
        p = party or self.issuer
        k = key or p.key
        h = self.header(k, **(header or {}))
        return sign_jws(h, self.claims(label, attestation, party=p, **claim_overrides), k, alg)

    def trust_document(self, jwks_files: dict[str, str] | None = None) -> dict[str, Any]:
        """The trust store (CONTRACT.md section 2) trusting issuers A, B and C; inline JWKS unless
        ``jwks_files`` maps ``iss`` to a file name."""
        files = jwks_files or {}
        return {
            "test_material": True,
            "audience": self.audience,
            "issuers": [
                p.trust_entry(files.get(p.iss)) for p in (self.issuer, self.other_issuer, self.non_member)
            ],
        }

    def trust_store(self) -> Any:
        from ..trust import TrustStore

        return TrustStore.from_dict(self.trust_document())


def _sibling(iss: str, suffix: str) -> str:
    """``https://issuer.x.example`` -> ``https://issuer.x.example/b`` (a distinct, obviously related iss)."""
    return iss.rstrip("/") + f"/{suffix}"


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: marks a header parameter or claim to remove
DROP: Any = _Drop()


def with_overrides(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` (changed in place and returned) with ``overrides`` set, and the names given :data:`DROP`
    removed."""
    for k, v in overrides.items():
        if v is DROP:
            base.pop(k, None)
        else:
            base[k] = v
    return base


def deep(obj: Any) -> Any:
    return copy.deepcopy(obj)
