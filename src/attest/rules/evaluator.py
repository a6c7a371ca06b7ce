"""The evaluator: a profile's rule entries compiled once, then run over an attestation.

:func:`compile_rule` checks one entry of a profile file and prepares its params; :func:`group_rules` groups
the rules by path so that each path is resolved once per verification; :func:`evaluate_groups` resolves
each group's path (``patients[*]`` expands to every patient), calls each rule's kind with the value and
records what it reports as :class:`~attest.errors.Finding` (rule id, full JSON path, message with identity
numbers masked). Warning-only codes (``context_not_provided``, ``deprecated_code``, ``advisory``) and
rules of severity ``warning`` go to ``warnings``, the rest to ``errors``.

There is one way to evaluate a rule: the kind function, called for every value. (Until issue 16 the
evaluator was Python source generated per profile, with an inline "guard" per kind that skipped the call in
the usual case: two descriptions of every check that had to agree. With the kinds compiled by mypyc the
call costs less than the guard did, so both went.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ERROR_CODES, Finding
from ..identifiers import redact_identity_numbers
from .kinds import KINDS, MISSING, Issue, KindFn, RuleContext


def compile_path(path: str) -> tuple[str, ...]:
    """``patients[*].identifier`` -> ``("patients", "*", "identifier")``; ``""`` is the attestation itself."""
    steps: list[str] = []
    for part in path.split(".") if path else []:
        if part.endswith("[*]"):
            steps.extend((part[:-3], "*"))
        else:
            steps.append(part)
    return tuple(steps)


def resolve(root: Any, steps: tuple[str, ...], base: str = "attestation") -> list[tuple[str, Any]]:
    """Concrete ``(path, value)`` pairs; ``value`` is :data:`MISSING` when the last step is absent. Paths
    through an absent or wrongly typed container yield nothing (another rule reports the container)."""
    nodes: list[tuple[str, Any]] = [(base, root)]
    for step in steps:
        nxt: list[tuple[str, Any]] = []
        for path, node in nodes:
            if step == "*":
                if isinstance(node, list):
                    nxt.extend((f"{path}[{i}]", v) for i, v in enumerate(node))
            elif isinstance(node, dict):
                nxt.append((f"{path}.{step}", node.get(step, MISSING)))
        nodes = nxt
    return nodes


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    name: str
    kind: str
    path: str
    steps: tuple[str, ...]
    fn: KindFn
    params: Any
    severity: str  # "error" | "warning"
    description: str


def compile_rule(entry: dict[str, Any], where: str) -> CompiledRule:
    """Check and compile one rule entry of a profile file."""
    for key in ("id", "kind"):
        if not isinstance(entry.get(key), str):
            raise ValueError(f"{where}: rule needs a string '{key}'")
    kind_name = entry["kind"]
    if kind_name not in KINDS:
        raise ValueError(f"{where}: unknown rule kind {kind_name!r} (known: {', '.join(sorted(KINDS))})")
    severity = entry.get("severity", "error")
    if severity not in ("error", "warning"):
        raise ValueError(f"{where}: severity must be 'error' or 'warning'")
    fn, prepare = KINDS[kind_name]
    path = entry.get("path", "")
    try:
        params = prepare(dict(entry.get("params") or {}))
    except (KeyError, ValueError, TypeError, re.error) as exc:
        raise ValueError(f"{where}: bad params for kind {kind_name}: {exc}") from exc
    name = entry.get("name") or f"{entry['id']}:{kind_name}:{path}"
    return CompiledRule(entry["id"], name, kind_name, path, compile_path(path), fn, params, severity,
                        str(entry.get("description", "")))


@dataclass(frozen=True, slots=True)
class RuleGroup:
    """Rules that share a path, so the path is resolved once per verification."""

    steps: tuple[str, ...]
    #: the concrete path when ``steps`` has no wildcard (then it is resolved without building strings)
    static_path: str | None
    rules: tuple[CompiledRule, ...]
    #: for ``prefix[*].suffix`` (one wildcard): the steps before and after it, and the path's two ends
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()
    head: str = ""
    tail: str = ""


def _group(steps: tuple[str, ...], rules: tuple[CompiledRule, ...]) -> RuleGroup:
    if "*" not in steps:
        return RuleGroup(steps, ".".join(("attestation", *steps)), rules)
    star = steps.index("*")
    prefix, suffix = steps[:star], steps[star + 1:]
    return RuleGroup(steps, None, rules, prefix, suffix, ".".join(("attestation", *prefix)),
                     "".join(f".{s}" for s in suffix))


def group_rules(rules: tuple[CompiledRule, ...]) -> tuple[RuleGroup, ...]:
    """Group ``rules`` by path: groups in order of first appearance, rules in profile order."""
    by_steps: dict[tuple[str, ...], list[CompiledRule]] = {}
    for rule in rules:
        by_steps.setdefault(rule.steps, []).append(rule)
    return tuple(_group(steps, tuple(group)) for steps, group in by_steps.items())


def _record(rule: CompiledRule, issues: Sequence[Issue], path: str,
            errors: list[Finding], warnings: list[Finding]) -> None:
    for issue in issues:
        # the message is redacted here as well, for kinds that format a value without _short
        finding = Finding(issue.code, rule.id, path + issue.suffix, redact_identity_numbers(issue.message))
        if rule.severity == "warning" or ERROR_CODES[issue.code].stage == "warning":
            warnings.append(finding)
        else:
            errors.append(finding)


def _run(rules: tuple[CompiledRule, ...], value: Any, path: str, ctx: RuleContext,
         errors: list[Finding], warnings: list[Finding]) -> None:
    for rule in rules:
        issues = rule.fn(value, rule.params, ctx, path)
        if issues:
            _record(rule, issues, path, errors, warnings)


def _walk(node: Any, steps: tuple[str, ...]) -> Any:
    """Follow ``steps`` through objects; ``None`` when a container on the way is absent or not an object
    (a rule on the container reports it), :data:`MISSING` when only the last step is absent."""
    for step in steps:
        if not isinstance(node, dict):
            return None
        node = node.get(step, MISSING)
    return node


def evaluate_groups(groups: tuple[RuleGroup, ...], ctx: RuleContext,
                    errors: list[Finding], warnings: list[Finding]) -> None:
    """Run grouped rules over ``ctx.attestation`` in order; append findings. Reports exactly what running
    each rule over :func:`resolve` of its path reports (tests/rules/test_evaluator.py)."""
    root = ctx.attestation
    for group in groups:
        static_path = group.static_path
        if static_path is not None:
            if not group.steps:
                _run(group.rules, root, static_path, ctx, errors, warnings)
                continue
            parent = _walk(root, group.steps[:-1]) if len(group.steps) > 1 else root
            if isinstance(parent, dict):
                _run(group.rules, parent.get(group.steps[-1], MISSING), static_path, ctx, errors, warnings)
            continue
        if "*" in group.suffix:  # several wildcards: the general resolution
            for path, value in resolve(root, group.steps):
                _run(group.rules, value, path, ctx, errors, warnings)
            continue
        items = _walk(root, group.prefix)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            value = item
            if group.suffix:
                parent = _walk(item, group.suffix[:-1])
                if not isinstance(parent, dict):
                    continue
                value = parent.get(group.suffix[-1], MISSING)
            _run(group.rules, value, f"{group.head}[{i}]{group.tail}", ctx, errors, warnings)


def evaluate(rules: tuple[CompiledRule, ...], ctx: RuleContext,
             errors: list[Finding], warnings: list[Finding]) -> None:
    """Run ``rules`` over ``ctx.attestation``; append findings (see :func:`evaluate_groups`)."""
    evaluate_groups(group_rules(rules), ctx, errors, warnings)
