"""attest.explain: what the findings of an inspect report mean, and a shareable text without identity
numbers."""

from __future__ import annotations

import re

from attest import VerifyContext, inspect
from attest.explain import explanations, rule_source, scrub, share_text

from .support.tokens import NOW, make_token, trust_store, valid_attestation

NUMBERS = re.compile(r"(?<!\d)\d{11}(?!\d)|\d{6}\*{5}")


def _expired(**kw: object) -> dict[str, object]:
    att = valid_attestation()
    att["toa"] = NOW - 7200
    return inspect(make_token(att), trust=trust_store(), context=VerifyContext(now=NOW), **kw)  # type: ignore[arg-type]


def test_rule_sources() -> None:
    assert rule_source("RFC9449-4.3") == "RFC 9449 (DPoP), section 4.3"
    assert rule_source("RFC1234-5") == "RFC 1234, section 5"
    assert rule_source("ATT-58c") == "business rule ATT-58c of the trust framework (Tillitsrammeverket)"
    assert rule_source("DM-5.1") == "the trust framework's data model, section 5.1"
    assert rule_source("HID-DPOP") == "HelseID's access token (HELSEID.md)"
    assert rule_source("OIDs") == "OIDs"


def test_every_finding_is_explained_from_the_error_table_and_the_profile() -> None:
    report = _expired()
    ex = explanations(report)
    assert ex["codes"]["attestation_has_expired"] == {
        "summary": "now - toa > 3600 s (ATT-58c; this exact string is prescribed by the specification)",
        "stage": "attestation"}
    assert ex["rules"]["ATT-58c"]["descriptions"] == [
        "toa at most 3600 s old (attestation_has_expired), not in the future"]
    assert ex["codes"]["context_not_provided"]["stage"] == "warning"
    assert set(ex["rules"]) >= {"ATT-58c", "ATT-11", "ATT-4"}


def test_a_decode_error_is_explained() -> None:
    report = inspect("not a token")
    ex = explanations(report)
    assert set(ex["codes"]) == {"malformed_token"}
    text = share_text(report)
    assert "cannot be decoded: malformed_token" in text


def test_rule_descriptions_prefer_the_rule_about_the_path() -> None:
    att = valid_attestation()
    att["practitioner"]["identifier"]["id"] = "20086600139"  # fails mod-11
    report = inspect(make_token(att), context=VerifyContext(now=NOW))
    rules = explanations(report)["rules"]
    assert rules["ATT-10"]["descriptions"][0].startswith("11 digits, valid date, mod-11")


def test_the_shareable_text_has_no_identity_numbers_even_when_revealed() -> None:
    for reveal in (False, True):
        att = valid_attestation()
        att["toa"] = NOW - 7200
        att["practitioner"]["identifier"]["id"] = "20086600139"
        report = inspect(make_token(att), trust=trust_store(), context=VerifyContext(now=NOW),
                         reveal_identifiers=reveal)
        text = share_text(report)
        assert not NUMBERS.search(text), text
        assert "Verification: DENY" in text and "attestation_has_expired (rule ATT-58c, at attestation.toa)" in text
        assert " 1 Practitioner: F-number, check: control digits do not match (mod 11)" in text
        assert " 8 Purpose of use: TREAT (Behandling / treatment), valid" in text
        assert " 4 Legal entity: 100100673 (organisation number), valid" in text
        assert "August September" not in text and "9144897" not in text  # names and HPR numbers stay out


def test_scrub() -> None:
    assert scrub("pid 200866***** and 20086600138") == "pid [identity number] and [identity number]"
    assert scrub("urn:oid:2.16.840.1.113883.1.11.20448") == "urn:oid:2.16.840.1.113883.1.11.20448"
