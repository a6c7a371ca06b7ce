"""Reports of a conformance run: rich tables for people, JUnit XML for CI systems, JSON for machines.

The results table is grouped by rule: one row per machine-checkable rule of RULES.md section b and one
per attack class of JWT_ATTACKS.md section 1, with the number of cases covering it and how they went
(that is also the coverage table); a HelseID corpus's by check (HELSEID.md sections 9-11, 14) and by
broken-proof switch; a SAML corpus's by check (the codes of attest.verify_saml) and by attack class.
Mismatches are listed case by case with what was expected and what the target did.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .corpus import (
    HELSEID_KIND,
    HELSEID_NOT_TESTED,
    NOT_MACHINE_CHECKABLE,
    SAML_GROUPS,
    SAML_KIND,
    SAML_NOT_TESTED,
    Case,
    catalogues,
)
from .runner import CaseResult, RunResult

REPORT_FORMAT = "attest-conformance-report/1"


#: what a 422 from an attest-compatible target means, by a word of its answer
_REFUSAL_HINTS = (
    ("now", "mentioning 'now': the service evaluates with its own clock. Enable context.now for the test "
            "(attest's service: ATTEST_ALLOW_CONTEXT_NOW=true) or run with --target-clock own."),
    ("context-required", "context-required: the service requires the patient and the user of every request "
                         "under a production profile, and most cases carry no context. Start the target for "
                         "the test with ATTEST_CONTEXT_REQUIRED=false (attest's service), or verify with the "
                         "test profile."),
)

def _by_cover(results: list[CaseResult]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for r in results:
        for k in r.case.covers:
            out.setdefault(k, Counter())[r.status] += 1
            out[k]["cases"] += 1
    return out


def coverage_rows(results: list[CaseResult], corpus_kind: str | None = None) -> list[dict[str, Any]]:
    """One row per rule and attack class (a HelseID corpus: per check and broken-proof switch): id, kind,
    title, cases, pass, fail, error, skip."""
    by = _by_cover(results)
    rows = []
    for table in catalogues(corpus_kind):
        kind = table.kind
        for key, title in table.entries.items():
            c = by.get(key, Counter())
            rows.append({"id": key, "kind": kind, "title": title, "cases": c["cases"], "pass": c["pass"],
                         "fail": c["fail"], "error": c["error"], "skip": c["skip"]})
    return rows


def _status_cell(row: dict[str, Any], selected: bool = False) -> str:
    if row["cases"] == 0:
        return "[dim]not selected[/]" if selected else "[bold red]NOT COVERED[/]"
    if row["fail"] or row["error"]:
        return "[bold red]MISMATCH[/]"
    if row["pass"] == 0:
        return "[yellow]all skipped[/]"
    return "[green]ok[/]"


def _coverage_table(
    title: str, rows: list[dict[str, Any]], with_results: bool, selected: bool = False
) -> Table:
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    t.add_column("id", no_wrap=True)
    t.add_column("title")
    t.add_column("cases", justify="right")
    if with_results:
        for col in ("pass", "fail", "error", "skip"):
            t.add_column(col, justify="right")
        t.add_column("")
    for row in rows:
        cells = [row["id"], escape(row["title"]), str(row["cases"])]
        if with_results:
            cells += [
                str(row["pass"]),
                str(row["fail"] or ""),
                str(row["error"] or ""),
                str(row["skip"] or ""),
                _status_cell(row, selected),
            ]
        elif row["cases"] == 0:
            cells[2] = "[bold red]0[/]"
        t.add_row(*cells)
    return t


def print_coverage(console: Console, cases: list[Case], corpus_kind: str | None = None) -> None:
    """The coverage table of a corpus (no results)."""
    fake = [CaseResult(c, "skip") for c in cases]
    rows = coverage_rows(fake, corpus_kind)
    for table in catalogues(corpus_kind):
        console.print(_coverage_table(table.coverage_title, [r for r in rows if r["kind"] == table.kind], False))
    missing = [r["id"] for r in rows if r["cases"] == 0]
    helseid = corpus_kind == HELSEID_KIND
    everything = {HELSEID_KIND: "every check and broken-proof switch",
                  SAML_KIND: "every check and attack class"}.get(corpus_kind or "", "every rule and attack class")
    console.print(f"{len(cases)} cases; " + (f"{everything} is covered" if not missing else
                                             f"[bold red]not covered: {', '.join(missing)}[/]"))
    if helseid:
        console.print("Not testable from outside (no cases): " +
                      "; ".join(f"{k} ({v})" for k, v in HELSEID_NOT_TESTED.items()), style="dim")
    elif corpus_kind == SAML_KIND:
        console.print("Not tested (no cases): " + "; ".join(f"{k} ({v})" for k, v in SAML_NOT_TESTED.items()),
                      style="dim")
    else:
        console.print("Not machine-checkable (no cases): " +
                      "; ".join(f"{k} ({v})" for k, v in NOT_MACHINE_CHECKABLE.items()), style="dim")


def _actual(r: CaseResult) -> str:
    o = r.outcome
    if o is None:
        return ""
    s = o.decision
    if o.codes:
        s += " " + ",".join(sorted(o.codes))
    if o.detail and o.detail not in ("in-process", "HTTP 200"):
        s += f" ({o.detail})"
    return s


def print_results(console: Console, result: RunResult, *, show_skips: bool = False) -> None:
    kind = result.corpus.get("kind")
    rows = coverage_rows(result.results, kind)
    selected = bool(result.corpus.get("selection"))
    for table in catalogues(kind):
        console.print(_coverage_table(table.results_title, [r for r in rows if r["kind"] == table.kind], True,
                                      selected))
    if selected:
        sel = result.corpus["selection"]
        console.print(
            f"selection: {len(result.results)} of {sel.get('of')} cases "
            f"(--only {sel.get('only') or '-'}, --exclude {sel.get('exclude') or '-'})",
            style="dim",
        )
    groups = Counter[str]()
    for r in result.results:
        groups[f"{r.case.group}:{r.status}"] += 1
    bad = [r for r in result.results if r.mismatch]
    if bad:
        t = Table(
            title=f"Mismatches ({len(bad)})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            title_style="bold red",
        )
        t.add_column("case", no_wrap=True)
        t.add_column("rule", no_wrap=True)
        t.add_column("expected")
        t.add_column("actual")
        t.add_column("why")
        for r in bad:
            t.add_row(
                escape(r.case.id),
                escape(r.case.rule),
                escape(r.case.expect.short()),
                escape(_actual(r)),
                escape(r.reason),
            )
        console.print(t)
    notes = [r for r in result.results if r.notes]
    if notes:
        t = Table(
            title=f"Notes ({len(notes)}): decision and codes as expected, rule ids differ",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            title_style="yellow",
        )
        t.add_column("case", no_wrap=True)
        t.add_column("note")
        for r in notes:
            t.add_row(escape(r.case.id), escape("; ".join(r.notes)))
        console.print(t)
    skips = Counter(r.reason for r in result.results if r.status == "skip")
    if skips:
        t = Table(
            title=f"Skipped ({sum(skips.values())})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            title_style="dim",
        )
        t.add_column("cases", justify="right")
        t.add_column("reason")
        for reason, n in skips.most_common():
            t.add_row(str(n), escape(reason))
        console.print(t)
        if show_skips:
            for r in result.results:
                if r.status == "skip":
                    console.print(f"  skip {escape(r.case.id)}: {escape(r.reason)}", style="dim")
    replayed = sum(1 for r in bad if r.outcome and r.outcome.codes and "token_replayed" in r.outcome.codes
                   and r.case.expect.decision == "permit")
    if replayed:
        console.print(
            f"[yellow]hint:[/] {replayed} permit case(s) were refused as replays: the target's replay "
            "cache remembers an earlier run of this corpus; generate a fresh corpus (its jti values "
            "depend on --now) or reset the cache."
        )
    for needle, hint in _REFUSAL_HINTS:
        refused = sum(1 for r in bad if r.outcome and "HTTP 422" in r.outcome.detail and needle in r.outcome.detail)
        if refused:
            console.print(f"[yellow]hint:[/] {refused} request(s) were refused with 422 {hint}")
    refused_assertions = sum(1 for r in bad if r.case.group in SAML_GROUPS and r.case.expect.decision == "permit")
    if refused_assertions:
        console.print(
            f"[yellow]hint:[/] {refused_assertions} valid assertion(s) were not permitted: is the verifier under "
            "test configured with the corpus's trust store (trust.yaml: the SAML issuer, saml-issuer.pem, the "
            "audience)?"
        )
    refused_permits = sum(1 for r in bad if r.case.recipe is not None and r.case.expect.decision == "permit")
    if refused_permits:
        console.print(
            f"[yellow]hint:[/] {refused_permits} valid request(s) were not permitted: is the API under test "
            "configured with the corpus's trust anchor (trust.yaml: issuer, jwks.json, audience, required scope) "
            "and called at the URL given to --target (the DPoP htu)?"
        )
    c = result.counts()
    verdict = "[bold green]CONFORMS[/]" if result.ok else f"[bold red]{c['mismatches']} MISMATCH(ES)[/]"
    console.print(
        f"{verdict}  {c['cases']} cases: {c['pass']} passed, {c['fail']} failed, {c['error']} errors, "
        f"{c['skip']} skipped in {result.seconds:.1f} s  (target: {escape(result.target.get('mode', '?'))})"
    )


def result_dict(r: CaseResult) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": r.case.id,
        "group": r.case.group,
        "rule": r.case.rule,
        "covers": list(r.case.covers),
        "description": r.case.description,
        "status": r.status,
        "expected": r.case.expect.to_dict(),
        "seconds": round(r.seconds, 4),
    }
    if r.outcome is not None:
        d["actual"] = r.outcome.to_dict()
    if r.reason:
        d["reason"] = r.reason
    if r.notes:
        d["notes"] = list(r.notes)
    return d


def report_dict(result: RunResult) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "ok": result.ok,
        "summary": result.counts(),
        "seconds": round(result.seconds, 3),
        "started": int(result.started),
        "target": result.target,
        "corpus": result.corpus,
        "coverage": coverage_rows(result.results, result.corpus.get("kind")),
        "results": [result_dict(r) for r in result.results],
    }


def write_json_report(path: str | Path, result: RunResult) -> None:
    Path(path).write_text(
        json.dumps(report_dict(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _xml_text(s: str) -> str:
    """XML 1.0 cannot carry most control characters; tokens and messages may contain them."""
    return "".join(ch if ch in "\t\n\r" or (ord(ch) >= 0x20 and ch not in "\ufffe\uffff") else
                   f"\\x{ord(ch):02x}" for ch in s)


def junit_tree(result: RunResult) -> ET.ElementTree:
    c = result.counts()
    root = ET.Element("testsuites", name="attest-conformance", tests=str(c["cases"]), failures=str(c["fail"]),
                      errors=str(c["error"]), skipped=str(c["skip"]), time=f"{result.seconds:.3f}")
    by_group: dict[str, list[CaseResult]] = {}
    for r in result.results:
        by_group.setdefault(r.case.group, []).append(r)
    for group, rs in by_group.items():
        suite = ET.SubElement(root, "testsuite", name=f"conformance.{group}", tests=str(len(rs)),
                              failures=str(sum(r.status == "fail" for r in rs)),
                              errors=str(sum(r.status == "error" for r in rs)),
                              skipped=str(sum(r.status == "skip" for r in rs)),
                              time=f"{sum(r.seconds for r in rs):.3f}")
        props = ET.SubElement(suite, "properties")
        for k, v in (
            ("target.mode", result.target.get("mode")),
            ("corpus.profile", result.corpus.get("profile")),
            ("corpus.now", result.corpus.get("now")),
            ("corpus.seed", result.corpus.get("seed")),
        ):
            ET.SubElement(props, "property", name=k, value=_xml_text(str(v)))
        for r in rs:
            tc = ET.SubElement(
                suite,
                "testcase",
                classname=f"conformance.{group}.{r.case.covers[0] if r.case.covers else r.case.rule}",
                name=r.case.id,
                time=f"{r.seconds:.3f}",
            )
            detail = (f"{r.case.description}\nrule: {r.case.rule}\nexpected: {r.case.expect.short()}\n"
                      f"actual: {_actual(r)}")
            if r.status == "fail":
                el = ET.SubElement(tc, "failure", message=_xml_text(r.reason), type="mismatch")
                el.text = _xml_text(detail)
            elif r.status == "error":
                el = ET.SubElement(tc, "error", message=_xml_text(r.reason), type="error")
                el.text = _xml_text(detail)
            elif r.status == "skip":
                ET.SubElement(tc, "skipped", message=_xml_text(r.reason))
            if r.notes:
                ET.SubElement(tc, "system-out").text = _xml_text("\n".join(r.notes))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: str | Path, result: RunResult) -> None:
    junit_tree(result).write(path, encoding="utf-8", xml_declaration=True)


def print_case_list(console: Console, cases: list[Case]) -> None:
    t = Table(box=box.SIMPLE_HEAD)
    t.add_column("case", no_wrap=True)
    t.add_column("rule", no_wrap=True)
    t.add_column("covers")
    t.add_column("expect")
    t.add_column("description")
    for c in cases:
        t.add_row(escape(c.id), escape(c.rule), escape(",".join(c.covers)), escape(c.expect.short()),
                  escape(c.description))
    console.print(t)
