"""``attest conformance`` end to end: generate a corpus with the CLI and run it, in command mode, against our
own ``attest verify`` (zero mismatches) and against a deliberately broken verifier (exactly its mistakes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attest.cli import app
from attest.conformance.corpus import load_corpus

from .broken_verifier import says_alg_none

HERE = Path(__file__).resolve().parent
ATTEST = [sys.executable, "-m", "attest.cli"]
VERIFY_TEMPLATE = (
    f"{sys.executable} -m attest.cli verify - --trust {{trust}} --profile {{profile}} --now {{now}} "
    "--audience {audience} --pid {pid} --hpr {hpr} --patient {patient} --json"
)


def _attest(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ATTEST, *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def cli_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "corpus"
    p = _attest("conformance", "generate", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "wrote" in p.stdout and "every rule and attack class is covered" in p.stdout
    return out


def test_command_mode_against_our_own_cli(cli_corpus: Path, tmp_path: Path) -> None:
    """Done-when: the generated corpus, run against `attest verify` in command mode, has zero mismatches."""
    p = _attest(
        "conformance",
        "run",
        "--corpus",
        str(cli_corpus),
        "--mode",
        "command",
        "--target",
        VERIFY_TEMPLATE,
        "--json-output",
        "--timeout",
        "120",
        "--junit",
        str(tmp_path / "junit.xml"),
        "--json",
        str(tmp_path / "report.json"),
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "CONFORMS" in p.stdout and "Results by rule" in p.stdout and "Results by attack class" in p.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] and report["summary"]["mismatches"] == 0
    skipped = {r["id"] for r in report["results"] if r["status"] == "skip"}
    corpus = load_corpus(cli_corpus)
    # a command is a fresh process per case: only the replay cases need state it cannot have
    assert skipped == {c.id for c in corpus if "replay" in c.requires}
    trust_cases = [r for r in report["results"] if r["id"].startswith("attack-c7-")]
    assert trust_cases and all(r["status"] == "pass" and r["actual"]["detail"].startswith("exit 2")
                               for r in trust_cases)
    assert (tmp_path / "junit.xml").read_text().count("<testcase ") == len(corpus)


def test_command_mode_catches_a_broken_verifier(cli_corpus: Path, tmp_path: Path) -> None:
    """A verifier that forgets the toa age limit and accepts alg none: the run reports exactly those cases
    (a slice of the corpus that holds all of them and their neighbours; the full corpus is checked
    in-process in test_runner.py)."""
    broken = (
        f"{sys.executable} {HERE / 'broken_verifier.py'} --trust {{trust}} --now {{now}} "
        "--audience {audience} --pid {pid} --hpr {hpr} --patient {patient} --bug toa-age --bug alg-none"
    )
    globs = ["rule-att-58*", "A1", "A2", "valid-pou-*", "example-*", "G2", "attack-c7-use-enc"]
    p = _attest("conformance", "run", "--corpus", str(cli_corpus), "--mode", "command", "--target", broken,
                "--json", str(tmp_path / "report.json"), "-q", *[a for g in globs for a in ("--only", g)])
    assert p.returncode == 1, p.stdout + p.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    wrong = {r["id"] for r in report["results"] if r["status"] in ("fail", "error")}
    corpus = load_corpus(cli_corpus).select(globs)
    predicted = {c.id for c in corpus if c.expect.decision == "deny" and not c.expect.trust_refused and (
        says_alg_none(c.token) or set(c.expect.errors) == {"attestation_has_expired"})}
    assert wrong == predicted
    assert {"rule-att-58c-expired", "rule-att-58c-expired-long-ago", "attack-a1-case-2"} <= wrong
    assert "MISMATCH" in p.stdout and "rule-att-58c-expired" in p.stdout


runner = CliRunner()


def test_http_mode_with_the_token_in_a_json_body(cli_corpus: Path) -> None:
    from attest import TrustStore

    from .contract_app import create_contract_app, serve

    trust = TrustStore.load(cli_corpus / "trust.yaml")
    with serve(create_contract_app(trust, "tillitsrammeverk-1.1")) as url:
        r = runner.invoke(app, ["conformance", "run", "--corpus", str(cli_corpus), "--mode", "http",
                                "--target", url + "/json-documents", "--field", "auth.token={token}",
                                "--field", "patient={patient}", "--reject-status", "403",
                                "--only", "rule-att-4-*", "--only", "valid-*", "--only", "A1", "-q"])
    assert r.exit_code == 0, r.output
    assert "CONFORMS" in r.output


def test_list_and_coverage(cli_corpus: Path) -> None:
    r = runner.invoke(
        app, ["conformance", "list", "--corpus", str(cli_corpus), "--json", "--only", "ATT-58c"]
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert rows and all("ATT-58c" in row["covers"] for row in rows)
    assert {"id", "rule", "description", "expect"} <= set(rows[0])
    r = runner.invoke(
        app, ["conformance", "list", "--coverage"]
    )  # without a corpus: what generate would write
    assert r.exit_code == 0 and "every rule and attack class is covered" in r.output


def test_usage_errors(cli_corpus: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["conformance", "run", "--corpus", str(cli_corpus), "--mode", "telnet"])
    assert r.exit_code == 2 and "--mode" in r.output
    r = runner.invoke(app, ["conformance", "run", "--corpus", str(cli_corpus), "--mode", "http"])
    assert r.exit_code == 2 and "--target" in r.output
    r = runner.invoke(app, ["conformance", "run", "--corpus", str(tmp_path), "--mode", "library"])
    assert r.exit_code == 2 and "manifest" in r.output
    r = runner.invoke(app, ["conformance", "generate", "--out", str(cli_corpus)])
    assert r.exit_code == 2 and "not empty" in r.output
    r = runner.invoke(
        app, ["conformance", "generate", "--out", str(tmp_path / "x"), "--profile", "helseid-rar-1.0"]
    )
    assert r.exit_code == 2 and "supports profiles" in r.output


def test_library_mode_and_issuer_key_from_the_cli(tmp_path: Path) -> None:
    from attest import generate_private_key
    from attest.keys import private_key_pem

    pem = tmp_path / "issuer.pem"
    pem.write_bytes(private_key_pem(generate_private_key("ES256")))
    out = tmp_path / "corpus"
    r = runner.invoke(
        app,
        [
            "conformance",
            "generate",
            "--out",
            str(out),
            "--issuer-key",
            str(pem),
            "--kid",
            "epj-1",
            "--iss",
            "https://epj.example",
            "--audience",
            "https://source.example",
            "--now",
            "1800000000",
            "--profile",
            "tillitsrammeverk-1.1-test",
        ],
    )
    assert r.exit_code == 0, r.output
    corpus = load_corpus(out)
    assert corpus.meta["profile"] == "tillitsrammeverk-1.1-test" and corpus.meta["audience"] == "https://source.example"
    assert "epj-1" in (out / "jwks" / "issuer-a.json").read_text()
    r = runner.invoke(
        app,
        [
            "conformance",
            "run",
            "--corpus",
            str(out),
            "--mode",
            "library",
            "--exclude",
            "I1",
            "--exclude",
            "B4",
            "--strict-rules",
            "--exclude",
            "rule-att-58a-toa-*",
            "--exclude",
            "attack-j2-toa-1e308",
        ],
    )
    assert r.exit_code == 0, r.output[-3000:]
