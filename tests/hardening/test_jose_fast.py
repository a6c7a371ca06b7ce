"""The fast token parse accepts and refuses exactly what the reference parse does.

``attest.jose`` parses a token in two ways: a fast path (pybase64 decoding the URL alphabet itself once
``+``, ``/`` and ``=`` are ruled out, orjson for the JSON with three checks of its own) and the reference path
(a regular expression for the framing, the standard library's decoder with a duplicate-member hook). The fast path may only ever say "I cannot tell"
and hand over; it must never accept what the reference refuses, nor build a different value. These tests
hold it to that with generated input aimed at the places where the two parsers differ: duplicate member
names (also spelled with escapes), colons inside strings (raw and escaped), floats and integers beyond 64
bits, depth, surrogates, byte-order marks, whitespace and control characters, and framing characters.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest.jose import (
    DEFAULT_LIMITS,
    CompactJWS,
    JoseError,
    JoseLimits,
    _decode_segments,
    _fast_json_object,
    _strict_json_object,
    parse_compact,
    strict_json_object,
)

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _typed(value: Any) -> Any:
    """A comparable form that tells 1, 1.0 and True (and 0.0 and -0.0) apart and keeps member order."""
    if isinstance(value, dict):
        return ("object", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("array", [_typed(v) for v in value])
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        result = fn(*args)
    except JoseError as exc:
        return ("refused", exc.code, exc.rule, exc.path, exc.message)
    if isinstance(result, CompactJWS):
        return ("parsed", _typed(result.header), _typed(result.payload), result.signing_input, result.signature,
                result.payload_bytes)
    return ("parsed", _typed(result))


# --- JSON text generator ----------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "iss", "a:b", ":", "x\\", "é", "\u2028", "", "\U0001d11e"])
STRINGS = st.one_of(
    st.sampled_from(["", ":", "urn:oid:2.16.578.1.12.4.1.4.1", "https://x.example/", "\\", '"', "\x00", "\x7f",
                     "\ud800", "\udc00", "\U0001d11e", "\ufeff", "Øye", "[{", "\\u003a"]),
    st.text(max_size=6),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
)
NUMBER_TEXT = st.one_of(
    NUMBERS.map(repr),
    st.sampled_from(["1e400", "-1e400", "1E2", "1.0", "-0", "-0.0", "5e-324", "1e-400", "NaN", "Infinity",
                     "01", "1.", ".5", "+1", "0x10", "18446744073709551616", "-9223372036854775809"]),
)


@st.composite
def json_string(draw: st.DrawFn, text: str) -> str:
    """``text`` as a JSON string, each character raw or escaped at random (``:`` also as ``\\u003a``/``A``)."""
    out = ['"']
    for ch in text:
        how = draw(st.integers(0, 3))
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}" if how else f"\\u{ord(ch):04X}")
        elif how == 0 and ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        elif how == 1 and ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04X}")
        elif how == 2 and ord(ch) >= 0x10000:
            hi, lo = divmod(ord(ch) - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + hi:04x}\\u{0xDC00 + lo:04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


WS = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n  "])


@st.composite
def json_text(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.integers(0, 9 if depth < 14 else 5))
    if kind <= 1:
        return draw(json_string(draw(STRINGS)))
    if kind == 2:
        return draw(NUMBER_TEXT)
    if kind == 3:
        return draw(st.sampled_from(["true", "false", "null"]))
    if kind in (4, 5) and depth > 0:
        return draw(json_string(draw(STRINGS)))
    if kind in (6, 7) or depth == 0:
        members = draw(st.lists(st.tuples(KEYS, st.deferred(lambda: json_text(depth + 1))), max_size=4))
        if members and draw(st.integers(0, 3)) == 0:  # a repeated name, spelled the same or escaped
            members.append((members[0][0], draw(json_text(depth + 1))))
        body = ",".join(f"{draw(WS)}{draw(json_string(k))}{draw(WS)}:{draw(WS)}{v}{draw(WS)}" for k, v in members)
        return "{" + body + "}"
    items = draw(st.lists(st.deferred(lambda: json_text(depth + 1)), max_size=3))
    return "[" + ",".join(items) + "]"


@st.composite
def json_bytes(draw: st.DrawFn) -> bytes:
    text = draw(json_text())
    raw = text.encode("utf-8", "surrogatepass")
    mutation = draw(st.integers(0, 7))
    if mutation == 0 and raw:  # flip, insert or drop one byte
        i = draw(st.integers(0, len(raw) - 1))
        b = draw(st.sampled_from([b"", b":", b",", b'"', b"\\", b"{", b"}", b"]", b"\x00", b"\xff", b"\xed", b" "]))
        raw = raw[:i] + b + raw[i + draw(st.integers(0, 1)):]
    elif mutation == 1:
        raw = b"\xef\xbb\xbf" + raw
    elif mutation == 2:
        raw = text.encode("utf-16")
    return raw


@st.composite
def canonical_text(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Text as orjson writes it (compact, its escapes, its number spelling), where the fast path takes the
    equality shortcut; objects may repeat a name, and nesting goes past the depth limits."""
    kind = draw(st.integers(0, 6 if depth < 14 else 2))
    if kind == 0:
        return orjson.dumps(draw(STRINGS.filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t))))
    if kind == 1:
        return orjson.dumps(draw(st.one_of(st.integers(-(2**63), 2**64 - 1),
                                           st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                                           st.none())))
    if kind == 2 and depth > 0:
        return b"[]" if draw(st.booleans()) else b"{}"
    if kind in (3, 4) or depth == 0:
        members = draw(st.lists(st.tuples(KEYS.filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t)),
                                          st.deferred(lambda: canonical_text(depth + 1))), max_size=4))
        if members and draw(st.integers(0, 3)) == 0:
            members.append((members[0][0], draw(canonical_text(depth + 1))))
        return b"{" + b",".join(orjson.dumps(k) + b":" + v for k, v in members) + b"}"
    return b"[" + b",".join(draw(st.lists(st.deferred(lambda: canonical_text(depth + 1)), max_size=3))) + b"]"


@settings(SETTINGS, max_examples=200)
@given(raw=canonical_text(), max_depth=st.sampled_from([1, 2, 3, 5, 12]))
def test_fast_json_equals_the_reference_on_canonical_text(raw: bytes, max_depth: int) -> None:
    limits = JoseLimits(max_json_depth=max_depth)
    reference = _outcome(_strict_json_object, raw, "payload", limits)
    assert _outcome(strict_json_object, raw, "payload", limits) == reference
    fast = _fast_json_object(raw, max_depth)
    if fast is not None:
        assert reference == ("parsed", _typed(fast))


@SETTINGS
@given(raw=json_bytes(), max_depth=st.sampled_from([1, 2, 3, 12]))
def test_fast_json_equals_the_reference(raw: bytes, max_depth: int) -> None:
    limits = JoseLimits(max_json_depth=max_depth)
    reference = _outcome(_strict_json_object, raw, "payload", limits)
    assert _outcome(strict_json_object, raw, "payload", limits) == reference
    fast = _fast_json_object(raw, max_depth)
    if fast is not None:  # the fast path only answers where the reference accepts, with the same value
        assert reference == ("parsed", _typed(fast))


@pytest.mark.parametrize("raw", [
    b'{"a":1,"a":1}', b'{"a":"x","\\u0061":"x"}', b'{"a:b":1,"a:b":2}', b'{"a":"\\u003a","a":1}',
    b'{"a":"\\u003A:","b":{"c":1,"c":1}}', b'{"x":{"a":1},"x":{"a":1}}', b'{"a":[{"b":1,"b":2}]}',
    b'{"a":"\\\\u003a","a":"\\\\u003a"}', b'{"a":1, "a" :1}', b'{"\\u003a":1,":":1}',
])
def test_duplicates_found_by_colon_count_are_refused(raw: bytes) -> None:
    assert _fast_json_object(raw, 12) is None
    with pytest.raises(JoseError, match="duplicate member"):
        strict_json_object(raw, "payload")


@pytest.mark.parametrize("raw", [
    b'{"a":"urn:oid:1.2","b":"https://x"}', b'{"a":"\\u003a"}', b'{"a:b":[{"c":"d:e"}],"f":null}',
    b'{"a":"\\ud834\\udd1e","b":true,"c":-9223372036854775808,"d":18446744073709551615}',
    b'{"a":1.5,"b":[-0.0,1e-7,1.7976931348623157e+308],"c":{"d":[[[[[[[[[{}]]]]]]]]]}}',
])
def test_fast_path_answers_the_common_cases(raw: bytes) -> None:
    fast = _fast_json_object(raw, 12)
    assert fast is not None and _typed(fast) == _typed(json.loads(raw))


@pytest.mark.parametrize("raw", [
    b'{"a":1.50}', b'{"a":1E2}', b'{"a":18446744073709551616}', b'{"a":-9223372036854775809}', b'{"a":1e400}',
    b'{"a":"\\ud800"}', b'\xef\xbb\xbf{}', b'{"a":NaN}', b'{"a":' + b"[" * 12 + b"]" * 12 + b"}",
    b'{"a":[[[[[[[[[[[{}]]]]]]]]]]]}', b'{"a": 1.5}',
])
def test_fast_path_hands_over_where_orjson_differs(raw: bytes) -> None:
    assert _fast_json_object(raw, 12) is None


# --- framing and base64url -------------------------------------------------------------------------------

_REFERENCE_COMPACT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)", re.ASCII)
_REFERENCE_INDEX = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}


def _reference_b64(segment: str, what: str) -> bytes:
    rem = len(segment) % 4
    if rem == 1:
        raise JoseError("malformed_token", "RFC7515-2", what, f"{what} segment is not valid base64url")
    if rem and _REFERENCE_INDEX[segment[-1]] & (0x0F if rem == 2 else 0x03):
        raise JoseError("malformed_token", "RFC4648-3.5", what,
                        f"{what} segment is not canonical base64url (non-zero unused bits)")
    try:
        return base64.urlsafe_b64decode(segment + "=" * ((4 - rem) % 4))
    except (binascii.Error, ValueError) as exc:
        raise AssertionError("unreachable") from exc


def _reference_parse(token: object, limits: JoseLimits = DEFAULT_LIMITS, *, payload_json: bool = True) -> CompactJWS:
    """parse_compact as it was before the fast path (regex framing, urlsafe_b64decode, reference JSON)."""
    if isinstance(token, bytes | bytearray):
        try:
            token = bytes(token).decode("ascii")
        except UnicodeDecodeError as exc:
            raise JoseError("malformed_token", "RFC7515-7.1", "token", "token is not ASCII") from exc
    if not isinstance(token, str):
        raise JoseError("malformed_token", "RFC7515-7.1", "token", "token is not a string")
    if len(token) > limits.max_token_bytes:
        raise JoseError("malformed_token", "RFC8725-3.15", "token",
                        f"token is {len(token)} bytes; the limit is {limits.max_token_bytes}")
    m = _REFERENCE_COMPACT.fullmatch(token)
    if m is None:
        raise JoseError("malformed_token", "RFC7515-7.1", "token",
                        "not a compact JWS: expected three non-empty base64url segments separated by dots")
    h_seg, p_seg, s_seg = m.group(1), m.group(2), m.group(3)
    header = _strict_json_object(_reference_b64(h_seg, "header"), "header", limits)
    payload_bytes = _reference_b64(p_seg, "payload")
    payload = _strict_json_object(payload_bytes, "payload", limits) if payload_json else {}
    signature = _reference_b64(s_seg, "signature")
    return CompactJWS(header, payload, f"{h_seg}.{p_seg}".encode("ascii"), signature, payload_bytes)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


SEGMENT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
NOISE = st.text(alphabet=SEGMENT_CHARS + ".=+/ \t\n\x00!é\u0661", max_size=12)


@st.composite
def tokens(draw: st.DrawFn) -> object:
    header = draw(st.one_of(json_bytes(), st.just(b'{"alg":"ES256","kid":"k","typ":"attestation+jwt"}')))
    payload = draw(st.one_of(json_bytes(), st.just(b'{"iss":"https://x","a":[1,{"b":"c:d"}]}')))
    signature = draw(st.binary(max_size=70))
    segs = [_b64url(header), _b64url(payload), _b64url(signature)]
    how = draw(st.integers(0, 5))
    if how == 0:  # noise somewhere
        i = draw(st.integers(0, 2))
        at = draw(st.integers(0, len(segs[i])))
        segs[i] = segs[i][:at] + draw(NOISE) + segs[i][at:]
    elif how == 1:  # a character dropped or added at the end (1 mod 4 lengths, unused bits)
        i = draw(st.integers(0, 2))
        segs[i] = segs[i][:-1] if draw(st.booleans()) else segs[i] + draw(st.sampled_from(SEGMENT_CHARS))
    token = ".".join(segs)
    if how == 2:
        token = draw(st.sampled_from(["", ".", "..", token + ".", "." + token, token.replace(".", "..", 1)]))
    if how == 3:
        return token.encode("ascii", "replace") if draw(st.booleans()) else token.encode("utf-8")
    return token


@SETTINGS
@given(token=tokens(), payload_json=st.booleans())
def test_parse_compact_equals_the_reference(token: object, payload_json: bool) -> None:
    assert (_outcome(lambda: parse_compact(token, payload_json=payload_json))
            == _outcome(lambda: _reference_parse(token, payload_json=payload_json)))


@SETTINGS
@given(token=tokens())
def test_segment_fast_path_never_accepts_what_the_reference_refuses(token: object) -> None:
    if not isinstance(token, str) or not token.isascii():
        return
    fast = _decode_segments(token.encode("ascii"))
    m = _REFERENCE_COMPACT.fullmatch(token)
    try:
        reference = None if m is None else [_reference_b64(m.group(i), "x") for i in (1, 2, 3)]
    except JoseError:
        reference = None
    if fast is None:  # handing a well-formed token over would be safe, but a missed fast path
        assert reference is None
    else:
        assert m is not None and reference is not None
        assert list(fast[:3]) == reference and fast[3] == len(m.group(1)) + 1 + len(m.group(2))


@pytest.mark.parametrize("token", ["e30.e30.AA", "e30.e30.AA=", "e30.e30.A+", "e30.e30.A/", "e30.e30.AB",
                                   "e30.e30.A", "e30..AA", ".e30.AA", "e30.e30.", "e30.e30.AA.", "e30.e 0.AA",
                                   "e30.e30.A\x00", "e30.e30.A!", "e30.e30.AA.AA"])
def test_segment_fast_path_hands_over_all_but_well_formed_tokens(token: str) -> None:
    fast = _decode_segments(token.encode("ascii"))
    assert (fast is not None) == (token == "e30.e30.AA")
    if fast is not None:
        assert fast == (b"{}", b"{}", b"\x00", 7)


@SETTINGS
@given(token=st.text(alphabet=SEGMENT_CHARS[:6] + "-_.=+/ é\x00", max_size=14))
def test_framing_equals_the_regex(token: str) -> None:
    framed = _REFERENCE_COMPACT.fullmatch(token) is not None
    try:
        parse_compact(token, payload_json=False)
    except JoseError as exc:
        assert (exc.rule == "RFC7515-7.1") == (not framed)
    else:
        assert framed
