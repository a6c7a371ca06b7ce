"""The token inspector through FastAPI's test client (issue 15): the page, its packaged assets and their
headers, and what POST /v1/inspect adds for it. The page in a real browser: tests/integration/
test_inspector_browser.py."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ..support.helseid import METHOD, URL, make_at, make_proof
from ..support.service import admin, fresh_token
from ..support.tokens import valid_attestation

PRACTITIONER = "20086600138"
PATIENT = "13116900216"


def _inspect(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post("/v1/inspect", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return dict(r.json())


# --- the page ------------------------------------------------------------------------------------------------

def test_the_page_is_served_with_a_strict_policy(client: TestClient) -> None:
    r = client.get("/inspect")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert csp["require-trusted-types-for"] == "'script'"
    assert "unsafe" not in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    html = r.text
    # no inline script or style, nothing from another origin
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and "<style" not in html and " style=" not in html
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html)
    assert 'src="/static/inspector/inspector.js"' in html and 'href="/static/inspector/inspector.css"' in html
    # server-rendered: the trust store and the profile this service verifies with
    assert "4 issuers and 1 authorization server" in html and "tillitsrammeverk-1.1" in html
    assert "TEST keys" in html  # keys_example/trust.yaml is test material


def test_the_index_links_the_inspector(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and 'href="/inspect"' in r.text and 'href="/docs"' in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'self'")


@pytest.mark.parametrize(("name", "media_type"), [("inspector.js", "text/javascript"), ("inspector.css", "text/css"),
                                                   ("icon.svg", "image/svg+xml")])
def test_the_assets_are_packaged(client: TestClient, name: str, media_type: str) -> None:
    r = client.get(f"/static/inspector/{name}")
    assert r.status_code == 200 and r.headers["content-type"].startswith(media_type)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in r.text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in r.text


def test_the_script_never_writes_html_or_storage(client: TestClient) -> None:
    js = client.get("/static/inspector/inspector.js").text
    code = "\n".join(line for line in js.splitlines() if not line.lstrip().startswith("//"))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "localStorage",
                 "sessionStorage", "document.cookie", "indexedDB"):
        assert sink not in code, sink
    assert re.findall(r"fetch\(\"([^\"]+)\"", code) == ["/v1/inspect"]


@pytest.mark.parametrize("path", ["/static/inspector/app.py", "/static/inspector/..%2Finspector.py",
                                  "/static/inspector/inspect.html", "/static/inspector/"])
def test_nothing_else_is_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_html_routes_are_not_in_the_api_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/inspect", "/static/inspector/{name}"} & set(paths)
    inspect_body = client.get("/openapi.json").json()["components"]["schemas"]["InspectRequest"]["properties"]
    assert set(inspect_body) == {"token", "dpop", "request", "reveal_identifiers"}


# --- POST /v1/inspect for the page ------------------------------------------------------------------------------

def test_findings_come_with_explanations_and_a_shareable_text(client: TestClient) -> None:
    now = int(time.time())
    att = valid_attestation()
    att["toa"] = now - 7200
    report = _inspect(client, token=fresh_token(att, now=now, keep_toa=True))
    assert report["decision"]["decision"] == "deny"
    assert [e["code"] for e in report["decision"]["errors"]] == ["attestation_has_expired"]
    ex = report["explanations"]
    assert ex["codes"]["attestation_has_expired"]["summary"].startswith("now - toa > 3600 s")
    assert ex["rules"]["ATT-58c"]["descriptions"] == ["toa at most 3600 s old (attestation_has_expired), "
                                                      "not in the future"]
    assert "attestation_has_expired (rule ATT-58c, at attestation.toa)" in report["share_text"]
    rows = {row["field"]: row for row in report["fields"]}
    assert rows["care_relation.purpose_of_use"]["displays"] == {"nb": "Behandling", "en": "treatment"}


def test_identity_numbers_are_masked_unless_asked(client: TestClient) -> None:
    token = fresh_token()
    masked = client.post("/v1/inspect", json={"token": token}).text
    assert PRACTITIONER not in masked and PATIENT not in masked and "200866*****" in masked
    revealed = _inspect(client, token=token, reveal_identifiers=True)
    rows = {row["field"]: row for row in revealed["fields"]}
    assert rows["practitioner.identifier"]["value"] == PRACTITIONER
    assert rows["patients[0].identifier"]["value"] == PATIENT
    # the shareable text never holds them
    assert PRACTITIONER not in revealed["share_text"] and "200866" not in revealed["share_text"]
    r = client.post("/v1/inspect", json={"token": token, "reveal_identifiers": "yes"})
    assert r.status_code == 422  # strict: only true or false


def test_an_access_token_is_inspected_with_its_servers_profile_and_proof(client: TestClient) -> None:
    now = int(time.time())
    token = make_at(now=now)
    good = _inspect(client, token=token, dpop=make_proof(token, now=now), request={"method": METHOD, "url": URL})
    assert good["profile"] == "helseid-at-1.0-test" and good["decision"]["decision"] == "permit", good["decision"]
    assert good["dpop"]["binding"] == {"ath": "matches the access token", "cnf.jkt": "matches the proof's key",
                                       "htm": "matches", "htu": "matches"}
    wrong = _inspect(client, token=token, dpop=make_proof(token, now=now, method="POST"),
                     request={"method": METHOD, "url": URL})
    assert [e["code"] for e in wrong["decision"]["errors"]] == ["dpop_htm_mismatch"]
    assert wrong["explanations"]["rules"]["RFC9449-4.3"]["source"] == "RFC 9449 (DPoP), section 4.3"
    # without its proof, a DPoP-bound token would be refused: the page says so
    bare = _inspect(client, token=token)
    assert [e["code"] for e in bare["decision"]["errors"]] == ["dpop_proof_missing"]
    # the same proof twice: inspecting consumes nothing (no replay check)
    proof = make_proof(token, now=now)
    for _ in range(2):
        again = _inspect(client, token=token, dpop=proof, request={"method": METHOD, "url": URL})
        assert again["decision"]["decision"] == "permit"


def test_inspecting_is_counted_not_audited(client: TestClient) -> None:
    _inspect(client, token=fresh_token())
    _inspect(client, token=fresh_token(), reveal_identifiers=True)
    _inspect(client, token="not a token")
    _inspect(client, token=make_at())  # an old token at the real clock: deny
    metrics = client.get("/metrics").text
    assert 'attest_inspections_total{kind="attestation",result="permit"} 2.0' in metrics
    assert 'attest_inspections_total{kind="undecodable",result="not_verified"} 1.0' in metrics
    assert 'attest_inspections_total{kind="access_token",result="deny"} 1.0' in metrics
    assert "attest_decisions_total{" not in metrics  # not a decision
    r = client.get("/v1/audit", headers=admin())
    assert r.status_code == 200 and r.json()["entry"] == []
    labels = " ".join(re.findall(r"\{[^}]*\}", metrics))
    assert not re.search(r"[0-9]{11}", labels)


def test_the_inspect_body_is_bounded(client: TestClient) -> None:
    r = client.post("/v1/inspect", json={"token": fresh_token(), "dpop": "x" * 20000})
    assert r.status_code == 422
    r = client.post("/v1/inspect", json={"token": fresh_token(), "request": {"method": "GET"}})
    assert r.status_code == 422
