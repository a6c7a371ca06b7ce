"""The key-set cache (attest.keysets) against a real HTTP key server on loopback: discovery, JWKS, caching,
rotation (refetch on an unknown kid, rate-limited), revocation (refresh on the cache interval), and the
ways a key server fails (down, slow, hanging, redirecting, junk, compressed, oversized)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from attest import TrustStore, TrustStoreError, VerifyContext, verify
from attest.keys import public_jwk
from attest.keysets import FetchPolicy, fetch_json, is_loopback_host
from tests.support.helseid import AUDIENCE, ISSUER, helseid_key, helseid_kid, make_at, make_proof
from tests.support.keyserver import KeyServer, key_server
from tests.support.tokens import NOW

PROFILE = "helseid-at-1.0"


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture(scope="module")
def second_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    return public_jwk(key, "RS256", kid=kid)


@pytest.fixture
def ks() -> Iterator[KeyServer]:
    with key_server() as server:
        server.issuer = ISSUER
        server.jwks = {"keys": [_jwk(helseid_key(), helseid_kid())]}
        yield server


def _store(tmp_path: Path, ks: KeyServer, clock: Clock, *, source: str = "discovery", **extra: Any) -> TrustStore:
    url = ks.discovery_url if source == "discovery" else ks.jwks_url
    path = tmp_path / "trust.json"
    path.write_text(json.dumps({"authorization_servers": [{"issuer": ISSUER, source: url, "audience": AUDIENCE,
                                                           **extra}]}))
    return TrustStore.load(path, fetch_timeout=1.0, clock=clock)


def _permitted(trust: TrustStore, token: str) -> list[str]:
    context = VerifyContext(now=NOW, dpop_proof=make_proof(token), http_method="GET",
                            http_url="https://api.source.example/fhir/DocumentReference", patient_id="13116900216")
    return verify(token, trust, PROFILE, context).codes


def test_discovery_then_jwks(tmp_path: Path, ks: KeyServer) -> None:
    trust = _store(tmp_path, ks, Clock())
    assert ks.count("/.well-known/openid-configuration") == 1 and ks.count("/jwks") == 1
    assert _permitted(trust, make_at()) == []
    assert ks.count("/jwks") == 1  # cached


def test_discovery_naming_another_issuer_is_refused(tmp_path: Path, ks: KeyServer) -> None:
    ks.issuer = "https://evil.example"
    with pytest.raises(TrustStoreError, match="another issuer"):
        _store(tmp_path, ks, Clock())


def test_rotation_refetches_once_for_an_unknown_kid(tmp_path: Path, ks: KeyServer, second_key: Any) -> None:
    clock = Clock()
    trust = _store(tmp_path, ks, clock, source="jwks_uri")
    ks.jwks = {"keys": [_jwk(helseid_key(), helseid_kid()), _jwk(second_key, "ROTATED")]}
    clock.advance(61)
    assert _permitted(trust, make_at(key=second_key, kid="ROTATED")) == []
    assert ks.count("/jwks") == 2
    # made-up kids within the next minute: no fetch, unknown_key
    for i in range(5):
        assert _permitted(trust, make_at(kid=f"made-up-{i}")) == ["unknown_key"]
    assert ks.count("/jwks") == 2
    clock.advance(61)
    assert _permitted(trust, make_at(kid="made-up-late")) == ["unknown_key"]
    assert ks.count("/jwks") == 3


def test_a_new_kid_within_the_refetch_interval_waits(tmp_path: Path, ks: KeyServer, second_key: Any) -> None:
    clock = Clock()
    trust = _store(tmp_path, ks, clock, source="jwks_uri")
    ks.jwks = {"keys": [_jwk(second_key, "ROTATED")]}
    clock.advance(30)  # the set was fetched 30 s ago
    assert _permitted(trust, make_at(key=second_key, kid="ROTATED")) == ["unknown_key"]
    clock.advance(31)
    assert _permitted(trust, make_at(key=second_key, kid="ROTATED")) == []


def test_a_revoked_key_stops_working_after_the_cache_interval(tmp_path: Path, ks: KeyServer,
                                                             second_key: Any) -> None:
    """Issue 11 item 3: jwks_uri keys were fetched once, so an issuer that withdrew a key still got permits."""
    clock = Clock()
    trust = _store(tmp_path, ks, clock, source="jwks_uri", jwks_cache_seconds=300)
    assert _permitted(trust, make_at()) == []
    ks.jwks = {"keys": [_jwk(second_key, "ROTATED")]}  # the old key is withdrawn
    clock.advance(299)
    assert _permitted(trust, make_at()) == []  # still cached
    clock.advance(2)
    assert _permitted(trust, make_at()) == ["unknown_key"]


def test_cache_control_max_age_shortens_the_cache(tmp_path: Path, ks: KeyServer) -> None:
    ks.cache_control = "public, max-age=120"
    clock = Clock()
    trust = _store(tmp_path, ks, clock, source="jwks_uri")
    clock.advance(119)
    _permitted(trust, make_at())
    assert ks.count("/jwks") == 1
    clock.advance(2)
    _permitted(trust, make_at())
    assert ks.count("/jwks") == 2


@pytest.mark.parametrize("mode", ["down", "junk", "gzip", "huge", "huge-chunked", "slow", "hang",
                                  "redirect-other"])
def test_a_failing_key_server_keeps_the_last_good_keys(tmp_path: Path, ks: KeyServer, mode: str) -> None:
    clock = Clock()
    trust = _store(tmp_path, ks, clock, source="jwks_uri", jwks_cache_seconds=60)
    ks.mode = mode
    clock.advance(61)
    start = time.monotonic()
    assert _permitted(trust, make_at()) == []  # refreshed (and failed): the last good keys stay
    elapsed = time.monotonic() - start
    assert elapsed < 3.0, elapsed  # one deadline (1 s here) for the whole fetch, plus one read at most
    (_, keyset), = trust.key_sets()
    status = keyset.status()
    assert status["last_error"] and status["failures"] == 1 and status["keys"] == 1
    assert status["age_seconds"] == 61.0
    ks.mode = "ok"
    clock.advance(61)
    _permitted(trust, make_at())
    assert keyset.status()["last_error"] is None and keyset.status()["age_seconds"] == 0.0


@pytest.mark.parametrize("mode", ["down", "junk", "gzip", "huge", "slow", "redirect-other"])
def test_a_failing_key_server_at_load_is_a_configuration_error(tmp_path: Path, ks: KeyServer, mode: str) -> None:
    ks.mode = mode
    with pytest.raises(TrustStoreError):
        _store(tmp_path, ks, Clock(), source="jwks_uri")


def test_a_compressed_body_is_refused_not_inflated(ks: KeyServer) -> None:
    ks.mode = "gzip"
    with pytest.raises(TrustStoreError, match="Content-Encoding"):
        fetch_json(ks.jwks_url, policy=FetchPolicy(timeout=2))


def test_oversized_bodies_are_refused_on_the_wire(ks: KeyServer) -> None:
    ks.mode = "huge-chunked"
    with pytest.raises(TrustStoreError, match="over"):
        fetch_json(ks.jwks_url, policy=FetchPolicy(timeout=5, max_bytes=100_000))


def test_same_origin_redirects_are_followed(ks: KeyServer) -> None:
    ks.mode = "redirect-same"
    assert fetch_json(ks.jwks_url).document == ks.jwks


@pytest.mark.parametrize(("url", "ok"), [
    ("https://helseid-sts.nhn.no/jwks", True),
    ("http://127.0.0.1:9/jwks", True),
    ("http://localhost:9/jwks", True),
    ("http://[::1]:9/jwks", True),
    ("http://127.0.0.2/jwks", True),
    ("http://127.evil.example/jwks", False),
    ("http://helseid-sts.nhn.no/jwks", False),
    ("ftp://127.0.0.1/jwks", False),
    ("http://10.0.0.1/jwks", False),
])
def test_https_only_except_loopback(tmp_path: Path, url: str, ok: bool) -> None:
    from attest.keysets import check_fetch_url

    if ok:
        check_fetch_url(url, "x")
    else:
        with pytest.raises(TrustStoreError, match="https"):
            check_fetch_url(url, "x")


def test_loopback_decision() -> None:
    assert is_loopback_host("127.0.0.1") and is_loopback_host("::1") and is_loopback_host("LOCALHOST")
    assert not is_loopback_host("127.evil.example") and not is_loopback_host("localhost.evil.example")
    assert not is_loopback_host(None) and not is_loopback_host("0.0.0.0")  # noqa: S104 - a string under test


def test_issuers_share_the_key_cache(tmp_path: Path, ks: KeyServer) -> None:
    """Self-signed attestation issuers with jwks_uri get the same refresh behaviour (one key cache)."""
    from tests.support.tokens import make_token, org

    fagersta = org("fagersta")
    ks.jwks = {"keys": [json.loads((Path("keys_example") / "fagersta" / "public.jwk.json").read_text())]}
    clock = Clock()
    path = tmp_path / "trust.json"
    path.write_text(json.dumps({"audience": "nhn:pjd", "issuers": [{
        "iss": fagersta.iss, "legal_entities": ["100100673"], "member": True, "jwks_uri": ks.jwks_url,
        "jwks_cache_seconds": 60}]}))
    trust = TrustStore.load(path, clock=clock)
    assert verify(make_token(), trust, context=VerifyContext(now=NOW)).permitted
    ks.jwks = {"keys": [_jwk(helseid_key(), "other")]}
    clock.advance(61)
    assert verify(make_token(), trust, context=VerifyContext(now=NOW)).codes == ["unknown_key"]


def test_a_cached_access_token_is_checked_again_after_a_key_refresh(tmp_path: Path, ks: KeyServer,
                                                                     second_key: Any) -> None:
    """An access token's verified signature is kept for its next presentation (attest.verify's token
    cache) only while the same key object is in service: a key replaced under the same kid after a refresh
    makes the cached token fail its signature check, a withdrawn one makes it unknown."""
    clock = Clock()
    trust = _store(tmp_path, ks, clock, source="jwks_uri", jwks_cache_seconds=60)
    tok = make_at()
    assert _permitted(trust, tok) == [] and _permitted(trust, tok) == []
    ks.jwks = {"keys": [_jwk(second_key, helseid_kid())]}  # same kid, another key
    clock.advance(61)
    assert _permitted(trust, tok) == ["invalid_signature"]
    ks.jwks = {"keys": [_jwk(second_key, "other")]}
    clock.advance(61)
    assert _permitted(trust, tok) == ["unknown_key"]


def test_verification_never_changes_the_cached_payload() -> None:
    import copy

    from attest.jose import DEFAULT_LIMITS
    from attest.verify import _ACCESS_TOKENS
    from tests.support.tokens import trust_store

    tok = make_at()
    ctx = VerifyContext(now=NOW, dpop_proof=make_proof(tok), http_method="GET",
                        http_url="https://api.source.example/fhir/DocumentReference", patient_id="13116900216")
    first = verify(tok, trust_store(), PROFILE, ctx)
    entry = _ACCESS_TOKENS.get(tok, DEFAULT_LIMITS)
    assert first.permitted and entry is not None
    before = copy.deepcopy(entry.jws.payload)
    d = verify(tok, trust_store(), PROFILE, VerifyContext(now=NOW, dpop_proof=make_proof(tok), http_method="GET",
                                                          http_url=ctx.http_url, patient_id="13116900216"))
    assert d.permitted and d.attestation is not None
    d.attestation["practitioner"]["identifier"]["id"] = "changed"  # a caller changing its decision document
    assert entry.jws.payload == before


def test_keys_a_remote_set_cannot_use_are_skipped_and_reported(tmp_path: Path, ks: KeyServer) -> None:
    """Review finding: one key the verifier cannot use (another algorithm, use: enc) made the whole remote
    set fail, so a new kid stayed unknown. A key server publishes keys for others too: those are skipped
    and named in the status; a set with no usable key is still refused."""
    from cryptography.hazmat.primitives.asymmetric import ec as ec_keys

    enc = {**_jwk(helseid_key(), "enc-key"), "use": "enc"}
    ec_key = public_jwk(ec_keys.generate_private_key(ec_keys.SECP256R1()), "ES256", kid="ec-key")
    ks.jwks = {"keys": [enc, ec_key, _jwk(helseid_key(), helseid_kid())]}
    trust = _store(tmp_path, ks, Clock(), source="jwks_uri", algorithms=["RS256"])
    assert _permitted(trust, make_at()) == []
    (_, keyset), = trust.key_sets()
    assert len(keyset.status()["skipped_keys"]) == 2 and set(keyset.keys) == {helseid_kid()}
    ks.jwks = {"keys": [enc, ec_key]}
    with pytest.raises(TrustStoreError, match="no usable key"):
        _store(tmp_path, ks, Clock(), source="jwks_uri", algorithms=["RS256"])


def test_concurrent_refreshes_fetch_once(tmp_path: Path, ks: KeyServer) -> None:
    clock = Clock()
    trust = _store(tmp_path, ks, clock, source="jwks_uri")
    (_, keyset), = trust.key_sets()
    clock.advance(61)
    assert keyset.refresh() is True
    assert keyset.refresh() is False  # a second caller right after: nothing to do
    assert keyset.refresh(force=True) is True
    assert ks.count("/jwks") == 3
