from __future__ import annotations

import base64
import json

import pytest

from attest.jose import JoseError, b64url, check_header, parse_compact, strict_json_object

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
