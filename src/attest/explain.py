"""Explanations for people: what the codes and rules of an inspect report's findings mean, and a plain-text
account of the report that can be shared (in a support ticket, an e-mail) because it holds no identity
numbers.

:func:`explanations` answers from the one error table (:data:`attest.errors.ERROR_CODES`, the summary of
each code) and from the rule descriptions of the report's profile (``profiles/*.yaml``); :func:`share_text`
leaves out every value that names a person (national identity numbers, HPR numbers, names, free text) and
redacts any identity number a message might still quote, whether or not the report was revealed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .errors import ERROR_CODES, ProfileError
from .identifiers import redact_identity_numbers
from .profiles import Profile, load_profile

#: the RFCs whose sections rule ids name (``RFC9449-4.3``)
_RFCS = {"4648": "Base64", "6750": "OAuth 2.0 bearer tokens", "7493": "I-JSON", "7515": "JWS", "7519": "JWT",
         "7638": "JWK thumbprint", "8259": "JSON", "8725": "JWT best current practices",
         "9068": "JWT access tokens", "9449": "DPoP"}
_RFC_RULE = re.compile(r"RFC(\d{4})-([0-9][0-9.]*)")
#: rows of the 13 fields whose value names a person: never in a shared text
_PERSON_FIELDS = re.compile(r"(practitioner\.identifier|practitioner\.hpr_nr|patients\[\d+\]\.identifier)")
#: a masked identity number (``200866*****``) still tells a birth date
_MASKED = re.compile(r"\d{6}\*{5}")
_REDACTED = "[identity number]"


def rule_source(rule: str) -> str:
    """Where a rule id comes from, for people: ``RFC 9449 (DPoP), section 4.3``; ``business rule ATT-58c of
    the trust framework``."""
    m = _RFC_RULE.fullmatch(rule)
    if m:
        name = _RFCS.get(m.group(1))
        return f"RFC {m.group(1)}{f' ({name})' if name else ''}, section {m.group(2)}"
    if rule.startswith("ATT-"):
        return f"business rule {rule} of the trust framework (Tillitsrammeverket)"
    if rule.startswith("DM-"):
        return f"the trust framework's data model, section {rule[3:]}"
    if rule.startswith("HID"):
        return "HelseID's access token (HELSEID.md)"
    return rule


def findings_of(report: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every finding a report carries: the decode error, the untrusted rule findings, the decision's, the
    DPoP proof's decode error."""
    for holder in (report.get("error"), (report.get("dpop") or {}).get("error")):
        if isinstance(holder, dict):
            yield holder
    for source in (report.get("findings"), report.get("decision")):
        if isinstance(source, dict):
            for key in ("errors", "warnings"):
                yield from (f for f in source.get(key) or () if isinstance(f, dict))


def _profile(report: dict[str, Any]) -> Profile | None:
    try:
        return load_profile(str(report.get("profile")))
    except ProfileError:
        return None


#: the rule kinds (rules.py) that report a code, where several rules share an id and a path: the
#: description shown for a finding is that of the rule that can have made it
_KINDS_OF_CODE: dict[str, frozenset[str]] = {
    "missing_field": frozenset({"required"}),
    "invalid_field": frozenset({"object", "array", "struct", "unix_time", "boolean"}),
    "invalid_identifier_system": frozenset({"identifier_system"}),
    "invalid_person_identifier": frozenset({"identifier_value"}),
    "invalid_organization_number": frozenset({"identifier_value"}),
    "invalid_hpr_number": frozenset({"identifier_value"}),
    "invalid_code_system": frozenset({"code_system"}),
    "invalid_code": frozenset({"code_value"}),
    "attestation_has_expired": frozenset({"toa"}),
    "toa_in_future": frozenset({"toa"}),
    "invalid_decision_ref": frozenset({"decision_ref", "boolean"}),
    "missing_care_relation_detail": frozenset({"one_of"}),
}


def _rule_descriptions(profile: Profile | None, rule: str, code: str, path: str) -> list[str]:
    """The descriptions of the profile's rules with this id (only those of a kind that reports ``code``, when
    there are such), those about ``path`` first."""
    if profile is None:
        return []
    rules = [r for r in profile.rules if r.id == rule and r.description]
    kinds = _KINDS_OF_CODE.get(code)
    if kinds is not None and any(r.kind in kinds for r in profile.rules if r.id == rule):
        rules = [r for r in rules if r.kind in kinds]
    rules.sort(key=lambda r: 0 if path in ("attestation." + r.path, r.path) else 1)
    return list(dict.fromkeys(r.description for r in rules))


def explanations(report: dict[str, Any]) -> dict[str, Any]:
    """``{"codes": {code: {"summary", "stage"}}, "rules": {rule: {"source", "descriptions"}}}`` for every
    finding of ``report`` (an :func:`attest.inspect` report). A rule's descriptions are those of the first
    finding that names it."""
    profile = _profile(report)
    codes: dict[str, dict[str, str]] = {}
    rules: dict[str, dict[str, Any]] = {}
    for f in findings_of(report):
        code, rule, path = str(f.get("code")), str(f.get("rule")), str(f.get("path") or "")
        row = ERROR_CODES.get(code)
        if row is not None and code not in codes:
            codes[code] = {"summary": row.summary, "stage": row.stage}
        if rule and rule != "None" and rule not in rules:
            rules[rule] = {"source": rule_source(rule),
                           "descriptions": _rule_descriptions(profile, rule, code, path)}
    return {"codes": codes, "rules": rules}


def scrub(text: Any) -> str:
    """``text`` without identity numbers, masked or not."""
    return _MASKED.sub(_REDACTED, redact_identity_numbers(str(text), _REDACTED))


def _finding_lines(title: str, findings: list[dict[str, Any]]) -> list[str]:
    if not findings:
        return []
    lines = [f"{title} ({len(findings)}):"]
    for f in findings:
        code = str(f.get("code"))
        row = ERROR_CODES.get(code)
        lines.append(f"- {code} (rule {f.get('rule')}, at {f.get('path') or '-'})")
        if row is not None:
            lines.append(f"  what it means: {row.summary}")
        if f.get("message"):
            lines.append(f"  here: {scrub(f['message'])}")
    return lines


def _field_line(row: dict[str, Any]) -> str:
    head = f"{row.get('n'):>2} {row.get('label')}"
    if not row.get("present"):
        return f"{head}: absent"
    parts = []
    field = str(row.get("field"))
    if not _PERSON_FIELDS.fullmatch(field) and not field.endswith("decision_ref"):
        displays = row.get("displays") or {}
        meaning = " / ".join(displays[lang] for lang in ("nb", "en") if displays.get(lang)) or row.get("kind")
        parts.append(str(row.get("value")) + (f" ({meaning})" if meaning else ""))
    elif row.get("kind"):
        parts.append(str(row["kind"]))
    check = row.get("check")
    parts.append("valid" if check == "ok" else f"check: {check}" if check else "not checked")
    return f"{head}: " + ", ".join(scrub(p) for p in parts)


def _token_lines(report: dict[str, Any]) -> list[str]:
    claims = report.get("claims") or {}
    header = report.get("header") or {}
    kind = "HelseID access token" if report.get("access_token") else "attestation token"
    lines = [f"Token: {kind}, profile {report.get('profile')}"]
    for name, value in (("issuer", claims.get("iss")), ("audience", claims.get("aud")), ("alg", header.get("alg")),
                        ("kid", header.get("kid")), ("jti", claims.get("jti")),
                        ("client_id", claims.get("client_id"))):
        if value is not None:
            lines.append(f"  {name}: {scrub(value)}")
    times = report.get("times") or {}
    for name, label in (("toa", "made (toa)"), ("iat", "issued (iat)"), ("nbf", "not before"),
                        ("exp", "expires (exp)")):
        if name in times:
            lines.append(f"  {label}: {times[name]['utc']} ({times[name]['relative']})")
    if report.get("summary"):
        lines.append(f"  {report['summary']}")
    return lines


def _decision_lines(report: dict[str, Any]) -> list[str]:
    decision = report.get("decision")
    if not isinstance(decision, dict):
        return ["Verification: not verified (no trust store)"]
    lines = [f"Verification: {str(decision.get('decision')).upper()} (signature and rules checked against the "
             f"trust store, profile {decision.get('profile')})"]
    lines += _finding_lines("Errors", decision.get("errors") or [])
    lines += _finding_lines("Warnings", decision.get("warnings") or [])
    return lines


def share_text(report: dict[str, Any]) -> str:
    """A plain-text account of an :func:`attest.inspect` report, with no identity numbers (see module doc)."""
    lines = ["attest token inspector: explanation (identity numbers left out)", ""]
    if report.get("error"):
        err = report["error"]
        lines.append(f"The token cannot be decoded: {err.get('code')} (rule {err.get('rule')}): "
                     f"{scrub(err.get('message'))}")
        return "\n".join(lines) + "\n"
    lines += _token_lines(report)
    lines.append("")
    lines += _decision_lines(report)
    decision = report.get("decision")
    if not isinstance(decision, dict) or decision.get("attestation") is None:
        findings = report.get("findings") or {}
        untrusted = _finding_lines("Rule findings if the token were genuine (not verified)", findings.get("errors")
                                   or []) + _finding_lines("Rule warnings (not verified)",
                                                           findings.get("warnings") or [])
        if untrusted:
            lines += ["", *untrusted]
    if report.get("attestation_error"):
        lines += ["", f"No attestation: {scrub(report['attestation_error'])}"]
    rows = report.get("fields") or []
    if rows:
        lines += ["", "Attestation fields (decoded, untrusted):", *(_field_line(r) for r in rows)]
    proof = report.get("dpop")
    if isinstance(proof, dict):
        lines += ["", "DPoP proof:"]
        if proof.get("error"):
            lines.append(f"  cannot be decoded: {scrub(proof['error'].get('message'))}")
        else:
            lines.append(f"  signature: {proof.get('signature')}")
            lines += [f"  {name}: {verdict}" for name, verdict in (proof.get("binding") or {}).items()]
    return "\n".join(lines) + "\n"
