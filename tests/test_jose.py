from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import get_default_algorithms

from attest.jose import (
    ASYMMETRIC_ALGORITHMS,
    CompactJWS,
    JoseError,
    b64url,
    check_header,
    parse_compact,
    sign_compact,
    strict_json_object,
    verify_signature,
)

from .support.tokens import make_token

ALGS = frozenset({"ES256", "RS256", "PS256", "EdDSA"})
PARAMS = frozenset({"alg", "kid", "typ"})


def _seg(obj: object) -> str:
    return b64url(json.dumps(obj).encode())


def _code(token: object) -> str:
    with pytest.raises(JoseError) as exc:
        parse_compact(token)
    return exc.value.code


def test_parses_a_valid_token() -> None:
    jws = parse_compact(make_token())
    assert jws.header["typ"] == "attestation+jwt"
    assert jws.payload["iss"] == "https://epj.fagersta.example"
    assert len(jws.signature) == 64


@pytest.mark.parametrize("token", [
    "", ".", "..", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "a b.c.d",
    "eyJhbGciOiJFUzI1NiJ9.e30.AAAA=", "eyJhbGciOiJFUzI1NiJ9+.e30.AAAA", '"a.b.c"', "Bearer a.b.c",
])
def test_framing_errors(token: str) -> None:
    assert _code(token) == "malformed_token"


def test_non_string_and_size() -> None:
    assert _code(12345) == "malformed_token"
    assert _code(None) == "malformed_token"
    assert _code("a" * 70000 + ".b.c") == "malformed_token"
    assert _code("é.b.c".encode()) == "malformed_token"


def test_padding_and_noncanonical_bits_are_refused() -> None:
    t = make_token()
    h, p, s = t.split(".")
    assert _code(f"{h}.{p}.{s}==") == "malformed_token"
    # 64-byte signature -> 86 chars -> the last char carries 4 unused bits
    idx = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(s[-1])
    flipped = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[idx ^ 1]
    assert base64.urlsafe_b64decode(s[:-1] + flipped + "==") == base64.urlsafe_b64decode(s + "==")
    assert _code(f"{h}.{p}.{s[:-1]}{flipped}") == "malformed_token"


@pytest.mark.parametrize("raw", [
    b'{"alg":"ES256","alg":"none"}',
    b'{"iss":"a","\\u0069ss":"b"}',
    b"\xef\xbb\xbf{}",
    '{"a":1}'.encode("utf-16"),
    b'{"a":"\xed\xa0\x80"}',
    b'{"a":NaN}',
    b'{"a":Infinity}',
    b'{"a":"\\ud800"}',
    b"[]",
    b'"x"',
    b'{"a":1}x',
    b"{'a':1}",
    b'{"a":1,}',
    b'{"a":' + b"[" * 50 + b"]" * 50 + b"}",
])
def test_strict_json_refusals(raw: bytes) -> None:
    with pytest.raises(JoseError) as exc:
        strict_json_object(raw, "payload")
    assert exc.value.code == "malformed_token"


def test_strict_json_accepts() -> None:
    assert strict_json_object(b' {"a": "\\ud834\\udd1e", "b": [1, {"c": null}]} \n', "payload")["a"] == "\U0001d11e"
    assert strict_json_object('{"navn":"Øye dagkir"}'.encode(), "payload")["navn"] == "Øye dagkir"
    # brackets inside strings do not count as depth
    assert strict_json_object(b'{"a":"' + b"[" * 100 + b'"}', "payload")


def test_deep_header_is_refused_before_signature() -> None:
    deep = b'{"alg":"ES256","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert _code(b64url(deep) + ".e30.AAAA") == "malformed_token"


@pytest.mark.parametrize("header,code", [
    ({"alg": "ES256", "kid": "k", "typ": "attestation+jwt", "crit": ["exp"]}, "unsupported_critical_header"),
    ({"alg": "ES256", "kid": "k", "typ": "attestation+jwt", "jku": "https://evil"}, "malformed_token"),
    ({"alg": "ES256", "kid": "k", "typ": "attestation+jwt", "jwk": {}}, "malformed_token"),
    ({"alg": "none", "kid": "k", "typ": "attestation+jwt"}, "unsupported_algorithm"),
    ({"alg": "HS256", "kid": "k", "typ": "attestation+jwt"}, "unsupported_algorithm"),
    ({"alg": "es256", "kid": "k", "typ": "attestation+jwt"}, "unsupported_algorithm"),
    ({"alg": ["ES256"], "kid": "k", "typ": "attestation+jwt"}, "unsupported_algorithm"),
    ({"kid": "k", "typ": "attestation+jwt"}, "unsupported_algorithm"),
    ({"alg": "ES256", "kid": "k"}, "invalid_token_type"),
    ({"alg": "ES256", "kid": "k", "typ": "JWT"}, "invalid_token_type"),
    ({"alg": "ES256", "kid": "k", "typ": "ATTESTATION+JWT"}, "invalid_token_type"),
    ({"alg": "ES256", "typ": "attestation+jwt"}, "unknown_key"),
    ({"alg": "ES256", "kid": 0, "typ": "attestation+jwt"}, "unknown_key"),
    ({"alg": "ES256", "kid": "", "typ": "attestation+jwt"}, "unknown_key"),
    ({"alg": "ES256", "kid": "k1\r\nX: 1", "typ": "attestation+jwt"}, "unknown_key"),
    ({"alg": "ES256", "kid": "x" * 300, "typ": "attestation+jwt"}, "unknown_key"),
])
def test_header_policy(header: dict, code: str) -> None:
    with pytest.raises(JoseError) as exc:
        check_header(header, algorithms=ALGS, typ="attestation+jwt", allowed_params=PARAMS)
    assert exc.value.code == code


def test_header_policy_accepts() -> None:
    assert check_header({"alg": "ES256", "kid": "k1", "typ": "attestation+jwt"}, algorithms=ALGS,
                        typ="attestation+jwt", allowed_params=PARAMS) == ("ES256", "k1")


def test_messages_escape_token_text() -> None:
    with pytest.raises(JoseError) as exc:
        check_header({"alg": "\x1b[31mEvil", "kid": "k", "typ": "attestation+jwt"}, algorithms=ALGS,
                     typ="attestation+jwt", allowed_params=PARAMS)
    assert "\x1b" not in exc.value.message


def _pyjwt_verify(jws: CompactJWS, alg: str, key: object) -> bool:
    """What verify_signature did before it called cryptography directly: PyJWT's algorithm objects."""
    algorithm = get_default_algorithms().get(alg)
    if algorithm is None or alg not in ASYMMETRIC_ALGORITHMS:
        return False
    try:
        return bool(algorithm.verify(jws.signing_input, key, jws.signature))
    except Exception:
        return False


def test_signature_checks_equal_pyjwts() -> None:
    """Every algorithm against every key type (public and private, right and wrong), with the signature
    valid, altered, shortened, lengthened, empty or in DER form: the same answer as PyJWT's algorithm
    objects."""
    keys = {"ES256": ec.generate_private_key(ec.SECP256R1()), "ES384": ec.generate_private_key(ec.SECP384R1()),
            "ES512": ec.generate_private_key(ec.SECP521R1()), "RS": rsa.generate_private_key(65537, 2048),
            "Ed25519": ed25519.Ed25519PrivateKey.generate(), "Ed448": ed448.Ed448PrivateKey.generate()}
    signer = {"ES256": "ES256", "ES384": "ES384", "ES512": "ES512", "RS256": "RS", "RS384": "RS", "RS512": "RS",
              "PS256": "RS", "PS384": "RS", "PS512": "RS", "EdDSA": "Ed25519"}
    checked = 0
    for alg in (*ASYMMETRIC_ALGORITHMS, "HS256", "none", "ES256K"):
        private = keys[signer.get(alg, "ES256")]
        token = sign_compact({"alg": alg, "kid": "k"}, {"a": 1}, private, alg if alg in signer else "ES256")
        h, p, s = token.split(".")
        sig = base64.urlsafe_b64decode(s + "==")
        variants = [sig, sig[:-1], sig + b"\0", b"", sig[:1] + bytes([sig[1] ^ 1]) + sig[2:], sig[::-1]]
        if alg.startswith("ES"):
            n = len(sig) // 2
            variants.append(encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big")))
        candidates = [k for key in keys.values() for k in (key, key.public_key())] + ["not a key", None]
        for variant in variants:
            jws = parse_compact(f"{h}.{p}.{b64url(variant)}" if variant else f"{h}.{p}.AA", payload_json=False)
            jws = CompactJWS(jws.header, jws.payload, jws.signing_input, variant)
            for key in candidates:
                assert verify_signature(jws, alg, key) == _pyjwt_verify(jws, alg, key), (alg, key, variant)
                checked += verify_signature(jws, alg, key)
    assert checked >= len(ASYMMETRIC_ALGORITHMS)  # each valid signature verified with its public key
