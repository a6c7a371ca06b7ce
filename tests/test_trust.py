from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from attest import TrustStore, TrustStoreError, generate_private_key, public_jwk
from attest.trust import load_jwk

from .support.tokens import KEYS, org


def _jwk(alg: str = "ES256", **extra: Any) -> dict[str, Any]:
    j = public_jwk(generate_private_key(alg), alg)
    j.update(extra)
    return j


def _store(tmp_path: Path, text: str, name: str = "trust.yaml") -> TrustStore:
    p = tmp_path / name
    p.write_text(text)
    return TrustStore.load(p)


def test_example_trust_store_loads() -> None:
    store = TrustStore.load(KEYS / "trust.yaml")
    assert set(store.issuers) == {"https://epj.fagersta.example", "https://epj.oslo-kommune.example",
                                  "https://epj.ous.example", "https://epj-vendor.example"}
    assert store.audience == "nhn:pjd"
    vendor = store.issuer("https://epj-vendor.example")
    assert vendor is not None and vendor.legal_entities == {"100100673", "997506499"}
    assert store.key("https://epj.fagersta.example", org("fagersta").kid).algorithms == {"ES256"}
    assert store.key("https://epj.fagersta.example", org("ous").kid) is None  # keys are scoped by issuer


def test_json_inline_jwks(tmp_path: Path) -> None:
    jwk = _jwk("EdDSA")
    store = _store(tmp_path, json.dumps({"issuers": [{"iss": "a", "legal_entities": ["100100673"], "member": True,
                                                      "jwks": {"keys": [jwk]}}]}), "t.json")
    assert store.key("a", jwk["kid"]).algorithms == {"EdDSA"}


def test_rsa_key_without_alg_takes_the_rsa_family(tmp_path: Path) -> None:
    jwk = _jwk("RS256")
    del jwk["alg"]
    key = load_jwk(jwk, "x")
    assert key.algorithms == {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    jwk_ec = _jwk("ES384")
    del jwk_ec["alg"]
    assert load_jwk(jwk_ec, "x").algorithms == {"ES384"}  # the curve fixes it


@pytest.mark.parametrize("mutate,needle", [
    (lambda j: j.update(use="enc"), "use 'enc'"),
    (lambda j: j.update(key_ops=["encrypt"]), "key_ops"),
    (lambda j: j.update(alg="ES384"), "does not fit curve"),
    (lambda j: j.update(alg="HS256"), "not an allowed signature algorithm"),
    (lambda j: j.update(d="AAAA"), "private key member"),
    (lambda j: j.pop("kid"), "kid"),
    (lambda j: j.update(kid="a b"), "kid"),
    (lambda j: j.update(x="AAAA"), "not a valid EC public key"),
    (lambda j: j.update(crv="P-192"), "not a valid EC public key"),
])
def test_bad_keys_are_refused_naming_the_entry(mutate: Any, needle: str) -> None:
    jwk = _jwk("ES256")
    mutate(jwk)
    with pytest.raises(TrustStoreError) as exc:
        load_jwk(jwk, "store.yaml: issuers[0]")
    assert needle in str(exc.value) and "store.yaml: issuers[0]" in str(exc.value)


def test_hmac_keys_are_refused() -> None:
    with pytest.raises(TrustStoreError, match="symmetric"):
        load_jwk({"kty": "oct", "k": "c2VjcmV0", "kid": "h"}, "t")


def test_small_rsa_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(TrustStoreError, match="1024 bits"):
        load_jwk(public_jwk(small, "RS256"), "t")


def test_duplicates_are_refused(tmp_path: Path) -> None:
    jwk = _jwk()
    with pytest.raises(TrustStoreError, match="duplicate kid"):
        TrustStore.from_dict({"issuers": [{"iss": "a", "jwks": {"keys": [jwk, _jwk(kid=jwk["kid"])]}}]})
    with pytest.raises(TrustStoreError, match="duplicate iss"):
        TrustStore.from_dict({"issuers": [{"iss": "a", "member": True, "jwks": {"keys": [jwk]}},
                                          {"iss": "a", "member": True, "jwks": {"keys": [_jwk()]}}]})
    with pytest.raises(TrustStoreError, match="duplicate key"):
        _store(tmp_path, "issuers: []\nissuers: []\n")


@pytest.mark.parametrize("entry,needle", [
    ({"jwks": {"keys": []}}, "iss"),
    ({"iss": "a"}, "exactly one of"),
    ({"iss": "a", "jwks": {"keys": []}}, "no keys"),
    ({"iss": "a", "jwks_file": "nope.json"}, "cannot read"),
    ({"iss": "a", "legal_entities": ["123456789"], "jwks": {"keys": ["x"]}}, "not a valid organisation number"),
    ({"iss": "a", "member": "yes", "jwks": {"keys": [_jwk()]}}, "'member'"),
    ({"iss": "a", "jwks": {"keys": []}, "colour": "red"}, "unknown member"),
])
def test_bad_issuer_entries(entry: dict[str, Any], needle: str, tmp_path: Path) -> None:
    with pytest.raises(TrustStoreError) as exc:
        TrustStore.from_dict({"issuers": [entry]}, base_dir=tmp_path, source="ts.yaml")
    assert needle in str(exc.value) and "ts.yaml" in str(exc.value)


def test_not_a_trust_store(tmp_path: Path) -> None:
    with pytest.raises(TrustStoreError, match="issuers"):
        _store(tmp_path, "- 1\n- 2\n")
    with pytest.raises(TrustStoreError, match="not valid JSON or YAML"):
        _store(tmp_path, "issuers: [\n")
    with pytest.raises(TrustStoreError, match="cannot read"):
        TrustStore.load(tmp_path / "missing.yaml")


class _JWKS(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


def test_jwks_uri_is_fetched_at_load_from_loopback() -> None:
    jwk = _jwk("ES256")
    _JWKS.body = json.dumps({"keys": [jwk]}).encode()
    server = HTTPServer(("127.0.0.1", 0), _JWKS)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}/jwks"
        store = TrustStore.from_dict({"issuers": [{"iss": "a", "member": True, "jwks_uri": uri}]})
        assert store.key("a", jwk["kid"]) is not None
    finally:
        server.shutdown()
        server.server_close()


def test_jwks_uri_needs_https_off_loopback() -> None:
    with pytest.raises(TrustStoreError, match="https"):
        TrustStore.from_dict({"issuers": [{"iss": "a", "jwks_uri": "http://jwks.example/keys"}]})
    with pytest.raises(TrustStoreError, match="cannot fetch"):
        TrustStore.from_dict({"issuers": [{"iss": "a", "jwks_uri": "http://127.0.0.1:9/keys"}]}, fetch_timeout=0.5)


def test_declared_profiles_are_read_without_loading_keys(tmp_path: Path) -> None:
    """What `attest serve` checks test material against: every authorization server's and SAML issuer's
    profile (defaults included), read from the file without loading or fetching a key."""
    assert TrustStore.declared_profiles(KEYS / "trust.yaml") == ["helseid-at-1.0-test"]
    p = tmp_path / "t.yaml"
    p.write_text("saml_issuers:\n  - {issuer: x, certificate_file: nowhere.pem}\n"
                 "authorization_servers:\n  - {issuer: y, jwks_uri: 'https://unreachable.invalid/jwks'}\n")
    assert TrustStore.declared_profiles(p) == ["helseid-at-1.0", "xua-saml-1.0"]
    assert TrustStore.declared_profiles(tmp_path / "missing.yaml") == []
