"""`attest verify` takes a SAML 2.0 assertion file (issue 14, item 5): XML is recognised, base64 with --saml."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from typer.testing import CliRunner

from attest.cli import app

from .support import saml

runner = CliRunner()


def test_verify_a_saml_assertion_file(tmp_path: Path) -> None:
    trust = tmp_path / "trust.yaml"
    trust.write_text(yaml.safe_dump({"audience": saml.AUDIENCE, "saml_issuers": [
        {"issuer": saml.ISSUER, "certificate": saml.pem(saml.issuer_cert()), "audience": saml.AUDIENCE}]}))
    xml = saml.signed_assertion(issued=int(time.time()) - 5)
    (tmp_path / "a.xml").write_bytes(xml)
    (tmp_path / "a.b64").write_text(saml.b64(xml))
    r = runner.invoke(app, ["verify", str(tmp_path / "a.xml"), "--trust", str(trust), "--patient", saml.PATIENT])
    assert r.exit_code == 0 and "PERMIT" in r.output and "xua-saml-1.0" in r.output, r.output
    r = runner.invoke(app, ["verify", str(tmp_path / "a.b64"), "--saml", "--trust", str(trust), "--json"])
    assert r.exit_code == 0 and '"decision": "permit"' in r.output, r.output
    other = runner.invoke(app, ["verify", str(tmp_path / "a.xml"), "--trust", str(trust), "--patient", "13116900216"])
    assert other.exit_code == 1 and "patient_not_in_attestation" in other.output
    r = runner.invoke(app, ["verify", str(tmp_path / "a.xml"), "--trust", str(trust), "--dpop", "x"])
    assert r.exit_code == 2


def test_inspect_a_saml_assertion_without_trusting_it(tmp_path: Path) -> None:
    """`attest inspect` shows an assertion like a token: untrusted, the 13 fields, identity numbers masked."""
    r = runner.invoke(app, ["inspect", str(saml.FIXTURES / "saml-trust-framework-01.xml"), "--json"])
    assert r.exit_code == 0, r.output
    import json

    report = json.loads(r.output)
    assert report["trusted"] is False and report["shape"] == "saml2-assertion"
    assert report["profile"] == "xua-saml-1.0" and report["claims"]["iss"] == "https://helseid-xdssaml.test.nhn.no"
    fields = {row["field"]: row for row in report["fields"]}
    assert fields["practitioner.authorization"]["value"] == "LE"
    assert "06828399789" not in r.output and "29698496140" not in r.output  # masked by default
    revealed = runner.invoke(app, ["inspect", str(saml.FIXTURES / "saml-trust-framework-01.xml"), "--json",
                                   "--reveal-identifiers"])
    assert "06828399789" in revealed.output
    broken = runner.invoke(app, ["inspect", "<!DOCTYPE x><x/>"])
    assert broken.exit_code == 2 and "invalid_saml" in broken.output


def test_saml_issue_renders_a_verified_token(tmp_path: Path) -> None:
    """`attest saml issue`: verify the user's token, then print a signed assertion of its attestation, which
    verify_saml reads back; a refused token gets no assertion (exit 1)."""
    from cryptography.hazmat.primitives import serialization

    from attest import TrustStore, VerifyContext
    from attest.saml import verify_saml

    from .support.service import fresh_token
    from .support.tokens import KEYS

    key = tmp_path / "key.pem"
    key.write_bytes(saml.rsa_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    cert = tmp_path / "cert.pem"
    cert.write_text(saml.pem(saml.issuer_cert()))
    args = ["saml", "issue", fresh_token(), "--trust", str(KEYS / "trust.yaml"), "--key", str(key), "--cert",
            str(cert), "--issuer", saml.ISSUER, "--audience", saml.AUDIENCE, "--patient", "13116900216",
            "--security-level", "4"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    store = TrustStore.from_dict({"saml_issuers": [{"issuer": saml.ISSUER, "certificate": saml.pem(saml.issuer_cert()),
                                                    "audience": saml.AUDIENCE}]})
    back = verify_saml(r.output.strip(), store, "xua-saml-1.0", VerifyContext(patient_id="13116900216"))
    assert back.permitted, back.codes
    refused = runner.invoke(app, ["saml", "issue", "not.a.token", *args[3:]])
    assert refused.exit_code == 1 and "no assertion" in refused.output
