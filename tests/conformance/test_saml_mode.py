"""The SAML mode of the conformance harness (issue 14 item 5): ``generate --saml`` writes signed SAML 2.0
assertions with the test SAML issuer's trust store; ``run --mode library`` runs them through
``attest.verify_saml``, ``run --mode http-api`` posts ``{"saml": …, "context": …}`` to a ``/v1/verify``-compatible
endpoint.

The expectations are written from the case descriptions (src/attest/conformance/saml_cases.py); here the library
reaches every one of them (codes, warnings and rule ids), a real ``attest serve`` on loopback configured with the
corpus's own trust.yaml conforms, and deliberately broken verifiers are caught with exactly their failing cases."""

from __future__ import annotations

import hashlib
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from attest import TrustStore
from attest.cli import app
from attest.conformance.cli import _mode_for
from attest.conformance.corpus import (
    SAML_ATTACK_CLASSES,
    SAML_CHECKS,
    SAML_GROUPS,
    SAML_UNTESTED_CODES,
    Corpus,
    load_corpus,
)
from attest.conformance.forge import PATIENT_FNR, PRACTITIONER_FNR
from attest.conformance.runner import RunOptions, RunResult, run
from attest.conformance.saml_corpus import build_saml_corpus, write_saml_corpus
from attest.conformance.saml_forge import SAML_TEST_PROFILE, SamlForge
from attest.conformance.saml_targets import SamlApiTarget, SamlLibraryTarget
from tests.support.servers import ROOT, AttestServer
from tests.support.service import ADMIN_TOKEN, key_ring

from .broken_saml_verifier import create_saml_verifier
from .contract_app import serve

runner = CliRunner()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_saml_corpus(build_saml_corpus(now=int(time.time())), tmp_path_factory.mktemp("saml") / "corpus")


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> Corpus:
    return load_corpus(corpus_dir)


def _failing(result: RunResult) -> set[str]:
    return {r.case.id for r in result.results if r.mismatch}


# --- generate --------------------------------------------------------------------------------------------

def test_the_corpus_is_deterministic(tmp_path: Path) -> None:
    a = write_saml_corpus(build_saml_corpus(now=1_800_000_000, seed="s"), tmp_path / "a")
    b = write_saml_corpus(build_saml_corpus(now=1_800_000_000, seed="s"), tmp_path / "b")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    # the trust store depends on the seed (and issuer, audience), not on now
    later = SamlForge.generate(seed="s", now=1_800_003_600)
    assert later.trust_document() == SamlForge.generate(seed="s", now=1_800_000_000).trust_document()
    assert (a / "saml-issuer.pem").read_text() == later.certificates_pem()


def test_every_saml_check_and_attack_class_is_covered(corpus: Corpus) -> None:
    assert corpus.kind == "saml" and {c.group for c in corpus} == set(SAML_GROUPS)
    covered = {k for c in corpus for k in c.covers}
    assert set(SAML_CHECKS) | set(SAML_ATTACK_CLASSES) <= covered
    assert len({c.id for c in corpus}) == len(corpus)
    for c in corpus:
        assert c.token and c.description and c.rule and c.expect.warnings is not None, c.id
        assert not re.search(r"\d{11}", c.description), c.id          # no identity number in what people read
    # every code verify_saml and the attribute mapping can give is a check of the catalogue (or named as
    # untested), so a new code needs a case
    source = "".join((ROOT / "src" / "attest" / f).read_text() for f in ("saml.py", "saml_map.py"))
    given = set(re.findall(r'(?:_Refused|Finding)\(\s*"([a-z_]+)"', source))
    assert given and given <= set(SAML_CHECKS) | set(SAML_UNTESTED_CODES), given - set(SAML_CHECKS)
    # and every code a case expects is a documented error code
    from attest import ERROR_CODES

    expected = {code for c in corpus for code in (*c.expect.errors, *(c.expect.warnings or ()))}
    assert expected <= set(ERROR_CODES) and expected == set(SAML_CHECKS) - {"permit"}


def test_the_documented_groups_match_the_corpus(corpus: Corpus) -> None:
    text = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    assert f"wrote {len(corpus)} SAML cases" in text
    for group, n in corpus.meta["counts"].items():
        assert re.search(rf"^\| `{group}` \|.*\| {n} \|$", text, re.MULTILINE), group
    assert f"CONFORMS: {len(corpus)} cases, {len(corpus)} passed" in text


def test_the_documented_coverage_table_matches_the_corpus(corpus: Corpus) -> None:
    text = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    section = text[text.index("### 7.5 Coverage"):text.index("Attack classes:", text.index("### 7.5 Coverage"))]
    documented = {code: int(n) for code, n in re.findall(r"\| `([a-z_]+)` \| (\d+) \|", section)}
    counts: dict[str, int] = {}
    for c in corpus:
        for k in c.covers:
            counts[k] = counts.get(k, 0) + 1
    assert len(documented) >= 20 and "token_replayed" in documented
    assert {k: counts.get(k, 0) for k in documented} == documented


def test_second_presentations_need_a_replay_cache_and_a_second_run_is_told_why(corpus: Corpus) -> None:
    """The cases with a prelude are skipped without a replay cache; with one, running the corpus again against
    the same cache fails the OneTimeUse case's prelude with the reason (the cache remembers the first run; an
    assertion without OneTimeUse is not recorded)."""
    twice = {c.id for c in corpus if c.prelude}
    assert twice == {"saml-cond-one-time-use-replayed", "saml-cond-presented-twice"}
    assert all(c.requires == ("replay",) and c.prelude == (c.token,) for c in corpus if c.prelude)
    result = run(corpus, SamlLibraryTarget(replay=False), RunOptions(jobs=1))
    assert result.ok and {r.case.id for r in result.results if r.status == "skip"} == twice
    target = SamlLibraryTarget()
    assert run(corpus, target, RunOptions(jobs=4)).ok
    again = run(corpus, target, RunOptions(jobs=4))
    errors = {r.case.id: r.reason for r in again.results if r.status == "error"}
    assert set(errors) == {"saml-cond-one-time-use-replayed"}
    assert all("remembers an earlier run of this corpus" in reason for reason in errors.values())


def test_the_corpus_carries_its_trust_store_and_says_it_is_test_material(corpus_dir: Path, corpus: Corpus) -> None:
    meta = json.loads((corpus_dir / "manifest.json").read_text())
    issuer = meta["saml_issuer"]
    assert issuer["issuer"].endswith(".invalid") and meta["profile"] == SAML_TEST_PROFILE
    store = TrustStore.load(corpus_dir / "trust.yaml")            # usable as it is
    entry = store.saml_issuers[issuer["issuer"]]
    assert store.test_material and entry.profile == SAML_TEST_PROFILE and entry.audience == meta["audience"]
    assert len(entry.certificates) == 2 and entry.legal_entities == frozenset(issuer["legal_entities"])
    # the second issuer: trusted through its root CA only (no pinned certificate), otherwise the same
    ca = meta["saml_ca_issuer"]
    ca_entry = store.saml_issuers[ca["issuer"]]
    assert ca["issuer"] == issuer["issuer"] + "/ca" and not ca_entry.certificates
    assert [hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest() for c in ca_entry.ca_certificates] == [
        c["sha256"] for c in ca["ca_certificates"]]
    assert (corpus_dir / ca["ca_certificate_file"]).read_text().count("BEGIN CERTIFICATE") == 1
    assert (ca_entry.profile, ca_entry.audience, ca_entry.legal_entities) == (
        entry.profile, entry.audience, entry.legal_entities)
    assert {c.id for c in corpus if c.token and ca["issuer"] in c.token} >= {
        c.id for c in corpus if "ca-chain" in c.covers and c.id != "saml-attack-ca-certificate-for-pinned-issuer"}
    assert "TEST MATERIAL" in (corpus_dir / "trust.yaml").read_text().splitlines()[0]
    readme = (corpus_dir / "README.md").read_text()
    assert readme.startswith("# !!! TEST MATERIAL - NEVER USE IN PRODUCTION !!!")
    assert issuer["issuer"] in readme and meta["audience"] in readme
    assert ca["issuer"] in readme and ca["ca_certificate_file"] in readme
    for path in corpus_dir.rglob("*"):                             # ready-made assertions: no private key
        assert not path.is_file() or "PRIVATE KEY" not in path.read_text(encoding="utf-8")
    assert all("token" not in entry for entry in meta["cases"])
    by_id = corpus.by_id()
    assert by_id["saml-cond-expired-within-leeway"].window_empty          # only with the injected time
    assert by_id["saml-attack-xsw1"].window is None                        # no clock changes a wrapping refusal
    lo, hi = by_id["saml-valid"].window or (None, None)
    assert lo == meta["now"] - 60 and hi == meta["now"] - 60 + 3600 - 1


def test_the_library_reaches_every_expected_code(corpus: Corpus) -> None:
    """attest.verify_saml decides every case with the exact expected codes, warnings and rule ids."""
    result = run(corpus, SamlLibraryTarget(), RunOptions(jobs=2, strict_rules=True))
    assert result.ok, [(r.case.id, r.reason) for r in result.results if r.mismatch]
    assert result.counts()["pass"] == len(corpus) and not any(r.notes for r in result.results)


# --- command line ----------------------------------------------------------------------------------------

def test_cli_generate_list_and_run(tmp_path: Path, corpus_dir: Path, corpus: Corpus) -> None:
    out = tmp_path / "c"
    r = runner.invoke(app, ["conformance", "generate", "--saml", "--out", str(out), "--now", "1800000000",
                            "--audience", "urn:test:xca", "--iss", "https://idp.test.invalid"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert f"wrote {len(corpus)} SAML cases" in text and "TEST MATERIAL" in text
    assert "every check and attack class is covered" in text
    assert TrustStore.load(out / "trust.yaml").saml_issuers["https://idp.test.invalid"].audience == "urn:test:xca"
    for bad in (["--helseid"], ["--profile", "xua-saml-1.0"], ["--all-variants"], ["--scope", "x"]):
        r = runner.invoke(app, ["conformance", "generate", "--saml", "--out", str(tmp_path / "d"), *bad])
        assert r.exit_code == 2, (bad, r.output)
    r = runner.invoke(app, ["conformance", "list", "--saml", "--json", "--only", "XSW*"])
    assert r.exit_code == 0, r.output
    assert {row["id"] for row in json.loads(r.output)} >= {"saml-attack-xsw1", "saml-attack-xsw8"}
    r = runner.invoke(app, ["conformance", "run", "--corpus", str(corpus_dir), "--mode", "attest-api",
                            "--target", "http://127.0.0.1:9"])
    assert r.exit_code == 2 and "http-api or library" in " ".join(r.output.split())
    with pytest.raises(typer.Exit):       # a corpus of attestation tokens is not posted as SAML
        _mode_for("http-api", None)
    assert _mode_for("", "saml") == "http-api"
    r = runner.invoke(app, ["conformance", "run", "--corpus", str(corpus_dir), "--mode", "library", "-q"])
    assert r.exit_code == 0, r.output
    assert f"CONFORMS: {len(corpus)} cases, {len(corpus)} passed" in " ".join(r.output.split())


# --- against a real attest serve on loopback -------------------------------------------------------------

@pytest.fixture(scope="module")
def service(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttestServer]:
    server = AttestServer(tmp_path_factory.mktemp("saml-serve"), {
        "ATTEST_TRUST_STORE": str(corpus_dir / "trust.yaml"),
        "ATTEST_PROFILE": "tillitsrammeverk-1.1-test",   # the corpus is test material
        "ATTEST_ALLOW_CONTEXT_NOW": "true",              # the cases carry their evaluation time
        "ATTEST_AT_REST_KEYS": key_ring("k1"), "ATTEST_ADMIN_TOKEN": ADMIN_TOKEN}, name="attest-saml")
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def test_http_api_against_attest_serve_conforms(service: AttestServer, corpus_dir: Path, corpus: Corpus,
                                                tmp_path: Path) -> None:
    r = runner.invoke(app, ["conformance", "run", "--corpus", str(corpus_dir), "--mode", "http-api",
                            "--target", service.url, "--jobs", "4", "--timeout", "20",
                            "--junit", str(tmp_path / "junit.xml"), "--json", str(tmp_path / "report.json")])
    assert r.exit_code == 0, r.output + service.log_tail()
    assert "CONFORMS" in r.output and "Results by SAML attack class" in r.output
    report = json.loads((tmp_path / "report.json").read_text())
    n = len(corpus)
    assert report["ok"] and report["summary"] == {"cases": n, "pass": n, "fail": 0, "error": 0, "skip": 0,
                                                  "mismatches": 0}
    assert report["corpus"]["kind"] == "saml" and report["target"]["mode"] == "http-api"
    by_id = {row["id"]: row for row in report["results"]}
    assert by_id["saml-valid-no-hpr-number"]["actual"]["warnings"] == ["advisory"]
    assert by_id["saml-attack-xsw7"]["actual"]["codes"] == ["invalid_signature"]
    suites = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - our own file
    assert {s.get("name") for s in suites} == {f"conformance.{g}" for g in SAML_GROUPS}
    assert sum(1 for _ in suites.iter("testcase")) == n
    for text in (r.output, (tmp_path / "report.json").read_text(), (tmp_path / "junit.xml").read_text()):
        assert PATIENT_FNR not in text and PRACTITIONER_FNR not in text


# --- against deliberately broken verifiers ---------------------------------------------------------------

def _predicted(corpus: Corpus, bug: str) -> set[str]:
    """The cases a verifier with ``bug`` must fail, from the case descriptions alone."""
    if bug == "ignore-audience":   # an audience refusal becomes a permit, or loses a code
        return {c.id for c in corpus if "invalid_audience" in c.expect.errors}
    if bug == "ignore-one-time-use":  # the second presentation of a OneTimeUse assertion is permitted
        return {c.id for c in corpus if "token_replayed" in c.expect.errors}
    if bug == "skip-chain-validation":  # a certificate that does not chain to the CA (or may not sign) is used
        # all the same: the cases whose carried, currently valid certificate's key signed (the expired one and
        # the missing KeyInfo are refused without a path check too; another key fails the signature)
        return {f"saml-attack-ca-{name}" for name in ("intermediate-missing", "no-digital-signature", "impostor",
                                                      "impostor-carried", "signs-itself", "pinned-certificate")}
    return {c.id for c in corpus if "unsigned" in c.tags}


@pytest.mark.parametrize("bug", ["ignore-audience", "accept-unsigned", "ignore-one-time-use", "skip-chain-validation"])
def test_broken_verifiers_are_caught(corpus: Corpus, corpus_dir: Path, bug: str) -> None:
    expected = _predicted(corpus, bug)
    assert expected
    with serve(create_saml_verifier(TrustStore.load(corpus_dir / "trust.yaml"), bug)) as url:
        result = run(corpus, SamlApiTarget(url, jobs=4, timeout=20), RunOptions(jobs=4))
    assert _failing(result) == expected
    assert all(r.status == "fail" for r in result.results if r.mismatch)
    assert result.counts()["pass"] == len(corpus) - len(expected)


def test_a_target_with_its_own_clock(corpus: Corpus, corpus_dir: Path) -> None:
    """Without ``now`` in the context, the cases that need the exact second are skipped; the others hold."""
    with serve(create_saml_verifier(TrustStore.load(corpus_dir / "trust.yaml"))) as url:
        target = SamlApiTarget(url, jobs=4, timeout=20)
        target.own_clock = True
        result = run(corpus, target, RunOptions(jobs=4))
    assert result.ok, [(r.case.id, r.reason) for r in result.results if r.mismatch]
    skipped = {r.case.id for r in result.results if r.status == "skip"}
    assert {"saml-cond-expired-within-leeway", "saml-cond-not-yet-valid-within-leeway"} <= skipped
    by_id = corpus.by_id()
    assert all(by_id[i].window_empty or by_id[i].window is not None for i in skipped)   # time-sensitive only
