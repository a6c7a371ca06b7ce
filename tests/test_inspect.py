from __future__ import annotations

import json

from attest import VerifyContext, inspect
from attest.inspect import describe_time, humanize_delta

from .support.tokens import NOW, make_token, spec_example, trust_store, valid_attestation


def test_report_without_trust_is_marked_untrusted_and_masks_identifiers() -> None:
    r = inspect(make_token(), context=VerifyContext(now=NOW))
    assert r["trusted"] is False and r["decision"] is None and r["error"] is None
    assert r["summary"] == "made 1 min ago, expires in 9 min"
    assert r["times"]["exp"]["relative"] == "in 9 min"
    rows = {row["field"]: row for row in r["fields"]}
    assert rows["practitioner.identifier"]["value"] == "200866*****"
    assert rows["practitioner.identifier"]["check"] == "ok"
    assert rows["practitioner.authorization"]["display"] == "Lege"
    assert rows["care_relation.purpose_of_use"]["display"] == "treatment"
    assert rows["practitioner.department"]["present"] is False
    dumped = json.dumps(r)
    assert "20086600138" not in dumped and "13116900216" not in dumped


def test_reveal_and_decision() -> None:
    r = inspect(make_token(), trust=trust_store(), context=VerifyContext(now=NOW), reveal_identifiers=True)
    assert r["decision"]["decision"] == "permit"
    assert "20086600138" in json.dumps(r)


def test_findings_are_attached_to_their_fields() -> None:
    att = spec_example("full-model.json")
    att["toa"] = NOW - 700
    r = inspect(make_token(att, org_name="ous"), context=VerifyContext(now=NOW))
    rows = {row["field"]: row for row in r["fields"]}
    assert rows["care_relation.purpose_of_use_details"]["check"] == "invalid_code_system"
    assert rows["patients[0].identifier"]["check"] == "control digits do not match (mod 11)"
    assert {f["code"] for f in r["findings"]["errors"]} == {"invalid_code_system", "invalid_person_identifier"}


def test_malformed_input_is_reported_not_raised() -> None:
    for bad in ("", "not a token", "a.b.c", b"\xff", 42, None):
        r = inspect(bad)
        assert r["error"]["code"] == "malformed_token"
    r = inspect("e30.e30.e30")  # {} . {} . "{}": a well-formed JWS with nothing in it
    assert r["error"] is None and r["header"] == {} and r["attestation_error"]


def test_time_helpers() -> None:
    assert humanize_delta(45) == "45 s" and humanize_delta(720) == "12 min"
    assert humanize_delta(3900) == "1 h 5 min" and humanize_delta(90000) == "1 d 1 h"
    assert describe_time(NOW - 720, NOW)["relative"] == "12 min ago"
    assert describe_time(10**20, NOW) is None and describe_time(True, NOW) is None


def test_identity_numbers_are_masked_wherever_they_are() -> None:
    """A claim (sub) or an identifier under a non-person system holding an identity number was shown unmasked
    by default (outside review, finding 5): every value shaped like one is masked unless revealed."""
    from attest import inspect as inspect_token

    att = valid_attestation()
    att["patients"][0]["identifier"]["system"] = "urn:oid:2.16.578.1.12.4.1.4.101"  # a wrong system
    tok = make_token(att, sub="20086600138")
    report = inspect_token(tok)
    text = json.dumps(report)
    assert "20086600138" not in text and "13116900216" not in text
    revealed = json.dumps(inspect_token(tok, reveal_identifiers=True))
    assert "20086600138" in revealed and "13116900216" in revealed
