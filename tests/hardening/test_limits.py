"""Limits of the library (profile ``tillitsrammeverk-1.1``): token size, JSON depth, the ``patients`` list and
the header-parameter allow-list. Every test pins a boundary, so that an implementation without the limit,
with a different value or with an off-by-one fails.

Tokens here are validly signed by a trusted example issuer unless the test says otherwise, so a deny can
only come from the limit under test.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest

from attest import VerifyContext, inspect, load_profile, verify
from attest.jose import JoseError, JoseLimits, b64url, parse_compact, sign_compact, strict_json_object

from ..support.tokens import AUDIENCE, NOW, VALID_FNRS, make_token, org, trust_store, valid_attestation

PROFILE = load_profile("tillitsrammeverk-1.1")
CTX = VerifyContext(audience=AUDIENCE, now=NOW)


def _verify(token: Any) -> Any:
    return verify(token, trust_store(), PROFILE, CTX)


def _only_error(d: Any) -> Any:
    assert d.decision == "deny"
    (err,) = d.errors
    return err


def test_profile_states_the_limits_tested_here() -> None:
    assert PROFILE.limits == JoseLimits(max_token_bytes=65536, max_json_depth=12)
    assert PROFILE.header_params == frozenset({"alg", "kid", "typ"})
    (rule,) = [r for r in PROFILE.rules if r.name == "patients-array"]
    assert rule.params == {"max_items": 100}


# --- token size ---------------------------------------------------------------------------------------------

@cache
def _token_of_length(target: int) -> str:
    """A validly signed, otherwise permitted token of exactly ``target`` characters (padding claim)."""
    base = len(make_token(pad=""))
    for n in range(max(0, (target - base) * 3 // 4 - 8), (target - base) * 3 // 4 + 8):
        for org_name in ("fagersta", "epj-vendor"):  # ES256 and EdDSA: different header lengths
            att = valid_attestation()
            token = make_token(att, org_name=org_name, pad="x" * n)
            if len(token) == target:
                return token
    raise AssertionError(f"no token of exactly {target} characters")  # pragma: no cover


def test_token_at_the_size_cap_is_permitted() -> None:
    token = _token_of_length(65536)
    assert _verify(token).permitted


def test_token_one_character_over_the_cap_is_refused_for_its_size() -> None:
    token = _token_of_length(65537)
    err = _only_error(_verify(token))
    assert (err.code, err.rule, err.path) == ("malformed_token", "RFC8725-3.15", "token")
    assert "65537" in err.message and "65536" in err.message


@pytest.mark.parametrize("size", [65537, 1 << 20, 16 << 20])
def test_oversized_garbage_is_refused_by_size_before_anything_else(size: int) -> None:
    # not even a compact JWS: if the format were checked (or anything decoded) first, the rule would differ
    for token in ("A" * size, ("A" * (size // 3) + ".") * 3, b"A" * size):
        err = _only_error(_verify(token))
        assert (err.code, err.rule) == ("malformed_token", "RFC8725-3.15")
    report = inspect("A" * size, trust=trust_store(), context=CTX)
    assert report["error"]["rule"] == "RFC8725-3.15"


def test_size_cap_boundary_is_exact_in_parse_compact() -> None:
    token = make_token()
    parse_compact(token, JoseLimits(max_token_bytes=len(token)))
    with pytest.raises(JoseError) as info:
        parse_compact(token, JoseLimits(max_token_bytes=len(token) - 1))
    assert info.value.rule == "RFC8725-3.15"


# --- JSON depth ---------------------------------------------------------------------------------------------

def _nest(depth: int, inner: str = "1") -> str:
    """A JSON object whose nesting depth is ``depth`` (the object itself counts as 1), objects and arrays
    alternating."""
    text = inner
    for level in range(depth - 1):
        text = f'{{"k":{text}}}' if level % 2 else f"[{text}]"
    return f'{{"x":{text}}}'


@pytest.mark.parametrize("max_depth", [1, 2, 5, 12])
def test_json_depth_boundary_is_exact(max_depth: int) -> None:
    limits = JoseLimits(max_json_depth=max_depth)
    assert strict_json_object(_nest(max_depth).encode(), "payload", limits)
    with pytest.raises(JoseError) as info:
        strict_json_object(_nest(max_depth + 1).encode(), "payload", limits)
    assert (info.value.code, info.value.rule) == ("malformed_token", "RFC7493-2")


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    for text in ('{"x":"' + "[{" * 40 + '"}', '{"x":"\\"' + "[" * 40 + '\\""}', '{"' + "{" * 40 + '":1}'):
        assert strict_json_object(text.encode(), "payload", PROFILE.limits)


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 2):  # the payload object is level 1, the outermost list level 2
        value = [value]
    return value


def test_signed_payload_at_the_depth_cap_is_permitted_and_one_deeper_is_refused() -> None:
    assert _verify(make_token(extra=_deep(12))).permitted
    err = _only_error(_verify(make_token(extra=_deep(13))))
    assert (err.code, err.rule, err.path) == ("malformed_token", "RFC7493-2", "payload")


@pytest.mark.parametrize("where", ["header", "payload"])
def test_very_deep_json_is_refused_without_recursion_error(where: str) -> None:
    # 20 000 levels (40 kB of brackets, under the size cap) would blow the interpreter's recursion limit in
    # a naive parser; the header is parsed before any signature check (a pre-authentication probe)
    deep = b'{"x":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    o = org("fagersta")
    if where == "header":
        good = make_token()
        token = b64url(deep) + good[good.index("."):]
    else:
        token = sign_compact({"alg": o.alg, "kid": o.kid, "typ": "attestation+jwt"}, deep, o.key, o.alg)
    assert len(token) <= PROFILE.limits.max_token_bytes
    err = _only_error(_verify(token))
    assert (err.code, err.rule, err.path) == ("malformed_token", "RFC7493-2", where)


def test_depth_check_holds_without_the_size_cap() -> None:
    # the depth check must not rely on the size cap: 50 000 levels with the cap lifted
    deep = b'{"x":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    good = make_token()
    token = b64url(deep) + good[good.index("."):]
    with pytest.raises(JoseError) as info:
        parse_compact(token, JoseLimits(max_token_bytes=1 << 24))
    assert info.value.rule == "RFC7493-2"


# --- patients ----------------------------------------------------------------------------------------------

def _with_patients(n: int) -> dict[str, Any]:
    att = valid_attestation()
    template = att["patients"][0]
    att["patients"] = []
    for i in range(n):
        p = copy.deepcopy(template)
        p["identifier"]["id"] = VALID_FNRS[i % len(VALID_FNRS)]
        att["patients"].append(p)
    return att


def test_one_hundred_patients_are_permitted() -> None:
    d = _verify(make_token(_with_patients(100)))
    assert d.permitted, d.errors
    assert len(d.attestation["patients"]) == 100


def test_one_hundred_and_one_patients_are_refused_by_the_cap() -> None:
    err = _only_error(_verify(make_token(_with_patients(101))))
    assert (err.code, err.rule, err.path) == ("invalid_field", "ATT-1", "attestation.patients")
    assert "101" in err.message and "100" in err.message


def test_patient_cap_counts_after_normalising_spelling() -> None:
    # kebab-case keys and patient_id are normalised first; the cap still applies to the list
    att = _with_patients(101)
    att["patients"] = [{"patient-id": p["identifier"]} for p in att["patients"]]
    err = _only_error(_verify(make_token(att)))
    assert (err.code, err.path) == ("invalid_field", "attestation.patients")


# --- header parameter allow-list ---------------------------------------------------------------------------

def test_header_with_only_allowed_parameters_is_permitted() -> None:
    assert _verify(make_token()).permitted


@pytest.mark.parametrize("name, value", [
    ("jwk", {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}), ("jku", "https://attacker.example/jwks"),
    ("x5u", "https://attacker.example/c.pem"), ("x5c", ["MIIB"]), ("x5t", "AA"), ("x5t#S256", "AA"),
    ("cty", "JWT"), ("b64", True), ("zip", "DEF"), ("enc", "A256GCM"), ("url", "https://x.example"),
    ("nonce", "n"), ("ppt", "shaken"), ("svt", ["x"]), ("x-admin", True), ("iss", "https://epj.fagersta.example"),
    ("Alg", "ES256"), ("KID", "k"), ("typ ", "attestation+jwt"), ("", 1),
])
def test_header_parameter_outside_the_allow_list_is_refused(name: str, value: Any) -> None:
    err = _only_error(_verify(make_token(header={name: value})))
    assert (err.code, err.rule) == ("malformed_token", "RFC8725-3.10")
    assert err.path == f"header.{name}"


@pytest.mark.parametrize("value", [["exp"], [], "b64", None, ["b64"]])
def test_crit_is_refused_in_any_form(value: Any) -> None:
    err = _only_error(_verify(make_token(header={"crit": value})))
    assert (err.code, err.path) == ("unsupported_critical_header", "header.crit")
