"""Token builders for every attack class of JWT_ATTACKS.md section 1 (A1-J2).

Each class is a function ``(forge) -> list[Variant]``; :data:`ATTACKS` maps the class id to it. The functions
are reusable on their own: a hardening test builds a :class:`~attest.conformance.forge.Forge`, loads
``forge.trust_store()`` and runs every variant of :func:`all_variants` through ``attest.verify`` (or the
service), asserting each :class:`Variant`'s expectation.

Variants are *issuer-signed* (a trusted key signs the exact malformed bytes, so a verifier that looks past
the signature sees the bad content; these are the ones that find bugs), *attacker-signed* (an untrusted key
with the issuer's ``iss`` and ``kid``), signed by *another trusted issuer*, or *unsigned*. The variants
named in :data:`CORE` make up the default corpus; ``attest conformance generate --all-variants`` writes
every variant.

Expected codes follow CONTRACT.md section 5; the expected rule ids are the RFC sections this library
reports. Where the contract leaves the order of checks open (an attacker-signed token whose header or
payload is also malformed) the other legitimate outcome is listed in ``accept_also``.
"""

from __future__ import annotations

import base64
import datetime
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from ..jose import b64url, json_bytes
from .corpus import Expectation, deny, permit
from .forge import (
    _ORDERS,
    DROP,
    ED25519_L,
    OTHER_FNRS,
    PATIENT_FNR,
    Forge,
    SigningKey,
    b64decode,
    segment,
    sign_jws,
    split,
)

# rule ids this library reports for token-level findings (informational; see Expectation.rules)
R_FRAMING = "RFC7515-7.1"
R_B64 = "RFC7515-2"
R_B64_CANON = "RFC4648-3.5"
R_JSON = "RFC7515-5.2"
R_UTF8 = "RFC8725-3.7"
R_BOM = "RFC8259-8.1"
R_DEPTH = "RFC7493-2"
R_SURROGATE = "RFC7493-2.1"
R_SIZE = "RFC8725-3.15"
R_HEADER_PARAM = "RFC8725-3.10"
R_ALG = "RFC8725-3.1"
R_TYP = "RFC8725-3.11"
R_CRIT = "RFC7515-4.1.11"
R_KEY_LOOKUP = "RFC8725-3.8"
R_KID_FORMAT = "RFC7515-4.1.4"
R_SIG = "RFC7515-5.2"
R_ISS = "RFC7519-4.1.1"
R_AUD = "RFC7519-4.1.3"
R_AUD_MATCH = "RFC8725-3.9"
R_NUMERIC_DATE = "RFC7519-2"
R_REQUIRED = "RFC7519-4.1"
R_EXP = "RFC7519-4.1.4"
R_NBF = "RFC7519-4.1.5"
R_IAT = "RFC7519-4.1.6"
R_JTI = "RFC7519-4.1.7"
R_LIFETIME = "RFC8725-3.10"


@dataclass(frozen=True)
class Variant:
    """One attack token and what a conforming verifier decides."""

    name: str
    description: str
    token: str
    expect: Expectation
    signed_by: str = "issuer"          # issuer | attacker | other-issuer | unsigned
    prelude: tuple[str, ...] = ()
    #: the decision each prelude token must get (default: permit)
    prelude_expect: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    #: a trust-store document to load instead of the corpus's own (class C7)
    trust: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def _kid_rule(kid: object) -> str:
    """Which rule this library reports for an unusable kid: its format check, or the key lookup."""
    import re

    if isinstance(kid, str) and re.fullmatch(r"[\x21-\x7e]{1,256}", kid, re.ASCII):
        return R_KEY_LOOKUP
    return R_KID_FORMAT


# --- A. algorithm handling -------------------------------------------------------------------------------

def a1_alg_none(f: Forge) -> list[Variant]:
    k = f.issuer.key
    claims = f.claims("A1")
    valid = f.token("A1-valid")
    _, _, valid_sig = split(valid)
    out: list[Variant] = []

    def none_header(alg: str) -> dict[str, Any]:
        return {"alg": alg, "kid": k.kid, "typ": "attestation+jwt"}

    h, p = segment(none_header("none")), segment(claims)
    out.append(Variant("none-empty-signature", "alg none with an empty signature segment (h.p.)",
                       f"{h}.{p}.", deny("malformed_token", R_FRAMING,
                                         accept_also=[["unsupported_algorithm"]]),
                       "unsigned"))
    out.append(Variant("none-two-segments", "alg none with no signature segment at all (h.p)",
                       f"{h}.{p}", deny("malformed_token", R_FRAMING), "unsigned"))
    out.append(Variant("none-with-valid-signature", "alg none carrying a valid signature of the issuer",
                       f"{h}.{p}.{valid_sig}", deny("unsupported_algorithm", R_ALG), "unsigned"))
    for i, alg in enumerate(("None", "NONE", "nOnE", "none ", "none\u0000")):
        hh = segment(none_header(alg))
        out.append(Variant(f"case-{i}", f"alg {alg!r} (case/whitespace variant of none) with signature AAAA",
                           f"{hh}.{p}.AAAA", deny("unsupported_algorithm", R_ALG), "unsigned"))
    return out


def a2_alg_edge(f: Forge) -> list[Variant]:
    k = f.issuer.keys["es256"]
    out = []
    values: list[tuple[str, Any]] = [("absent", DROP), ("empty", ""), ("null", None), ("list", ["ES256"]),
                                     ("list-none", ["none", "ES256"]), ("object", {"a": 1}),
                                     ("lowercase", "es256"), ("leading-space", " ES256"),
                                     ("trailing-space", "ES256 "), ("nul", "ES256\u0000"), ("tab", "\tES256")]
    for name, v in values:
        tok = sign_jws(f.header(k, alg=v), f.claims(f"A2-{name}"), k, "ES256")
        out.append(Variant(name, f"issuer-signed ES256 token whose alg is {v!r}" if v is not DROP else
                           "issuer-signed ES256 token without alg", tok,
                           deny("unsupported_algorithm", R_ALG)))
    return out


def a3_alg_not_allowlisted(f: Forge) -> list[Variant]:
    out = []
    hmac_key = SigningKey("hs", f.issuer.keys["rs256"].kid, "HS256", f.drbg.bytes("A3/hmac", 32))
    for alg in ("HS256", "HS384", "HS512"):
        tok = sign_jws(f.header(hmac_key, alg=alg), f.claims(f"A3-{alg}"), hmac_key, alg)
        out.append(Variant(alg.lower(), f"{alg} (HMAC) with a random secret", tok,
                           deny("unsupported_algorithm", R_ALG), "attacker"))
    k1 = f.extra["es256k"]
    tok = sign_jws(f.header(k1, kid=f.issuer.keys["es256"].kid), f.claims("A3-es256k"), k1)
    out.append(Variant("es256k", "ES256K (secp256k1) signature under the issuer's ES256 kid", tok,
                       deny("unsupported_algorithm", R_ALG), "attacker"))
    ed = f.issuer.keys["eddsa"]
    tok = sign_jws(f.header(ed, alg="Ed25519"), f.claims("A3-ed25519"), ed, "EdDSA")
    out.append(Variant("ed25519-name",
                       "valid Ed25519 signature by the issuer under the RFC 9864 name Ed25519",
                       tok, deny("unsupported_algorithm", R_ALG)))
    rs = f.issuer.keys["rs256"]
    for alg in ("RSA1_5", "dir"):
        tok = sign_jws(f.header(rs, alg=alg), f.claims(f"A3-{alg}"), rs, "RS256")
        out.append(Variant(alg.lower().replace("_", ""), f"key-management algorithm {alg} as a JWS alg", tok,
                           deny("unsupported_algorithm", R_ALG)))
    return out


def a4_hmac_key_confusion(f: Forge) -> list[Variant]:
    rs, es = f.issuer.keys["rs256"], f.issuer.keys["es256"]
    pub = rs.private_key.public_key()
    pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    secrets: list[tuple[str, str, bytes, SigningKey]] = [
        ("spki-pem", "the issuer's RSA public key as SPKI PEM", pem, rs),
        ("spki-pem-crlf", "SPKI PEM with CRLF line ends", pem.replace(b"\n", b"\r\n"), rs),
        ("pkcs1-pem", "PKCS#1 RSA PUBLIC KEY PEM",
         pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1), rs),
        ("spki-der", "SPKI DER bytes",
         pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo), rs),
        ("jwk-json", "the issuer's public JWK JSON", json.dumps(rs.public_jwk()).encode(), rs),
        ("jwks-json", "the issuer's JWKS JSON", json.dumps({"keys": [rs.public_jwk()]}).encode(), rs),
        ("modulus", "the raw RSA modulus bytes", base64.urlsafe_b64decode(rs.public_jwk()["n"] + "=="), rs),
        ("ec-x", "the EC key's x coordinate", b64decode(es.public_jwk()["x"]), es),
        ("ssh", "the OpenSSH ecdsa-sha2-nistp256 public key line",
         es.private_key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                  serialization.PublicFormat.OpenSSH), es),
    ]
    out = []
    for name, desc, secret, target in secrets:
        hk = SigningKey("hs", target.kid, "HS256", secret)
        tok = sign_jws(f.header(hk, alg="HS256"), f.claims(f"A4-{name}"), hk, "HS256")
        out.append(Variant(name, f"HS256 keyed with {desc} (RS/ES -> HS confusion), kid of that key", tok,
                           deny("unsupported_algorithm", R_ALG), "attacker"))
    return out


def a5_alg_key_type_mismatch(f: Forge) -> list[Variant]:
    ks = f.issuer.keys
    pairs = [("es256-to-rsa", "ES256 signature (by the issuer's EC key) with the kid of its RSA key",
              "es256", "rs256"),
             ("rs256-to-ec", "RS256 signature with the kid of the issuer's P-256 key", "rs256", "es256"),
             ("eddsa-to-ec", "EdDSA signature with the kid of the issuer's P-256 key", "eddsa", "es256"),
             ("es384-to-p256", "ES384 signature (P-384 key) with the kid of the P-256 key", "es384", "es256"),
             ("es256-to-p384", "ES256 signature with the kid of the P-384 key", "es256", "es384")]
    out = []
    for name, desc, signer, target in pairs:
        tok = sign_jws(f.header(ks[signer], kid=ks[target].kid), f.claims(f"A5-{name}"), ks[signer])
        out.append(Variant(name, desc, tok, deny("unsupported_algorithm", R_ALG)))
    return out


def a6_alg_family_swap(f: Forge) -> list[Variant]:
    rs, ps = f.issuer.keys["rs256"], f.issuer.keys["ps256"]
    out = []
    tok = sign_jws(f.header(rs, alg="PS256"), f.claims("A6-ps-with-rs-key"), rs, "PS256")
    out.append(Variant("ps256-with-rs256-key", "valid PS256 signature by the key published for RS256 only",
                       tok,
                       deny("unsupported_algorithm", R_ALG)))
    tok = sign_jws(f.header(ps, alg="RS256"), f.claims("A6-rs-with-ps-key"), ps, "RS256")
    out.append(Variant("rs256-with-ps256-key", "valid RS256 signature by the key published for PS256 only",
                       tok,
                       deny("unsupported_algorithm", R_ALG)))
    claims = f.claims("A6-relabel")
    rs_tok = sign_jws(f.header(rs), claims, rs)
    _, _, sig = split(rs_tok)
    h = segment(f.header(rs, alg="PS256"))
    out.append(Variant("relabel-rs-as-ps", "an RS256 signature relabelled PS256",
                       f"{h}.{segment(claims)}.{sig}",
                       deny("unsupported_algorithm", R_ALG)))
    return out


# --- B. signature value encoding -------------------------------------------------------------------------

def _with_sig(token: str, sig: bytes) -> str:
    h, p, _ = split(token)
    return f"{h}.{p}.{b64url(sig)}"


def _rs(token: str, size: int) -> tuple[int, int]:
    sig = b64decode(split(token)[2])
    return int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")


def b1_psychic_zero(f: Forge) -> list[Variant]:
    out = []
    for name, key, size in (("es256", "es256", 64), ("es384", "es384", 96)):
        tok = f.token(f"B1-{name}", key=f.issuer.keys[key])
        out.append(Variant(name, f"{name.upper()} token whose signature is {size} zero bytes (r = s = 0, "
                           "CVE-2022-21449)", _with_sig(tok, b"\x00" * size),
                           deny("invalid_signature", R_SIG),
                           "attacker"))
    return out


def b2_ecdsa_range(f: Forge) -> list[Variant]:
    n = _ORDERS["P-256"]
    tok = f.token("B2", key=f.issuer.keys["es256"])
    r, s = _rs(tok, 32)
    pairs = [("r-is-n", "r = n, valid s", n, s), ("s-is-n", "valid r, s = n", r, n),
             ("one-one", "r = s = 1", 1, 1), ("n-minus-1", "r = s = n - 1", n - 1, n - 1),
             ("max", "r = s = 2^256 - 1", 2**256 - 1, 2**256 - 1),
             ("r-plus-n", "r + n (overflows 32 bytes)", r + n, s)]
    out = []
    for name, desc, rr, ss in pairs:
        sig = rr.to_bytes(33 if rr >= 2**256 else 32, "big") + ss.to_bytes(32, "big")
        out.append(Variant(name, f"ES256 signature with {desc}", _with_sig(tok, sig),
                           deny("invalid_signature", R_SIG), "attacker"))
    return out


def b3_ecdsa_encoding(f: Forge) -> list[Variant]:
    tok = f.token("B3", key=f.issuer.keys["es256"])
    raw = b64decode(split(tok)[2])
    r, s = _rs(tok, 32)
    forms = [("der", "the DER encoding of the valid (r, s)", encode_dss_signature(r, s)),
             ("63-bytes", "the valid signature minus its last byte", raw[:-1]),
             ("65-bytes", "the valid signature plus a zero byte", raw + b"\x00"),
             ("66-bytes", "zero-padded r and s (33 + 33 bytes)", b"\x00" + raw[:32] + b"\x00" + raw[32:]),
             ("96-bytes", "an ES384-size signature under ES256", raw + b"\x00" * 32),
             ("swapped", "r and s swapped", raw[32:] + raw[:32]),
             ("one-byte", "a single zero byte", b"\x00")]
    return [Variant(name, f"ES256 token with {desc}", _with_sig(tok, sig), deny("invalid_signature", R_SIG),
                    "attacker") for name, desc, sig in forms]


def _high_s(token: str) -> str:
    n = _ORDERS["P-256"]
    r, s = _rs(token, 32)
    return _with_sig(token, r.to_bytes(32, "big") + (n - s).to_bytes(32, "big"))


def b4_high_s(f: Forge) -> list[Variant]:
    k = f.issuer.keys["es256"]
    fresh = f.token("B4-fresh", key=k)
    original = f.token("B4-replay", key=k)
    return [
        Variant("other-s-accepted",
                "ES256 signature re-spelled as (r, n - s): still a valid signature, a fresh jti",
                _high_s(fresh), permit(), "issuer"),
        Variant("other-s-replay",
                "the (r, n - s) re-spelling of a token already used: the same jti, a replay",
                _high_s(original), deny("token_replayed", R_JTI), "issuer", prelude=(original,),
                requires=("replay",)),
    ]


def b5_rsa_signature(f: Forge) -> list[Variant]:
    k = f.issuer.keys["rs256"]
    tok = f.token("B5", key=k)
    sig = b64decode(split(tok)[2])
    size = len(sig)
    n = k.private_key.public_key().public_numbers().n
    forms = [("leading-zero", "a zero byte prepended (k + 1 bytes, same integer)", b"\x00" + sig),
             ("trailing-zero", "a zero byte appended", sig + b"\x00"),
             ("half", "truncated to k/2 bytes", sig[: size // 2]),
             ("zeros", "k zero bytes", b"\x00" * size),
             ("one", "the integer 1", (1).to_bytes(size, "big")),
             ("n-minus-1", "the integer n - 1", (n - 1).to_bytes(size, "big")),
             ("n", "the integer n", n.to_bytes(size, "big")),
             ("double", "2k bytes", sig + sig)]
    return [Variant(name, f"RS256 token whose signature is {desc}", _with_sig(tok, s),
                    deny("invalid_signature", R_SIG), "attacker") for name, desc, s in forms]


def b6_eddsa_noncanonical(f: Forge) -> list[Variant]:
    tok = f.token("B6", key=f.issuer.keys["eddsa"])
    sig = b64decode(split(tok)[2])
    r_part, s_int = sig[:32], int.from_bytes(sig[32:], "little")
    identity = (1).to_bytes(32, "little")  # the neutral point (small order)
    forms = [("s-plus-l", "S replaced by S + L (non-canonical)",
              r_part + (s_int + ED25519_L).to_bytes(32, "little")),
             ("small-order-r", "R the neutral point, S = 0", identity + b"\x00" * 32),
             ("63-bytes", "63 bytes", sig[:-1]),
             ("65-bytes", "65 bytes", sig + b"\x00"),
             ("ed448-length", "114 bytes (an Ed448-length signature)", sig + sig[:50])]
    return [Variant(name, f"EdDSA token whose signature is {desc}", _with_sig(tok, s),
                    deny("invalid_signature", R_SIG), "attacker") for name, desc, s in forms]


def b7_transplant(f: Forge) -> list[Variant]:
    k = f.issuer.key
    tok = f.token("B7")
    h, p, s = split(tok)
    other = f.token("B7-other")
    _, _, s_other = split(other)
    header = json.loads(b64decode(h))
    reordered = segment(json.dumps(dict(reversed(list(header.items()))), separators=(",", ":")).encode())
    claims = json.loads(b64decode(p))
    claims["attestation"]["patients"][0]["identifier"]["id"] = OTHER_FNRS[0]
    respaced = segment(json.dumps(json.loads(b64decode(p)), indent=1, ensure_ascii=False).encode("utf-8"))
    assert k  # the issuer's key made the original signature
    return [
        Variant("header-reordered", "header members re-ordered, payload and signature of a valid token",
                f"{reordered}.{p}.{s}", deny("invalid_signature", R_SIG), "attacker"),
        Variant("payload-modified",
                "another patient put into a valid token's payload, its old signature kept",
                f"{h}.{segment(claims)}.{s}", deny("invalid_signature", R_SIG), "attacker"),
        Variant("signature-of-other-token", "the signature of another valid token of the same issuer",
                f"{h}.{p}.{s_other}", deny("invalid_signature", R_SIG), "attacker"),
        Variant("payload-respaced", "the same claims re-serialised with whitespace (signing input changes)",
                f"{h}.{respaced}.{s}", deny("invalid_signature", R_SIG), "attacker"),
    ]


# --- C. key selection and key injection -------------------------------------------------------------------

def c1_header_jwk(f: Forge) -> list[Variant]:
    out = []
    for name, alg, target in (("es256", "ES256", "es256"), ("rs256", "RS256", "rs256")):
        atk = f.attacker[alg]
        h = f.header(atk, kid=f.issuer.keys[target].kid, jwk=atk.public_jwk())
        out.append(Variant(f"attacker-{name}", f"attacker {alg} key embedded as header jwk, issuer's kid, "
                           "signed by the attacker", sign_jws(h, f.claims(f"C1-{name}"), atk),
                           deny("malformed_token", R_HEADER_PARAM, accept_also=[["invalid_signature"]]),
                           "attacker"))
    atk = f.attacker["ES256"]
    h = f.header(atk, kid=DROP, jwk=atk.public_jwk())
    out.append(Variant("attacker-no-kid", "attacker key embedded as header jwk, no kid",
                       sign_jws(h, f.claims("C1-nokid"), atk),
                       deny("malformed_token", R_HEADER_PARAM,
                            accept_also=[["unknown_key"], ["invalid_signature"]]), "attacker"))
    k = f.issuer.key
    h = f.header(k, jwk=k.public_jwk())
    out.append(Variant("issuer-own-jwk",
                       "the issuer's own key in header jwk, issuer-signed: jwk is never allowed",
                       sign_jws(h, f.claims("C1-own"), k), deny("malformed_token", R_HEADER_PARAM), "issuer"))
    return out


def c2_jku_x5u(f: Forge) -> list[Variant]:
    atk = f.attacker["ES256"]
    kid = f.issuer.keys["es256"].kid
    urls = [("jku-attacker", "jku", "https://attacker.example/jwks.json"),
            ("jku-metadata", "jku", "http://169.254.169.254/latest/meta-data/"),
            ("jku-userinfo", "jku", "https://issuer.conformance.example@attacker.example/jwks.json"),
            ("jku-file", "jku", "file:///etc/passwd"),
            ("x5u-attacker", "x5u", "https://attacker.example/cert.pem"),
            ("x5u-loopback", "x5u", "http://127.0.0.1:1/cert.pem")]
    return [Variant(name, f"attacker-signed token with {param} {url} (must not be fetched)",
                    sign_jws(f.header(atk, kid=kid, **{param: url}), f.claims(f"C2-{name}"), atk),
                    deny("malformed_token", R_HEADER_PARAM, accept_also=[["invalid_signature"]]), "attacker")
            for name, param, url in urls]


def _self_signed_cert(f: Forge, key: SigningKey, cn: str) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = datetime.datetime.fromtimestamp(f.now - 86400, tz=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.private_key.public_key())
            .serial_number(1 + f.drbg.int_below(f"cert/{cn}", 2**63))
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=30))
            .sign(key.private_key, None))
    return cert.public_bytes(serialization.Encoding.DER)


def c3_x5c(f: Forge) -> list[Variant]:
    atk = f.attacker["EdDSA"]
    kid = f.issuer.keys["eddsa"].kid
    der = _self_signed_cert(f, atk, f.issuer.iss)
    chain = [base64.b64encode(der).decode()]
    alt = [["invalid_signature"]]
    return [
        Variant("self-signed",
                "attacker self-signed certificate (subject = the issuer) in x5c, attacker-signed",
                sign_jws(f.header(atk, kid=kid, x5c=chain), f.claims("C3-self"), atk),
                deny("malformed_token", R_HEADER_PARAM, accept_also=alt), "attacker"),
        Variant("bad-base64", "x5c with invalid base64, attacker-signed",
                sign_jws(f.header(atk, kid=kid, x5c=["!!!not base64!!!"]), f.claims("C3-bad"), atk),
                deny("malformed_token", R_HEADER_PARAM, accept_also=alt), "attacker"),
        Variant("x5t-mismatch", "x5t#S256 that matches no key, attacker-signed",
                sign_jws(f.header(atk, kid=kid, **{"x5t#S256": b64url(b"\x00" * 32)}), f.claims("C3-x5t"),
                         atk),
                deny("malformed_token", R_HEADER_PARAM, accept_also=alt), "attacker"),
    ]


def c4_kid_injection(f: Forge) -> list[Variant]:
    k = f.issuer.key
    kids = [("path-traversal", "../../../../dev/null"), ("dev-null", "/dev/null"),
            ("windows-path", "..\\..\\windows\\win.ini"), ("sql", "x' UNION SELECT 'k'--"),
            ("sql-or", "' OR '1'='1"), ("nosql", '{"$ne":null}'), ("shell", "|sleep 5"),
            ("subshell", "$(id)"), ("ldap", "*)(uid=*"),
            ("crlf", f"{k.kid}\r\nX-Injected: 1"), ("nul", f"{k.kid}\u0000other"),
            ("ansi", "\u001b[31m"), ("trailing-space", f"{k.kid} "), ("case", k.kid.upper()),
            ("fullwidth", "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in k.kid)),
            ("url", "http://attacker.example/k"), ("long", "k" * 300)]
    out = []
    for name, kid in kids:
        tok = sign_jws(f.header(k, kid=kid), f.claims(f"C4-{name}"), k)
        out.append(Variant(name, f"issuer-signed token with kid {kid[:40]!r}", tok,
                           deny("unknown_key", _kid_rule(kid))))
    atk = f.attacker[k.alg] if k.alg in f.attacker else f.attacker["EdDSA"]
    tok = sign_jws(f.header(atk, kid="../../../../dev/null"), f.claims("C4-attacker"), atk)
    out.append(Variant("attacker-path-traversal", "attacker-signed token with kid ../../../../dev/null", tok,
                       deny("unknown_key", R_KEY_LOOKUP), "attacker"))
    return out


def c5_kid_degenerate(f: Forge) -> list[Variant]:
    k = f.issuer.key
    kids: list[tuple[str, Any]] = [("absent", DROP), ("empty", ""), ("null", None),
                                         ("zero", 0), ("list", [k.kid]), ("empty-list", []),
                                         ("object", {"k": "v"}), ("true", True),
                                         ("star", "*"), ("default", "default"),
                                         ("string-null", "null")]
    out = []
    for name, kid in kids:
        tok = sign_jws(f.header(k, kid=kid), f.claims(f"C5-{name}"), k)
        desc = "issuer-signed token without kid" if kid is DROP else f"issuer-signed token with kid {kid!r}"
        out.append(Variant(name, desc, tok, deny("unknown_key", _kid_rule(kid))))
    b = f.other_issuer.key
    tok = sign_jws(f.header(b), f.claims("C5-other-kid"), b)
    out.append(Variant("other-issuers-kid", "iss of issuer A, kid and signature of trusted issuer B", tok,
                       deny("unknown_key", R_KEY_LOOKUP), "other-issuer"))
    return out


def c6_key_of_other_issuer(f: Forge) -> list[Variant]:
    b = f.other_issuer.key
    same_alg_kid = f.issuer.keys["es256"].kid if b.alg == "ES256" else f.issuer.key.kid
    att = f.attestation()
    att["practitioner"]["legal_entity"]["id"] = f.issuer.legal_entities[0]
    return [
        Variant("a-kid-b-signature", "iss and kid of issuer A, signed with trusted issuer B's key",
                sign_jws(f.header(b, kid=same_alg_kid), f.claims("C6-a-kid"), b),
                deny("invalid_signature", R_SIG), "other-issuer"),
        Variant("b-signs-for-a", "trusted issuer B signs (its own iss and kid) for issuer A's organisation",
                f.token("C6-b-for-a", att, party=f.other_issuer),
                deny("legal_entity_mismatch", "ATT-13"), "other-issuer"),
    ]


def c7_truststore(f: Forge) -> list[Variant]:
    """Valid tokens whose key is listed in a broken trust store: the loader must refuse the store (or at
    least the key); a loader that accepts it lets the token through."""
    c7 = f.extra["c7-es256"]
    out = []

    def variant(name: str, desc: str, jwks_extra: list[dict[str, Any]], key: SigningKey) -> Variant:
        doc = f.trust_document()
        doc["issuers"][0]["jwks"]["keys"].extend(jwks_extra)
        tok = sign_jws(f.header(key), f.claims(f"C7-{name}"), key)
        return Variant(name, desc, tok, Expectation("deny", (), (), (), trust_refused=True), "issuer",
                       requires=("trust-variant",), trust=doc)

    jwk = c7.public_jwk()
    out.append(variant("use-enc", "the signing key is published with use enc", [{**jwk, "use": "enc"}], c7))
    no_use = {k: v for k, v in jwk.items() if k != "use"}
    out.append(variant("key-ops-encrypt", "the signing key is published with key_ops [encrypt]",
                       [{**no_use, "key_ops": ["encrypt"]}], c7))
    decoy = {**f.attacker["ES256"].public_jwk(), "kid": c7.kid}
    out.append(variant("duplicate-kid", "two keys with the signing key's kid (a decoy first)", [decoy, jwk],
                       c7))
    d = c7.private_key.private_numbers().private_value.to_bytes(32, "big")
    out.append(variant("private-member", "the signing key is published with its private member d",
                       [{**jwk, "d": b64url(d)}], c7))
    hk = f.extra["hmac"]
    out.append(variant("oct-key", "a symmetric (kty oct) key signs HS256", [hk.public_jwk()], hk))
    rk = f.extra["rsa1024"]
    out.append(variant("rsa-1024", "a 1024-bit RSA key signs RS256", [rk.public_jwk()], rk))
    out.append(variant("alg-crv-mismatch", "a P-256 key published as alg ES512 signs ES256",
                       [{**jwk, "alg": "ES512"}], c7))
    return out


# --- D. header semantics, token kind, format ------------------------------------------------------------

def d1_crit(f: Forge) -> list[Variant]:
    k = f.issuer.key
    values: list[tuple[str, dict[str, Any]]] = [
        ("unknown", {"crit": ["x-hpr"], "x-hpr": 1}), ("unknown-absent", {"crit": ["x-hpr"]}),
        ("empty", {"crit": []}), ("string", {"crit": "exp"}), ("registered", {"crit": ["alg"]}),
        ("b64-absent", {"crit": ["b64"]}), ("duplicate", {"crit": ["b64", "b64"]}),
        ("number", {"crit": [1]}), ("null", {"crit": None})]
    out = []
    for name, extra in values:
        tok = sign_jws(f.header(k, **extra), f.claims(f"D1-{name}"), k)
        out.append(Variant(name, f"issuer-signed token with {json.dumps(extra)}", tok,
                           deny("unsupported_critical_header", R_CRIT)))
    atk = f.attacker.get(k.alg, f.attacker["EdDSA"])
    tok = sign_jws(f.header(atk, kid=k.kid, crit=["x-hpr"], **{"x-hpr": 1}), f.claims("D1-attacker"), atk)
    out.append(Variant("attacker-unknown", "attacker-signed token with crit [x-hpr]", tok,
                       deny("unsupported_critical_header", R_CRIT,
                            accept_also=[["invalid_signature"]]), "attacker"))
    return out


def d2_b64(f: Forge) -> list[Variant]:
    k = f.issuer.key
    claims = f.claims("D2-detached")
    raw = json_bytes(claims)
    h = segment(f.header(k, b64=False, crit=["b64"]))
    sig_unencoded = b64url(k.sign(h.encode("ascii") + b"." + raw))
    out = [
        Variant("unencoded-detached", "b64 false + crit [b64], RFC 7797 signature, detached (empty) payload",
                f"{h}..{sig_unencoded}", deny("malformed_token", R_FRAMING,
                                              accept_also=[["unsupported_critical_header"]])),
        Variant("unencoded-inline", "b64 false + crit [b64] with the raw JSON in the payload segment",
                f"{h}.{raw.decode()}.{sig_unencoded}", deny("malformed_token", R_FRAMING,
                                                            accept_also=[["unsupported_critical_header"]])),
    ]
    forms: list[tuple[str, dict[str, Any], str, str]] = [
        ("false-no-crit", {"b64": False}, "malformed_token", R_HEADER_PARAM),
        ("true-crit", {"b64": True, "crit": ["b64"]}, "unsupported_critical_header", R_CRIT),
        ("false-string", {"b64": "false"}, "malformed_token", R_HEADER_PARAM)]
    for name, extra, code, rule in forms:
        tok = sign_jws(f.header(k, **extra), f.claims(f"D2-{name}"), k)
        out.append(Variant(name, f"issuer-signed token with {json.dumps(extra)}", tok, deny(code, rule)))
    return out


def d3_typ(f: Forge) -> list[Variant]:
    k = f.issuer.key
    values: list[tuple[str, Any]] = [("absent", DROP), ("jwt", "JWT"), ("jwt-lower", "jwt"),
                                           ("at-jwt", "at+jwt"), ("dpop", "dpop+jwt"),
                                           ("secevent", "secevent+jwt"), ("sd-jwt", "vc+sd-jwt"),
                                           ("jose", "JOSE"), ("trailing-space", "attestation+jwt "),
                                           ("nul", "attestation+jwt\u0000"), ("number", 1),
                                           ("array", ["attestation+jwt"])]
    out = []
    for name, typ in values:
        tok = sign_jws(f.header(k, typ=typ), f.claims(f"D3-{name}"), k)
        desc = "issuer-signed token without typ" if typ is DROP else f"issuer-signed token with typ {typ!r}"
        out.append(Variant(name, desc, tok, deny("invalid_token_type", R_TYP)))
    atk = f.attacker.get(k.alg, f.attacker["EdDSA"])
    tok = sign_jws(f.header(atk, kid=k.kid, typ="JWT"), f.claims("D3-attacker"), atk)
    out.append(Variant("attacker-jwt", "attacker-signed token with typ JWT", tok,
                       deny("invalid_token_type", R_TYP, accept_also=[["invalid_signature"]]), "attacker"))
    return out


def d4_cty_nested(f: Forge) -> list[Variant]:
    k = f.issuer.key
    inner = f.token("D4-inner")
    h = segment(f.header(k, cty="JWT"))
    p = b64url(inner.encode("ascii"))
    nested = f"{h}.{p}.{b64url(k.sign(f'{h}.{p}'.encode()))}"
    hn = segment({"alg": "none", "cty": "JWT"})
    return [
        Variant("nested-issuer-signed",
                "outer cty JWT (issuer-signed) whose payload is a valid inner attestation",
                nested, deny("malformed_token", R_JSON)),
        Variant("cty-json-payload", "cty JWT with an ordinary JSON payload, issuer-signed",
                sign_jws(f.header(k, cty="JWT"), f.claims("D4-cty"), k),
                deny("malformed_token", R_HEADER_PARAM)),
        Variant("outer-none", "outer alg none wrapping a valid inner token", f"{hn}.{p}.",
                deny("malformed_token", R_FRAMING, accept_also=[["unsupported_algorithm"]]), "unsigned"),
        Variant("cty-application-json", "cty application/json, issuer-signed",
                sign_jws(f.header(k, cty="application/json"), f.claims("D4-appjson"), k),
                deny("malformed_token", R_HEADER_PARAM)),
    ]


def d5_jwe(f: Forge) -> list[Variant]:
    k = f.issuer.key
    iv, ct, tag = f.drbg.bytes("D5/iv", 12), f.drbg.bytes("D5/ct", 64), f.drbg.bytes("D5/tag", 16)
    jwe = (f"{segment({'alg': 'dir', 'enc': 'A128GCM', 'kid': k.kid})}..{b64url(iv)}.{b64url(ct)}."
           f"{b64url(tag)}")
    pbes = (f"{segment({'alg': 'PBES2-HS256+A128KW', 'enc': 'A128GCM', 'p2c': 100_000_000, 'p2s': 'AAAA'})}."
            f"{b64url(f.drbg.bytes('D5/ek', 24))}.{b64url(iv)}.{b64url(ct)}.{b64url(tag)}")
    deflated = zlib.compress(json_bytes(f.claims("D5-zip")))[2:-4]
    h = segment(f.header(k, zip="DEF"))
    p = b64url(deflated)
    zipped = f"{h}.{p}.{b64url(k.sign(f'{h}.{p}'.encode()))}"
    return [
        Variant("jwe-dir", "a 5-segment compact JWE (alg dir)", jwe, deny("malformed_token", R_FRAMING),
                "unsigned"),
        Variant("jwe-pbes2", "a compact JWE with PBES2 and p2c = 10^8 (must not be attempted)", pbes,
                deny("malformed_token", R_FRAMING), "unsigned"),
        Variant("enc-in-jws", "a JWS whose header also carries enc A256GCM, issuer-signed",
                sign_jws(f.header(k, enc="A256GCM"), f.claims("D5-enc"), k),
                deny("malformed_token", R_HEADER_PARAM)),
        Variant("zip-deflate", "a JWS with zip DEF and a DEFLATE-compressed payload, issuer-signed", zipped,
                deny("malformed_token", R_UTF8)),
    ]


def d6_json_serialization(f: Forge) -> list[Variant]:
    tok = f.token("D6")
    h, p, s = split(tok)
    flattened = json.dumps({"protected": h, "payload": p, "signature": s})
    general = json.dumps({"payload": p, "signatures": [{"protected": h, "signature": s}]})
    polyglot = json.dumps({f"  {h}.{p}.{s}  ": "", "protected": h, "payload": p, "signature": s})
    return [
        Variant("flattened", "JWS JSON flattened serialization of a valid token", flattened,
                deny("malformed_token", R_FRAMING)),
        Variant("general", "JWS JSON general serialization", general, deny("malformed_token", R_FRAMING)),
        Variant("polyglot", "a CVE-2022-39227-style JSON/compact polyglot", polyglot,
                deny("malformed_token", R_FRAMING)),
        Variant("quoted", "a valid compact token inside double quotes", f'"{tok}"',
                deny("malformed_token", R_FRAMING)),
    ]


def d7_unknown_header(f: Forge) -> list[Variant]:
    k = f.issuer.key
    params: list[tuple[str, dict[str, Any]]] = [
        ("x-admin", {"x-admin": True}), ("nonce", {"nonce": "n-0S6_WzA2Mj"}),
        ("url", {"url": "https://source.example/v1/documents"}), ("ppt", {"ppt": "shaken"}),
        ("svt", {"svt": ["x"]})]
    out = []
    for name, extra in params:
        tok = sign_jws(f.header(k, **extra), f.claims(f"D7-{name}"), k)
        out.append(Variant(name, f"issuer-signed token with header parameter {next(iter(extra))}", tok,
                           deny("malformed_token", R_HEADER_PARAM)))
    atk = f.attacker.get(k.alg, f.attacker["EdDSA"])
    tok = sign_jws(f.header(atk, kid=k.kid, **{"x-admin": True}), f.claims("D7-attacker"), atk)
    out.append(Variant("attacker-x-admin", "attacker-signed token with header parameter x-admin", tok,
                       deny("malformed_token", R_HEADER_PARAM,
                            accept_also=[["invalid_signature"]]), "attacker"))
    return out


# --- E. JSON layer ---------------------------------------------------------------------------------------

def _raw_claims_json(f: Forge, label: str, **overrides: Any) -> str:
    return json.dumps(f.claims(label, **overrides), separators=(",", ":"), ensure_ascii=False)


def _both(f: Forge, name: str, desc: str, header: bytes | dict[str, Any], payload: bytes,
          code: str, rule: str | list[str],
          accept: list[list[str]] | None = None) -> list[Variant]:
    """An issuer-signed and an attacker-signed variant of the same malformed bytes."""
    k = f.issuer.key
    atk = f.attacker.get(k.alg, f.attacker["EdDSA"])
    h_issuer: dict[str, Any] | bytes
    h_attacker: dict[str, Any] | bytes
    if isinstance(header, dict):
        h_issuer, h_attacker = header, {**header, "alg": atk.alg}
    else:
        h_issuer = h_attacker = header
    return [
        Variant(name, f"{desc}, issuer-signed", sign_jws(h_issuer, payload, k),
                deny(code, rule, accept_also=accept or [])),
        Variant(f"{name}-attacker", f"{desc}, attacker-signed", sign_jws(h_attacker, payload, atk),
                deny(code, rule, accept_also=[*(accept or []), ["invalid_signature"]]), "attacker"),
    ]


def e1_duplicates(f: Forge) -> list[Variant]:
    k = f.issuer.key
    out: list[Variant] = []
    hdr = f'{{"alg":"{k.alg}","kid":"bogus","kid":"{k.kid}","typ":"attestation+jwt"}}'.encode()
    out += _both(f, "header-kid", "header with kid given twice (bogus, then the real kid)", hdr,
                 json_bytes(f.claims("E1-hkid")), "malformed_token", R_JSON)
    hdr2 = f'{{"alg":"none","alg":"{k.alg}","kid":"{k.kid}","typ":"attestation+jwt"}}'.encode()
    out += _both(f, "header-alg", "header with alg none then the real alg", hdr2,
                 json_bytes(f.claims("E1-halg")),
                 "malformed_token", R_JSON)
    body = _raw_claims_json(f, "E1-iss")
    dup_iss = ('{"iss":"https://evil.example",' + body[1:]).encode()
    out += _both(f, "payload-iss", "payload with iss twice (evil first, trusted last)", f.header(k), dup_iss,
                 "malformed_token", R_JSON)
    esc = (body[:-1] + ',"\\u0069ss":"https://evil.example"}').encode()
    out += _both(f, "payload-escaped-iss", "payload with iss and an escaped duplicate \\u0069ss",
                 f.header(k), esc,
                 "malformed_token", R_JSON)
    body = _raw_claims_json(f, "E1-exp")
    dup_exp = (body[:-1] + ',"exp":9999999999}').encode()
    out += _both(f, "payload-exp", "payload with exp twice (a far-future value last)", f.header(k), dup_exp,
                 "malformed_token", R_JSON)
    att = json.dumps(f.attestation(), separators=(",", ":"), ensure_ascii=False)
    nested = att.replace('"patients":[',
                         f'"patients":[{{"identifier":{{"id":"{OTHER_FNRS[0]}"}}}}],"patients":[', 1)
    body = _raw_claims_json(f, "E1-nested").replace(att, nested)
    out += _both(f, "nested-patients", "attestation with patients given twice", f.header(k), body.encode(),
                 "malformed_token", R_JSON)
    return out


def e2_encoding(f: Forge) -> list[Variant]:
    k = f.issuer.key
    out: list[Variant] = []
    text = _raw_claims_json(f, "E2")
    hdr = f.header(k)
    forms: list[tuple[str, str, bytes, str]] = [
        ("utf16le", "payload encoded UTF-16-LE", text.encode("utf-16-le"), R_JSON),
        ("utf16-bom", "payload encoded UTF-16 with BOM", text.encode("utf-16"), R_UTF8),
        ("utf32", "payload encoded UTF-32", text.encode("utf-32"), R_UTF8),
        ("utf8-bom", "payload with a UTF-8 BOM", b"\xef\xbb\xbf" + text.encode(), R_BOM),
        ("invalid-ff", "payload containing the byte FF",
         text.replace("August", "Aug\udcffst").encode("utf-8", "surrogateescape"), R_UTF8),
        ("overlong", "payload with an overlong UTF-8 sequence C0 AF",
         text.replace("August", "Aug\udcc0\udcafst").encode("utf-8", "surrogateescape"), R_UTF8),
        ("cesu-surrogate", "payload with UTF-8-encoded surrogate bytes ED A0 80",
         text.replace("August", "Aug\udced\udca0\udc80st").encode("utf-8", "surrogateescape"), R_UTF8),
        ("latin1", "payload encoded Latin-1 (ø as byte F8)",
         text.replace("August", "Søren").encode("latin-1"), R_UTF8),
    ]
    for name, desc, payload, rule in forms:
        out += _both(f, name, desc, hdr, payload, "malformed_token", rule)
    hbytes = b"\xef\xbb\xbf" + json_bytes(hdr)
    out.append(Variant("header-bom", "header JSON preceded by a UTF-8 BOM, issuer-signed",
                       sign_jws(hbytes, json_bytes(f.claims("E2-hbom")), k), deny("malformed_token", R_BOM)))
    return out


def e3_literals(f: Forge) -> list[Variant]:
    k = f.issuer.key
    out: list[Variant] = []
    body = _raw_claims_json(f, "E3-nan")
    out += _both(f, "nan", "payload with a claim x: NaN", f.header(k), (body[:-1] + ',"x":NaN}').encode(),
                 "malformed_token", R_JSON)
    body = _raw_claims_json(f, "E3-inf")
    out += _both(f, "infinity", "payload with a claim x: Infinity", f.header(k),
                 (body[:-1] + ',"x":Infinity}').encode(),
                 "malformed_token", R_JSON)
    body = _raw_claims_json(f, "E3-lone").replace("August September", "August \\ud800September")
    out += _both(f, "lone-surrogate", "practitioner name with a lone surrogate escape \\ud800", f.header(k),
                 body.encode(), "malformed_token", R_SURROGATE)
    body = _raw_claims_json(f, "E3-lone-name")
    out += _both(f, "lone-surrogate-name", "a claim name made of lone surrogates", f.header(k),
                 (body[:-1] + ',"\\ud800\\ud800claim":1}').encode(), "malformed_token", R_SURROGATE)
    body = _raw_claims_json(f, "E3-pair").replace("August September", "August \\ud834\\udd1e September")
    out.append(Variant("surrogate-pair", "practitioner name with a valid surrogate pair (U+1D11E): accepted",
                       sign_jws(f.header(k), body.encode(), k), permit()))
    att = f.attestation()
    att["practitioner"]["hpr_nr"]["id"] = "9144\u0000897"
    out.append(Variant("nul-in-identifier", "NUL inside the HPR number",
                       f.token("E3-nul", att), deny("invalid_hpr_number", "ATT-29a")))
    return out


def e4_invalid_json(f: Forge) -> list[Variant]:
    k = f.issuer.key
    body = _raw_claims_json(f, "E4")
    out: list[Variant] = []
    forms: list[tuple[str, str, bytes]] = [
        ("array", "payload is a JSON array", b"[]"), ("string", "payload is a JSON string", b'"str"'),
        ("number", "payload is a number", b"123"), ("null", "payload is null", b"null"),
        ("trailing-garbage", "valid payload JSON followed by xx", (body + "xx").encode()),
        ("comment", "payload with a /* comment */", ("/*c*/" + body).encode()),
        ("single-quotes", "payload with single-quoted member names", body.replace('"iss"', "'iss'").encode()),
        ("trailing-comma", "payload with a trailing comma", (body[:-1] + ",}").encode()),
    ]
    for name, desc, payload in forms:
        out += _both(f, name, desc, f.header(k), payload, "malformed_token", R_JSON)
    out.append(Variant("empty-header", "header {} (no alg), issuer-signed",
                       sign_jws({}, json_bytes(f.claims("E4-emptyh")), k),
                       deny("unsupported_algorithm", R_ALG)))
    ws = (" \n" + _raw_claims_json(f, "E4-ws") + " \n").encode()
    out.append(Variant("whitespace", "payload JSON with leading and trailing whitespace: accepted (RFC 8259)",
                       sign_jws(f.header(k), ws, k), permit()))
    return out


def e5_nesting_numbers(f: Forge) -> list[Variant]:
    k = f.issuer.key
    body = _raw_claims_json(f, "E5-deep")
    deep = (body[:-1] + ',"x":' + "[" * 40 + "]" * 40 + "}").encode()
    hdr_deep = json_bytes(f.header(k))[:-1] + b',"x":' + b"[" * 40 + b"]" * 40 + b"}"
    body2 = _raw_claims_json(f, "E5-digits")
    digits = (body2[:-1] + ',"x":' + "9" * 5000 + "}").encode()
    return [
        Variant("deep-payload", "payload with 40 levels of nested arrays, issuer-signed",
                sign_jws(f.header(k), deep, k), deny("malformed_token", R_DEPTH)),
        Variant("deep-header", "header with 40 levels of nested arrays (parsed before the signature)",
                sign_jws(hdr_deep, json_bytes(f.claims("E5-hdeep")), k), deny("malformed_token", R_DEPTH)),
        Variant("5000-digits", "payload with a 5000-digit integer", sign_jws(f.header(k), digits, k),
                deny("malformed_token", R_JSON)),
        Variant("exp-1e400", "exp 1e400 (overflows to infinity)",
                sign_jws(f.header(k), _raw_claims_json(f, "E5-1e400").replace(
                    f'"exp":{f.iat + 3600}', '"exp":1e400').encode(), k),
                deny("invalid_claim", R_NUMERIC_DATE)),
        Variant("exp-1e308", "exp 1e308", f.token("E5-1e308", exp=1e308),
                deny("invalid_claim", R_NUMERIC_DATE)),
        Variant("exp-10-pow-30", "exp 10^30", f.token("E5-big", exp=10**30),
                deny("invalid_claim", R_NUMERIC_DATE)),
    ]


# --- F. base64url and framing ---------------------------------------------------------------------------

def f1_padding(f: Forge) -> list[Variant]:
    tok = f.token("F1")
    h, p, s = split(tok)
    pad = "=" * (-len(s) % 4) or "=="
    padded_h = h + "=" * (-len(h) % 4)
    return [
        Variant("signature-padded", "valid token with = padding on the signature segment", f"{tok}{pad}",
                deny("malformed_token", R_FRAMING), "issuer"),
        Variant("overpadded", "valid token with ==== appended", f"{tok}====",
                deny("malformed_token", R_FRAMING),
                "issuer"),
        Variant("padding-in-middle", "= inside the payload segment", f"{h}.{p[:8]}={p[8:]}.{s}",
                deny("malformed_token", R_FRAMING), "issuer"),
        Variant("signed-padded", "issuer signed padded header and payload segments",
                (lambda hp: f"{hp}.{b64url(f.issuer.key.sign(hp.encode()))}")(
                    f"{padded_h}.{p + '=' * (-len(p) % 4)}") if (len(h) % 4 or len(p) % 4) else f"{tok}==",
                deny("malformed_token", R_FRAMING), "issuer"),
    ]


def f2_alphabet(f: Forge) -> list[Variant]:
    # a token with both '-' and '_' in it, so the +/ substitution changes something
    for i in range(100):
        tok = f.token(f"F2-{i}")
        if "-" in tok and "_" in tok:
            break
    h, p, s = split(tok)
    forms = [("plus-slash", "- and _ replaced by + and /", tok.replace("-", "+").replace("_", "/")),
             ("space-inside", "a space after the first dot", f"{h}. {p}.{s}"),
             ("newline-inside", "a line feed inside the payload segment", f"{h}.{p[:10]}\n{p[10:]}.{s}"),
             ("tab-inside", "a tab inside the signature segment", f"{h}.{p}.{s[:5]}\t{s[5:]}"),
             ("junk", "!!!! appended", tok + "!!!!"),
             ("encoded-dot", "the first dot written %2E", f"{h}%2E{p}.{s}"),
             ("fullwidth-dot", "the first dot written as U+FF0E", f"{h}\uff0e{p}.{s}"),
             ("bearer", "the token prefixed with 'Bearer '", f"Bearer {tok}"),
             ("quotes", "the token inside double quotes", f'"{tok}"')]
    return [Variant(name, f"valid token with {desc}", t, deny("malformed_token", R_FRAMING))
            for name, desc, t in forms]


def _flip_unused_bits(seg: str) -> str | None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rem = len(seg) % 4
    if rem not in (2, 3):
        return None
    last = alphabet.index(seg[-1])
    return seg[:-1] + alphabet[last ^ 1]


def f3_noncanonical(f: Forge) -> list[Variant]:
    k = f.issuer.key
    out = []
    tok = f.token("F3")
    h, p, s = split(tok)
    s2 = _flip_unused_bits(s)
    if s2 is not None:
        out.append(Variant("signature", "an unused low bit of the last signature character flipped",
                           f"{h}.{p}.{s2}", deny("malformed_token", R_B64_CANON)))
    # pad the payload until its segment has spare bits, sign the canonical form, then flip
    for pad in range(4):
        claims = f.claims("F3-p", x="#" * pad)
        tok = sign_jws(f.header(k), claims, k)
        h, p, s = split(tok)
        p2 = _flip_unused_bits(p)
        if p2 is not None:
            out.append(Variant("payload",
                               "an unused low bit of the last payload character flipped (issuer signed "
                               "the canonical text)", f"{h}.{p2}.{s}", deny("malformed_token", R_B64_CANON)))
            atk = f.attacker.get(k.alg, f.attacker["EdDSA"])
            ta = sign_jws(f.header(atk, kid=k.kid), claims, atk)
            ha, _, sa = split(ta)
            out.append(Variant("payload-attacker", "the same bit flip in an attacker-signed token",
                               f"{ha}.{p2}.{sa}", deny("malformed_token", R_B64_CANON,
                                                       accept_also=[["invalid_signature"]]), "attacker"))
            break
    return out


def f4_segments(f: Forge) -> list[Variant]:
    tok = f.token("F4")
    h, p, s = split(tok)
    forms = [("two", "h.p", f"{h}.{p}"), ("empty-signature", "h.p.", f"{h}.{p}."),
             ("empty-payload", "h..s", f"{h}..{s}"), ("empty-header", ".p.s", f".{p}.{s}"),
             ("trailing-dot", "h.p.s.", f"{tok}."), ("four", "h.p.s.x", f"{tok}.eA"),
             ("signature-twice", "h.p.s.s", f"{tok}.{s}"), ("five", "h.p.s.e.t (JWE shape)", f"{tok}.e.t"),
             ("dots", "..", ".."), ("dot", ".", ".")]
    return [Variant(name, f"segment framing {desc}", t, deny("malformed_token", R_FRAMING),
                    "unsigned" if name in ("dots", "dot") else "issuer")
            for name, desc, t in forms]


def f5_size(f: Forge) -> list[Variant]:
    k = f.issuer.key
    big = sign_jws(f.header(k), f.claims("F5", x="a" * 50_000), k)   # ~67 KB encoded
    out = [Variant("over-64k", f"issuer-signed token of {len(big)} bytes (over the 64 KiB limit)", big,
                   deny("malformed_token", R_SIZE), tags=("oversize",))]
    huge = sign_jws(f.header(k), f.claims("F5-1m", x="a" * 800_000), k)
    out.append(Variant("over-1m", f"issuer-signed token of {len(huge)} bytes", huge,
                       deny("malformed_token", R_SIZE), tags=("oversize",)))
    return out


# --- G. time claims ------------------------------------------------------------------------------------

def g1_numeric_date_types(f: Forge) -> list[Variant]:
    exp = f.iat + 3600
    values: list[tuple[str, str, Any, str, str]] = [
        ("exp-string", "exp", str(exp), "invalid_claim", R_NUMERIC_DATE),
        ("exp-string-spaces", "exp", f" {exp} ", "invalid_claim", R_NUMERIC_DATE),
        ("exp-string-underscore", "exp", f"{exp:_}", "invalid_claim", R_NUMERIC_DATE),
        ("exp-fullwidth", "exp", "".join(chr(0xFF10 + int(c)) for c in str(exp)), "invalid_claim",
         R_NUMERIC_DATE),
        ("exp-fraction", "exp", exp + 0.5, "invalid_claim", R_NUMERIC_DATE),
        ("exp-true", "exp", True, "invalid_claim", R_NUMERIC_DATE),
        ("exp-null", "exp", None, "missing_claim", R_REQUIRED),
        ("exp-list", "exp", [exp], "invalid_claim", R_NUMERIC_DATE),
        ("exp-object", "exp", {"t": exp}, "invalid_claim", R_NUMERIC_DATE),
        ("exp-negative", "exp", -1, "invalid_claim", R_NUMERIC_DATE),
        ("exp-zero", "exp", 0, "invalid_claim", R_NUMERIC_DATE),
        ("exp-2-pow-63", "exp", 2**63, "invalid_claim", R_NUMERIC_DATE),
        ("exp-year-10000", "exp", 253402300800, "invalid_claim", R_NUMERIC_DATE),
        ("iat-string", "iat", str(f.iat), "invalid_claim", R_NUMERIC_DATE),
        ("iat-true", "iat", True, "invalid_claim", R_NUMERIC_DATE),
        ("nbf-false", "nbf", False, "invalid_claim", R_NUMERIC_DATE),
        ("nbf-string", "nbf", str(f.iat), "invalid_claim", R_NUMERIC_DATE),
    ]
    out = []
    for name, claim, value, code, rule in values:
        tok = f.token(f"G1-{name}", **{claim: value})
        out.append(Variant(name, f"issuer-signed token with {claim} = {value!r}", tok, deny(code, rule)))
    atk = f.attacker.get(f.issuer.key.alg, f.attacker["EdDSA"])
    tok = sign_jws(f.header(atk, kid=f.issuer.key.kid), f.claims("G1-attacker", exp=str(exp)), atk)
    out.append(Variant("exp-string-attacker", "attacker-signed token with exp as a numeric string", tok,
                       deny("invalid_signature", R_SIG), "attacker"))
    return out


def g2_time_window(f: Forge) -> list[Variant]:
    now = f.now
    att_old = f.attestation()
    att_old["toa"] = now - 700
    forms: list[tuple[str, str, dict[str, Any], Any, Expectation]] = [
        ("expired", "exp 120 s ago (beyond any 60 s leeway)", {"iat": now - 700, "exp": now - 120}, att_old,
         deny("token_expired", R_EXP)),
        ("nbf-future", "nbf one hour ahead", {"nbf": now + 3600}, None, deny("token_not_yet_valid", R_NBF)),
        ("iat-future", "iat 10 minutes ahead", {"iat": now + 600, "exp": now + 1200}, None,
         deny("token_not_yet_valid", R_IAT)),
        ("lifetime-7205", "iat 2 hours ago, exp in 5 s: lifetime 7205 s", {"iat": now - 7200, "exp": now + 5},
         None, deny("lifetime_too_long", R_LIFETIME)),
        ("lifetime-3601", "exp = iat + 3601", {"exp": f.iat + 3601}, None,
         deny("lifetime_too_long", R_LIFETIME)),
        ("exp-equals-iat", "exp = iat", {"iat": now, "exp": now}, None, deny("invalid_claim", R_EXP)),
        ("exp-before-iat", "exp 10 s before iat", {"iat": now, "exp": now - 10}, None,
         deny("invalid_claim", R_EXP)),
        ("nbf-after-exp", "nbf two hours ahead, after exp", {"nbf": now + 7200}, None,
         deny("token_not_yet_valid", R_NBF)),
        ("nbf-now", "nbf = iat (valid)", {"nbf": f.iat}, None, permit()),
    ]
    return [Variant(name, desc, f.token(f"G2-{name}", att, **claims), exp)
            for name, desc, claims, att, exp in forms]


def g3_missing_claims(f: Forge) -> list[Variant]:
    forms: list[tuple[str, str, Any, str, str]] = [
        ("no-exp", "exp", DROP, "missing_claim", R_REQUIRED),
        ("no-iat", "iat", DROP, "missing_claim", R_REQUIRED),
        ("no-jti", "jti", DROP, "missing_claim", R_JTI),
        ("no-iss", "iss", DROP, "missing_claim", R_ISS),
        ("no-aud", "aud", DROP, "missing_claim", R_AUD),
        ("null-iss", "iss", None, "missing_claim", R_ISS),
        ("null-aud", "aud", None, "missing_claim", R_AUD),
        ("null-jti", "jti", None, "missing_claim", R_JTI),
        ("empty-iss", "iss", "", "unknown_issuer", R_KEY_LOOKUP),
        ("empty-aud", "aud", "", "invalid_claim", R_AUD),
        ("empty-jti", "jti", "", "invalid_claim", R_JTI),
        ("empty-exp", "exp", "", "invalid_claim", R_NUMERIC_DATE),
    ]
    return [Variant(name, f"issuer-signed token with {claim} " + ("absent" if v is DROP else f"= {v!r}"),
                    f.token(f"G3-{name}", **{claim: v}), deny(code, rule))
            for name, claim, v, code, rule in forms]


# --- H. identity claims and Unicode ---------------------------------------------------------------------

def h1_iss(f: Forge) -> list[Variant]:
    iss = f.issuer.iss
    homoglyph = iss.replace("e", "\u0435", 1)  # Cyrillic e
    forms: list[tuple[str, Any, str, str]] = [
        ("trailing-slash", iss + "/", "unknown_issuer", R_KEY_LOOKUP),
        ("upper-case", iss.upper(), "unknown_issuer", R_KEY_LOOKUP),
        ("prefix", iss[:-1], "unknown_issuer", R_KEY_LOOKUP),
        ("suffix", iss + "x", "unknown_issuer", R_KEY_LOOKUP),
        ("query", iss + "?a", "unknown_issuer", R_KEY_LOOKUP),
        ("leading-space", " " + iss, "unknown_issuer", R_KEY_LOOKUP),
        ("trailing-space", iss + " ", "unknown_issuer", R_KEY_LOOKUP),
        ("nul", iss + "\u0000evil", "unknown_issuer", R_KEY_LOOKUP),
        ("homoglyph", homoglyph, "unknown_issuer", R_KEY_LOOKUP),
        ("fullwidth", "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" else c for c in iss), "unknown_issuer",
         R_KEY_LOOKUP),
        ("list", [iss], "invalid_claim", R_ISS),
        ("object", {"v": iss}, "invalid_claim", R_ISS),
        ("number", 123, "invalid_claim", R_ISS),
    ]
    return [Variant(name, f"issuer-signed token with iss {v!r}"[:120], f.token(f"H1-{name}", iss=v),
                    deny(code, rule)) for name, v, code, rule in forms]


def h2_aud(f: Forge) -> list[Variant]:
    aud = f.audience
    forms: list[tuple[str, Any, Expectation]] = [
        ("array-one", [aud], permit()),
        ("array-first", [aud, "https://other.example"], permit()),
        ("array-second", ["https://other.example", aud], permit()),
        ("other", ["https://other.example"], deny("invalid_audience", R_AUD_MATCH)),
        ("empty-array", [], deny("invalid_claim", R_AUD)),
        ("array-with-number", [aud, 123], deny("invalid_claim", R_AUD)),
        ("number", 123, deny("invalid_claim", R_AUD)),
        ("upper-case", aud.upper(), deny("invalid_audience", R_AUD_MATCH)),
        ("trailing-space", aud + " ", deny("invalid_audience", R_AUD_MATCH)),
        ("zero-width", aud + "\u200b", deny("invalid_audience", R_AUD_MATCH)),
        ("star", "*", deny("invalid_audience", R_AUD_MATCH)),
    ]
    return [Variant(name, f"issuer-signed token with aud {v!r}", f.token(f"H2-{name}", aud=v), e)
            for name, v, e in forms]


def h3_jti(f: Forge) -> list[Variant]:
    forms: list[tuple[str, Any, Expectation]] = [
        ("number", 123, deny("invalid_claim", R_JTI)),
        ("list", [], deny("invalid_claim", R_JTI)),
        ("object", {}, deny("invalid_claim", R_JTI)),
        ("too-long", "j" * 129, deny("invalid_claim", R_JTI)),
        ("nul", "conf-\u0000-x", deny("invalid_claim", R_JTI)),
        ("crlf", "conf-\r\n-x", deny("invalid_claim", R_JTI)),
        ("quotes", f"{f.jti('H3-q')}'\"", permit()),
        ("max-length", f.jti("H3-max") + "j" * (128 - len(f.jti("H3-max"))), permit()),
    ]
    return [Variant(name, f"issuer-signed token with jti {v!r}"[:120], f.token(f"H3-{name}", jti=v), e)
            for name, v, e in forms]


def h4_unicode(f: Forge) -> list[Variant]:
    def att_with(path: list[str], value: str) -> dict[str, Any]:
        a = f.attestation()
        node: Any = a
        for step in path[:-1]:
            node = node[step] if not step.isdigit() else node[int(step)]
        node[path[-1]] = value
        return a

    fw = "".join(chr(0xFF10 + int(c)) for c in f.issuer.legal_entities[0])
    arabic = "".join(chr(0x0660 + int(c)) for c in "9144897")
    k = f.issuer.key
    forms: list[tuple[str, str, dict[str, Any] | None, dict[str, Any], Expectation]] = [
        ("legal-entity-fullwidth", "legal_entity id in fullwidth digits (never int() an identifier)",
         att_with(["practitioner", "legal_entity", "id"], fw), {},
         deny(["invalid_organization_number", "legal_entity_mismatch"], ["ATT-15", "ATT-13"])),
        ("hpr-arabic-indic", "HPR number in Arabic-Indic digits",
         att_with(["practitioner", "hpr_nr", "id"], arabic),
         {}, deny("invalid_hpr_number", "ATT-29a")),
        ("pid-zero-width", "practitioner F-number with a zero-width space",
         att_with(["practitioner", "identifier", "id"], "200866\u200b00138"), {},
         deny("invalid_person_identifier", "ATT-10")),
        ("patient-fullwidth", "patient F-number in fullwidth digits",
         att_with(["patients", "0", "identifier", "id"],
                  "".join(chr(0xFF10 + int(c)) for c in PATIENT_FNR)), {},
         deny("invalid_person_identifier", "ATT-4")),
        ("kid-fullwidth", "kid in fullwidth characters", None,
         {"kid": "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in k.kid)},
         deny("unknown_key", R_KID_FORMAT)),
        ("bidi-name", "practitioner name with a right-to-left override: display-only text, accepted",
         att_with(["practitioner", "identifier", "name"], "August \u202eSeptember"), {}, permit()),
    ]
    out = []
    for name, desc, att, header, e in forms:
        out.append(Variant(name, desc, f.token(f"H4-{name}", att, header=header or None), e))
    return out


# --- I. replay ---------------------------------------------------------------------------------------

def i1_replay(f: Forge) -> list[Variant]:
    first = f.token("I1-twice")
    same_jti = f.jti("I1-same-jti")
    a = f.token("I1-a", jti=same_jti)
    a2 = f.token("I1-a2", jti=same_jti, iat=f.iat - 1, exp=f.iat - 1 + 3600)
    b_att = f.attestation()
    b_org = f.other_issuer.legal_entities[0]
    b_att["practitioner"]["legal_entity"]["id"] = b_org
    b_att["practitioner"]["point_of_care"]["id"] = b_org
    shared = f.jti("I1-shared")
    a_shared = f.token("I1-shared-a", jti=shared)
    b_shared = f.token("I1-shared-b", b_att, party=f.other_issuer, jti=shared)
    burn = f.jti("I1-burn")
    wrong_aud = f.token("I1-burn-wrong-aud", jti=burn, aud="https://other.example")
    atk = f.attacker.get(f.issuer.key.alg, f.attacker["EdDSA"])
    forged = sign_jws(f.header(atk, kid=f.issuer.key.kid), f.claims("I1-burn-forged", jti=burn), atk)
    valid_after = f.token("I1-burn-valid", jti=burn)
    return [
        Variant("denied-does-not-burn-jti",
                "denied tokens (wrong aud, forged) do not use up their jti: a valid one with it is accepted",
                valid_after, permit(),
                prelude=(wrong_aud, forged), prelude_expect=("deny", "deny"), requires=("replay",)),
        Variant("same-token-twice", "the same valid token presented a second time", first,
                deny("token_replayed", R_JTI), prelude=(first,), requires=("replay",)),
        Variant("same-jti-new-token",
                "a new token (new iat, new signature) reusing the iss and jti of a used one",
                a2, deny("token_replayed", R_JTI), prelude=(a,), requires=("replay",)),
        Variant("same-jti-other-issuer",
                "issuer B reuses a jti issuer A has used: replay is keyed on (iss, jti)",
                b_shared, permit(), "other-issuer", prelude=(a_shared,), requires=("replay",)),
    ]


# --- J. library-usage hazards ---------------------------------------------------------------------

def j1_unverified_paths(f: Forge) -> list[Variant]:
    atk = f.attacker.get(f.issuer.key.alg, f.attacker["EdDSA"])
    forged = sign_jws(f.header(atk, kid=f.issuer.key.kid), f.claims("J1-forged"), atk)
    att = f.attestation()
    att["toa"] = f.now - 700
    expired = f.token("J1-expired", att, iat=f.now - 700, exp=f.now - 100)
    return [
        Variant("forged-trusted-iss", "attacker-signed token naming the trusted iss and kid (iss read before "
                "verification only selects the key)", forged, deny("invalid_signature", R_SIG), "attacker"),
        Variant("expired-issuer-signed",
                "issuer-signed, expired 100 s ago: claim checks are not skipped on any path",
                expired, deny("token_expired", R_EXP)),
    ]


def j2_exception_escape(f: Forge) -> list[Variant]:
    ks = f.issuer.keys
    att = f.attestation()
    att["toa"] = 1e308
    return [
        Variant("alg-unhashable", "alg as a JSON object (TypeError in set-based allow-lists)",
                sign_jws(f.header(ks["es256"], alg={"a": 1}), f.claims("J2-alg"), ks["es256"], "ES256"),
                deny("unsupported_algorithm", R_ALG)),
        Variant("ec-alg-rsa-key", "ES256 header, kid of an RSA key (TypeError in naive key handling)",
                sign_jws(f.header(ks["es256"], kid=ks["rs256"].kid), f.claims("J2-ec-rsa"), ks["es256"]),
                deny("unsupported_algorithm", R_ALG)),
        Variant("kid-object", "kid as a JSON object", sign_jws(f.header(f.issuer.key, kid={"k": "v"}),
                                                              f.claims("J2-kid"), f.issuer.key),
                deny("unknown_key", R_KID_FORMAT)),
        Variant("toa-1e308", "toa 1e308 (overflow in datetime conversions)", f.token("J2-toa", att),
                deny("invalid_field", "ATT-58a")),
        Variant("iat-10-pow-30", "iat 10^30", f.token("J2-iat", iat=10**30),
                deny("invalid_claim", R_NUMERIC_DATE)),
    ]


ATTACKS: dict[str, Callable[[Forge], list[Variant]]] = {
    "A1": a1_alg_none, "A2": a2_alg_edge, "A3": a3_alg_not_allowlisted, "A4": a4_hmac_key_confusion,
    "A5": a5_alg_key_type_mismatch, "A6": a6_alg_family_swap,
    "B1": b1_psychic_zero, "B2": b2_ecdsa_range, "B3": b3_ecdsa_encoding, "B4": b4_high_s,
    "B5": b5_rsa_signature, "B6": b6_eddsa_noncanonical, "B7": b7_transplant,
    "C1": c1_header_jwk, "C2": c2_jku_x5u, "C3": c3_x5c, "C4": c4_kid_injection, "C5": c5_kid_degenerate,
    "C6": c6_key_of_other_issuer, "C7": c7_truststore,
    "D1": d1_crit, "D2": d2_b64, "D3": d3_typ, "D4": d4_cty_nested, "D5": d5_jwe, "D6": d6_json_serialization,
    "D7": d7_unknown_header,
    "E1": e1_duplicates, "E2": e2_encoding, "E3": e3_literals, "E4": e4_invalid_json,
    "E5": e5_nesting_numbers,
    "F1": f1_padding, "F2": f2_alphabet, "F3": f3_noncanonical, "F4": f4_segments, "F5": f5_size,
    "G1": g1_numeric_date_types, "G2": g2_time_window, "G3": g3_missing_claims,
    "H1": h1_iss, "H2": h2_aud, "H3": h3_jti, "H4": h4_unicode,
    "I1": i1_replay,
    "J1": j1_unverified_paths, "J2": j2_exception_escape,
}


#: The variants of the default corpus (``generate`` without ``--all-variants``): two or three per class,
#: chosen to differ in kind (issuer- vs attacker-signed, header vs payload, type vs value). Every other
#: variant is still built and is part of ``--all-variants`` and of :func:`all_variants`.
CORE: dict[str, tuple[str, ...]] = {
    "A1": ("none-empty-signature", "none-with-valid-signature", "case-2"),
    "A2": ("absent", "list"),
    "A3": ("hs256", "ed25519-name"),
    "A4": ("spki-pem", "jwk-json"),
    "A5": ("es256-to-rsa", "eddsa-to-ec"),
    "A6": ("ps256-with-rs256-key", "rs256-with-ps256-key"),
    "B1": ("es256",),
    "B2": ("r-is-n", "one-one"),
    "B3": ("der", "swapped"),
    "B4": ("other-s-accepted", "other-s-replay"),
    "B5": ("leading-zero", "n"),
    "B6": ("s-plus-l", "small-order-r"),
    "B7": ("header-reordered", "payload-modified"),
    "C1": ("attacker-es256", "attacker-no-kid"),
    "C2": ("jku-attacker", "x5u-attacker"),
    "C3": ("self-signed",),
    "C4": ("path-traversal", "crlf", "attacker-path-traversal"),
    "C5": ("absent", "list", "other-issuers-kid"),
    "C6": ("a-kid-b-signature", "b-signs-for-a"),
    "C7": ("use-enc", "key-ops-encrypt", "duplicate-kid", "private-member", "oct-key", "rsa-1024"),
    "D1": ("unknown", "attacker-unknown"),
    "D2": ("unencoded-detached", "true-crit"),
    "D3": ("absent", "jwt", "attacker-jwt"),
    "D4": ("nested-issuer-signed", "cty-json-payload"),
    "D5": ("jwe-dir", "enc-in-jws"),
    "D6": ("flattened", "polyglot"),
    "D7": ("x-admin", "attacker-x-admin"),
    "E1": ("header-kid", "payload-iss", "payload-iss-attacker"),
    "E2": ("utf8-bom", "utf8-bom-attacker", "cesu-surrogate"),
    "E3": ("nan", "lone-surrogate", "surrogate-pair"),
    "E4": ("array", "trailing-comma", "whitespace"),
    "E5": ("deep-header", "5000-digits", "exp-1e308"),
    "F1": ("signature-padded", "signed-padded"),
    "F2": ("plus-slash", "bearer"),
    "F3": ("signature", "payload"),
    "F4": ("two", "empty-payload", "trailing-dot"),
    "F5": ("over-64k",),
    "G1": ("exp-string", "exp-true", "exp-string-attacker"),
    "G2": ("expired", "nbf-future", "iat-future", "lifetime-3601"),
    "G3": ("no-exp", "no-jti", "no-aud"),
    "H1": ("trailing-slash", "homoglyph", "list"),
    "H2": ("array-first", "other", "zero-width"),
    "H3": ("number", "quotes"),
    "H4": ("legal-entity-fullwidth", "pid-zero-width", "bidi-name"),
    "I1": ("same-token-twice", "same-jti-new-token", "same-jti-other-issuer", "denied-does-not-burn-jti"),
    "J1": ("forged-trusted-iss", "expired-issuer-signed"),
    "J2": ("alg-unhashable", "ec-alg-rsa-key", "toa-1e308"),
}


def all_variants(forge: Forge, *, core_only: bool = False) -> list[tuple[str, Variant]]:
    """``(class id, variant)`` for every attack class, in catalogue order; ``core_only`` keeps the
    variants of :data:`CORE`."""
    out = []
    for cls, build in ATTACKS.items():
        for v in build(forge):
            if not core_only or v.name in CORE[cls]:
                out.append((cls, v))
    return out


__all__ = ["ATTACKS", "Variant", "all_variants"]
