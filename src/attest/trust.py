"""The trust store: which issuers are trusted, the organisations each may attest for, Helsenett
membership, and their public keys (CONTRACT.md section 2).

A trust store is loaded once and is immutable afterwards (share it between threads; reload by loading a
new one). Keys are prepared once at load: parsed with PyJWT's JWK readers into ``cryptography`` key
objects, checked, and bound to the algorithms they may verify. Lookup is by exact ``iss`` and exact
``kid``; nothing in a token can make the store read a file or open a connection.

Load-time refusals (:class:`~attest.errors.TrustStoreError`, naming the file and the entry): duplicate
``iss`` or ``kid``, keys marked for encryption (``use: enc`` or ``key_ops`` without ``verify``), private
key members, symmetric (``oct``/HMAC) keys, RSA keys under 2048 bits, RSA moduli with the ROCA fingerprint
(CVE-2017-15361), an ``alg`` that does not fit the key type or curve, invalid organisation numbers, unknown
members.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from .errors import TrustStoreError
from .identifiers import check_organization_number
from .jose import ASYMMETRIC_ALGORITHMS
from .keys import CURVE_ALGORITHMS, RSA_ALGORITHMS, has_roca_fingerprint

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_ISSUER_KEYS = {"iss", "name", "legal_entities", "member", "jwks", "jwks_file", "jwks_uri", "algorithms",
                "jwks_cache_seconds"}
_TOP_KEYS = {"issuers", "audience", "description", "test_material"}


@dataclass(frozen=True)
class TrustedKey:
    """A verification key of one issuer, prepared once."""

    kid: str
    kty: str
    #: algorithms this key may verify: exactly one when the JWK names ``alg`` or the curve fixes it,
    #: the RSA family when an RSA JWK has no ``alg``
    algorithms: frozenset[str]
    public_key: Any
    jwk: dict[str, Any]


@dataclass(frozen=True)
class Issuer:
    """One trusted issuer (a consumer organisation, or an EPJ vendor signing for several)."""

    iss: str
    name: str
    legal_entities: frozenset[str]
    #: Helsenett membership (ATT-12); None when the trust store does not say
    member: bool | None
    keys: Mapping[str, TrustedKey]
    jwks_uri: str | None = None


@dataclass(frozen=True)
class TrustStore:
    """Issuers by exact ``iss``. Build with :meth:`load` (file) or :meth:`from_dict`."""

    issuers: Mapping[str, Issuer]
    #: the verifier's own identity, used when the verify context names no audience (extension)
    audience: str | None = None
    source: str = "<memory>"
    loaded_at: float = field(default_factory=time.time)

    def issuer(self, iss: str) -> Issuer | None:
        return self.issuers.get(iss)

    def key(self, iss: str, kid: str) -> TrustedKey | None:
        issuer = self.issuers.get(iss)
        return issuer.keys.get(kid) if issuer is not None else None

    @classmethod
    def load(cls, path: str | Path, *, fetch_timeout: float = 5.0) -> TrustStore:
        """Load a JSON or YAML trust store. ``jwks_file`` paths are relative to the file; ``jwks_uri`` is
        fetched now (https, or http on loopback only; ``fetch_timeout`` seconds; no redirects)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TrustStoreError(f"{p}: cannot read the trust store ({exc})") from exc
        data = _parse_document(text, str(p))
        return cls.from_dict(data, base_dir=p.parent, source=str(p), fetch_timeout=fetch_timeout)

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: str | Path | None = None, source: str = "<memory>",
                  fetch_timeout: float = 5.0) -> TrustStore:
        if not isinstance(data, dict) or not isinstance(data.get("issuers"), list):
            raise TrustStoreError(f"{source}: a trust store is an object with an 'issuers' list")
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise TrustStoreError(f"{source}: unknown top-level member(s) {sorted(unknown)}")
        audience = data.get("audience")
        if audience is not None and (not isinstance(audience, str) or not audience):
            raise TrustStoreError(f"{source}: 'audience' must be a non-empty string")
        issuers: dict[str, Issuer] = {}
        for i, entry in enumerate(data["issuers"]):
            where = f"{source}: issuers[{i}]"
            issuer = _load_issuer(entry, where, Path(base_dir) if base_dir else None, fetch_timeout)
            if issuer.iss in issuers:
                raise TrustStoreError(f"{where}: duplicate iss {issuer.iss!r}")
            issuers[issuer.iss] = issuer
        return cls(issuers=issuers, audience=audience, source=source)

    def describe(self) -> list[dict[str, Any]]:
        """A summary for people and the service (no key material beyond public JWKs)."""
        return [
            {"iss": i.iss, "name": i.name, "legal_entities": sorted(i.legal_entities), "member": i.member,
             "keys": [{"kid": k.kid, "kty": k.kty, "algorithms": sorted(k.algorithms)} for k in i.keys.values()]}
            for i in self.issuers.values()
        ]


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML safe loader that refuses duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_document(text: str, where: str) -> Any:
    """JSON or YAML (YAML 1.1 is close to a superset of JSON; duplicate keys are refused in both)."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TrustStoreError(f"{where}: not valid JSON or YAML ({exc})") from exc


def _load_issuer(entry: Any, where: str, base_dir: Path | None, fetch_timeout: float) -> Issuer:
    if not isinstance(entry, dict):
        raise TrustStoreError(f"{where}: an issuer entry must be an object")
    iss = entry.get("iss")
    if not isinstance(iss, str) or not iss:
        raise TrustStoreError(f"{where}: 'iss' must be a non-empty string")
    where = f"{where} ({iss})"
    unknown = set(entry) - _ISSUER_KEYS
    if unknown:
        raise TrustStoreError(f"{where}: unknown member(s) {sorted(unknown)}")
    name = entry.get("name", iss)
    if not isinstance(name, str):
        raise TrustStoreError(f"{where}: 'name' must be a string")
    les = entry.get("legal_entities", [])
    if not isinstance(les, list) or not all(isinstance(x, str) for x in les):
        raise TrustStoreError(f"{where}: 'legal_entities' must be a list of organisation numbers (strings)")
    for le in les:
        reason = check_organization_number(le)
        if reason is not None:
            raise TrustStoreError(f"{where}: legal entity {le!r} is not a valid organisation number: {reason}")
    member = entry.get("member")
    if member is not None and not isinstance(member, bool):
        raise TrustStoreError(f"{where}: 'member' must be true or false")
    restrict = entry.get("algorithms")
    if restrict is not None and (not isinstance(restrict, list)
                                 or not all(a in ASYMMETRIC_ALGORITHMS for a in restrict)):
        raise TrustStoreError(f"{where}: 'algorithms' must be a list drawn from {list(ASYMMETRIC_ALGORITHMS)}")
    sources = [k for k in ("jwks", "jwks_file", "jwks_uri") if k in entry]
    if len(sources) != 1:
        raise TrustStoreError(f"{where}: give exactly one of 'jwks', 'jwks_file', 'jwks_uri'")
    jwks_uri = None
    if sources[0] == "jwks":
        jwks = entry["jwks"]
        src = where
    elif sources[0] == "jwks_file":
        rel = entry["jwks_file"]
        if not isinstance(rel, str):
            raise TrustStoreError(f"{where}: 'jwks_file' must be a path")
        path = (base_dir / rel) if base_dir is not None else Path(rel)
        src = f"{where} jwks_file {path}"
        try:
            jwks = _parse_document(path.read_text(encoding="utf-8"), src)
        except (OSError, UnicodeDecodeError) as exc:
            raise TrustStoreError(f"{src}: cannot read ({exc})") from exc
    else:
        jwks_uri = entry["jwks_uri"]
        if not isinstance(jwks_uri, str):
            raise TrustStoreError(f"{where}: 'jwks_uri' must be a URL")
        src = f"{where} jwks_uri {jwks_uri}"
        jwks = fetch_jwks(jwks_uri, timeout=fetch_timeout, where=src)
    keys = load_jwks(jwks, src, restrict=frozenset(restrict) if restrict else None)
    return Issuer(iss=iss, name=name, legal_entities=frozenset(les), member=member, keys=keys,
                  jwks_uri=jwks_uri)


def load_jwks(jwks: Any, where: str = "<jwks>", *, restrict: frozenset[str] | None = None) -> dict[str, TrustedKey]:
    """Check and prepare every key of a JWKS. Refuses the whole set on any unusable key (see module doc)."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise TrustStoreError(f"{where}: a JWKS is an object with a 'keys' list")
    if not jwks["keys"]:
        raise TrustStoreError(f"{where}: the JWKS has no keys")
    out: dict[str, TrustedKey] = {}
    for j, jwk in enumerate(jwks["keys"]):
        key = load_jwk(jwk, f"{where} keys[{j}]", restrict=restrict)
        if key.kid in out:
            raise TrustStoreError(f"{where} keys[{j}]: duplicate kid {key.kid!r}")
        out[key.kid] = key
    return out


def load_jwk(jwk: Any, where: str, *, restrict: frozenset[str] | None = None) -> TrustedKey:
    """Check and prepare one public JWK."""
    if not isinstance(jwk, dict):
        raise TrustStoreError(f"{where}: a JWK must be an object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256 or not kid.isascii() or not kid.isprintable() \
            or " " in kid:
        raise TrustStoreError(f"{where}: every key needs a 'kid' of 1-256 printable ASCII characters")
    where = f"{where} (kid {kid!r})"
    kty = jwk.get("kty")
    if kty == "oct":
        raise TrustStoreError(f"{where}: symmetric (HMAC, kty 'oct') keys are refused: attestations are "
                              "signed with asymmetric keys only (RFC 8725 3.2)")
    if kty not in ("RSA", "EC", "OKP"):
        raise TrustStoreError(f"{where}: unsupported kty {kty!r} (RSA, EC or OKP)")
    present_private = [m for m in _PRIVATE_MEMBERS if m in jwk]
    if present_private:
        raise TrustStoreError(f"{where}: private key member(s) {present_private} in a trust store; publish "
                              "only the public key")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise TrustStoreError(f"{where}: key is marked use {use!r}; only 'sig' keys verify signatures")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops
                            or any(op not in ("verify", "sign") for op in ops)):
        raise TrustStoreError(f"{where}: key_ops {ops!r} does not allow 'verify' only")
    alg = jwk.get("alg")
    if alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
        raise TrustStoreError(f"{where}: alg {alg!r} is not an allowed signature algorithm")
    public_key: Any
    try:
        if kty == "RSA":
            public_key = RSAAlgorithm.from_jwk(jwk)
        elif kty == "EC":
            public_key = ECAlgorithm.from_jwk(jwk)
        else:
            public_key = OKPAlgorithm.from_jwk(jwk)
    except Exception as exc:
        raise TrustStoreError(f"{where}: not a valid {kty} public key ({exc})") from exc
    if hasattr(public_key, "private_bytes"):
        raise TrustStoreError(f"{where}: private key in a trust store")
    if kty == "RSA":
        assert isinstance(public_key, rsa.RSAPublicKey)
        if public_key.key_size < 2048:
            raise TrustStoreError(f"{where}: RSA key of {public_key.key_size} bits; at least 2048 are required")
        if has_roca_fingerprint(public_key.public_numbers().n):
            raise TrustStoreError(f"{where}: the RSA modulus has the ROCA fingerprint (CVE-2017-15361: made "
                                  "by a vulnerable Infineon RSALib, it can be factored); the issuer must "
                                  "replace the key")
        family = frozenset(RSA_ALGORITHMS)
        if alg is not None and alg not in family:
            raise TrustStoreError(f"{where}: alg {alg!r} does not fit an RSA key")
        algorithms = frozenset({alg}) if alg else family
    else:
        crv = jwk.get("crv")
        fixed = CURVE_ALGORITHMS.get(str(crv))
        if fixed is None:
            raise TrustStoreError(f"{where}: unsupported curve {crv!r}")
        if alg is not None and alg != fixed:
            raise TrustStoreError(f"{where}: alg {alg!r} does not fit curve {crv} (it takes {fixed})")
        algorithms = frozenset({fixed})
    if restrict is not None:
        algorithms = algorithms & restrict
        if not algorithms:
            raise TrustStoreError(f"{where}: none of the issuer's 'algorithms' fits this key")
    public = {k: v for k, v in jwk.items() if k not in _PRIVATE_MEMBERS}
    return TrustedKey(kid=kid, kty=str(kty), algorithms=algorithms, public_key=public_key, jwk=public)


_MAX_JWKS_BYTES = 1 << 20


def fetch_jwks(uri: str, *, timeout: float = 5.0, where: str = "") -> Any:
    """Fetch a JWKS from configuration (never from a token): https, or http to a loopback host; no
    redirects; at most 1 MiB; ``timeout`` seconds."""
    import httpx  # imported here: only trust stores with jwks_uri need it

    parts = urlsplit(uri)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1") or (parts.hostname or "").startswith("127.")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise TrustStoreError(f"{where}: jwks_uri must be https (http only for loopback hosts)")
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            resp = client.get(uri, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise TrustStoreError(f"{where}: cannot fetch ({type(exc).__name__})") from exc
    if resp.status_code != 200:
        raise TrustStoreError(f"{where}: HTTP {resp.status_code}")
    if len(resp.content) > _MAX_JWKS_BYTES:
        raise TrustStoreError(f"{where}: response over {_MAX_JWKS_BYTES} bytes")
    try:
        return json.loads(resp.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TrustStoreError(f"{where}: the response is not JSON") from exc


def build_trust_store(issuers: Iterable[dict[str, Any]], audience: str | None = None) -> TrustStore:
    """Convenience for tests and harnesses: a trust store from issuer dicts in the file format."""
    data: dict[str, Any] = {"issuers": list(issuers)}
    if audience is not None:
        data["audience"] = audience
    return TrustStore.from_dict(data)
