from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attest.cli import app

from .support.tokens import KEYS, NOW, make_token, spec_example, valid_attestation

runner = CliRunner()
TRUST = str(KEYS / "trust.yaml")


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def test_keygen_writes_a_key_pair(tmp_path: Path) -> None:
    r = run("keygen", "--alg", "ES256", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    kid = r.stdout.strip().splitlines()[-1]
    jwk = json.loads((tmp_path / "public.jwk.json").read_text())
    assert jwk["kid"] == kid and jwk["alg"] == "ES256" and jwk["use"] == "sig" and "d" not in jwk
    assert stat.S_IMODE((tmp_path / "private.pem").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "jwks.json").read_text())["keys"] == [jwk]
    again = run("keygen", "--out", str(tmp_path))
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    assert run("keygen", "--alg", "HS256", "--out", str(tmp_path / "x")).exit_code == 2


def _att_file(tmp_path: Path, att: dict) -> str:
    p = tmp_path / "att.json"
    p.write_text(json.dumps(att))
    return str(p)


def test_issue_then_verify_round_trip(tmp_path: Path) -> None:
    att = valid_attestation()
    del att["toa"]
    r = run("issue", _att_file(tmp_path, att), "--key", str(KEYS / "fagersta" / "private.pem"),
            "--iss", "https://epj.fagersta.example", "--aud", "nhn:pjd", "--now", str(NOW))
    assert r.exit_code == 0, r.output
    token = r.stdout.strip()
    ok = run("verify", token, "--trust", TRUST, "--now", str(NOW + 5), "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["decision"] == "permit"
    # stdin and a file work too
    assert run("verify", "-", "--trust", TRUST, "--now", str(NOW), input=token).exit_code == 0
    (tmp_path / "t.jwt").write_text(token + "\n")
    assert run("verify", str(tmp_path / "t.jwt"), "--trust", TRUST, "--now", str(NOW)).exit_code == 0
    # context flags
    mismatch = run("verify", token, "--trust", TRUST, "--now", str(NOW), "--pid", "04056600324", "--json")
    assert mismatch.exit_code == 1
    assert [e["code"] for e in json.loads(mismatch.stdout)["errors"]] == ["practitioner_mismatch"]
    assert run("verify", token, "--trust", TRUST, "--now", str(NOW), "--patient", "13116900216",
               "--hpr", "9144897", "--pid", "20086600138").exit_code == 0


def test_issue_refuses_with_every_problem(tmp_path: Path) -> None:
    att = valid_attestation()
    att["practitioner"]["identifier"]["id"] = "20086600139"
    del att["care_relation"]["decision_ref"]
    r = run("issue", _att_file(tmp_path, att), "--key", str(KEYS / "fagersta" / "private.pem"),
            "--iss", "https://epj.fagersta.example", "--aud", "nhn:pjd", "--now", str(NOW))
    assert r.exit_code == 1
    assert "invalid_person_identifier" in r.output and "missing_field" in r.output
    assert "20086600139" not in r.output


@pytest.mark.parametrize("args,needle", [
    (["issue", "/no/such/file.json", "--key", "k.pem", "--iss", "i", "--aud", "a"], "cannot read"),
    (["verify", "x.y.z", "--trust", "/no/such/trust.yaml"], "cannot read the trust store"),
    (["verify", "x.y.z", "--trust", TRUST, "--profile", "nope"], "unknown profile"),
    (["verify", "x.y.z"], "Missing option"),
])
def test_usage_and_configuration_errors_exit_2(args: list[str], needle: str) -> None:
    r = run(*args)
    assert r.exit_code == 2
    assert needle in r.output


def test_verify_deny_exit_1_and_human_output() -> None:
    r = run("verify", "not-a-token", "--trust", TRUST)
    assert r.exit_code == 1 and "DENY" in r.output and "malformed_token" in r.output
    assert "\x1b[" not in r.output  # plain when not a terminal


def test_inspect_plain_and_json() -> None:
    token = make_token()
    r = run("inspect", token, "--now", str(NOW))
    assert r.exit_code == 0, r.output
    for needle in ("Decoded without trusting it", "Practitioner", "200866*****", "Lege", "✓ valid",
                   "made 1 min ago, expires in 9 min", "not verified"):
        assert needle in r.output, needle
    assert "20086600138" not in r.output and "\x1b[" not in r.output
    j = run("inspect", token, "--json", "--trust", TRUST, "--now", str(NOW))
    report = json.loads(j.stdout)
    assert report["decision"]["decision"] == "permit" and report["trusted"] is False
    assert run("inspect", "garbage").exit_code == 2


@pytest.mark.parametrize("name,org_name,prod_codes", [
    ("example-1-gp.json", "fagersta", ["invalid_person_identifier", "missing_field", "missing_field"]),
    ("full-model.json", "ous", ["invalid_code_system", "invalid_person_identifier"]),
])
def test_verify_json_on_spec_examples(name: str, org_name: str, prod_codes: list[str]) -> None:
    att = spec_example(name)
    att["toa"] = NOW - 60
    token = make_token(att, org_name=org_name)
    test = run("verify", token, "--trust", TRUST, "--now", str(NOW), "--profile", "tillitsrammeverk-1.1-test", "--json")
    assert test.exit_code == 0 and json.loads(test.stdout)["decision"] == "permit"
    prod = run("verify", token, "--trust", TRUST, "--now", str(NOW), "--json")
    doc = json.loads(prod.stdout)
    assert prod.exit_code == 1 and doc["decision"] == "deny"
    assert sorted(e["code"] for e in doc["errors"]) == prod_codes


def test_profiles_command() -> None:
    r = run("profiles")
    assert r.exit_code == 0 and "tillitsrammeverk-1.1-test" in r.output
    j = json.loads(run("profiles", "helseid-rar-1.0", "--json").stdout)
    assert j["attestation"]["emit"] == "helseid_rar"
    assert run("profiles", "nope").exit_code == 2


def test_token_whitespace_is_not_trimmed_beyond_the_line_ending(tmp_path: Path) -> None:
    token = make_token()
    assert run("verify", " " + token, "--trust", TRUST, "--now", str(NOW)).exit_code == 1
    assert run("verify", "-", "--trust", TRUST, "--now", str(NOW), input=token + "\n").exit_code == 0
    (tmp_path / "t.jwt").write_text(token + " \n")
    assert run("verify", str(tmp_path / "t.jwt"), "--trust", TRUST, "--now", str(NOW)).exit_code == 1
