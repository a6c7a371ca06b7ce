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
