"""Key sets: the one key cache for token issuers and authorization servers (HELSEID.md section 12).

A :class:`KeySet` holds the verification keys of one trust-store entry. Its source is fixed by
configuration, never by a token: an inline ``jwks``, a ``jwks_file`` (read once, at load), or a remote
``jwks_uri`` / OpenID ``discovery`` document. Remote key sets are

* cached for ``cache_seconds`` (default 24 h, or the response's ``Cache-Control: max-age`` when that is
  shorter, never below a minute), then fetched again by the next verification that needs the set;
* fetched again at most once per ``refetch_interval`` (60 s) when a token names a ``kid`` the set does not
  have (key rotation), so that a stream of made-up ``kid`` values cannot make the verifier hammer the
  key server;
* kept when a fetch fails: the last good set stays in service and the failure and the set's age are
  reported by :meth:`KeySet.status` (the service shows both in ``/readyz`` and ``/metrics``).

Fetching (:func:`fetch_json`) is hardened against a hostile or broken key server: https only (plain http
only to a loopback address, decided by :mod:`ipaddress` on literals and the name ``localhost``), one
overall deadline for the whole exchange, a byte cap counted on the wire, no ``Content-Encoding`` (a
compressed body is refused rather than inflated), redirects followed only within the same origin and at
most three times, JSON only.

Keys are checked and prepared once, when a set is loaded (:func:`load_jwks`): parsed with PyJWT's JWK
readers into ``cryptography`` key objects and bound to the algorithms they may verify.

Load-time refusals (:class:`~attest.errors.TrustStoreError`, naming the entry): duplicate ``kid``, keys
marked for encryption (``use: enc`` or ``key_ops`` without ``verify``), private key members, symmetric
(``oct``/HMAC) keys, RSA keys under 2048 bits, RSA moduli with the ROCA fingerprint (CVE-2017-15361), an
``alg`` that does not fit the key type or curve.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from .errors import TrustStoreError
from .jose import ASYMMETRIC_ALGORITHMS
from .keys import CURVE_ALGORITHMS, RSA_ALGORITHMS, has_roca_fingerprint

log = logging.getLogger("attest.keysets")

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

#: defaults of HELSEID.md section 12
DEFAULT_CACHE_SECONDS = 24 * 3600
MIN_CACHE_SECONDS = 60
DEFAULT_REFETCH_INTERVAL = 60.0


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


# --- loading JWKs ------------------------------------------------------------------------------------------

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
        numbers = public_key.public_numbers()
        if numbers.e < 65537 or numbers.e % 2 == 0 or numbers.n % 2 == 0:
            raise TrustStoreError(f"{where}: RSA key with a small or even public exponent or an even modulus "
                                  "(not a sound RSA key; e must be odd and at least 65537)")
        if has_roca_fingerprint(numbers.n):
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
            raise TrustStoreError(f"{where}: none of the entry's 'algorithms' fits this key")
    public = {k: v for k, v in jwk.items() if k not in _PRIVATE_MEMBERS}
    return TrustedKey(kid=kid, kty=str(kty), algorithms=algorithms, public_key=public_key, jwk=public)


# --- fetching -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FetchPolicy:
    """How remote key material is fetched. ``timeout`` is one deadline for the whole exchange (connect,
    redirects, headers and body); ``max_bytes`` caps the body as it arrives on the wire."""

    timeout: float = 5.0
    max_bytes: int = 1 << 20
    max_redirects: int = 3


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and for IP literals in the loopback ranges (127.0.0.0/8, ::1). A name that
    merely starts with ``127.`` (``127.evil.example``) is not loopback."""
    if not host:
        return False
    h = host.strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_fetch_url(url: str, where: str) -> None:
    """Refuse a configured URL that is not https (or http to a loopback address)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise TrustStoreError(f"{where}: {url!r} is not a URL") from exc
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and is_loopback_host(host):
        return
    raise TrustStoreError(f"{where}: {url!r} must be https (plain http only to a loopback address)")


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    port = p.port or (443 if p.scheme == "https" else 80 if p.scheme == "http" else None)
    return p.scheme, (p.hostname or "").lower(), port


@dataclass(frozen=True)
class Fetched:
    """A JSON document fetched from a key server, and how long it may be cached (``max_age``, if said)."""

    document: Any
    max_age: int | None


def _max_age(cache_control: str | None) -> int | None:
    if not cache_control:
        return None
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-store", "no-cache"):
            return 0
        if name == "max-age":
            try:
                return max(0, int(value.strip().strip('"')))
            except ValueError:
                return None
    return None


def fetch_json(url: str, *, policy: FetchPolicy = FetchPolicy(), where: str = "",
               deadline: float | None = None) -> Fetched:
    """GET ``url`` (from configuration, never from a token) under ``policy``; the body must be a JSON
    document of at most ``policy.max_bytes``. ``deadline`` (a ``time.monotonic()`` value, default now +
    ``policy.timeout``) bounds the whole exchange: each step (connecting, each redirect, the headers, each
    read) gets only the time that is left. Raises :class:`TrustStoreError` saying what went wrong."""
    import httpx  # imported here: only key sets with a remote source need it

    check_fetch_url(url, where)
    deadline = time.monotonic() + policy.timeout if deadline is None else deadline
    origin = _origin(url)
    current = url

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TrustStoreError(f"{where}: no complete answer within {policy.timeout:g} s")
        return remaining

    try:
        with httpx.Client(follow_redirects=False, trust_env=False) as client:
            for _ in range(policy.max_redirects + 1):
                with client.stream("GET", current, timeout=httpx.Timeout(left()),
                                   headers={"Accept": "application/json", "Accept-Encoding": "identity"}) as resp:
                    if resp.status_code in (301, 302, 303, 307, 308):
                        location = resp.headers.get("location")
                        if not location:
                            raise TrustStoreError(f"{where}: HTTP {resp.status_code} without a Location")
                        target = urljoin(current, location)
                        if _origin(target) != origin:
                            raise TrustStoreError(f"{where}: redirect to another origin refused")
                        current = target
                        continue
                    if resp.status_code != 200:
                        raise TrustStoreError(f"{where}: HTTP {resp.status_code}")
                    encoding = resp.headers.get("content-encoding", "identity").strip().lower()
                    if encoding not in ("", "identity"):
                        raise TrustStoreError(f"{where}: Content-Encoding {encoding[:20]!r} refused (key "
                                              "material is fetched uncompressed)")
                    declared = resp.headers.get("content-length")
                    if declared is not None and declared.isdigit() and int(declared) > policy.max_bytes:
                        raise TrustStoreError(f"{where}: response of {declared} bytes; the limit is "
                                              f"{policy.max_bytes}")
                    body = bytearray()
                    for chunk in resp.iter_raw():
                        body += chunk
                        if len(body) > policy.max_bytes:
                            raise TrustStoreError(f"{where}: response over {policy.max_bytes} bytes")
                        left()
                    left()
                    max_age = _max_age(resp.headers.get("cache-control"))
                    break
            else:
                raise TrustStoreError(f"{where}: more than {policy.max_redirects} redirects")
    except httpx.HTTPError as exc:
        raise TrustStoreError(f"{where}: cannot fetch ({type(exc).__name__})") from None
    try:
        return Fetched(json.loads(bytes(body).decode("utf-8")), max_age)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TrustStoreError(f"{where}: the response is not JSON") from None


def fetch_jwks(uri: str, *, timeout: float = 5.0, where: str = "") -> Any:
    """A JWKS document from ``uri`` (see :func:`fetch_json`)."""
    return fetch_json(uri, policy=FetchPolicy(timeout=timeout), where=where).document


# --- the key set --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RemoteSource:
    """Where a remote key set comes from: a ``jwks_uri``, or a ``discovery`` document naming one. For a
    discovery document, ``issuer`` (when given) must equal the document's ``issuer``."""

    jwks_uri: str | None = None
    discovery: str | None = None
    issuer: str | None = None

    def describe(self) -> str:
        return f"discovery {self.discovery}" if self.discovery else f"jwks_uri {self.jwks_uri}"


class KeySet:
    """The keys of one trust-store entry (see module doc). Lookups never block and never fetch; the
    caller decides when to :meth:`refresh` (the verifier does it when :meth:`wants_refresh` says so: the
    cache interval has passed, or the token's ``kid`` is unknown and no fetch was tried within
    ``refetch_interval``)."""

    def __init__(self, keys: Mapping[str, TrustedKey], *, where: str, source: RemoteSource | None = None,
                 restrict: frozenset[str] | None = None, cache_seconds: int | None = None,
                 refetch_interval: float = DEFAULT_REFETCH_INTERVAL, policy: FetchPolicy = FetchPolicy(),
                 clock: Callable[[], float] = time.time, fetched: Fetched | None = None) -> None:
        self._keys: Mapping[str, TrustedKey] = dict(keys)
        self.where = where
        self.source = source
        self.restrict = restrict
        self.cache_seconds = cache_seconds
        self.refetch_interval = refetch_interval
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self.fetched_at: float | None = now if source is not None else None
        self.last_attempt: float = now
        self.last_error: str | None = None
        self.fetches = 1 if source is not None else 0
        self.failures = 0
        #: keys of the last fetched set that were skipped, and why
        self.skipped: list[str] = []
        self.expires_at: float = self._expiry(now, fetched.max_age if fetched else None)

    @classmethod
    def static(cls, keys: Mapping[str, TrustedKey], where: str) -> KeySet:
        return cls(keys, where=where)

    @classmethod
    def remote(cls, source: RemoteSource, *, where: str, restrict: frozenset[str] | None = None,
               cache_seconds: int | None = None, refetch_interval: float = DEFAULT_REFETCH_INTERVAL,
               policy: FetchPolicy = FetchPolicy(), clock: Callable[[], float] = time.time) -> KeySet:
        """Fetch now (a failure here is a configuration error: :class:`TrustStoreError`)."""
        fetched, keys, skipped = _fetch_keys(source, where, restrict, policy)
        keyset = cls(keys, where=where, source=source, restrict=restrict, cache_seconds=cache_seconds,
                     refetch_interval=refetch_interval, policy=policy, clock=clock, fetched=fetched)
        keyset.skipped = skipped
        return keyset

    def _expiry(self, now: float, max_age: int | None) -> float:
        if self.source is None:
            return float("inf")
        cache = self.cache_seconds if self.cache_seconds is not None else DEFAULT_CACHE_SECONDS
        if max_age is not None and self.cache_seconds is None:
            cache = min(cache, max(MIN_CACHE_SECONDS, max_age))
        return now + cache

    # --- lookups ---------------------------------------------------------------------------------------------

    @property
    def keys(self) -> Mapping[str, TrustedKey]:
        return self._keys

    def get(self, kid: str) -> TrustedKey | None:
        return self._keys.get(kid)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def remote_source(self) -> bool:
        return self.source is not None

    def wants_refresh(self, kid: str | None) -> bool:
        """True when the verifier should :meth:`refresh` before deciding: the set is stale, or ``kid`` is
        unknown and no fetch was tried within ``refetch_interval``."""
        if self.source is None:
            return False
        now = self._clock()
        if now - self.last_attempt < self.refetch_interval:
            return False
        return now >= self.expires_at or (kid is not None and kid not in self._keys)

    # --- refreshing --------------------------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Fetch the set again (blocking, at most one fetch at a time; a caller that finds a fetch under
        way returns at once, and one that comes right after a fetch finds no reason to fetch again unless
        ``force``). On success the new keys replace the old ones; on failure the last good set stays and the
        error is recorded. Returns True when new keys were installed."""
        if self.source is None:
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            now = self._clock()
            if not force and now - self.last_attempt < self.refetch_interval:
                return False  # another caller fetched meanwhile
            self.last_attempt = now
            self.fetches += 1
            try:
                fetched, keys, skipped = _fetch_keys(self.source, self.where, self.restrict, self.policy)
            except TrustStoreError as exc:
                self.failures += 1
                self.last_error = str(exc)
                log.warning("key set fetch failed; keeping the last good keys",
                            extra={"where": self.where, "error": str(exc), "keys": len(self._keys)})
                return False
            self._keys = keys
            self.skipped = skipped
            self.fetched_at = now
            self.last_error = None
            self.expires_at = self._expiry(now, fetched.max_age)
            return True
        finally:
            self._lock.release()

    def status(self) -> dict[str, Any]:
        """For ``/readyz``, ``/metrics`` and people: source, key count, age of the keys in service, the last
        fetch error (None when the last fetch worked)."""
        now = self._clock()
        out: dict[str, Any] = {"keys": len(self._keys)}
        if self.source is None:
            out["source"] = "static"
            return out
        out["source"] = self.source.describe()
        out["age_seconds"] = None if self.fetched_at is None else round(now - self.fetched_at, 1)
        out["expires_in_seconds"] = round(self.expires_at - now, 1)
        out["fetches"] = self.fetches
        out["failures"] = self.failures
        out["last_error"] = self.last_error
        if self.skipped:
            out["skipped_keys"] = self.skipped
        return out


def _fetch_keys(source: RemoteSource, where: str, restrict: frozenset[str] | None,
                policy: FetchPolicy) -> tuple[Fetched, dict[str, TrustedKey], list[str]]:
    """The key set behind ``source``: one deadline for the discovery document and the JWKS together. Keys
    this verifier cannot use (another algorithm, ``use: enc``, a weak key) are skipped and named in the
    third element: a key server publishes keys for others too. A set with no usable key is refused."""
    deadline = time.monotonic() + policy.timeout
    jwks_uri = source.jwks_uri
    max_age: int | None = None
    if source.discovery is not None:
        doc = fetch_json(source.discovery, policy=policy, where=f"{where} discovery", deadline=deadline)
        if not isinstance(doc.document, dict):
            raise TrustStoreError(f"{where}: the discovery document is not a JSON object")
        if source.issuer is not None and doc.document.get("issuer") != source.issuer:
            raise TrustStoreError(f"{where}: the discovery document names another issuer")
        uri = doc.document.get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise TrustStoreError(f"{where}: the discovery document has no jwks_uri")
        jwks_uri = uri
        max_age = doc.max_age
    assert jwks_uri is not None
    fetched = fetch_json(jwks_uri, policy=policy, where=f"{where} jwks_uri", deadline=deadline)
    keys, skipped = load_usable_jwks(fetched.document, f"{where} jwks_uri", restrict=restrict)
    if max_age is not None and (fetched.max_age is None or max_age < fetched.max_age):
        fetched = Fetched(fetched.document, max_age)
    return fetched, keys, skipped


def load_usable_jwks(jwks: Any, where: str, *, restrict: frozenset[str] | None = None,
                     ) -> tuple[dict[str, TrustedKey], list[str]]:
    """The usable keys of a fetched JWKS and why the others were skipped; refuses a set without one usable
    key, or with a duplicate ``kid`` among the usable ones."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise TrustStoreError(f"{where}: a JWKS is an object with a 'keys' list")
    out: dict[str, TrustedKey] = {}
    skipped: list[str] = []
    for j, jwk in enumerate(jwks["keys"][:1000]):
        try:
            key = load_jwk(jwk, f"keys[{j}]", restrict=restrict)
        except TrustStoreError as exc:
            skipped.append(str(exc)[:300])
            continue
        if key.kid in out:
            raise TrustStoreError(f"{where} keys[{j}]: duplicate kid {key.kid!r}")
        out[key.kid] = key
    if not out:
        raise TrustStoreError(f"{where}: no usable key in the JWKS" + (f" ({skipped[0]})" if skipped else ""))
    return out, skipped
