"""Forward-auth for real (issue 10): nginx (deploy/nginx-forward-auth.conf) with auth_request to `attest serve`,
in front of a small upstream FHIR API, all on loopback. A request with a valid HelseID access token and DPoP
proof reaches the upstream; every other request gets 401 or 403 from nginx and never reaches it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.gateway import Nginx, Upstream, forward_auth, need_nginx
from tests.support.helseid import PATIENT, make_at, make_proof
from tests.support.servers import AttestServer
from tests.support.service import ADMIN_TOKEN
from tests.support.tokens import KEYS

pytestmark = pytest.mark.integration

PATH = "/fhir/DocumentReference"
QUERY = f"?patient.identifier=urn:oid:2.16.578.1.12.4.1.4.1|{PATIENT}"


@dataclass
class Gateway:
    nginx: Nginx
    attest: AttestServer
    upstream: Upstream

    @property
    def url(self) -> str:
        return self.nginx.origin + PATH

    def get(self, headers: dict[str, str], *, method: str = "GET", path: str = PATH + QUERY) -> httpx.Response:
        with httpx.Client(timeout=30) as c:
            return c.request(method, self.nginx.origin + path, headers=headers)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    need_nginx()
    with forward_auth(tmp_path_factory.mktemp("gateway"), {
            "ATTEST_TRUST_STORE": str(KEYS / "trust.yaml"),
            "ATTEST_PROFILE": "tillitsrammeverk-1.1-test"}) as (attest, upstream, nginx):  # test material
        yield Gateway(nginx, attest, upstream)


def now() -> int:
    return int(time.time())


def dpop(token: str, proof: str | None) -> dict[str, str]:
    h = {"Authorization": f"DPoP {token}"}
    if proof is not None:
        h["DPoP"] = proof
    return h


def test_valid_token_and_proof_reach_the_upstream(gw: Gateway) -> None:
    before = len(gw.upstream.requests)
    tok = make_at(now=now())
    r = gw.get(dpop(tok, make_proof(tok, url=gw.url, now=now())))
    assert r.status_code == 200, (r.status_code, r.text, gw.attest.log_tail())
    assert r.json()["resourceType"] == "Bundle"
    assert len(gw.upstream.requests) == before + 1
    seen = gw.upstream.requests[-1]["headers"]
    assert seen["x-attest-decision"] == "permit" and seen["x-attest-hpr-number"] == "222200068"
    assert seen["x-attest-purpose-of-use"] == "TREAT" and seen["x-attest-audit-id"]
    # the same access token with a fresh proof: permitted again
    r = gw.get(dpop(tok, make_proof(tok, url=gw.url, now=now())))
    assert r.status_code == 200 and len(gw.upstream.requests) == before + 2


def test_the_decision_is_audited_with_the_patient_of_the_request(gw: Gateway) -> None:
    tok = make_at(now=now())
    r = gw.get(dpop(tok, make_proof(tok, url=gw.url, now=now())))
    audit_id = gw.upstream.requests[-1]["headers"]["x-attest-audit-id"]
    assert r.status_code == 200
    with gw.attest.client() as c:
        bundle = c.get("/v1/audit", params={"patient": PATIENT},
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert audit_id in [e["resource"]["id"] for e in bundle["entry"]]


def _refused(gw: Gateway, headers: dict[str, str], status: int, **kw: Any) -> httpx.Response:
    before = len(gw.upstream.requests)
    r = gw.get(headers, **kw)
    assert r.status_code == status, (r.status_code, r.headers, gw.attest.log_tail())
    assert len(gw.upstream.requests) == before, "a refused request reached the upstream"
    return r


def test_no_credentials(gw: Gateway) -> None:
    r = _refused(gw, {}, 401)
    assert r.headers.get_list("www-authenticate") == [r.headers["www-authenticate"]]
    assert r.headers["www-authenticate"].startswith("DPoP algs=")


def test_broken_requests_never_reach_the_upstream(gw: Gateway) -> None:
    t = now()
    tok = make_at(now=t)
    proof = make_proof(tok, url=gw.url, now=t)
    assert gw.get(dpop(tok, proof)).status_code == 200
    cases: list[tuple[str, dict[str, str], int, dict[str, Any]]] = [
        ("dpop_replayed", dpop(tok, proof), 401, {}),
        ("dpop_proof_missing", dpop(tok, None), 401, {}),
        ("dpop_required", {"Authorization": f"Bearer {tok}"}, 401, {}),
        ("dpop_htu_mismatch", dpop(tok, make_proof(tok, url=gw.nginx.origin + "/fhir/Patient", now=t)), 401, {}),
        ("dpop_htm_mismatch", dpop(tok, make_proof(tok, url=gw.url, now=t)), 401, {"method": "POST"}),
        ("dpop_ath_mismatch", dpop(tok, make_proof(make_at(now=t), url=gw.url, now=t)), 401, {}),
        ("dpop_proof_expired", dpop(tok, make_proof(tok, url=gw.url, now=t - 60)), 401, {}),
        ("invalid_signature", dpop(tok[:-4] + "AAAA", make_proof(tok[:-4] + "AAAA", url=gw.url, now=t)), 401, {}),
        ("token_expired", dpop(old := make_at(now=t - 400), make_proof(old, url=gw.url, now=t)), 401, {}),
        ("insufficient_security_level",
         dpop(weak := make_at(now=t, security_level="3", assurance_level="substantial"),
              make_proof(weak, url=gw.url, now=t)), 403, {}),
        ("insufficient_scope", dpop(narrow := make_at(now=t, scope=["openid"]), make_proof(narrow, url=gw.url, now=t)),
         403, {}),
        ("missing_attestation", dpop(bare := make_at(None, now=t), make_proof(bare, url=gw.url, now=t)), 403, {}),
    ]
    for code, headers, status, kw in cases:
        r = _refused(gw, headers, status, **kw)
        assert code in r.headers["x-attest-errors"].split(), (code, r.headers)
        challenges = r.headers.get_list("www-authenticate")
        if status == 401 or code == "insufficient_scope":
            assert len(challenges) == 1 and "error=" in challenges[0], (code, challenges)
        else:
            assert challenges == [], (code, challenges)


def test_a_client_cannot_say_what_the_original_request_was(gw: Gateway) -> None:
    """nginx sets X-Forwarded-Method / X-Original-URL itself: a client's own values never reach attest, so a
    proof made for another method or URL stays refused."""
    t = now()
    tok = make_at(now=t)
    other = "https://elsewhere.example/fhir/DocumentReference"
    headers = {**dpop(tok, make_proof(tok, method="POST", url=other, now=t)),
               "X-Forwarded-Method": "POST", "X-Original-URL": other, "X-Original-Method": "POST",
               "X-Forwarded-Host": "elsewhere.example", "X-Forwarded-Uri": "/fhir/DocumentReference",
               "X-Patient-Id": "04056600324"}
    r = _refused(gw, headers, 401)
    assert set(r.headers["x-attest-errors"].split()) == {"dpop_htm_mismatch", "dpop_htu_mismatch"}


def test_the_api_proxy_does_not_offer_forward_auth_to_clients() -> None:
    """Review finding: the API's own proxy (deploy/nginx.conf, a trusted proxy) passed /v1/authorize and a
    client's X-Original-* headers on, so a client could have attest decide and audit requests that never
    happened."""
    from tests.support.servers import ROOT

    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "location = /v1/authorize { return 404; }" in conf
    for name in ("X-Original-URL", "X-Original-Method", "X-Forwarded-Method", "X-Forwarded-Host",
                 "X-Forwarded-Uri", "X-Patient-Id"):
        assert f'proxy_set_header {name} "";' in conf, name


def test_client_supplied_attest_headers_are_overwritten(gw: Gateway) -> None:
    t = now()
    tok = make_at(now=t)
    r = gw.get({**dpop(tok, make_proof(tok, url=gw.url, now=t)), "X-Attest-Hpr-Number": "1", "X-Attest-Decision": "x"})
    assert r.status_code == 200
    seen = gw.upstream.requests[-1]["headers"]
    assert seen["x-attest-hpr-number"] == "222200068" and seen["x-attest-decision"] == "permit"


def test_only_fhir_is_proxied(gw: Gateway) -> None:
    _refused(gw, {}, 404, path="/v1/audit")
