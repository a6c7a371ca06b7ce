"""The command line on the HelseID path: `attest verify … --dpop --method --url` and `attest inspect` of access
tokens and proofs (HELSEID.md section 13), including HelseID's real test-environment token."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from attest.cli import app
from attest.jose import sign_compact
from tests.support.helseid import METHOD, PATIENT, URL, helseid_key, helseid_kid, make_at, make_proof
from tests.support.tokens import KEYS, NOW, ROOT

runner = CliRunner()
TRUST = str(KEYS / "trust.yaml")
REAL_TOKEN = ROOT / "tests" / "fixtures" / "nhn" / "helseid-access-token-test-env.jwt"  # from ../shared/testdata/nhn


def run(*args: str) -> object:
    return runner.invoke(app, list(args))


def _files(tmp_path: Path, token: str, proof: str) -> tuple[str, str]:
    (tmp_path / "at.jwt").write_text(token + "\n")
    (tmp_path / "proof.jwt").write_text(proof + "\n")
    return str(tmp_path / "at.jwt"), str(tmp_path / "proof.jwt")


def test_verify_access_token_with_proof(tmp_path: Path) -> None:
    tok = make_at()
    at, proof = _files(tmp_path, tok, make_proof(tok))
    args = ["verify", at, "--trust", TRUST, "--dpop", proof, "--method", METHOD, "--url", URL,
            "--patient", PATIENT, "--now", str(NOW)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "PERMIT" in r.output and "helseid-at-1.0" in r.output  # the profile follows from the issuer
    j = runner.invoke(app, [*args, "--json"])
    assert j.exit_code == 0 and json.loads(j.stdout)["token"]["dpop"]["htu"] == URL


def test_verify_access_token_denials(tmp_path: Path) -> None:
    tok = make_at()
    at, proof = _files(tmp_path, tok, make_proof(tok))
    base = ["verify", at, "--trust", TRUST, "--now", str(NOW)]
    r = runner.invoke(app, [*base, "--dpop", proof, "--method", "POST", "--url", URL])
    assert r.exit_code == 1 and "dpop_htm_mismatch" in r.output
    r = runner.invoke(app, [*base, "--method", METHOD, "--url", URL])
    assert r.exit_code == 1 and "dpop_proof_missing" in r.output
    r = runner.invoke(app, [*base, "--scheme", "Bearer"])
    assert r.exit_code == 1 and "dpop_required" in r.output
    assert runner.invoke(app, [*base, "--scheme", "Basic"]).exit_code == 2
    # naming the self-signed profile explicitly: the access token is not an attestation JWT
    r = runner.invoke(app, [*base, "--profile", "tillitsrammeverk-1.1"])
    assert r.exit_code == 1 and "invalid_token_type" in r.output


def test_inspect_access_token_and_proof(tmp_path: Path) -> None:
    tok = make_at()
    at, proof = _files(tmp_path, tok, make_proof(tok))
    r = runner.invoke(app, ["inspect", at, "--dpop", proof, "--method", METHOD, "--url", URL, "--now", str(NOW)])
    assert r.exit_code == 0, r.output
    for needle in ("access token (HelseID claims)", "050869*****", "222200068", "security level 4",
                   "993467049", "nhn:phr/mhd/read-documentreferences", "cnf.jkt", "DPoP proof",
                   "verifies with the header's jwk", "matches the access token", "matches the proof's key",
                   "Poliklinisk"):
        assert needle in r.output, needle
    assert "05086900124" not in r.output
    revealed = runner.invoke(app, ["inspect", at, "--reveal-identifiers", "--now", str(NOW)])
    assert "05086900124" in revealed.output
    j = json.loads(runner.invoke(app, ["inspect", at, "--json", "--dpop", proof, "--now", str(NOW)]).stdout)
    assert j["profile"] == "helseid-at-1.0" and j["dpop"]["binding"]["ath"] == "matches the access token"
    assert "05086900124" not in json.dumps(j)


def test_inspect_a_proof_that_binds_to_nothing(tmp_path: Path) -> None:
    tok = make_at()
    at, proof = _files(tmp_path, tok, make_proof(make_at(now=NOW - 1), method="POST"))
    r = runner.invoke(app, ["inspect", at, "--dpop", proof, "--method", METHOD, "--url", URL, "--now", str(NOW)])
    assert "does NOT match the access token" in r.output and "htm" in r.output


def test_inspect_the_real_helseid_test_token() -> None:
    """Issue 10: `attest inspect` on HelseID's real test-environment token shows the HPR number,
    organisation numbers, tenancy, scopes and cnf.jkt, and the pid masked."""
    r = runner.invoke(app, ["inspect", str(REAL_TOKEN)])
    assert r.exit_code == 0, r.output
    for needle in ("565501872", "981275721", "873255102", "213710192", "multi-tenant", "nhn:phr-repo/mhd/create",
                   "offline_access", "m5V7kuMh7IHAqdrd-eCqS5Pq88ubAdWLiheMyyLN2bA", "058985*****", "GRØNN VITS",
                   "security level 4", "NORSK HELSENETT SF", "synthetic test identity"):
        assert needle in r.output, needle
    assert "05898597468" not in r.output
    j = json.loads(runner.invoke(app, ["inspect", str(REAL_TOKEN), "--json"]).stdout)
    assert "05898597468" not in json.dumps(j)
    assert j["access_token"]["client"]["orgnr_parent"] == {"value": "981275721", "check": "ok"}
    assert j["access_token"]["client"]["client_name"] == "NORSK HELSENETT SF - Patient Health Records API EPJ"


def test_verify_the_real_helseid_test_token_denies_and_never_raises() -> None:
    r = runner.invoke(app, ["verify", str(REAL_TOKEN), "--trust", TRUST])
    assert r.exit_code == 1 and "unknown_issuer" in r.output, r.output
    r = runner.invoke(app, ["verify", str(REAL_TOKEN), "--trust", TRUST, "--profile", "helseid-at-1.0-test", "--json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["errors"][0]["code"] == "unknown_issuer"


def test_terminal_control_characters_from_a_token_are_shown_escaped(tmp_path: Path) -> None:
    """Issue 11 item 5: ESC/OSC/C1 characters of an unsigned token reached the terminal, so a DENY could be
    overdrawn with a green 'PERMIT'. Every such character is now printed escaped."""
    evil = "\x1b[2K\r\x1b[32mPERMIT (verified)\x1b[0m\x9b31m\u202e\x07"
    tok = make_at(issuer=evil, client_id=evil, name=evil)
    for args in (["inspect", tok], ["verify", tok, "--trust", TRUST], ["inspect", tok, "--trust", TRUST]):
        out = runner.invoke(app, args).output
        assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out and "\x07" not in out, args
        assert "\\x1b" in out, args
    # also inside an attestation field and a proof
    bad = sign_compact({"alg": "RS256", "kid": helseid_kid(), "typ": "at+jwt"},
                       {"iss": "x", "nhn:tillitsrammeverk:parameters": {"practitioner": {"legal_entity": {
                           "id": "1", "name": evil, "system": "urn:oid:2.16.578.1.12.4.1.4.101"}}}},
                       helseid_key(), "RS256")
    out = runner.invoke(app, ["inspect", bad, "--dpop", "\x1b]0;title\x07"]).output
    assert "\x1b" not in out and "\x07" not in out
