"""The token inspector page (issue 15) in a real browser: `attest serve` on loopback with its development
defaults (the example trust store), and Debian's headless Chromium driven by Playwright (tests/support/browser.py).

Every page a test opens is watched: each request it makes must go to the server's own origin, and a
Content-Security-Policy violation, a console error or an uncaught exception fails the test. With
``ATTEST_SCREENSHOTS=DIR`` the main states are saved as PNG files in DIR (docs/img/ holds the ones the docs
show: ``ATTEST_SCREENSHOTS=docs/img pytest tests/integration/test_inspector_browser.py``).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.browser import CONTRAST_FAILURES, RECORD_CSP_VIOLATIONS, chromium, need_chromium
from tests.support.helseid import METHOD, URL, make_at, make_proof
from tests.support.servers import AttestServer
from tests.support.service import fresh_token
from tests.support.tokens import valid_attestation

pytestmark = pytest.mark.integration

PRACTITIONER = "20086600138"  # the example GP's F-number (tests/support/tokens.py)
PATIENT = "13116900216"
SCREENSHOTS = os.environ.get("ATTEST_SCREENSHOTS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttestServer]:
    need_chromium()  # skip (or fail in CI) before starting anything
    s = AttestServer(tmp_path_factory.mktemp("inspector"), {"ATTEST_LOG_LEVEL": "INFO"}, name="inspector")
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def browser(server: AttestServer) -> Iterator[Any]:
    with chromium(need_chromium(), viewport={"width": 1280, "height": 900}, locale="nb-NO",
                  timezone_id="Europe/Oslo") as context:
        context.add_init_script(RECORD_CSP_VIOLATIONS)
        yield context


@dataclass
class Inspector:
    """One page of the inspector, with everything it did recorded."""

    page: Any
    origin: str
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def open(self) -> Inspector:
        self.page.goto(self.origin + "/inspect")
        return self

    def inspect(self, token: str, *, dpop: str | None = None, method: str | None = None,
                url: str | None = None) -> None:
        page = self.page
        page.fill("#token", token)
        if dpop is not None:
            if page.get_attribute("#dpop-box", "open") is None:
                page.click("#dpop-box summary")
            page.fill("#dpop", dpop)
            page.fill("#method", method or "")
            page.fill("#url", url or "")
        with page.expect_response(lambda r: r.url.endswith("/v1/inspect")):
            page.click("#inspect")
        page.wait_for_selector("#result:not([hidden])")

    def text(self, selector: str = "body") -> str:
        return str(self.page.inner_text(selector))

    def screenshot(self, name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)

    def assert_clean(self) -> None:
        """Same origin only; no CSP violation, console error or uncaught exception."""
        foreign = [u for _, u, _ in self.requests if _origin(u) != self.origin]
        assert not foreign, f"requests to another origin: {foreign}"
        if not self.page.is_closed():
            self.problems += [f"CSP: {v}" for v in self.page.evaluate("window.__cspViolations || []")]
        assert not self.problems, self.problems


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture
def inspector(browser: Any, server: AttestServer) -> Iterator[Inspector]:
    page = browser.new_page()
    ins = Inspector(page, server.url)
    page.on("request", lambda r: ins.requests.append((r.method, r.url, r.post_data)))
    page.on("console", lambda m: ins.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: ins.problems.append(f"page error: {e}"))
    try:
        yield ins
        ins.assert_clean()
    finally:
        page.close()


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _expired_token() -> str:
    now = int(time.time())
    att = valid_attestation()
    att["toa"] = now - 7200  # two hours ago: ATT-58c allows one
    return fresh_token(att, now=now, keep_toa=True)


def _broken_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[5] != "A" else "B")
    return f"{head}.{payload}.{signature[:5]}{flipped}{signature[6:]}"


# --- the main states -----------------------------------------------------------------------------------------

def test_a_valid_token_is_a_permit_with_its_13_fields(inspector: Inspector) -> None:
    expect = _expect()
    inspector.open().inspect(fresh_token())
    page = inspector.page
    expect(page.locator("#verdict")).to_have_text("PERMIT")
    rows = page.locator("#fields tbody tr")
    expect(rows).to_have_count(13)
    fields = inspector.text("#fields")
    for label in ("Practitioner", "HPR number", "Authorisation", "Legal entity", "Point of care", "Department",
                  "Healthcare service", "Purpose of use", "Purpose-of-use details", "Decision reference", "Patient",
                  "Patient point of care", "Patient department"):
        assert label in fields, label
    # code display texts, Norwegian and English where the code list has both; identifier checks
    assert "Lege" in fields and "Behandling" in fields and "treatment" in fields
    assert "✓ valid" in fields and "F-number" in fields and "organisation number" in fields
    # masked by default: the server sent no identity number
    body = inspector.text()
    assert "200866*****" in body and PRACTITIONER not in body and PATIENT not in body
    # times in local and relative form
    summary = inspector.text("#summary")
    assert re.fullmatch(r"made \d+ s ago, expires in \d+ min", summary), summary
    assert "Decoded token (untrusted)" in body and "Decoded without trusting it" in body
    inspector.screenshot("inspector-permit.png")


def test_an_expired_attestation_is_denied_with_the_rule_explained(inspector: Inspector) -> None:
    expect = _expect()
    inspector.open().inspect(_expired_token())
    expect(inspector.page.locator("#verdict")).to_have_text("DENY")
    verdict = inspector.text(".verdict")
    assert "attestation_has_expired" in verdict and "rule ATT-58c" in verdict and "at attestation.toa" in verdict
    assert "now - toa > 3600 s" in verdict  # the error table's summary
    assert "toa at most 3600 s old" in verdict  # the profile's description of ATT-58c
    assert "business rule ATT-58c of the trust framework" in verdict
    assert re.search(r"the attestation was made 72\d\d s ago", verdict)  # the finding's own message
    assert inspector.text("#summary").startswith("made 2 h ago")
    made = inspector.page.locator(".token .pair", has_text="Made (toa)").inner_text()
    assert "(2 h ago)" in made and "✗ attestation_has_expired" in made
    inspector.screenshot("inspector-deny.png")


def test_every_finding_of_a_broken_token_is_listed(inspector: Inspector) -> None:
    """A bad signature is the decision's one error (the signature is checked first); what the rules would
    also refuse, were the token genuine, is listed apart, each finding with its code, rule and explanation."""
    expect = _expect()
    now = int(time.time())
    att = valid_attestation()
    att["toa"] = now - 7200
    att["practitioner"]["legal_entity"]["id"] = "100100674"           # fails mod-11
    att["care_relation"]["purpose_of_use"]["code"] = "SHOPPING"       # not in the code list
    inspector.open().inspect(_broken_signature(fresh_token(att, now=now, keep_toa=True)))
    expect(inspector.page.locator("#verdict")).to_have_text("DENY")
    verdict = inspector.text(".verdict")
    assert "invalid_signature" in verdict and "the signature does not verify" in verdict
    untrusted = inspector.text(".untrusted-findings")
    for code in ("attestation_has_expired", "invalid_organization_number", "invalid_code"):
        assert code in untrusted, code
    items = inspector.page.locator(".untrusted-findings .finding.error")
    assert items.count() >= 3
    for i in range(items.count()):
        item = items.nth(i).inner_text()
        assert re.search(r"rule \S+", item) and item.count("\n") >= 2, item  # code + rule, explanation, message
    fields = inspector.text("#fields")
    assert "✗" in fields


def test_a_helseid_token_with_a_wrong_proof_shows_the_dpop_finding(inspector: Inspector) -> None:
    expect = _expect()
    now = int(time.time())
    token = make_at(now=now)
    proof = make_proof(token, now=now, method="POST")  # made for a POST, presented with a GET
    inspector.open().inspect(token, dpop=proof, method=METHOD, url=URL)
    expect(inspector.page.locator("#verdict")).to_have_text("DENY")
    verdict = inspector.text(".verdict")
    assert "dpop_htm_mismatch" in verdict and "RFC 9449 (DPoP), section 4.3" in verdict
    assert "htm is not the request method" in verdict
    proof_box = inspector.text(".proof")
    assert "does NOT match" in proof_box and "verifies with the header's jwk" in proof_box
    claims = inspector.text(".access-token")
    assert "BEN REDDIK" in claims and "security level 4" in claims and "050869*****" in claims
    assert "05086900124" not in inspector.text()
    expect(inspector.page.locator("#fields tbody tr")).to_have_count(13)
    inspector.screenshot("inspector-helseid-dpop.png")


def test_text_that_is_not_a_token_is_explained(inspector: Inspector) -> None:
    expect = _expect()
    inspector.open().inspect("this is not a token")
    expect(inspector.page.locator(".verdict .badge")).to_have_text("NOT A TOKEN")
    assert "malformed_token" in inspector.text("#result")


# --- privacy ---------------------------------------------------------------------------------------------------

def test_reveal_asks_the_server_and_mask_hides_again(inspector: Inspector) -> None:
    expect = _expect()
    page = inspector.page
    inspector.open().inspect(fresh_token())
    expect(page.locator("#reveal")).to_have_attribute("aria-pressed", "false")
    with page.expect_response(lambda r: r.url.endswith("/v1/inspect")):
        page.click("#reveal")
    expect(page.locator("#fields")).to_contain_text(PRACTITIONER)
    expect(page.locator("#reveal")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#reveal")).to_have_text("Mask identity numbers")
    assert PATIENT in inspector.text("#fields")
    with page.expect_response(lambda r: r.url.endswith("/v1/inspect")):
        page.click("#reveal")
    expect(page.locator("#fields")).not_to_contain_text(PRACTITIONER)
    assert PATIENT not in inspector.text()
    # the server decided: the first and the last request asked for masked numbers, the middle one for them
    posts = [json.loads(body or "{}") for method, url, body in inspector.requests if method == "POST"]
    assert [p["reveal_identifiers"] for p in posts] == [False, True, False]


def test_only_its_own_server_and_nothing_stored(inspector: Inspector, browser: Any) -> None:
    page = inspector.page
    inspector.open().inspect(fresh_token())
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == "" and browser.cookies() == []
    urls = {u for _, u, _ in inspector.requests}
    paths = {urlsplit(u).path for u in urls}
    assert {"/inspect", "/static/inspector/inspector.js", "/static/inspector/inspector.css", "/v1/inspect"} <= paths
    posts = [(u, body) for m, u, body in inspector.requests if m == "POST"]
    assert [urlsplit(u).path for u, _ in posts] == ["/v1/inspect"]
    # the token went in the body, never in a URL
    assert not any("eyJ" in u for u in urls)


def test_the_page_headers(server: AttestServer) -> None:
    with server.client() as c:
        page = c.get("/inspect")
        report = c.post("/v1/inspect", json={"token": fresh_token()})
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["x-content-type-options"] == "nosniff"
    assert report.headers["cache-control"] == "no-store"


def test_csp_violations_are_caught_and_html_sinks_refused(browser: Any, server: AttestServer) -> None:
    """The watch is not vacuous: an inline style (which the policy forbids) is reported as a violation; and
    with Trusted Types and no policy, a string can never become HTML on the page (innerHTML throws)."""
    page = browser.new_page()
    try:
        page.goto(server.url + "/inspect")
        page.evaluate("() => { const s = document.createElement('style'); s.textContent = 'body{}';"
                      " document.head.append(s); }")
        page.wait_for_function("window.__cspViolations.length > 0")
        assert any("style-src" in v for v in page.evaluate("window.__cspViolations"))
        outcome = page.evaluate("() => { try { document.body.innerHTML = '<b>x</b>'; return 'assigned'; }"
                                " catch (e) { return e.name; } }")
        assert outcome == "TypeError"
        assert any("trusted-types" in v for v in page.evaluate("window.__cspViolations"))
    finally:
        page.close()


def test_nothing_of_the_token_reaches_the_server_log(inspector: Inspector, server: AttestServer) -> None:
    token = fresh_token()
    inspector.open().inspect(token)
    page = inspector.page
    with page.expect_response(lambda r: r.url.endswith("/v1/inspect")):
        page.click("#reveal")
    _expect()(page.locator("#fields")).to_contain_text(PRACTITIONER)
    log = (server.data_dir / server.log.name).read_text(errors="replace")
    assert "/v1/inspect" in log  # the access log names the route
    for secret in (token, token.split(".")[2], PRACTITIONER, PATIENT):
        assert secret not in log
    with server.client() as c:
        metrics = c.get("/metrics").text
    assert re.search(r'attest_inspections_total\{kind="attestation",result="permit"\} [1-9]', metrics)


# --- quality ---------------------------------------------------------------------------------------------------

def test_keyboard_only(inspector: Inspector) -> None:
    """Tab to the token field, paste, Enter; the focus is visible; Tab on to the result's tools."""
    expect = _expect()
    page = inspector.page
    inspector.open()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "token":
            break
    assert page.evaluate("document.activeElement.id") == "token"
    outline = page.evaluate("() => { const s = getComputedStyle(document.activeElement);"
                            " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }")
    assert outline[0] != "none" and outline[1] >= 2, outline
    page.keyboard.insert_text(fresh_token())  # what a paste delivers
    with page.expect_response(lambda r: r.url.endswith("/v1/inspect")):
        page.keyboard.press("Enter")
    expect(page.locator("#verdict")).to_have_text("PERMIT")
    # on through the form's controls to the reveal button, and press it with the keyboard
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "reveal":
            break
    assert page.evaluate("document.activeElement.id") == "reveal"
    with page.expect_response(lambda r: r.url.endswith("/v1/inspect")):
        page.keyboard.press("Enter")
    expect(page.locator("#fields")).to_contain_text(PRACTITIONER)


def test_copy_the_decision_and_the_shareable_explanation(inspector: Inspector, browser: Any,
                                                         server: AttestServer) -> None:
    expect = _expect()
    browser.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = inspector.page
    inspector.open().inspect(_expired_token())
    expect(page.locator("#verdict")).to_have_text("DENY")
    page.click("#reveal")
    expect(page.locator("#fields")).to_contain_text(PRACTITIONER)
    page.click("#copy-decision")
    expect(page.locator("#status")).to_contain_text("Copied the decision document")
    decision = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert decision["decision"] == "deny" and decision["errors"][0]["code"] == "attestation_has_expired"
    page.click("#copy-share")
    expect(page.locator("#status")).to_contain_text("Copied the explanation")
    text = page.evaluate("navigator.clipboard.readText()")
    assert "attestation_has_expired" in text and "DENY" in text
    # even with the numbers revealed on the page, the shareable text holds none (nor their masked form)
    assert not re.search(r"(?<!\d)\d{11}(?!\d)|\d{6}\*{5}", text), text


def test_contrast_passes_wcag_aa(inspector: Inspector) -> None:
    expect = _expect()
    page = inspector.page
    inspector.open()
    assert page.evaluate(CONTRAST_FAILURES) == []
    inspector.inspect(_expired_token())
    expect(page.locator("#verdict")).to_have_text("DENY")
    page.click("#dpop-box summary")
    assert page.evaluate(CONTRAST_FAILURES) == []
    inspector.inspect(fresh_token())
    expect(page.locator("#verdict")).to_have_text("PERMIT")
    assert page.evaluate(CONTRAST_FAILURES) == []


@pytest.mark.parametrize("width", [360, 1920])
def test_narrow_and_wide_screens(inspector: Inspector, width: int) -> None:
    expect = _expect()
    page = inspector.page
    page.set_viewport_size({"width": width, "height": 900})
    inspector.open().inspect(_expired_token())
    expect(page.locator("#verdict")).to_have_text("DENY")
    # nothing wider than the screen: no sideways scrolling at 360 px
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    expect(page.locator("#fields tbody tr")).to_have_count(13)
    assert page.locator("#inspect").is_visible() and page.locator("#reveal").is_visible()
    if width == 360:
        # one card per field, each value labelled
        assert page.locator("#fields thead").bounding_box()["height"] <= 1  # type: ignore[index]
        inspector.screenshot("inspector-mobile.png")


def test_a_token_file_can_be_chosen_or_dropped(inspector: Inspector) -> None:
    expect = _expect()
    page = inspector.page
    inspector.open()
    token = fresh_token()
    page.set_input_files("#token-file", files=[{"name": "gp.jwt", "mimeType": "text/plain",
                                                "buffer": (token + "\n").encode()}])
    expect(page.locator("#token")).to_have_value(token)
    expect(page.locator("#status")).to_contain_text("Read gp.jwt")
    page.fill("#token", "")
    expired = _expired_token()
    page.evaluate("""(text) => {
        const data = new DataTransfer();
        data.items.add(new File([text], "expired.jwt", {type: "text/plain"}));
        document.getElementById("token").dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
    }""", expired)
    expect(page.locator("#token")).to_have_value(expired)
    with page.expect_response(lambda r: r.url.endswith("/v1/inspect")):
        page.click("#inspect")
    expect(page.locator("#verdict")).to_have_text("DENY")


def test_the_index_links_the_inspector(inspector: Inspector) -> None:
    page = inspector.page
    page.goto(inspector.origin + "/")
    page.click("text=Token inspector")
    page.wait_for_url("**/inspect")
    assert page.title().startswith("Token inspector")
