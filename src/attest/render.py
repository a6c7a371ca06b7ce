"""Formatting for people (rich): inspect reports, decisions, findings. No deciding happens here.

Colour is used on a terminal and dropped when the output is piped (rich detects it; ``NO_COLOR`` is
honoured). Token-supplied text is printed as plain text (markup escaped), never interpreted, and every
control or format character in it (ESC, OSC, C1 controls, bidirectional overrides, line separators) is
shown escaped (``\x1b``), so a token cannot move the cursor, recolour or overdraw the decision line.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def safe(value: Any) -> str:
    """``value`` as text with every non-printable character (C0/C1 controls, format characters such as
    U+202E, separators other than the space) escaped; printable text, Norwegian letters included, stays."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _t(value: Any) -> str:
    """Token-derived text for rich markup contexts: made safe, then markup-escaped."""
    return escape(safe(value))


def findings_table(title: str, findings: list[dict[str, Any]], style: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, expand=False, title_style=style)
    table.add_column("code", style=style, no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("path")
    table.add_column("message")
    for f in findings:
        table.add_row(_t(f.get("code")), _t(f.get("rule")), _t(f.get("path")), _t(f.get("message")))
    return table


def decision_renderables(decision: dict[str, Any]) -> list[Any]:
    permitted = decision.get("decision") == "permit"
    head = Text.assemble(
        ("PERMIT" if permitted else "DENY", "bold green" if permitted else "bold red"),
        f"  profile {decision.get('profile')}",
    )
    tok = decision.get("token") or {}
    if tok:
        head.append("  " + "  ".join(f"{k}={safe(tok[k])}" for k in ("iss", "kid", "alg", "jti", "client_id")
                                     if k in tok), style="dim")
    out: list[Any] = [head]
    if decision.get("errors"):
        out.append(findings_table(f"errors ({len(decision['errors'])})", decision["errors"], "red"))
    if decision.get("warnings"):
        out.append(findings_table(f"warnings ({len(decision['warnings'])})", decision["warnings"], "yellow"))
    return out


def print_decision(console: Console, decision: dict[str, Any]) -> None:
    for r in decision_renderables(decision):
        console.print(r)


def _check_cell(row: dict[str, Any]) -> Text:
    check = row.get("check")
    if check is None:
        return Text("")
    if check == "ok":
        return Text("✓ valid", style="green")
    if not row.get("present"):
        return Text("✗ " + str(check), style="red")
    if str(check).startswith("allow-listed"):
        return Text("! " + str(check), style="yellow")
    return Text("✗ " + str(check), style="red")


def print_inspect(console: Console, report: dict[str, Any]) -> None:
    console.print(Text(report.get("note", ""), style="dim italic"))
    if report.get("error"):
        err = report["error"]
        console.print(Text.assemble(("cannot decode: ", "bold red"), f"{err['code']} ({err['rule']}): ",
                                    safe(err["message"])))
        return
    header = report.get("header") or {}
    claims = report.get("claims") or {}
    meta = Table(box=None, show_header=False, pad_edge=False)
    meta.add_column(style="bold")
    meta.add_column()
    meta.add_row("header", _t(", ".join(f"{k}={v}" for k, v in header.items())))
    for name in ("iss", "aud", "sub", "jti"):
        if name in claims:
            meta.add_row(name, _t(claims[name]))
    times = report.get("times") or {}
    for name, label in (("toa", "made (toa)"), ("iat", "issued (iat)"), ("nbf", "not before"),
                        ("exp", "expires (exp)")):
        if name in times:
            t = times[name]
            meta.add_row(label, f"{t['local']}  ({t['relative']})  [dim]{t['unix']}[/dim]")
    if report.get("summary"):
        expired = "expired" in report["summary"]
        meta.add_row("", Text(report["summary"], style="bold red" if expired else "bold"))
    if report.get("shape"):
        meta.add_row("shape", _t(report["shape"]))
    console.print(Panel(meta, title="token", title_align="left", box=box.ROUNDED))
    if report.get("access_token"):
        console.print(Panel(_access_token_table(report["access_token"]), title="access token (HelseID claims)",
                            title_align="left", box=box.ROUNDED))
    if report.get("dpop"):
        console.print(Panel(_proof_table(report["dpop"]), title="DPoP proof", title_align="left", box=box.ROUNDED))

    if report.get("attestation_error"):
        console.print(Text("no attestation: " + safe(report["attestation_error"]), style="red"))
    rows = report.get("fields") or []
    if rows:
        table = Table(title="attestation (13 fields)", title_justify="left", box=box.SIMPLE_HEAVY)
        table.add_column("#", justify="right", style="dim")
        table.add_column("field", style="bold")
        table.add_column("value")
        table.add_column("meaning")
        table.add_column("system", style="dim", overflow="fold")
        table.add_column("check")
        for row in rows:
            if not row.get("present"):
                table.add_row(str(row["n"]), _t(row["label"]), Text("—", style="dim"), Text("absent", style="dim"),
                              "", _check_cell(row))
                continue
            meaning_parts = [p for p in (row.get("display"), row.get("text")) if p]
            if row.get("display") and row.get("text") and row["display"] == row["text"]:
                meaning_parts = [row["display"]]
            meaning = " / ".join(str(p) for p in meaning_parts)
            system = row.get("kind") or row.get("system_label") or row.get("system") or ""
            table.add_row(str(row["n"]), _t(row["label"]), _t(row.get("value")), _t(meaning), _t(system),
                          _check_cell(row))
        console.print(table)
    decision = report.get("decision")
    findings = report.get("findings") or {}
    if decision is None and (findings.get("errors") or findings.get("warnings")):
        console.print(Text("rule findings, if the token is genuine (not verified):", style="bold"))
        if findings.get("errors"):
            console.print(findings_table(f"errors ({len(findings['errors'])})", findings["errors"], "red"))
        if findings.get("warnings"):
            console.print(findings_table(f"warnings ({len(findings['warnings'])})", findings["warnings"], "yellow"))
    if decision is not None:
        console.print(Panel(Group(*decision_renderables(decision)), title="verification", title_align="left",
                            box=box.ROUNDED))
    else:
        console.print(Text("not verified (give --trust FILE to verify the signature and the rules)",
                           style="yellow"))


def _kv_table() -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def _checked(value: Any, check: Any) -> Text:
    text = Text(safe(value))
    if check == "ok" or (isinstance(check, str) and check.startswith("ok")):
        text.append("  ✓ " + safe(check), style="green")
    elif check:
        text.append("  ✗ " + safe(check), style="red")
    return text


def _access_token_table(view: dict[str, Any]) -> Table:
    """The user, the client, the scopes and the DPoP binding of an access token (HELSEID.md section 9)."""
    table = _kv_table()
    user = view.get("user") or {}
    client = view.get("client") or {}
    if "name" in user:
        table.add_row("user", Text(safe(user["name"])))
    if "pid" in user:
        table.add_row("pid", _checked(user["pid"], user.get("pid_check")))
    levels = [f"security level {safe(user['security_level'])}" if "security_level" in user else None,
              f"assurance level {safe(user['assurance_level'])}" if "assurance_level" in user else None]
    table.add_row("login", Text(", ".join(x for x in levels if x) or "no security or assurance level",
                                style="" if any(levels) else "red"))
    if "hpr_number" in user:
        table.add_row("HPR number", Text(safe(user["hpr_number"])))
    extra = [f"{k} {safe(user[k])}" for k in ("network", "idp") if k in user]
    if "amr" in user:
        amr = user["amr"]
        extra.append("amr " + (" ".join(safe(a) for a in amr) if isinstance(amr, list) else safe(amr)))
    if user.get("auth_time"):
        extra.append(f"logged in {user['auth_time']['relative']}")
    if extra:
        table.add_row("", Text(", ".join(extra), style="dim"))
    table.add_row("client", Text(safe(client.get("client_id", "—"))))
    if "client_name" in client:
        table.add_row("client name", Text(safe(client["client_name"])))
    if "tenancy" in client:
        table.add_row("tenancy", Text(safe(client["tenancy"])))
    for key, label in (("orgnr_parent", "legal entity (orgnr_parent)"), ("orgnr_child", "point of care (orgnr_child)"),
                       ("orgnr_supplier", "supplier (orgnr_supplier)")):
        if key in client:
            table.add_row(label, _checked(client[key]["value"], client[key]["check"]))
    scopes = view.get("scope")
    table.add_row("scopes", Text(" ".join(safe(s) for s in scopes) if isinstance(scopes, list) else safe(scopes)))
    jkt = view.get("cnf_jkt")
    table.add_row("cnf.jkt", Text(safe(jkt)) if jkt else Text("none: not DPoP-bound (a bearer token)", style="yellow"))
    return table


def _proof_table(proof: dict[str, Any]) -> Table:
    table = _kv_table()
    if proof.get("error"):
        table.add_row("error", Text(safe(proof["error"].get("message")), style="red"))
        return table
    header = proof.get("header") or {}
    claims = proof.get("claims") or {}
    table.add_row("header", Text(safe(", ".join(f"{k}={v}" for k, v in header.items()))))
    for name in ("htm", "htu", "jti", "ath", "nonce"):
        if name in claims:
            table.add_row(name, Text(safe(claims[name])))
    if proof.get("iat"):
        t = proof["iat"]
        table.add_row("made (iat)", Text(f"{t['local']}  ({t['relative']})  {t['unix']}"))
    table.add_row("key (jkt)", Text(safe(proof.get("jkt") or "—")))
    signature = str(proof.get("signature") or "")
    table.add_row("signature", Text(safe(signature), style="green" if signature.startswith("verifies") else "red"))
    for name, verdict in (proof.get("binding") or {}).items():
        good = str(verdict).startswith("match")
        table.add_row(f"{name}", Text(safe(verdict), style="green" if good else "red"))
    return table
