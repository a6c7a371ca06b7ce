"""ROCA (CVE-2017-15361) detection in the trust-store loader: ``attest.keys.has_roca_fingerprint`` and its use
by ``attest.trust.load_jwk``.

Positives: the Wycheproof ROCA key (JWK tcId 7) and moduli built here the way Infineon's RSALib built them
(p = k*M + 65537^a mod M), so that an implementation that only recognises the one published key fails.
Negatives: freshly generated keys, the example issuers' keys and every other Wycheproof RSA key.
"""

from __future__ import annotations

import json
import random
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from attest.errors import TrustStoreError
from attest.jose import b64url
from attest.keys import has_roca_fingerprint
from attest.trust import load_jwk

from ..support.tokens import KEYS
from .wycheproof import b64int, jwk_vectors, jws_groups

_SMALL_PRIMES = [r for r in range(2, 1500) if all(r % d for d in range(2, int(r ** 0.5) + 1))]


@cache
def roca_jwk() -> dict[str, Any]:
    (group,) = [g for g in jwk_vectors()["testGroups"] if g["comment"] == "jws_rsa_roca_key"]
    return dict(group["public"]["keys"][0])


def _is_probable_prime(n: int, rng: random.Random, rounds: int = 24) -> bool:
    if n < 2:
        return False
    for r in _SMALL_PRIMES[:60]:
        if n % r == 0:
            return n == r
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _rsalib_style_prime(bits: int, primorial_size: int, rng: random.Random) -> int:
    """A prime of RSALib's form p = k*M + (65537^a mod M), M the product of the first ``primorial_size``
    primes (39 for 512-960-bit keys, 71 for 992-1952, 126 for 1984-3936 in the paper)."""
    m = 1
    for r in _SMALL_PRIMES[:primorial_size]:
        m *= r
    while True:
        k = rng.getrandbits(bits - m.bit_length()) | (1 << (bits - m.bit_length() - 1))
        p = k * m + pow(65537, rng.randrange(1, m), m)
        # top two bits set, so that the product of two such primes has exactly 2*bits bits
        if p >> (bits - 2) == 3 and p.bit_length() == bits and _is_probable_prime(p, rng):
            return p


def _public_jwk(n: int, kid: str = "k1") -> dict[str, Any]:
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "e": "AQAB",
            "n": b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))}


def test_wycheproof_roca_key_has_the_fingerprint() -> None:
    assert has_roca_fingerprint(b64int(roca_jwk()["n"]))


def test_loader_refuses_the_wycheproof_roca_key() -> None:
    with pytest.raises(TrustStoreError, match="ROCA") as info:
        load_jwk(roca_jwk(), "wycheproof-jwk-tcId-7")
    assert "kid-rsa-roca-sign" in str(info.value)  # the message names the entry


@pytest.mark.parametrize("primorial_size, bits", [(126, 1024), (71, 1024)])
def test_rsalib_style_moduli_are_detected_and_refused(primorial_size: int, bits: int) -> None:
    rng = random.Random(f"roca-{primorial_size}-{bits}")
    n = _rsalib_style_prime(bits, primorial_size, rng) * _rsalib_style_prime(bits, primorial_size, rng)
    assert n.bit_length() == 2 * bits
    assert has_roca_fingerprint(n)
    with pytest.raises(TrustStoreError, match="ROCA"):
        load_jwk(_public_jwk(n), "synthetic-rsalib")


def test_no_false_positive_on_fresh_2048_bit_keys() -> None:
    moduli = [rsa.generate_private_key(65537, 2048).public_key().public_numbers().n for _ in range(20)]
    assert [n for n in moduli if has_roca_fingerprint(n)] == []
    for i, n in enumerate(moduli[:3]):  # and the loader takes them (no other check trips on them)
        assert load_jwk(_public_jwk(n, f"fresh-{i}"), "fresh").kty == "RSA"


def test_no_false_positive_on_example_and_other_wycheproof_rsa_keys() -> None:
    moduli = []
    for name in ("oslo-kommune", "ous"):
        moduli.append(b64int(json.loads((KEYS / name / "public.jwk.json").read_text())["n"]))
    for group in jws_groups():
        jwk = group.get("public") or group.get("private") or {}
        if "n" in jwk:
            moduli.append(b64int(jwk["n"]))
    assert len(moduli) >= 10
    assert [n for n in moduli if has_roca_fingerprint(n)] == []


def test_every_one_of_the_38_primes_is_checked() -> None:
    # Break the fingerprint modulo one prime r only (add a multiple of the other primes' product, which
    # leaves n mod every other prime unchanged): the test must then say no, for each r in turn.
    n = b64int(roca_jwk()["n"])
    primes = [r for r in _SMALL_PRIMES if 3 <= r <= 167]
    assert len(primes) == 38
    for r in primes:
        powers = {pow(65537, i, r) for i in range(r)}
        others = 1
        for q in primes:
            if q != r:
                others *= q
        j = next(j for j in range(1, r + 1) if (n + j * others) % r not in powers)
        assert not has_roca_fingerprint(n + j * others), f"the prime {r} is not checked"
