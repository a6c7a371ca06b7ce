"""Rules: the kinds of check a profile's rule entries name (:mod:`.kinds`) and the evaluator that runs a
profile's rules over a normalised attestation (:mod:`.evaluator`)."""

from __future__ import annotations

from .evaluator import (
    CompiledRule,
    RuleGroup,
    compile_path,
    compile_rule,
    evaluate,
    evaluate_groups,
    group_rules,
    resolve,
)
from .kinds import KINDS, MAX_NUMERIC_DATE, MISSING, NO_ISSUES, Issue, KindFn, RuleContext

__all__ = [
    "KINDS", "MAX_NUMERIC_DATE", "MISSING", "NO_ISSUES", "CompiledRule", "Issue", "KindFn", "RuleContext",
    "RuleGroup", "compile_path", "compile_rule", "evaluate", "evaluate_groups", "group_rules", "resolve",
]
