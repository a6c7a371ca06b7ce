"""Every rule kind with passing and failing cases; the cases are data (fixtures/rule_cases.yaml)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest import VerifyContext, load_profile, verify
from attest.errors import Finding
from attest.model import normalise
from attest.rules import GUARDS, MISSING, RuleContext, _evaluate_reference, evaluate_groups

from .hardening.test_properties import structured_attestations
from .support.mutate import apply
from .support.tokens import AUDIENCE, NOW, make_token, org, trust_store, valid_attestation

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "fixtures" / "rule_cases.yaml").read_text())


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


# --- the compiled evaluator equals the plain one ------------------------------------------------------------

_POINT_VALUES = [None, True, 0, 7, 1.5, "", " ", "x", "20086600138", "41086600138", "993467049", "123456789",
                 "9144897", "1234567890", "urn:oid:2.16.578.1.12.4.1.4.1", "urn:oid:2.16.578.1.12.4.1.4.102",
                 "urn:oid:2.16.578.1.12.4.1.4.101", "urn:oid:2.16.578.1.12.4.1.1.9060", "https://x.example/cs",
                 "not a uri", "LE", "BTG", "TREAT", "KVAL", "a\u202eb", "x" * 300, [], [{}], {}, {"id": "1"}]


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def _near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """The valid attestation (with 0-3 patients) with a few values replaced or members removed."""
    att = valid_attestation()
    att["patients"] = att["patients"] * draw(st.integers(0, 3))
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(att)
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        node = att
        for step in parents:
            node = node[step]
        if draw(st.booleans()):
            node[last] = copy.deepcopy(draw(st.sampled_from(_POINT_VALUES)))
        else:
            del node[last]
    return att


_CONTEXTS = st.builds(VerifyContext, audience=st.just(AUDIENCE), now=st.sampled_from([NOW, NOW + 4000]),
                      authenticated_pid=st.sampled_from([None, "20086600138", "13116900216"]),
                      authenticated_hpr=st.sampled_from([None, "9144897", "09144897", "1"]),
                      patient_id=st.sampled_from([None, "13116900216", "20086600138"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(_near_valid(), structured_attestations), ctx=_CONTEXTS,
       profile=st.sampled_from(["tillitsrammeverk-1.1", "tillitsrammeverk-1.1-test", "helseid-rar-1.0"]),
       org_name=st.sampled_from(["fagersta", "epj-vendor", None]))
def test_compiled_groups_equal_the_plain_evaluator(raw: dict[str, Any], ctx: VerifyContext, profile: str,
                                                   org_name: str | None) -> None:
    """Each profile's rule groups are compiled once into closures (specialised path resolution, concrete
    paths per patient index built once); over generated attestations they report exactly what the plain
    evaluator reports, in the same order."""
    prof = load_profile(profile)
    att, _ = normalise(raw)
    issuer = trust_store().issuer(org(org_name).iss) if org_name else None
    rule_ctx = RuleContext(ctx.now or NOW, prof, issuer, ctx, att)
    compiled: tuple[list[Finding], list[Finding]] = ([], [])
    plain: tuple[list[Finding], list[Finding]] = ([], [])
    evaluate_groups(prof.rule_groups, rule_ctx, *compiled)
    _evaluate_reference(prof.rule_groups, rule_ctx, *plain)
    assert compiled == plain


# --- guards: the inline checks that let the compiled evaluator skip a kind ---------------------------------

_GUARDED = [(p, r) for p in ("tillitsrammeverk-1.1", "tillitsrammeverk-1.1-test", "helseid-rar-1.0")
            for r in load_profile(p).rules if r.kind in GUARDS]
_STRUCT_MEMBERS = ("id", "code", "name", "text", "system", "authority", "assigner")


def _guard_fn(rule: Any) -> Any:
    ns: dict[str, Any] = {"MISSING": MISSING}

    def bind(obj: Any, prefix: str) -> str:
        ns[f"{prefix}{len(ns)}"] = obj
        return f"{prefix}{len(ns) - 1}"

    condition = GUARDS[rule.kind]("v", rule.params, bind)
    exec(f"def guard(v, ctx):\n    return {condition}\n", ns)  # noqa: S102 - test of generated guard code
    return ns["guard"]


def test_every_profile_uses_some_guarded_kind() -> None:
    assert {r.kind for _, r in _GUARDED} == set(GUARDS)


#: the member values that decide kinds' edges, drawn far more often than arbitrary ones
_EDGES = [None, "", " ", "\t", "x", 5, True, 1.5, {}, [], "a\u202eb", "a\nb", "x" * 300, "BTG", "LE",
          "urn:oid:2.16.578.1.12.4.1.4.102", {"code": "BTG"}, {"code": "TREAT"}, {"code": 5}]
_MEMBER_VALUES = st.one_of(st.sampled_from(_EDGES), st.sampled_from(_POINT_VALUES), st.text(max_size=40))
_VALUES = st.one_of(
    st.sampled_from([*_POINT_VALUES, MISSING, 1_700_000_000, NOW, NOW - 4000, NOW + 100, 10**13, -1]),
    st.dictionaries(st.sampled_from(_STRUCT_MEMBERS), _MEMBER_VALUES, max_size=7))


def _issuers() -> list[Any]:
    from dataclasses import replace

    real = trust_store().issuer(org("fagersta").iss)
    return [None, real, replace(real, member=False), replace(real, member=None)]


@pytest.mark.parametrize("kind", sorted(GUARDS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_guard_holds_only_where_its_kind_reports_nothing(kind: str, data: st.DataObject) -> None:
    """A guard that admitted a value its kind reports would hide a finding: for each guarded rule and
    generated values (structs with string, null, number, object and odd members; the point values; times;
    MISSING) in generated contexts (issuer or none, member or not; login identities or none; clock), the
    guard is true only when the kind returns no issue."""
    profile, rule = data.draw(st.sampled_from([(p, r) for p, r in _GUARDED if r.kind == kind]))
    value = data.draw(_VALUES)
    att = data.draw(st.sampled_from([{}, valid_attestation()]))
    ctx = RuleContext(data.draw(st.sampled_from([NOW, NOW + 4000])), load_profile(profile),
                      data.draw(st.sampled_from(_issuers())), data.draw(_CONTEXTS), att)
    guard = _guard_fn(rule)
    if guard(value if value is MISSING else copy.deepcopy(value), ctx):
        assert not rule.fn(value, rule.params, ctx, "attestation.x"), (rule.id, rule.kind, value)


def test_guards_pass_the_valid_attestation() -> None:
    """On the valid attestation every guarded rule's guard holds (the point of having them)."""
    from attest.rules import resolve

    prof = load_profile("tillitsrammeverk-1.1")
    att, _ = normalise(valid_attestation())
    ctx = RuleContext(NOW, prof, trust_store().issuer(org("fagersta").iss),
                      VerifyContext(audience=AUDIENCE, now=NOW, authenticated_pid=att["practitioner"]["identifier"]["id"],
                                    authenticated_hpr=att["practitioner"]["hpr_nr"]["id"]), att)
    checked = 0
    unguarded = set()
    for rule in prof.rules:
        if rule.kind not in GUARDS:
            unguarded.add(rule.kind)
            continue
        guard = _guard_fn(rule)
        for _, value in resolve(att, rule.steps):
            assert guard(value, ctx), (rule.id, rule.kind, rule.path)
            checked += 1
    assert checked >= 40
    # the kinds still always called: their checks are the work itself (checksums, list scans)
    assert unguarded <= {"identifier_value", "care_relation_advisory", "context_patient"}, unguarded


def test_guards_on_every_one_member_change_of_the_valid_values() -> None:
    """Systematically, where guard bugs hide: each guarded rule's value in the valid attestation with one
    member set to each edge value or removed, in a full and an empty context."""
    from attest.rules import resolve

    att, _ = normalise(valid_attestation())
    members = {*_STRUCT_MEMBERS, "description", "user_selected", "purpose_of_use", "hpr_nr", "authorization"}
    checked = 0
    for profile, rule in _GUARDED:
        prof = load_profile(profile)
        contexts = [
            RuleContext(NOW, prof, trust_store().issuer(org("fagersta").iss),
                        VerifyContext(audience=AUDIENCE, now=NOW, authenticated_pid="20086600138",
                                      authenticated_hpr="9144897", patient_id="13116900216"), att),
            RuleContext(NOW + 4000, prof, None, VerifyContext(), att)]
        guard = _guard_fn(rule)
        bases = [v for _, v in resolve(att, rule.steps)] + [{}]
        for base in bases:
            variants: list[Any] = [base]
            if isinstance(base, dict):
                for m in members:
                    variants += [{**base, m: e} for e in _EDGES]
                    variants.append({k: v for k, v in base.items() if k != m})
            else:
                variants += _EDGES
            for value in variants:
                for ctx in contexts:
                    if guard(value if value is MISSING else copy.deepcopy(value), ctx):
                        assert not rule.fn(value, rule.params, ctx, "attestation.x"), (rule.id, rule.kind, value)
                    checked += 1
    assert checked > 10000
