"""The evaluator: grouping rules by path and resolving each path once reports exactly what running every
rule over the plain resolution of its path reports, in the same order."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest import VerifyContext, load_profile
from attest.errors import Finding
from attest.model import normalise
from attest.rules import MISSING, RuleContext, compile_rule, evaluate_groups, group_rules, resolve
from attest.rules.evaluator import _record

from ..hardening.test_properties import structured_attestations
from ..support.tokens import AUDIENCE, NOW, org, trust_store, valid_attestation

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


def _one_rule_at_a_time(rules: Any, ctx: RuleContext) -> tuple[list[Finding], list[Finding]]:
    """The plain semantics: every rule over every (path, value) of its path, in profile order per group."""
    errors: list[Finding] = []
    warnings: list[Finding] = []
    for group in group_rules(tuple(rules)):
        for path, value in resolve(ctx.attestation, group.steps):
            for rule in group.rules:
                issues = rule.fn(value, rule.params, ctx, path)
                if issues:
                    _record(rule, issues, path, errors, warnings)
    return errors, warnings


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(_near_valid(), structured_attestations), ctx=_CONTEXTS,
       profile=st.sampled_from(["tillitsrammeverk-1.1", "tillitsrammeverk-1.1-test", "helseid-rar-1.0",
                                "helseid-at-1.0", "xua-saml-1.0"]),
       org_name=st.sampled_from(["fagersta", "epj-vendor", None]))
def test_grouped_evaluation_equals_one_rule_at_a_time(raw: dict[str, Any], ctx: VerifyContext, profile: str,
                                                      org_name: str | None) -> None:
    prof = load_profile(profile)
    att, _ = normalise(raw)
    issuer = trust_store().issuer(org(org_name).iss) if org_name else None
    rule_ctx = RuleContext(ctx.now or NOW, prof, issuer, ctx, att)
    grouped: tuple[list[Finding], list[Finding]] = ([], [])
    evaluate_groups(prof.rule_groups, rule_ctx, *grouped)
    assert grouped == _one_rule_at_a_time(prof.rules, rule_ctx)


def test_wildcards_static_paths_and_absent_containers() -> None:
    """The resolution cases by hand: a value per list item with its index in the path, a last step absent
    (MISSING), a container on the way absent or not an object (no call), two wildcards in one path."""
    seen: list[tuple[str, Any]] = []

    def spy(value: Any, params: Any, ctx: RuleContext, path: str) -> tuple[()]:
        seen.append((path, value))
        return ()

    from attest.rules import KINDS

    KINDS["_spy"] = (spy, lambda p: p)
    try:
        rules = tuple(compile_rule({"id": "T", "kind": "_spy", "path": path}, "test")
                      for path in ("a.b", "a.c", "x.y", "l[*].v", "l[*]", "m[*].n[*]", ""))
    finally:
        del KINDS["_spy"]
    att = {"a": {"b": 1}, "x": 5, "l": [{"v": 1}, {}, "s"], "m": [{"n": [1, 2]}, {"n": 3}]}
    evaluate_groups(group_rules(rules), RuleContext(NOW, load_profile("tillitsrammeverk-1.1"), None,
                                                    VerifyContext(), att), [], [])
    assert seen == [("attestation.a.b", 1), ("attestation.a.c", MISSING),
                    ("attestation.l[0].v", 1), ("attestation.l[1].v", MISSING),
                    ("attestation.l[0]", {"v": 1}), ("attestation.l[1]", {}), ("attestation.l[2]", "s"),
                    ("attestation.m[0].n[0]", 1), ("attestation.m[0].n[1]", 2),
                    ("attestation", att)]
