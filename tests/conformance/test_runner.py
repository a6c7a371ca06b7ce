"""The runner: comparison rules, placeholder handling, and runs against in-process and loopback targets."""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from attest.conformance.corpus import Case, Corpus, Expectation, deny, load_corpus, permit
from attest.conformance.generate import Built
from attest.conformance.report import junit_tree, report_dict, write_json_report, write_junit
from attest.conformance.runner import (
    ApiTarget,
    CommandTarget,
    HttpTarget,
    LibraryTarget,
    Outcome,
    RunnerError,
    RunOptions,
    _argv,
    compare,
    run,
)

from .broken_verifier import broken, says_alg_none
from .contract_app import create_contract_app, serve


def _case(expect: Expectation, **kw: object) -> Case:
    base = dict(id="c", group="rules", rule="ATT-10", covers=("ATT-10",), description="d", token="t.t.t",
                context={"audience": "a", "now": 1})
    base.update(kw)
    return Case(expect=expect, **base)  # type: ignore[arg-type]


# --- comparison ------------------------------------------------------------------------------------

def test_compare_decision_codes_and_rules() -> None:
    c = _case(deny("invalid_code", "ATT-32"))
    assert compare(c, Outcome("deny", frozenset({"invalid_code"}), frozenset({"ATT-32"}))).status == "pass"
    assert compare(c, Outcome("deny")).status == "pass"                       # a target without codes
    r = compare(c, Outcome("permit"))
    assert r.status == "fail" and "expected deny invalid_code, got permit" in r.reason
    r = compare(c, Outcome("deny", frozenset({"invalid_code", "missing_field"})))
    assert r.status == "fail" and "codes" in r.reason                          # the code set is exact
    r = compare(c, Outcome("deny", frozenset({"invalid_code"}), frozenset({"ATT-99"})))
    assert r.status == "pass" and r.notes                                      # rule ids: a note ...
    assert compare(c, Outcome("deny", frozenset({"invalid_code"}), frozenset({"ATT-99"})),
                   strict_rules=True).status == "fail"                          # ... unless strict
    assert compare(c, Outcome("error", detail="HTTP 500")).status == "error"


def test_compare_alternatives_and_trust_cases() -> None:
    c = _case(deny("malformed_token", accept_also=[["invalid_signature"]]))
    assert compare(c, Outcome("deny", frozenset({"invalid_signature"}))).status == "pass"
    assert compare(c, Outcome("deny", frozenset({"unknown_key"}))).status == "fail"
    t = _case(Expectation("deny", trust_refused=True))
    assert compare(t, Outcome("error", detail="exit 2")).status == "pass"      # refusing to load is right
    assert compare(t, Outcome("deny")).status == "pass"
    assert compare(t, Outcome("permit")).status == "fail"
    assert compare(_case(permit("ATT-38")), Outcome("permit", frozenset())).status == "pass"


def test_argv_drops_options_without_a_value() -> None:
    tmpl = ["verify", "-", "--now", "{now}", "--pid", "{pid}", "--hpr={hpr}", "--json", "--case", "{case}"]
    vals = {"now": "5", "pid": None, "hpr": None, "case": "x"}
    assert _argv(tmpl, vals) == ["verify", "-", "--now", "5", "--json", "--case", "x"]
    assert _argv(tmpl, {**vals, "pid": "1", "hpr": "2"}) == ["verify", "-", "--now", "5", "--pid", "1",
                                                               "--hpr=2", "--json", "--case", "x"]


def test_target_configuration_errors() -> None:
    with pytest.raises(RunnerError, match="token must go somewhere"):
        HttpTarget("http://127.0.0.1:1/x", headers=["X-Other: 1"])
    with pytest.raises(RunnerError, match="unknown placeholder"):
        HttpTarget("http://127.0.0.1:1/x", headers=["Authorization: Bearer {tokn}"])
    with pytest.raises(RunnerError, match="http"):
        ApiTarget("file:///etc/passwd")
    with pytest.raises(RunnerError, match="status"):
        HttpTarget("http://127.0.0.1:1/x", accept="two hundred")
    with pytest.raises(RunnerError, match="empty"):
        CommandTarget("")
    t = HttpTarget("http://127.0.0.1:1/x", headers=["Authorization: Bearer {token}", "X-Patient: {patient}"])
    assert t.own_clock and t.receives == {"patient_id"}
    assert not HttpTarget("http://127.0.0.1:1/x", fields=["token={token}", "now={now}"]).own_clock
    cmd = CommandTarget("verify --trust {trust} --now {now}")
    assert cmd.trust_variants and not cmd.own_clock and not cmd.replay


# --- in-process runs -------------------------------------------------------------------------------

def test_library_target_conforms(corpus: Corpus) -> None:
    result = run(corpus, LibraryTarget(), RunOptions(jobs=4))
    assert result.ok, [(r.case.id, r.reason) for r in result.results if r.mismatch]
    counts = result.counts()
    assert counts["skip"] == 0 and counts["pass"] == len(corpus)
    assert {r.case.id for r in result.results if r.notes} == set()  # rule ids agree too


def test_no_network_access_while_verifying_the_corpus(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens name jku/x5u URLs (attacker.example, 169.254.169.254, 127.0.0.1): none may be contacted."""
    def refuse(*args: object, **kw: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert run(corpus.select(["C2", "C1", "C3"]), LibraryTarget(), RunOptions(jobs=1)).ok


def _predicted(corpus: Corpus, bugs: tuple[str, ...], codes_compared: bool) -> set[str]:
    """The cases a verifier with ``bugs`` gets wrong, derived from the corpus (not from running it)."""
    out = set()
    for c in corpus:
        if c.expect.decision != "deny" or c.expect.trust_refused:
            continue
        alg_none = "alg-none" in bugs and says_alg_none(c.token)
        toa_age = "toa-age" in bugs and "attestation_has_expired" in c.expect.errors and (
            codes_compared or set(c.expect.errors) == {"attestation_has_expired"})
        if alg_none or toa_age:
            out.add(c.id)
    return out


@pytest.mark.parametrize("bugs", [("toa-age",), ("alg-none",), ("toa-age", "alg-none")])
def test_a_broken_verifier_is_caught_exactly(corpus: Corpus, bugs: tuple[str, ...]) -> None:
    result = run(corpus, LibraryTarget(verifier=broken(bugs)), RunOptions(jobs=4))
    wrong = {r.case.id for r in result.results if r.mismatch}
    expected = _predicted(corpus, bugs, codes_compared=True)
    assert expected and wrong == expected
    if "toa-age" in bugs:
        assert {"rule-att-58c-expired", "rule-att-58c-expired-long-ago"} <= wrong
    if "alg-none" in bugs:
        assert "attack-a1-case-2" in wrong and "attack-a1-none-empty-signature" in wrong


# --- loopback servers ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(built: Built) -> str:  # type: ignore[misc]
    app = create_contract_app(built.forge.trust_store(), "tillitsrammeverk-1.1")
    with serve(app) as url:
        yield url


def test_attest_api_mode_conforms(corpus: Corpus, server: str, tmp_path: Path) -> None:
    result = run(corpus, ApiTarget(server, jobs=4), RunOptions(jobs=4))
    assert result.ok, [(r.case.id, r.reason) for r in result.results if r.mismatch]
    skipped = {r.case.id: r.reason for r in result.results if r.status == "skip"}
    assert all(corpus.by_id()[i].trust for i in skipped), skipped     # only trust-store cases (C7)
    replay_cases = [r for r in result.results if "replay" in r.case.requires]
    assert replay_cases and all(r.status == "pass" for r in replay_cases)
    write_junit(tmp_path / "junit.xml", result)
    write_json_report(tmp_path / "report.json", result)
    root = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - our own file
    assert (
        root.tag == "testsuites" and int(root.get("tests", 0)) == len(corpus) and root.get("failures") == "0"
    )
    assert {s.get("name") for s in root} == {
        "conformance.rules",
        "conformance.attacks",
        "conformance.examples",
        "conformance.valid",
    }
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["ok"] and rep["summary"]["pass"] == len(corpus) - len(skipped)
    assert all(row["cases"] > 0 for row in rep["coverage"])


def test_attest_api_mode_against_the_attest_service(corpus_dir: Path, tmp_path: Path) -> None:
    """Done-when: the corpus against our own service (issue 3): zero mismatches."""
    app_module = pytest.importorskip("attest.service.app", reason="the service (issue 3) is not merged yet")
    from attest.service.settings import Settings

    corpus = load_corpus(corpus_dir)
    settings = Settings(trust_store=corpus_dir / "trust.yaml", audience=corpus.meta["audience"],
                        profile=corpus.meta["profile"], data_dir=tmp_path, allow_context_now=True,
                        context_required=False)  # most cases carry no context (docs/conformance.md)
    with serve(app_module.create_app(settings), lifespan="on") as url:
        result = run(corpus, ApiTarget(url, jobs=4), RunOptions(jobs=4))
    assert result.ok, [(r.case.id, r.reason) for r in result.results if r.mismatch]
    assert all(corpus.by_id()[r.case.id].trust for r in result.results if r.status == "skip")


def test_attest_api_mode_reports_wrong_codes(corpus: Corpus, server: str) -> None:
    """A corpus whose expectation is wrong is reported as a mismatch (the comparison is not a rubber stamp);
    and a second run of permit cases against the same replay cache is refused as replays."""
    c = corpus.by_id()["rule-att-32-authorization-code"]
    wrong = replace(c, expect=deny("invalid_code_system", "ATT-32"))
    again = corpus.by_id()["valid-pou-coc"]       # already permitted once by test_attest_api_mode_conforms
    result = run(Corpus([wrong, again], corpus.meta, corpus.root), ApiTarget(server))
    assert [(r.case.id, r.status) for r in result.results] == [(c.id, "fail"), (again.id, "fail")]
    assert "invalid_code" in result.results[0].reason
    assert "token_replayed" in result.results[1].reason


def test_attest_api_mode_with_the_services_own_clock(corpus: Corpus, server: str) -> None:
    """A service that refuses context.now: every request is an error unless the run says the service keeps
    its own clock; then `now` is not sent and closed time windows are skipped."""
    refused = run(corpus.select(["valid-pou-*"]), ApiTarget(server + "/own-clock"))
    assert all(r.status == "error" and "HTTP 422" in r.reason for r in refused.results)
    target = ApiTarget(server + "/own-clock")
    target.own_clock = True
    result = run(corpus, target, RunOptions(jobs=4))
    assert result.ok, [(r.case.id, r.reason) for r in result.results if r.mismatch]
    skipped = {r.case.id for r in result.results if r.status == "skip"}
    assert "valid-toa-boundary" in skipped and "rule-att-58c-expired" not in skipped


def test_http_mode_conforms_with_the_targets_own_clock(corpus: Corpus, server: str) -> None:
    target = HttpTarget(
        server + "/documents",
        headers=["Authorization: Bearer {token}", "X-Patient: {patient}", "X-Pid: {pid}", "X-Hpr: {hpr}"],
        reject="401",
    )
    result = run(corpus, target, RunOptions(jobs=4))
    assert result.ok, [(r.case.id, r.reason) for r in result.results if r.mismatch]
    reasons = {r.case.id: r.reason for r in result.results if r.status == "skip"}
    # toa exactly 3600 s old holds only at the corpus's own second: a target with its own clock cannot run it
    assert "time window" in reasons["valid-toa-boundary"] or "exact second" in reasons["valid-toa-boundary"]
    assert "rule-att-58c-expired" not in reasons            # expired stays expired: robust against the clock
    assert "attack-f2-bearer" not in reasons
    newline = replace(corpus.by_id()["attack-f2-bearer"], token="a.b\nc.d")
    assert "HTTP header" in (target.skip_reason(newline, time.time()) or "")   # CR/LF cannot go in a header
    assert result.counts()["pass"] > 0.8 * len(corpus)


def test_http_mode_skips_context_it_cannot_send(corpus: Corpus, server: str) -> None:
    target = HttpTarget(server + "/documents", reject="401")
    result = run(corpus.select(["rule-att-11-*", "rule-att-13-*"]), target)
    status = {r.case.id: (r.status, r.reason) for r in result.results}
    assert status["rule-att-11-practitioner-mismatch"][0] == "skip"
    assert "authenticated_pid" in status["rule-att-11-practitioner-mismatch"][1]
    assert status["rule-att-13-legal-entity-not-issuers"][0] == "pass"


def test_http_mode_does_not_follow_redirects(corpus: Corpus, server: str) -> None:
    result = run(corpus.select(["valid-pou-coc"]), HttpTarget(server + "/moved", reject="401"))
    [r] = result.results
    assert r.status == "error" and "HTTP 307" in r.reason     # not followed to 127.0.0.1:9


def test_unreachable_target_and_timeouts_are_errors(corpus: Corpus) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()   # nothing listens here now
    t0 = time.monotonic()
    result = run(corpus.select(["valid-pou-*"]), ApiTarget(f"http://127.0.0.1:{port}", timeout=2))
    assert all(r.status == "error" for r in result.results) and not result.ok
    assert time.monotonic() - t0 < 30
    slow = CommandTarget(["sleep", "5"], timeout=0.2)
    [r] = run(corpus.select(["valid-pou-coc"]), slow).results
    assert r.status == "error" and "timeout" in r.reason


def test_report_documents(corpus: Corpus) -> None:
    result = run(
        corpus.select(["valid-pou-*", "rule-att-38-*"]), LibraryTarget(verifier=broken(("alg-none",)))
    )
    d = report_dict(result)
    assert d["format"] == "attest-conformance-report/1" and d["summary"]["cases"] == len(result.results)
    row = next(r for r in d["coverage"] if r["id"] == "ATT-38")
    assert row["cases"] >= 5 and row["pass"] == row["cases"]
    tree = junit_tree(result)
    assert tree.getroot().get("failures") == "0"
