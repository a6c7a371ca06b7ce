"""The HelseID mode of the conformance harness: ``generate --helseid`` writes recipes and key material, ``run
--mode http-api`` mints an access token and a fresh DPoP proof per request and calls a real API.

Against attest's forward-auth behind a real nginx (deploy/nginx-forward-auth.conf), configured with the
corpus's own trust.yaml, every case behaves as expected; against three deliberately broken protectors
(loopback test doubles) the run reports exactly their mistakes."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from attest import TrustStore
from attest.cli import app
from attest.conformance.cli import _mode_for
from attest.conformance.corpus import DPOP_SWITCHES, HELSEID_CHECKS, Corpus, load_corpus
from attest.conformance.forge import b64decode
from attest.conformance.helseid_cases import PATIENT, PRACTITIONER_FNR
from attest.conformance.helseid_corpus import build_helseid_corpus, write_helseid_corpus
from attest.conformance.helseid_mint import load_material, mint
from attest.conformance.helseid_targets import HelseIdLibraryTarget, HttpApiTarget
from attest.conformance.runner import RunOptions, RunResult, run
from attest.dpop import access_token_hash
from tests.support.gateway import Nginx, Upstream, forward_auth, need_nginx

from .broken_protector import create_protector
from .contract_app import serve

PATH = "/fhir/DocumentReference"
runner = CliRunner()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_helseid_corpus(build_helseid_corpus(now=int(time.time())),
                                tmp_path_factory.mktemp("helseid") / "corpus")


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> Corpus:
    return load_corpus(corpus_dir)


def _claims(jws: str) -> tuple[dict[str, object], dict[str, object]]:
    head, body = jws.split(".")[:2]
    return json.loads(b64decode(head)), json.loads(b64decode(body))


def _failing(result: RunResult) -> set[str]:
    return {r.case.id for r in result.results if r.mismatch}


# --- generate --------------------------------------------------------------------------------------------

def test_the_corpus_is_deterministic_and_covers_every_check(tmp_path: Path) -> None:
    a = write_helseid_corpus(build_helseid_corpus(now=1_800_000_000, seed="s"), tmp_path / "a")
    b = write_helseid_corpus(build_helseid_corpus(now=1_800_000_000, seed="s"), tmp_path / "b")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    corpus = load_corpus(a)
    assert corpus.kind == "helseid" and all(c.recipe is not None and c.token == "" for c in corpus)
    covered = {k for c in corpus for k in c.covers}
    assert set(HELSEID_CHECKS) | set(DPOP_SWITCHES) <= covered
    assert len({c.id for c in corpus}) == len(corpus) and all(c.description and c.rule for c in corpus)


def test_the_documented_groups_match_the_corpus(corpus: Corpus) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "conformance.md").read_text(encoding="utf-8")
    assert f"wrote {len(corpus)} HelseID cases" in text
    for group, n in corpus.meta["counts"].items():
        assert re.search(rf"^\| `{group}` \|.*\| {n} \|$", text, re.MULTILINE), group


def test_the_corpus_carries_its_trust_anchor_and_says_it_is_test_material(corpus_dir: Path) -> None:
    meta = json.loads((corpus_dir / "manifest.json").read_text())
    server = meta["authorization_server"]
    assert re.fullmatch(r"[0-9A-F]{40}", server["kid"])
    assert server["issuer"].endswith(".invalid") and server["dpop"] == "required"
    jwks = json.loads((corpus_dir / "jwks.json").read_text())
    assert [k["kid"] for k in jwks["keys"]] == [server["kid"]] and "d" not in jwks["keys"][0]
    store = TrustStore.load(corpus_dir / "trust.yaml")        # usable as it is
    entry = store.authorization_servers[server["issuer"]]
    assert entry.audience == meta["audience"] and entry.required_scopes == tuple(server["required_scopes"])
    assert entry.dpop == "required" and set(entry.keys) == {server["kid"]} and store.test_material
    assert entry.profile == "helseid-at-1.0-test"
    readme = (corpus_dir / "README.md").read_text()
    assert readme.startswith("# !!! TEST MATERIAL - PRIVATE KEYS INSIDE - NEVER USE IN PRODUCTION !!!")
    assert server["issuer"] in readme and server["kid"] in readme and meta["audience"] in readme
    assert "TEST MATERIAL" in (corpus_dir / "trust.yaml").read_text().splitlines()[0]
    for key in (corpus_dir / "keys").iterdir():
        assert "PRIVATE KEY" in key.read_text() and key.stat().st_mode & 0o077 == 0


def test_a_request_is_minted_for_the_url_and_method_it_is_sent_with(corpus: Corpus, corpus_dir: Path) -> None:
    material = load_material(corpus_dir, str(corpus.meta["seed"]))
    recipe = corpus.by_id()["permit-valid"].recipe
    assert recipe is not None
    target = "https://api.test.example/fhir/DocumentReference?_count=5"
    t = int(time.time())
    req = mint(recipe, material, url=target, method="get", now=t)
    assert req.method == "GET" and req.url.startswith(target + "&patient.identifier=urn:oid:")
    assert req.url.endswith("%7C" + PATIENT) and req.patient == PATIENT
    headers = dict(req.headers)
    assert headers["Authorization"] == f"DPoP {req.token}" and headers["DPoP"] == req.proofs[0]
    header, proof = _claims(req.proofs[0])
    assert header["typ"] == "dpop+jwt" and "d" not in header["jwk"]  # type: ignore[operator]
    assert proof["htm"] == "GET" and proof["htu"] == "https://api.test.example/fhir/DocumentReference"
    assert proof["iat"] == t and proof["ath"] == access_token_hash(req.token)
    again = mint(recipe, material, url=target, now=t)
    assert _claims(again.proofs[0])[1]["jti"] != proof["jti"]          # single-use: a fresh jti per mint
    # a broken-proof switch changes exactly its thing
    switch = corpus.by_id()["dpop-no-htu"].recipe
    assert switch is not None
    broken = _claims(mint(switch, material, url=target, now=t).proofs[0])[1]
    assert "htu" not in broken and broken["htm"] == "GET" and broken["ath"]


def test_the_library_reaches_every_expected_code(corpus: Corpus) -> None:
    """attest.verify, given what forward-auth gives it, decides every case with the exact expected codes."""
    result = run(corpus, HelseIdLibraryTarget(), RunOptions(jobs=2))
    assert result.ok, [(r.case.id, r.reason) for r in result.results if r.mismatch]
    assert result.counts()["pass"] == len(corpus)


# --- command line ----------------------------------------------------------------------------------------

def test_cli_generate_list_and_mode_checks(tmp_path: Path, corpus_dir: Path) -> None:
    out = tmp_path / "c"
    r = runner.invoke(app, ["conformance", "generate", "--helseid", "--out", str(out), "--now", "1800000000",
                            "--seed", "cli", "--audience", "nhn:test-api", "--scope", "nhn:test-api/read"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "TEST MATERIAL" in text and "PRIVATE keys" in text
    assert "every check and broken-proof switch is covered" in text
    assert "issuer https://helseid.conformance.invalid" in text and "required scope nhn:test-api/read" in text
    assert TrustStore.load(out / "trust.yaml").authorization_servers[
        "https://helseid.conformance.invalid"].audience == "nhn:test-api"
    r = runner.invoke(app, ["conformance", "generate", "--helseid", "--out", str(tmp_path / "d"),
                            "--all-variants"])
    assert r.exit_code == 2 and "--all-variants" in r.output
    r = runner.invoke(app, ["conformance", "list", "--helseid", "--json", "--only", "switch-*"])
    assert r.exit_code == 0, r.output
    assert {row["id"] for row in json.loads(r.output)} >= {"dpop-no-htu", "dpop-replay", "dpop-private-jwk"}
    r = runner.invoke(app, ["conformance", "run", "--corpus", str(corpus_dir), "--mode", "http",
                            "--target", "http://127.0.0.1:9/x"])
    assert r.exit_code == 2 and "http-api or library" in " ".join(r.output.split())
    with pytest.raises(typer.Exit):       # a corpus of attestation tokens has no recipes to mint
        _mode_for("http-api", None)
    assert _mode_for("", "helseid") == "http-api" and _mode_for("", None) == "attest-api"
    r = runner.invoke(app, ["conformance", "run", "--corpus", str(corpus_dir), "--mode", "library", "-q"])
    assert r.exit_code == 0 and "CONFORMS: 54 cases, 54 passed" in " ".join(r.output.split()), r.output


# --- against attest's forward-auth behind a real nginx ---------------------------------------------------

@pytest.fixture(scope="module")
def gateway(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Nginx, Upstream]]:
    need_nginx()
    with forward_auth(tmp_path_factory.mktemp("helseid-gw"), {
            "ATTEST_TRUST_STORE": str(corpus_dir / "trust.yaml"),
            "ATTEST_PROFILE": "tillitsrammeverk-1.1-test"},  # the corpus is test material
            name="attest-helseid") as (_, upstream, nginx):
        yield nginx, upstream


@pytest.mark.integration
def test_forward_auth_behind_nginx_conforms(gateway: tuple[Nginx, Upstream], corpus_dir: Path, corpus: Corpus,
                                            tmp_path: Path) -> None:
    nginx, upstream = gateway
    before = len(upstream.requests)
    r = runner.invoke(app, ["conformance", "run", "--corpus", str(corpus_dir), "--mode", "http-api",
                            "--target", nginx.origin + PATH, "--jobs", "2", "--timeout", "20",
                            "--junit", str(tmp_path / "junit.xml"), "--json", str(tmp_path / "report.json")])
    assert r.exit_code == 0, r.output + nginx.log_tail()
    assert "CONFORMS" in r.output and "Results by broken-proof switch" in r.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] and report["summary"] == {"cases": 54, "pass": 54, "fail": 0, "error": 0, "skip": 0,
                                                  "mismatches": 0}
    assert report["corpus"]["kind"] == "helseid" and report["target"]["mode"] == "http-api"
    by_id = {row["id"]: row for row in report["results"]}
    assert by_id["dpop-replay"]["actual"]["detail"] == "HTTP 401 (dpop_replayed)"
    assert by_id["token-security-level-3"]["actual"]["detail"] == "HTTP 403 (insufficient_security_level)"
    suites = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - our own file
    assert {s.get("name") for s in suites} == {"conformance.helseid-valid", "conformance.helseid-token",
                                               "conformance.helseid-dpop"}
    assert sum(1 for _ in suites.iter("testcase")) == 54
    # only the permitted requests reached the API: each permit case, and the first of the replay pair
    permits = sum(1 for c in corpus if c.expect.decision == "permit")
    assert len(upstream.requests) - before == permits + 1
    # no identity number in what people read
    for text in (r.output, (tmp_path / "report.json").read_text(), (tmp_path / "junit.xml").read_text()):
        assert PATIENT not in text and PRACTITIONER_FNR not in text


# --- against deliberately broken protectors ----------------------------------------------------------------

@pytest.mark.parametrize(("bug", "expected"), [
    ("ignore-ath", {"dpop-no-ath", "dpop-wrong-ath"}),
    ("no-replay-cache", {"dpop-replay"}),
    ("ignore-security-level", {"token-security-level-3"}),
])
def test_broken_protectors_are_caught(corpus: Corpus, corpus_dir: Path, bug: str, expected: set[str]) -> None:
    trust = TrustStore.load(corpus_dir / "trust.yaml")
    with serve(create_protector(trust, bug)) as url:
        result = run(corpus, HttpApiTarget(url + PATH, jobs=2, timeout=20), RunOptions(jobs=2))
    assert _failing(result) == expected
    assert all(r.status == "fail" and r.reason.startswith("expected deny") for r in result.results if r.mismatch)
    assert result.counts()["pass"] == len(corpus) - len(expected)


def test_proofs_are_minted_per_request_and_odd_statuses_are_errors(corpus: Corpus) -> None:
    """Every request carries a proof made for it a moment before (iat = the second it was sent, htu = the
    target, a jti never seen before); a redirect is an error, never followed."""
    seen: list[tuple[float, dict[str, object]]] = []

    async def moved(request: Request) -> Response:
        seen.append((time.time(), _claims(request.headers["dpop"])[1]))
        return Response(status_code=307, headers={"Location": "http://127.0.0.1:9/elsewhere"})

    permits = corpus.select(["permit-*", "dpop-replay"])
    with serve(Starlette(routes=[Route(PATH, moved)])) as url:
        result = run(permits, HttpApiTarget(url + PATH + "?_count=1", jobs=2), RunOptions(jobs=2))
    assert {r.status for r in result.results} == {"error"} and len(seen) == len(permits)   # no second request
    assert all("HTTP 307" in r.reason for r in result.results)
    assert all(abs(t - float(claims["iat"])) <= 2 and claims["htu"] == url + PATH  # type: ignore[arg-type]
               for t, claims in seen)
    assert len({claims["jti"] for _, claims in seen}) == len(seen)


def test_a_corpus_signed_with_the_local_helseids_key_needs_no_new_trust_anchor(tmp_path: Path) -> None:
    """With --issuer-key (and the local HelseID's issuer, audience and scope), the corpus's access tokens are
    signed with keys_example/helseid-test: a target configured for the local HelseID (keys_example/trust.yaml,
    unchanged) permits the corpus's valid request."""
    from attest import VerifyContext, verify
    from attest.verify import profile_for
    from tests.support.tokens import KEYS

    out = tmp_path / "c"
    r = runner.invoke(app, ["conformance", "generate", "--helseid", "--out", str(out),
                            "--issuer-key", str(KEYS / "helseid-test" / "private.pem"),
                            "--iss", "https://helseid-sts.test.example", "--audience", "nhn:phr",
                            "--scope", "nhn:phr/mhd/read-documentreferences"])
    assert r.exit_code == 0, r.output
    published = json.loads((KEYS / "helseid-test" / "jwks.json").read_text())["keys"][0]
    written = json.loads((out / "jwks.json").read_text())["keys"][0]
    assert (written["kid"], written["n"], written["e"]) == (published["kid"], published["n"], published["e"])
    corpus = load_corpus(out)
    permit = next(c for c in corpus.cases if c.id == "permit-valid")
    assert permit.recipe is not None
    minted = mint(permit.recipe, load_material(out, corpus.meta["seed"]), url="https://api.example/fhir/x")
    example = TrustStore.load(KEYS / "trust.yaml")
    ctx = VerifyContext(dpop_proof=minted.proofs[0], http_method="GET", http_url=minted.url,
                        authorization_scheme="DPoP", patient_id=minted.patient)
    d = verify(minted.token, example, profile_for(minted.token, example), context=ctx)
    assert d.permitted, d.codes
    r = runner.invoke(app, ["conformance", "generate", "--helseid", "--out", str(tmp_path / "d"),
                            "--issuer-key", str(KEYS / "epj-dpop" / "private.pem")])
    assert r.exit_code == 2 and "RSA" in r.output
