"""Strict compact-JWS parsing, the header policy, signing and signature verification.

Parsing is done here, not by PyJWT, because PyJWT accepts several inputs a hardened verifier must refuse
(``=`` padding, duplicate JSON members, UTF-8 BOM / UTF-16 / UTF-32, NaN, lone surrogates, unbounded
size; shared/spec/JWT_ATTACKS.md section 0) and spends most of its time in a per-character base64url check
written in Python. Here a well-formed token's segments are decoded by pybase64's SIMD codec, which checks the
URL alphabet as it decodes (:func:`_decode_segments`); anything else goes through the reference path (one
byte translation checks the alphabet and maps it to standard base64), which decides and words every refusal.

Each JSON segment is parsed by orjson first and accepted only when that parse provably equals the strict
one (:func:`_fast_json_object`); anything else (and every refusal) goes through the standard library's
decoder with a duplicate-member hook, which decides and words the error. The signature is checked with
``cryptography`` over key objects that the trust store prepared once, exactly as PyJWT's algorithm objects
check it (tests/test_jose.py compares them), with the padding and hash objects built once; the algorithm
comes from the key (see :mod:`attest.trust`), never from the token alone.

Nothing here raises anything but :class:`JoseError` for bad input.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
import pybase64
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import get_default_algorithms

from .identifiers import redact_identity_numbers

#: algorithms this library can ever verify (the profile narrows it; HMAC and none are never here)
ASYMMETRIC_ALGORITHMS: Final = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512",
                         "EdDSA")

_HASHES: Final[dict[str, hashes.HashAlgorithm]] = {"256": hashes.SHA256(), "384": hashes.SHA384(),
                                                   "512": hashes.SHA512()}

_B64URL_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: one byte table for the whole token: base64url characters become standard base64 ('-' -> '+', '_' -> '/'),
#: '.' stays, every other byte (including '+', '/', '=', whitespace, NUL) becomes '!', which then marks the
#: token as not compact. Same acceptance as ``([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)``
#: (tests/hardening/test_jose_fast.py compares them).
_COMPACT_TABLE: Final = bytes(
    _B64_ALPHABET[_B64URL_ALPHABET.index(b)] if b in _B64URL_ALPHABET else ord(".") if b == ord(".") else ord("!")
    for b in range(256))
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_KID: Final = re.compile(r"[\x21-\x7e]{1,256}", re.ASCII)


@dataclass(frozen=True, slots=True)
class JoseLimits:
    """Limits applied before any cryptography. Defaults suit attestations with up to ~100 patients."""

    max_token_bytes: int = 65536
    max_json_depth: int = 12


DEFAULT_LIMITS: Final = JoseLimits()


class JoseError(Exception):
    """A token-level failure, with its contract error code, rule and path."""

    def __init__(self, code: str, rule: str, path: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.rule = rule
        self.path = path
        self.message = message


class CompactJWS:
    """A parsed, not yet verified compact JWS: ``header``; ``payload``, the payload as a JSON object
    (``parse_compact``) or empty when parsed with ``payload_json=False``; ``signing_input``; ``signature``;
    ``payload_bytes``.

    A plain class with ``Final`` attributes rather than a frozen dataclass: the compiled build constructs it
    with direct stores (a frozen dataclass' generated ``__init__`` stays interpreted and calls
    ``object.__setattr__`` per field, ~0.6 µs per token) and refuses assignment at run time; mypy refuses it
    in both builds."""

    __slots__ = ("header", "payload", "payload_bytes", "signature", "signing_input")

    def __init__(self, header: dict[str, Any], payload: dict[str, Any], signing_input: bytes, signature: bytes,
                 payload_bytes: bytes = b"") -> None:
        self.header: Final = header
        self.payload: Final = payload
        self.signing_input: Final = signing_input
        self.signature: Final = signature
        self.payload_bytes: Final = payload_bytes


#: ``bytes.translate`` called through the type: compiled by mypyc, ``raw.translate(table)`` becomes a
#: byte-by-byte loop of its own, several times slower than CPython's for a 3 KB token
_translate: Callable[[bytes, bytes], bytes] = bytes.translate

#: the functions of the parse's hot path bound once (compiled code would look each up on its module per call);
#: pybase64's arguments are passed by position (parsing keywords costs it ~0.25 µs a call)
_orjson_loads: Final = orjson.loads
_orjson_dumps: Final = orjson.dumps
_simd_b64decode: Final = pybase64.b64decode

#: standard-base64 byte -> its 6-bit value (segments are translated before they are decoded)
_B64_INDEX: Final = {c: i for i, c in enumerate(_B64_ALPHABET)}
_PADDING: Final = (b"", b"", b"==", b"=")


def _b64decode(segment: bytes, what: str) -> bytes:
    """Decode one segment, already translated to the standard alphabet (so known to hold only base64
    characters). A length of 1 mod 4 cannot be base64url; a last character with non-zero unused low bits
    is a second spelling of the same bytes (RFC 4648 3.5). Both are refused so that every token has
    exactly one spelling."""
    rem = len(segment) % 4
    if rem == 1:
        raise JoseError("malformed_token", "RFC7515-2", what, f"{what} segment is not valid base64url")
    if rem and _B64_INDEX[segment[-1]] & (0x0F if rem == 2 else 0x03):
        raise JoseError("malformed_token", "RFC4648-3.5", what,
                        f"{what} segment is not canonical base64url (non-zero unused bits)")
    try:
        # pybase64 (SIMD) decodes a 2 KB payload about ten times faster than binascii; validate=True makes it
        # refuse anything outside the standard alphabet, which the translation table already guarantees
        return _simd_b64decode(segment + _PADDING[rem], None, True)  # validate
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the checks above make this unreachable
        raise JoseError("malformed_token", "RFC7515-2", what, f"{what} segment is not valid base64url") from exc


#: base64url byte -> its 6-bit value
_B64URL_INDEX: Final = {c: i for i, c in enumerate(_B64URL_ALPHABET)}


# Single bytes looked for in a token as integers: ``b"+" in raw`` makes CPython 3.11 first try the needle as an
# integer, raise TypeError and clear it (~1,800 instructions each time, three times a token); an int needle is a
# plain memchr.
_PLUS: Final = ord("+")
_SLASH: Final = ord("/")
_EQUALS: Final = ord("=")
_BACKSLASH: Final = ord("\\")
_BANG: Final = ord("!")


def _decode_segments(raw: bytes) -> tuple[bytes, bytes, bytes, int] | None:
    """The three decoded segments of a well-formed compact JWS and the signing input's length, or None for
    anything :func:`parse_compact`'s reference path would refuse (which then decides, and words the refusal).

    Accepts exactly what the reference path accepts: three non-empty segments of ``[A-Za-z0-9_-]``, none of
    length 1 mod 4 or with non-zero unused bits. pybase64 decodes the URL alphabet itself (``altchars``,
    with ``validate``: anything outside the alphabet is refused), which saves translating the whole token
    first (~1.5 µs of a 3 KB token); it also takes ``+``, ``/`` and ``=`` (the standard alphabet, padding),
    which is why those are looked for first (tests/hardening/test_jose_fast.py compares the two paths)."""
    if _PLUS in raw or _SLASH in raw or _EQUALS in raw:
        return None
    first = raw.find(b".")
    second = raw.find(b".", first + 1) if first > 0 else -1
    if second <= first + 1 or second == len(raw) - 1 or raw.find(b".", second + 1) >= 0:
        return None
    decoded: list[bytes] = []
    for segment in (raw[:first], raw[first + 1:second], raw[second + 1:]):
        rem = len(segment) % 4
        if rem == 1 or (rem and _B64URL_INDEX.get(segment[-1], 0) & (0x0F if rem == 2 else 0x03)):
            return None
        try:
            decoded.append(_simd_b64decode(segment + _PADDING[rem], b"-_", True))  # altchars, validate
        except ValueError:  # binascii.Error: a byte outside the alphabet
            return None
    return decoded[0], decoded[1], decoded[2], second


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise ValueError(f"duplicate member name {k[:40]!r}")
            seen.add(k)
    return d


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON literal {name}")


#: one decoder, built once (json.loads would build a new one per call when given hooks)
_DECODER: Final = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def too_deep(obj: Any, max_depth: int) -> bool:
    """True if containers nest deeper than ``max_depth`` (the top-level object is depth 1)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        for v in node.values() if type(node) is dict else node:
            t = type(v)
            if t is dict or t is list:
                stack.append((v, depth + 1))
    return False


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _within_depth(node: dict[str, Any], depth: int, max_depth: int) -> bool:
    """True if containers nest at most ``max_depth`` deep (``node``, an object, is at ``depth``). An object and
    an array each have their own loop, so that the compiled code iterates them directly."""
    if depth > max_depth:
        return False
    for v in node.values():
        if isinstance(v, dict):
            if not _within_depth(v, depth + 1, max_depth):
                return False
        elif isinstance(v, list) and not _list_within_depth(v, depth + 1, max_depth):
            return False
    return True


def _list_within_depth(node: list[Any], depth: int, max_depth: int) -> bool:
    if depth > max_depth:
        return False
    for v in node:
        if isinstance(v, dict):
            if not _within_depth(v, depth + 1, max_depth):
                return False
        elif isinstance(v, list) and not _list_within_depth(v, depth + 1, max_depth):
            return False
    return True


def plain_json(node: Any, depth: int, max_depth: int) -> bool:
    """True if containers nest at most ``max_depth`` deep (``node`` is at ``depth``) and every scalar is a
    string, an integer, a boolean or null. A float (orjson also turns integers beyond 64 bits into floats)
    sends the segment to the standard decoder, whose number semantics are the reference."""
    if depth > max_depth:
        return False
    for v in node.values() if type(node) is dict else node:
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            continue
        if (t is dict or t is list) and plain_json(v, depth + 1, max_depth):
            continue
        return False
    return True


def _fast_json_object(raw: bytes, max_depth: int) -> dict[str, Any] | None:
    """The strict parse of ``raw`` when orjson can prove it cheaply, else None (then the standard decoder
    decides, and words any refusal).

    orjson refuses invalid or BOM-prefixed UTF-8, encoded and escaped lone surrogates, NaN/Infinity,
    trailing data and control characters exactly where the strict parse does, and builds equal values for
    strings, integers up to 64 bits, booleans and null (tests/hardening/test_jose_fast.py). Three things
    it does not check are checked here: floats (see :func:`plain_json`), depth (:func:`_within_depth`), and
    duplicate member names; for text that is exactly what orjson writes back, floats and duplicates follow
    from that equality (see the comments).
    Duplicates: every member has exactly one structural ``:``, and other colons of the text lie inside
    strings, raw or as the escape ``\\u003a``. Re-serialising the parsed object writes one ``:`` per member
    kept plus the colons of the strings kept. So ``colons(text) + escaped_colons(text) ==
    colons(orjson.dumps(obj))`` can only hold when no member was dropped, i.e. no name was repeated: the
    difference of the two sides is a sum of non-negative terms (members dropped, the raw colons of what
    was dropped, escapes counted that decoded to something else)."""
    try:
        obj = _orjson_loads(raw)
        if type(obj) is not dict:
            return None
        if _orjson_dumps(obj) == raw:
            # The text is what orjson writes for the value it read (compact JSON as most signers write
            # it): then no member was dropped, and every number reads back the same in any correctly
            # rounding parser (the standard library's). Depth is counted on the parsed value.
            return obj if _within_depth(obj, 1, max_depth) else None
        if not plain_json(obj, 1, max_depth):
            return None
        colons = raw.count(b":")
        if _BACKSLASH in raw:
            colons += raw.count(b"\\u003a") + raw.count(b"\\u003A")
        if _orjson_dumps(obj).count(b":") != colons:
            return None
    except Exception:  # anything orjson refuses is for the strict decoder to refuse (and word)
        return None
    return obj


def strict_json_object(raw: bytes, what: str, limits: JoseLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Parse ``raw`` as one JSON object: strict UTF-8 without BOM, no duplicate member names (also after
    unescaping), no NaN/Infinity, no lone surrogates, nesting at most ``limits.max_json_depth``."""
    fast = _fast_json_object(raw, limits.max_json_depth)
    if fast is not None:
        return fast
    return _strict_json_object(raw, what, limits)


def _strict_json_object(raw: bytes, what: str, limits: JoseLimits) -> dict[str, Any]:
    """The reference parse (standard decoder, duplicate-member hook): decides every refusal and its words."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JoseError("malformed_token", "RFC8725-3.7", what, f"{what} is not valid UTF-8") from exc
    if text.startswith("\ufeff"):
        raise JoseError("malformed_token", "RFC8259-8.1", what, f"{what} starts with a byte-order mark")
    try:
        # CPython's JSON scanner guards its recursion, so deep input fails here with RecursionError
        # (bounded work: the token size is capped before this); the depth policy is checked after.
        obj = _DECODER.decode(text)
    except RecursionError as exc:
        raise JoseError("malformed_token", "RFC7493-2", what,
                        f"{what} JSON is nested deeper than {limits.max_json_depth} levels") from exc
    except ValueError as exc:
        raise JoseError("malformed_token", "RFC7515-5.2", what, f"{what} is not strict JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise JoseError("malformed_token", "RFC7515-5.2", what, f"{what} is not a JSON object")
    if too_deep(obj, limits.max_json_depth):
        raise JoseError("malformed_token", "RFC7493-2", what,
                        f"{what} JSON is nested deeper than {limits.max_json_depth} levels")
    # A lone surrogate can only arrive through a \\uD8xx escape: strict UTF-8 already refused encoded ones.
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(obj):
        raise JoseError("malformed_token", "RFC7493-2.1", what, f"{what} contains a lone UTF-16 surrogate")
    return obj


def parse_compact(token: object, limits: JoseLimits = DEFAULT_LIMITS, *, payload_json: bool = True) -> CompactJWS:
    """Split and decode a compact JWS. Raises :class:`JoseError` (``malformed_token``) for anything that is
    not exactly ``base64url(header).base64url(payload).base64url(signature)`` with a JSON-object header and
    (unless ``payload_json`` is false, as for raw JWS test vectors) a JSON-object payload."""
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
    parts: list[bytes] = []
    if token.isascii():
        raw = token.encode("ascii")
        fast = _decode_segments(raw)
        if fast is not None:
            header_bytes, payload_bytes, signature, signed = fast
            header = strict_json_object(header_bytes, "header", limits)
            payload = strict_json_object(payload_bytes, "payload", limits) if payload_json else {}
            return CompactJWS(header, payload, raw[:signed], signature, payload_bytes)
        # the reference path: decides (and words) every refusal, in its order
        translated = _translate(raw, _COMPACT_TABLE)
        if _BANG not in translated:
            # exactly two dots, found with memchr (bytes.split walks the token byte by byte)
            first = translated.find(b".")
            second = translated.find(b".", first + 1) if first >= 0 else -1
            if second >= 0 and translated.find(b".", second + 1) < 0:
                parts = [translated[:first], translated[first + 1:second], translated[second + 1:]]
    if len(parts) != 3 or not (parts[0] and parts[1] and parts[2]):
        raise JoseError("malformed_token", "RFC7515-7.1", "token",
                        "not a compact JWS: expected three non-empty base64url segments separated by dots")
    h_seg, p_seg, s_seg = parts
    header = strict_json_object(_b64decode(h_seg, "header"), "header", limits)
    payload_bytes = _b64decode(p_seg, "payload")
    payload = strict_json_object(payload_bytes, "payload", limits) if payload_json else {}
    signature = _b64decode(s_seg, "signature")
    return CompactJWS(header, payload, raw[:len(h_seg) + 1 + len(p_seg)], signature, payload_bytes)


def check_header(header: dict[str, Any], *, algorithms: frozenset[str], typ: str | frozenset[str],
                 allowed_params: frozenset[str]) -> tuple[str, str]:
    """Apply the header policy; return ``(alg, kid)``. Order: ``crit``, parameters outside the allow-list,
    ``alg``, ``typ`` (compared exactly with ``typ``, or with each of a set of allowed values), ``kid``."""
    if "crit" in header:
        raise JoseError("unsupported_critical_header", "RFC7515-4.1.11", "header.crit",
                        "the token marks header extensions as critical; this verifier implements none")
    for name in header if "*" not in allowed_params else ():
        if name not in allowed_params:
            raise JoseError("malformed_token", "RFC8725-3.10", f"header.{_safe(name)}",
                            f"header parameter {_safe(name)!r} is not allowed (allowed: "
                            f"{', '.join(sorted(allowed_params))})")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        shown = _safe(alg) if isinstance(alg, str) else type(alg).__name__
        raise JoseError("unsupported_algorithm", "RFC8725-3.1", "header.alg",
                        f"algorithm {shown!r} is not allowed by this profile")
    t = header.get("typ")
    # one typ: compared exactly; a set of media types (an access token's): compared as media types are, case
    # insensitively and with or without the "application/" prefix (RFC 7515 4.1.9, RFC 9068 4)
    if (t != typ) if isinstance(typ, str) else (not isinstance(t, str) or media_type(t) not in typ):
        wanted = repr(typ) if isinstance(typ, str) else " or ".join(repr(x) for x in sorted(typ))
        raise JoseError("invalid_token_type", "RFC8725-3.11", "header.typ",
                        f"typ must be {wanted}" + (" (it is missing)" if t is None else ""))
    kid = header.get("kid")
    if not isinstance(kid, str) or _KID.fullmatch(kid) is None:
        raise JoseError("unknown_key", "RFC7515-4.1.4", "header.kid",
                        "kid is required: a string of 1-256 printable ASCII characters"
                        if kid is None or not isinstance(kid, str) else
                        "kid is not a string of 1-256 printable ASCII characters")
    return alg, kid


def media_type(typ: str) -> str:
    """A ``typ`` value as a media type for comparison: lower case, without the ``application/`` prefix."""
    t = typ.strip().lower()
    return t[12:] if t.startswith("application/") else t


_Verifier = Callable[[bytes, Any, bytes], None]

#: key type -> whether it is a private key (which verifies as its public key, as in PyJWT); cryptography's key
#: classes are ABCs, so an isinstance test per verification costs more than this lookup by concrete type
_PRIVATE_KEY_TYPES: Final[dict[type, bool]] = {}


def _public(key: Any) -> Any:
    kind = type(key)
    private = _PRIVATE_KEY_TYPES.get(kind)
    if private is None:
        private = isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
        _PRIVATE_KEY_TYPES[kind] = private
    return key.public_key() if private else key


def _ecdsa(hash_alg: hashes.HashAlgorithm) -> _Verifier:
    scheme = ec.ECDSA(hash_alg)

    def check(msg: bytes, key: Any, sig: bytes) -> None:
        # PyJWT's ECAlgorithm.verify: r || s, each as long as the key's curve order; a private key verifies as
        # its public key
        key = _public(key)
        n = (key.curve.key_size + 7) // 8
        if len(sig) != 2 * n:
            raise ValueError("Invalid signature")
        key.verify(encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big")),
                   msg, scheme)
    return check


def _rsa(pad: padding.AsymmetricPadding, hash_alg: hashes.HashAlgorithm) -> _Verifier:
    def check(msg: bytes, key: Any, sig: bytes) -> None:
        key.verify(sig, msg, pad, hash_alg)
    return check


def _eddsa(msg: bytes, key: Any, sig: bytes) -> None:
    _public(key).verify(sig, msg)


#: alg -> a check that returns for a valid signature and raises otherwise: PyJWT's verification (padding,
#: PSS salt = digest length, r || s conversion) with the scheme objects built once instead of per call
_VERIFIERS: Final[dict[str, _Verifier]] = {
    "ES256": _ecdsa(hashes.SHA256()), "ES384": _ecdsa(hashes.SHA384()), "ES512": _ecdsa(hashes.SHA512()),
    **{f"RS{n}": _rsa(padding.PKCS1v15(), h) for n, h in _HASHES.items()},
    **{f"PS{n}": _rsa(padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h) for n, h in _HASHES.items()},
    "EdDSA": _eddsa,
}


def verify_signature(jws: CompactJWS, alg: str, public_key: Any) -> bool:
    """True if ``jws.signature`` is a valid ``alg`` signature by ``public_key`` over the signing input.
    Never raises: any backend exception counts as an invalid signature."""
    check = _VERIFIERS.get(alg)
    if check is None:
        return False
    try:
        check(jws.signing_input, public_key, jws.signature)
    except Exception:
        return False
    return True


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def sign_compact(header: dict[str, Any], payload: dict[str, Any] | bytes, private_key: Any, alg: str) -> str:
    """Sign without any policy check (the library's ``sign``/``build`` check first; test harnesses that must
    produce bad tokens call this directly). ``payload`` may be raw bytes to sign odd encodings."""
    algorithm = get_default_algorithms().get(alg)
    if algorithm is None or alg == "none":
        raise ValueError(f"unknown algorithm {alg!r}")
    h = b64url(json_bytes(header))
    p = b64url(payload if isinstance(payload, bytes) else json_bytes(payload))
    sig = algorithm.sign(f"{h}.{p}".encode("ascii"), private_key)
    return f"{h}.{p}.{b64url(sig)}"


def _safe(value: str) -> str:
    """A short printable rendering of a token-supplied string for messages and logs (identity numbers
    masked)."""
    s = redact_identity_numbers(value[:80])[:64].encode("unicode_escape").decode("ascii")
    return s + ("..." if len(value) > 64 else "")
