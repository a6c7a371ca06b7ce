"""End to end, offline (issue 13): an EPJ (attest's library) gets a DPoP-bound access token carrying its
attestation from the local HelseID (`attest helseid serve`), calls a source organisation's FHIR API through
a real nginx whose auth_request asks `attest serve` (which finds HelseID's keys through its discovery document),
and gets the document; broken variants never reach the upstream. Every process listens on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from attest import load_private_key
from attest.helseid import dpop_proof, request_token
from attest.jose import parse_compact
from tests.support.gateway import Nginx, Upstream, forward_auth, need_nginx
from tests.support.helseid import fagersta_request_attestation
from tests.support.servers import ROOT, AttestServer, _tail, _wait_tcp, free_port
from tests.support.service import ADMIN_TOKEN
from tests.support.tokens import KEYS

pytestmark = pytest.mark.integration

PATIENT = "13116900216"
PATH = "/fhir/DocumentReference"
QUERY = f"?patient.identifier=urn:oid:2.16.578.1.12.4.1.4.1|{PATIENT}"
SCOPE = "nhn:phr/mhd/read-documentreferences"
CLIENT_KEY = load_private_key(KEYS / "epj-client" / "private.pem")
DPOP_KEY = load_private_key(KEYS / "epj-dpop" / "private.pem")


def attestation() -> dict[str, Any]:
    return fagersta_request_attestation()


class LocalHelseIdServer:
    """`attest helseid serve` in a subprocess, with the example configuration and its own issuer URL."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = yaml.safe_load((KEYS / "local-helseid.yaml").read_text("utf-8"))
        config["issuer"] = self.url  # as a real HelseID: the issuer is where its discovery document is
        config["signing_key"] = str(KEYS / config["signing_key"])
        for client in config["clients"]:
            client["jwks_file"] = str(KEYS / client["jwks_file"])
        work.mkdir(parents=True, exist_ok=True)
        self.config = work / "local-helseid.yaml"
        self.config.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
        self.log = work / "local-helseid.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "attest.cli", "helseid", "serve", "--config", str(self.config),
                 "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        if not _wait_tcp(self.port, 30):
            raise RuntimeError(f"the local HelseID did not listen\n{_tail(self.log)}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Topology:
    helseid: LocalHelseIdServer
    attest: AttestServer
    nginx: Nginx
    upstream: Upstream

    def token(self, att: dict[str, Any] | bool | None = True, **kw: Any) -> str:
        """A token for ``att`` (True: the example attestation; None: none at all)."""
        answer = request_token(self.helseid.url, attestation() if att is True else att or None,
                               client_key=CLIENT_KEY, client_id="fagersta-epj", dpop_key=DPOP_KEY, **kw)
        assert answer["token_type"] == "DPoP"
        return str(answer["access_token"])

    def call(self, token: str, proof: str | bool | None = True, scheme: str = "DPoP") -> httpx.Response:
        headers = {"Authorization": f"{scheme} {token}"}
        if proof is True:
            headers["DPoP"] = dpop_proof(DPOP_KEY, method="GET", url=self.nginx.origin + PATH, access_token=token)
        elif isinstance(proof, str):
            headers["DPoP"] = proof
        with httpx.Client(timeout=30, trust_env=False) as c:
            return c.get(self.nginx.origin + PATH + QUERY, headers=headers)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    need_nginx()
    base: Path = tmp_path_factory.mktemp("helseid-e2e")
    helseid = LocalHelseIdServer(base / "helseid")
    trust = base / "trust.yaml"
    trust.write_text(yaml.safe_dump({"audience": "nhn:phr", "authorization_servers": [{
        "issuer": helseid.url, "name": "local HelseID (test)",
        "discovery": helseid.url + "/.well-known/openid-configuration",
        "audience": "nhn:phr", "required_scopes": [SCOPE], "dpop": "required"}]}), "utf-8")
    try:
        helseid.start()  # before attest: attest reads HelseID's discovery document and keys at start
        with forward_auth(base, {"ATTEST_TRUST_STORE": str(trust)}, name="attest-e2e") as (attest, upstream, nginx):
            yield Topology(helseid, attest, nginx, upstream)
    finally:
        helseid.stop()


def _refused(topo: Topology, r: httpx.Response, before: int) -> None:
    assert r.status_code in (401, 403), (r.status_code, r.text, topo.attest.log_tail())
    assert len(topo.upstream.requests) == before, "a refused request reached the upstream"


def test_the_epj_gets_a_token_and_the_document(topo: Topology) -> None:
    before = len(topo.upstream.requests)
    token = topo.token()
    r = topo.call(token)
    assert r.status_code == 200, (r.status_code, r.text, topo.attest.log_tail())
    assert r.json()["resourceType"] == "Bundle" and len(topo.upstream.requests) == before + 1
    seen = topo.upstream.requests[-1]["headers"]
    assert seen["x-attest-decision"] == "permit" and seen["x-attest-hpr-number"] == "9144897"
    # audited under the patient of the request, as an event that conforms to the IG's profile
    with topo.attest.client() as c:
        bundle = c.get("/v1/audit", params={"patient": PATIENT},
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    events = [e["resource"] for e in bundle["entry"] if e["resource"]["id"] == seen["x-attest-audit-id"]]
    assert len(events) == 1 and events[0]["outcome"] == "0"
    from tests.support.fhirval import need_validator, profile_errors

    need_validator()
    assert profile_errors(events[0]) == []


def test_broken_variants_never_reach_the_upstream(topo: Topology) -> None:
    before = len(topo.upstream.requests)
    token = topo.token()
    other = topo.token()
    proof = dpop_proof(DPOP_KEY, method="GET", url=topo.nginx.origin + PATH, access_token=token)
    assert topo.call(token, proof).status_code == 200
    before += 1
    _refused(topo, topo.call(token, proof), before)                            # the same proof twice
    _refused(topo, topo.call(token, proof=None), before)                       # no proof
    _refused(topo, topo.call(token, scheme="Bearer"), before)                  # a DPoP-bound token as Bearer
    _refused(topo, topo.call(token, dpop_proof(                                # a proof for another token
        DPOP_KEY, method="GET", url=topo.nginx.origin + PATH, access_token=other)), before)
    _refused(topo, topo.call(token, dpop_proof(                                # a proof for another URL
        DPOP_KEY, method="GET", url=topo.nginx.origin + "/fhir/Binary", access_token=token)), before)
    _refused(topo, topo.call(topo.token(None)), before)                       # no attestation at all
    r = httpx.post(topo.helseid.url + "/connect/token", data={"grant_type": "client_credentials"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_a_user_below_security_level_4_is_refused(topo: Topology) -> None:
    before = len(topo.upstream.requests)
    answer = request_token(topo.helseid.url, attestation(), client_key=CLIENT_KEY, client_id="fagersta-epj",
                           dpop_key=DPOP_KEY)
    assert topo.call(answer["access_token"]).status_code == 200
    # the same client with a user logged in at level 3 (test_user: a registered person)
    with httpx.Client(timeout=10, trust_env=False) as c:
        from attest.helseid import client_assertion

        endpoint = topo.helseid.url + "/connect/token"
        r = c.post(endpoint, data={
            "grant_type": "client_credentials", "test_user": "03117000205",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion(attestation(), key=CLIENT_KEY, client_id="fagersta-epj",
                                                 audience=topo.helseid.url)},
            headers={"DPoP": dpop_proof(DPOP_KEY, method="POST", url=endpoint)})
    assert r.status_code == 200, r.text
    _refused(topo, topo.call(r.json()["access_token"]), before + 1)


def test_a_rotated_signing_key_is_picked_up_by_the_verifier(topo: Topology) -> None:
    """HelseID rotates its key: attest refetches the JWKS for the unknown kid (at most once a minute) and
    permits tokens signed with the new key; tokens of the previous key, still published, keep working."""
    old = topo.token()
    kid = httpx.post(topo.helseid.url + "/admin/rotate", timeout=10).json()["active_kid"]
    new = topo.token()
    assert parse_compact(new).header["kid"] == kid
    deadline = time.monotonic() + 90
    status = topo.call(new).status_code
    while status != 200 and time.monotonic() < deadline:  # a refetch may be rate-limited by an earlier one
        time.sleep(2)
        status = topo.call(new).status_code
    assert status == 200, topo.attest.log_tail()
    assert topo.call(old).status_code == 200
