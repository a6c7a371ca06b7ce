"""The trust store: which issuers are trusted, the organisations each may attest for, Helsenett
membership, and their public keys (CONTRACT.md section 2); and the authorization servers (HelseID) whose
access tokens carry the attestation (HELSEID.md section 12).

A trust store is loaded once and its configuration is immutable afterwards (share it between threads;
reload by loading a new one). Keys are held by one :class:`~attest.keysets.KeySet` per entry: inline and
file key sets are fixed at load, remote ones (``jwks_uri``, ``discovery``) are cached and fetched again as
:mod:`attest.keysets` describes. Lookup is by exact ``iss`` and exact ``kid``; nothing in a token can make
the store read a file, and a token can only make it fetch the configured URL of its own (configured)
issuer again, at most once a minute.

Load-time refusals (:class:`~attest.errors.TrustStoreError`, naming the file and the entry): duplicate
``iss`` or ``kid``, keys marked for encryption (``use: enc`` or ``key_ops`` without ``verify``), private
key members, symmetric (``oct``/HMAC) keys, RSA keys under 2048 bits, RSA moduli with the ROCA fingerprint
(CVE-2017-15361), an ``alg`` that does not fit the key type or curve, invalid organisation numbers, unknown
members, a remote key source that is not https (plain http only to a loopback address) or cannot be
fetched at load.

``saml_issuers`` (issue 14): the issuers of SAML 2.0 assertions (IHE XUA, e.g. HelseID's XDS SAML service),
each with its exact ``issuer`` and exactly one source of trust: its pinned signing certificate(s)
(``certificate`` PEM inline or ``certificate_file``), or the CA certificate(s) its signing certificate must
chain to (``ca_certificate`` PEM inline or ``ca_certificate_file``; the assertion then carries its signing
certificate, and any intermediates, in KeyInfo); optionally the ``audience`` this verifier expects in their
assertions, the ``recipient`` it expects in ``SubjectConfirmationData/@Recipient`` (default: that audience),
the ``legal_entities`` whose users they may vouch for and the ``profile`` that verifies them. Load-time
refusals: no source of trust or more than one, no certificate or more than :data:`MAX_SAML_CERTIFICATES`,
anything but an RSA (>= 2048 bits, no ROCA fingerprint) or P-256/P-384/P-521 key, a CA certificate that is
not a CA (``basicConstraints`` CA true, ``keyUsage`` keyCertSign), unknown members.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import TrustStoreError
from .identifiers import check_organization_number
from .jose import ASYMMETRIC_ALGORITHMS
from .keys import has_roca_fingerprint
from .keysets import (
    FetchPolicy,
    KeySet,
    RemoteSource,
    TrustedKey,
    check_fetch_url,
    fetch_jwks,
    load_jwk,
    load_jwks,
)

__all__ = ["DPOP_ALGORITHMS", "AuthorizationServer", "Issuer", "KeySet", "SamlIssuer", "TrustStore", "TrustedKey",
           "build_trust_store", "fetch_jwks", "load_jwk", "load_jwks", "load_certificates"]

_ISSUER_KEYS = {"iss", "name", "legal_entities", "member", "jwks", "jwks_file", "jwks_uri", "algorithms",
                "jwks_cache_seconds"}
_SERVER_KEYS = {"issuer", "name", "discovery", "jwks", "jwks_file", "jwks_uri", "jwks_cache_seconds", "audience",
                "required_scopes", "dpop", "algorithms", "legal_entities", "profile", "dpop_max_age",
                "dpop_leeway", "dpop_algorithms"}
_SAML_KEYS = {"issuer", "name", "certificate", "certificate_file", "ca_certificate", "ca_certificate_file",
              "audience", "recipient", "profile", "legal_entities"}
#: a SAML issuer's sources of trust: pinned signing certificates, or the CAs its signing certificate chains to
_SAML_TRUST_SOURCES = ("certificate", "certificate_file", "ca_certificate", "ca_certificate_file")
_TOP_KEYS = {"issuers", "authorization_servers", "saml_issuers", "audience", "description", "test_material"}
#: issuer names reserved for the verifier's own bookkeeping (the replay cache's DPoP namespace)
RESERVED_PREFIX = "urn:attest:"

#: DPoP proof algorithms a resource server accepts by default (HELSEID.md section 11: RS, PS, ES 256-512)
DPOP_ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512")
DEFAULT_AT_PROFILE = "helseid-at-1.0"
DEFAULT_SAML_PROFILE = "xua-saml-1.0"
#: a SAML issuer lists at most this many signing certificates (the one in service and its successor)
MAX_SAML_CERTIFICATES = 4
#: elliptic curves a SAML issuer's certificate may use
SAML_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


@dataclass(frozen=True)
class Issuer:
    """One trusted issuer (a consumer organisation, or an EPJ vendor signing for several)."""

    iss: str
    name: str
    legal_entities: frozenset[str]
    #: Helsenett membership (ATT-12); None when the trust store does not say
    member: bool | None
    keyset: KeySet
    jwks_uri: str | None = None

    @property
    def keys(self) -> Mapping[str, TrustedKey]:
        """The keys in service now (a remote set may be replaced by a refresh)."""
        return self.keyset.keys


@dataclass(frozen=True)
class AuthorizationServer:
    """An OAuth authorization server (HelseID) whose access tokens carry the attestation (HELSEID.md 12).

    ``iss`` is its exact ``issuer``; ``audience`` is this API's audience at the server (else the store's);
    ``dpop`` is ``required`` (default), ``allowed`` or ``forbidden``; ``legal_entities``, when set, are the
    only organisations whose users may call (None: any); ``profile`` verifies its tokens."""

    iss: str
    name: str
    keyset: KeySet
    audience: str | None
    required_scopes: tuple[str, ...]
    dpop: str
    algorithms: frozenset[str]
    legal_entities: frozenset[str] | None
    profile: str = DEFAULT_AT_PROFILE
    dpop_max_age: int = 10
    dpop_leeway: int = 5
    dpop_algorithms: frozenset[str] = frozenset(DPOP_ALGORITHMS)
    #: an authorization server vouches for no Helsenett membership in the trust store (HelseID checks it)
    member: bool | None = None

    @property
    def keys(self) -> Mapping[str, TrustedKey]:
        return self.keyset.keys


@dataclass(frozen=True)
class SamlIssuer:
    """An issuer of SAML 2.0 assertions (IHE XUA), e.g. HelseID's XDS SAML service (issue 14).

    ``iss`` is its exact ``saml:Issuer``. Exactly one of two sources of trust is set: ``certificates``, the
    pinned signing certificates (an assertion is verified with one of these, never with a certificate it
    carries only itself), or ``ca_certificates``, the trust anchors the signing certificate the assertion
    carries in KeyInfo must chain to (valid at the evaluation time; see :func:`attest.saml.verify_saml`).
    ``audience`` is what this verifier expects in ``AudienceRestriction`` (else the context's or the
    store's); ``recipient`` what it expects in ``SubjectConfirmationData/@Recipient`` when an assertion names
    one (None: the audience in effect); ``legal_entities``, when set, are the only organisations whose users
    it may vouch for (None: any, as for an authorization server); ``profile`` verifies its assertions. Like an
    authorization server it vouches for no Helsenett membership in the trust store (``member`` is None:
    HelseID checks it)."""

    iss: str
    name: str
    certificates: tuple[x509.Certificate, ...]
    audience: str | None = None
    legal_entities: frozenset[str] | None = None
    profile: str = DEFAULT_SAML_PROFILE
    member: bool | None = None
    ca_certificates: tuple[x509.Certificate, ...] = ()
    recipient: str | None = None


@dataclass(frozen=True)
class TrustStore:
    """Issuers by exact ``iss``, authorization servers by exact ``issuer``. Build with :meth:`load` (file)
    or :meth:`from_dict`."""

    issuers: Mapping[str, Issuer]
    #: the verifier's own identity, used when the verify context names no audience (extension)
    audience: str | None = None
    source: str = "<memory>"
    loaded_at: float = field(default_factory=time.time)
    authorization_servers: Mapping[str, AuthorizationServer] = field(default_factory=dict)
    #: ``test_material: true``: the file says its keys are published test keys
    test_material: bool = False
    #: SAML 2.0 assertion issuers by exact ``saml:Issuer`` (issue 14)
    saml_issuers: Mapping[str, SamlIssuer] = field(default_factory=dict)

    def issuer(self, iss: str) -> Issuer | None:
        return self.issuers.get(iss)

    def key(self, iss: str, kid: str) -> TrustedKey | None:
        issuer = self.issuers.get(iss)
        return issuer.keys.get(kid) if issuer is not None else None

    @staticmethod
    def is_test_material(path: str | Path) -> bool:
        """True when the trust-store file says ``test_material: true`` (read without loading any key)."""
        try:
            data = _parse_document(Path(path).read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError, TrustStoreError):
            return False
        return isinstance(data, dict) and data.get("test_material") is True

    @staticmethod
    def declared_profiles(path: str | Path) -> list[str]:
        """The profiles the file's authorization servers and SAML issuers name (their defaults where they name
        none), read without loading any key or fetching anything; [] for a file that cannot be read (loading
        it reports why)."""
        try:
            data = _parse_document(Path(path).read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError, TrustStoreError):
            return []
        if not isinstance(data, dict):
            return []
        out: list[str] = []
        for section, default in (("authorization_servers", DEFAULT_AT_PROFILE), ("saml_issuers", DEFAULT_SAML_PROFILE)):
            entries = data.get(section)
            for entry in entries if isinstance(entries, list) else []:
                profile = entry.get("profile", default) if isinstance(entry, dict) else None
                if isinstance(profile, str):
                    out.append(profile)
        return out

    def key_sets(self) -> list[tuple[str, KeySet]]:
        """Every entry's key set, named (``issuer <iss>`` / ``authorization server <issuer>``)."""
        return ([(f"issuer {i.iss}", i.keyset) for i in self.issuers.values()]
                + [(f"authorization server {a.iss}", a.keyset) for a in self.authorization_servers.values()])

    @classmethod
    def load(cls, path: str | Path, *, fetch_timeout: float = 5.0,
             clock: Callable[[], float] = time.time) -> TrustStore:
        """Load a JSON or YAML trust store. ``jwks_file`` paths are relative to the file; ``jwks_uri`` and
        ``discovery`` are fetched now (https, or http to a loopback address; one deadline of
        ``fetch_timeout`` seconds per fetch; see :mod:`attest.keysets`)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TrustStoreError(f"{p}: cannot read the trust store ({exc})") from exc
        data = _parse_document(text, str(p))
        return cls.from_dict(data, base_dir=p.parent, source=str(p), fetch_timeout=fetch_timeout, clock=clock)

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: str | Path | None = None, source: str = "<memory>",
                  fetch_timeout: float = 5.0, clock: Callable[[], float] = time.time) -> TrustStore:
        """``clock`` is the key sets' clock (cache intervals, refetch limits); tests inject one."""
        if not isinstance(data, dict) or not (isinstance(data.get("issuers"), list)
                                              or isinstance(data.get("authorization_servers"), list)
                                              or isinstance(data.get("saml_issuers"), list)):
            raise TrustStoreError(f"{source}: a trust store is an object with an 'issuers' list and/or an "
                                  "'authorization_servers' list (and/or a 'saml_issuers' list)")
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise TrustStoreError(f"{source}: unknown top-level member(s) {sorted(unknown)}")
        for name in ("issuers", "authorization_servers", "saml_issuers"):
            if name in data and not isinstance(data[name], list):
                raise TrustStoreError(f"{source}: '{name}' must be a list")
        audience = data.get("audience")
        if audience is not None and (not isinstance(audience, str) or not audience):
            raise TrustStoreError(f"{source}: 'audience' must be a non-empty string")
        test_material = data.get("test_material", False)
        if not isinstance(test_material, bool):
            raise TrustStoreError(f"{source}: 'test_material' must be true or false")
        policy = FetchPolicy(timeout=fetch_timeout)
        base = Path(base_dir) if base_dir else None
        issuers: dict[str, Issuer] = {}
        for i, entry in enumerate(data.get("issuers") or []):
            where = f"{source}: issuers[{i}]"
            issuer = _load_issuer(entry, where, base, policy, clock)
            if issuer.iss in issuers:
                raise TrustStoreError(f"{where}: duplicate iss {issuer.iss!r}")
            issuers[issuer.iss] = issuer
        servers: dict[str, AuthorizationServer] = {}
        for i, entry in enumerate(data.get("authorization_servers") or []):
            where = f"{source}: authorization_servers[{i}]"
            server = _load_server(entry, where, base, policy, clock)
            if server.iss in servers or server.iss in issuers:
                raise TrustStoreError(f"{where}: duplicate issuer {server.iss!r}")
            servers[server.iss] = server
        saml: dict[str, SamlIssuer] = {}
        for i, entry in enumerate(data.get("saml_issuers") or []):
            where = f"{source}: saml_issuers[{i}]"
            saml_issuer = _load_saml_issuer(entry, where, base)
            if saml_issuer.iss in saml:  # a SAML issuer may share its name with a JWT issuer: other keys
                raise TrustStoreError(f"{where}: duplicate issuer {saml_issuer.iss!r}")
            saml[saml_issuer.iss] = saml_issuer
        return cls(issuers=issuers, audience=audience, source=source, authorization_servers=servers,
                   test_material=test_material, saml_issuers=saml)

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


def _name(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise TrustStoreError(f"{where}: '{key}' must be a non-empty string")
    if value.startswith(RESERVED_PREFIX) or not value.isprintable():
        raise TrustStoreError(f"{where}: '{key}' must be printable and not start with {RESERVED_PREFIX!r}")
    return value


def _organisations(entry: dict[str, Any], where: str) -> list[str] | None:
    les = entry.get("legal_entities")
    if les is None:
        return None
    if not isinstance(les, list) or not all(isinstance(x, str) for x in les):
        raise TrustStoreError(f"{where}: 'legal_entities' must be a list of organisation numbers (strings)")
    for le in les:
        reason = check_organization_number(le)
        if reason is not None:
            raise TrustStoreError(f"{where}: legal entity {le!r} is not a valid organisation number: {reason}")
    return les


def _algorithms(entry: dict[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> frozenset[str] | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(a in allowed for a in value):
        raise TrustStoreError(f"{where}: '{key}' must be a non-empty list drawn from {list(allowed)}")
    return frozenset(value)


def _load_keyset(entry: dict[str, Any], where: str, base_dir: Path | None, policy: FetchPolicy,
                 restrict: frozenset[str] | None, issuer: str, *, discovery: bool,
                 clock: Callable[[], float]) -> KeySet:
    """The entry's key set from exactly one of ``jwks``, ``jwks_file``, ``jwks_uri`` (and ``discovery``
    for an authorization server)."""
    kinds = ("discovery", "jwks", "jwks_file", "jwks_uri") if discovery else ("jwks", "jwks_file", "jwks_uri")
    sources = [k for k in kinds if k in entry]
    if len(sources) != 1:
        raise TrustStoreError(f"{where}: give exactly one of {', '.join(repr(k) for k in kinds)}")
    cache = entry.get("jwks_cache_seconds")
    if cache is not None and (isinstance(cache, bool) or not isinstance(cache, int) or not 60 <= cache <= 7 * 86400):
        raise TrustStoreError(f"{where}: 'jwks_cache_seconds' must be an integer of 60..604800")
    kind = sources[0]
    if kind == "jwks":
        return KeySet.static(load_jwks(entry["jwks"], where, restrict=restrict), where)
    if kind == "jwks_file":
        rel = entry["jwks_file"]
        if not isinstance(rel, str):
            raise TrustStoreError(f"{where}: 'jwks_file' must be a path")
        path = (base_dir / rel) if base_dir is not None else Path(rel)
        src = f"{where} jwks_file {path}"
        try:
            jwks = _parse_document(path.read_text(encoding="utf-8"), src)
        except (OSError, UnicodeDecodeError) as exc:
            raise TrustStoreError(f"{src}: cannot read ({exc})") from exc
        return KeySet.static(load_jwks(jwks, src, restrict=restrict), src)
    url = entry[kind]
    if not isinstance(url, str):
        raise TrustStoreError(f"{where}: '{kind}' must be a URL")
    check_fetch_url(url, f"{where} {kind}")
    source = RemoteSource(discovery=url, issuer=issuer) if kind == "discovery" else RemoteSource(jwks_uri=url)
    return KeySet.remote(source, where=where, restrict=restrict, cache_seconds=cache, policy=policy, clock=clock)


def _entry_head(entry: Any, what: str, id_key: str, known: set[str], where: str) -> tuple[str, str, str]:
    """An entry's identity: ``(exact issuer, where for messages, name)``; refuses unknown members."""
    if not isinstance(entry, dict):
        raise TrustStoreError(f"{where}: {what} entry must be an object")
    iss = _name(entry, id_key, where)
    where = f"{where} ({iss})"
    unknown = set(entry) - known
    if unknown:
        raise TrustStoreError(f"{where}: unknown member(s) {sorted(unknown)}")
    name = entry.get("name", iss)
    if not isinstance(name, str):
        raise TrustStoreError(f"{where}: 'name' must be a string")
    return iss, where, name


def _load_issuer(entry: Any, where: str, base_dir: Path | None, policy: FetchPolicy,
                 clock: Callable[[], float]) -> Issuer:
    iss, where, name = _entry_head(entry, "an issuer", "iss", _ISSUER_KEYS, where)
    les = _organisations(entry, where) or []
    member = entry.get("member")
    restrict = _algorithms(entry, "algorithms", where, ASYMMETRIC_ALGORITHMS)
    keyset = _load_keyset(entry, where, base_dir, policy, restrict, iss, discovery=False, clock=clock)
    if not isinstance(member, bool):  # issue 11 item 7: ATT-12 is never left unchecked by omission
        raise TrustStoreError(f"{where}: 'member' (Helsenett membership, ATT-12) is required and must be true "
                              "or false")
    jwks_uri = entry.get("jwks_uri") if isinstance(entry.get("jwks_uri"), str) else None
    return Issuer(iss=iss, name=name, legal_entities=frozenset(les), member=member, keyset=keyset,
                  jwks_uri=jwks_uri)


def _entry_profile(profile: Any, where: str, kind: str) -> str:
    """An entry's ``profile``: a profile that exists and is made for the entry's kind of credential (an
    access-token profile for an authorization server, a SAML profile for a SAML issuer). Checked when the
    store loads, so that a typo is a configuration error, never a failed request."""
    from .errors import ProfileError
    from .profiles import load_profile

    if not isinstance(profile, str) or not profile:
        raise TrustStoreError(f"{where}: 'profile' must be a profile id")
    try:
        prof = load_profile(profile)
    except ProfileError as exc:
        raise TrustStoreError(f"{where}: 'profile': {exc}") from None
    fits = prof.issuer_kind == "authorization_server" if kind == "authorization_server" else "saml" in prof.data
    if not fits:
        what = "an access-token profile (helseid-at-1.0…)" if kind == "authorization_server" else \
            "a SAML profile (xua-saml-1.0…)"
        raise TrustStoreError(f"{where}: 'profile' {profile!r} is not {what}")
    return profile


def _load_server(entry: Any, where: str, base_dir: Path | None, policy: FetchPolicy,
                 clock: Callable[[], float]) -> AuthorizationServer:
    iss, where, name = _entry_head(entry, "an authorization server", "issuer", _SERVER_KEYS, where)
    audience = entry.get("audience")
    if audience is not None and (not isinstance(audience, str) or not audience):
        raise TrustStoreError(f"{where}: 'audience' must be a non-empty string")
    scopes = entry.get("required_scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(x, str) and x and " " not in x for x in scopes):
        raise TrustStoreError(f"{where}: 'required_scopes' must be a list of scope strings")
    dpop = entry.get("dpop", "required")
    if dpop not in ("required", "allowed", "forbidden"):
        raise TrustStoreError(f"{where}: 'dpop' must be required, allowed or forbidden")
    algorithms = _algorithms(entry, "algorithms", where, ASYMMETRIC_ALGORITHMS) or frozenset({"RS256"})
    dpop_algorithms = _algorithms(entry, "dpop_algorithms", where, (*DPOP_ALGORITHMS, "EdDSA"))
    les = _organisations(entry, where)
    profile = _entry_profile(entry.get("profile", DEFAULT_AT_PROFILE), where, "authorization_server")
    times: dict[str, int] = {}
    for key, default, hi in (("dpop_max_age", 10, 3600), ("dpop_leeway", 5, 300)):
        v = entry.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= hi:
            raise TrustStoreError(f"{where}: '{key}' must be an integer of 0..{hi} (seconds)")
        times[key] = v
    keyset = _load_keyset(entry, where, base_dir, policy, algorithms, iss, discovery=True, clock=clock)
    return AuthorizationServer(
        iss=iss, name=name, keyset=keyset, audience=audience, required_scopes=tuple(scopes), dpop=dpop,
        algorithms=algorithms, legal_entities=frozenset(les) if les is not None else None, profile=profile,
        dpop_max_age=times["dpop_max_age"], dpop_leeway=times["dpop_leeway"],
        dpop_algorithms=dpop_algorithms if dpop_algorithms is not None else frozenset(DPOP_ALGORITHMS))


def load_certificates(pem: str | bytes, where: str) -> tuple[x509.Certificate, ...]:
    """The certificates of a PEM text (one or more ``CERTIFICATE`` blocks), each holding a key a SAML
    signature may use: RSA of at least 2048 bits without the ROCA fingerprint (CVE-2017-15361), or EC on
    P-256, P-384 or P-521. Raises :class:`~attest.errors.TrustStoreError` naming ``where``."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        certs = tuple(x509.load_pem_x509_certificates(data))
    except ValueError as exc:
        raise TrustStoreError(f"{where}: not a PEM certificate ({exc})") from exc
    if not 1 <= len(certs) <= MAX_SAML_CERTIFICATES:
        raise TrustStoreError(f"{where}: give 1..{MAX_SAML_CERTIFICATES} certificates")
    for n, cert in enumerate(certs):
        what = f"{where} certificate {n}"
        try:
            key = cert.public_key()
        except ValueError as exc:
            raise TrustStoreError(f"{what}: unreadable public key ({exc})") from exc
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < 2048:
                raise TrustStoreError(f"{what}: RSA key of {key.key_size} bits; at least 2048 are required")
            if has_roca_fingerprint(key.public_numbers().n):
                raise TrustStoreError(f"{what}: the RSA modulus has the ROCA fingerprint (CVE-2017-15361)")
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.name not in SAML_CURVES:
                raise TrustStoreError(f"{what}: curve {key.curve.name} is not allowed (P-256, P-384, P-521)")
        else:
            raise TrustStoreError(f"{what}: only RSA and EC keys sign SAML assertions here")
    return certs


def _load_saml_issuer(entry: Any, where: str, base_dir: Path | None) -> SamlIssuer:
    iss, where, name = _entry_head(entry, "a SAML issuer", "issuer", _SAML_KEYS, where)
    sources = [k for k in _SAML_TRUST_SOURCES if k in entry]
    if len(sources) != 1:
        raise TrustStoreError(f"{where}: give exactly one source of trust: 'certificate' (PEM) or "
                              "'certificate_file' (pinned signing certificates), or 'ca_certificate' (PEM) or "
                              "'ca_certificate_file' (the CAs the signing certificate must chain to)")
    source = sources[0]
    if source.endswith("_file"):
        rel = entry[source]
        if not isinstance(rel, str) or not rel:
            raise TrustStoreError(f"{where}: '{source}' must be a path")
        path = (base_dir / rel) if base_dir is not None else Path(rel)
        try:
            raw: str | bytes = path.read_bytes()
        except OSError as exc:
            raise TrustStoreError(f"{where}: cannot read {source} {path} ({exc})") from exc
        certs = load_certificates(raw, f"{where} {source} {path}")
    else:
        raw = entry[source]
        if not isinstance(raw, str):
            raise TrustStoreError(f"{where}: '{source}' must be PEM text")
        certs = load_certificates(raw, where)
    pinned: tuple[x509.Certificate, ...] = certs
    cas: tuple[x509.Certificate, ...] = ()
    if source.startswith("ca_"):
        pinned, cas = (), certs
        for n, cert in enumerate(cas):
            _check_ca(cert, f"{where} CA certificate {n}")
    audience, recipient = entry.get("audience"), entry.get("recipient")
    if audience is not None and (not isinstance(audience, str) or not audience):
        raise TrustStoreError(f"{where}: 'audience' must be a non-empty string")
    if recipient is not None and (not isinstance(recipient, str) or not recipient):
        raise TrustStoreError(f"{where}: 'recipient' must be a non-empty string")
    profile = _entry_profile(entry.get("profile", DEFAULT_SAML_PROFILE), where, "saml")
    les = _organisations(entry, where)
    return SamlIssuer(iss=iss, name=name, certificates=pinned, audience=audience,
                      legal_entities=frozenset(les) if les is not None else None, profile=profile,
                      ca_certificates=cas, recipient=recipient)


def _check_ca(cert: x509.Certificate, what: str) -> None:
    """A trust anchor must be a CA certificate (RFC 5280 4.2.1.9 and 4.2.1.3): ``basicConstraints`` CA true and
    ``keyUsage`` with keyCertSign. Refused at load, because path validation would refuse every chain to it."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise TrustStoreError(f"{what}: not a CA certificate (basicConstraints and keyUsage are required)") from None
    except ValueError as exc:
        raise TrustStoreError(f"{what}: unreadable extensions ({exc})") from None
    if not constraints.ca or not usage.key_cert_sign:
        raise TrustStoreError(f"{what}: not a CA certificate (basicConstraints CA and keyUsage keyCertSign "
                              "are required)")


def build_trust_store(issuers: Iterable[dict[str, Any]], audience: str | None = None) -> TrustStore:
    """Convenience for tests and harnesses: a trust store from issuer dicts in the file format."""
    data: dict[str, Any] = {"issuers": list(issuers)}
    if audience is not None:
        data["audience"] = audience
    return TrustStore.from_dict(data)
