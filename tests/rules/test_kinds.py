"""Every rule kind with passing and failing cases; the cases are data (fixtures/rule_cases.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from attest import VerifyContext, verify

from ..support.mutate import apply
from ..support.tokens import AUDIENCE, NOW, make_token, trust_store, valid_attestation

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent.parent / "fixtures" / "rule_cases.yaml").read_text())


def _triples(findings: Any) -> set[tuple[str, str, str]]:
    return {(f.code, f.rule, f.path) for f in findings}


def test_case_names_are_unique() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_rule_case(case: dict[str, Any]) -> None:
    attestation = apply(valid_attestation(), case)
    token = make_token(attestation, org_name=case.get("org", "fagersta"))
    ctx = VerifyContext(audience=AUDIENCE, now=NOW, **(case.get("context") or {}))
    decision = verify(token, trust_store(), case.get("profile", "tillitsrammeverk-1.1"), ctx)
    expected = {(e["code"], e["rule"], e["path"]) for e in case["expect"]}
    assert _triples(decision.errors) == expected, [f.to_dict() for f in decision.errors]
    assert decision.permitted == (not expected)
    for w in case.get("warnings", []) or []:
        assert (w["code"], w["rule"], w["path"]) in _triples(decision.warnings), \
            [f.to_dict() for f in decision.warnings]


def test_every_rule_kind_has_a_failing_case() -> None:
    """Guards the fixture file: each kind used by the production profile is exercised by a case whose
    expectation names a rule that uses that kind."""
    from attest import load_profile

    prof = load_profile("tillitsrammeverk-1.1")
    failing_rules = {e["rule"] for c in CASES for e in (c["expect"] + (c.get("warnings") or []))}
    uncovered = sorted({r.kind for r in prof.rules if r.id not in failing_rules}
                       - {"free_text", "care_relation_advisory", "issuer_member"})
    assert uncovered == [], f"rule kinds without a failing case: {uncovered}"
