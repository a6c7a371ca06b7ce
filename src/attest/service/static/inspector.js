// The token inspector (GET /inspect). Vanilla JavaScript, no dependencies.
//
// Privacy by construction: the token is posted to this server only (POST /v1/inspect, same origin, no
// referrer, no cache); nothing is written to localStorage, sessionStorage or cookies; every text that comes
// from a token is inserted with textContent (createTextNode), never as HTML: the page's Content-Security-Policy
// enforces Trusted Types with no policy, so an HTML sink would throw.
"use strict";

(function () {
  const MAX_FILE_BYTES = 256 * 1024;
  const state = { reveal: false, report: null, busy: false };
  const $ = (id) => document.getElementById(id);

  // --- DOM helpers: text only -----------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function show(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  function definitions(pairs) {
    const dl = el("dl", { class: "pairs" });
    for (const [term, value] of pairs) {
      if (value === null || value === undefined || value === "") continue;
      dl.append(el("div", { class: "pair" }, el("dt", {}, term), el("dd", {}, value)));
    }
    return dl;
  }

  function section(title, cls, ...children) {
    const id = "s-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
    return el("section", { class: "card " + (cls || ""), "aria-labelledby": id },
      el("h3", { id: id }, title), ...children);
  }

  // --- times ----------------------------------------------------------------------------------------------

  const localFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    timeZoneName: "short",
  });

  function timeCell(t) {
    return el("span", { class: "time" },
      el("time", { datetime: t.utc, title: t.utc + " (" + t.unix + ")" }, localFormat.format(new Date(t.unix * 1000))),
      " ", el("span", { class: "relative" }, "(" + t.relative + ")"));
  }

  // --- findings -------------------------------------------------------------------------------------------

  function findingItem(f, severity, explained) {
    const code = explained.codes[f.code] || {};
    const rule = explained.rules[f.rule] || {};
    const ruleText = [rule.source].concat(rule.descriptions || []).filter(Boolean).join(": ");
    return el("li", { class: "finding " + severity },
      el("p", { class: "finding-head" },
        el("code", { class: "code" }, f.code),
        el("span", { class: "rule" }, "rule " + f.rule),
        f.path ? el("span", { class: "path" }, "at " + f.path) : null),
      code.summary ? el("p", { class: "what" }, code.summary) : null,
      ruleText ? el("p", { class: "rule-text" }, ruleText) : null,
      f.message ? el("p", { class: "message" }, f.message) : null);
  }

  function findingList(title, findings, severity, explained) {
    if (!findings || findings.length === 0) return null;
    return el("div", { class: "findings" },
      el("h4", {}, title + " (" + findings.length + ")"),
      el("ul", { class: "finding-list" }, findings.map((f) => findingItem(f, severity, explained))));
  }

  // --- the trusted part: the decision ---------------------------------------------------------------------

  function verdictSection(report) {
    const d = report.decision;
    const explained = report.explanations || { codes: {}, rules: {} };
    if (!d) {
      return section("Verification", "verdict none",
        el("p", {}, "Not verified: this service has no trust store."));
    }
    const permit = d.decision === "permit";
    const errors = d.errors || [];
    return section("Verification", "verdict " + (permit ? "permit" : "deny"),
      el("p", { class: "badge", id: "verdict" }, permit ? "PERMIT" : "DENY"),
      el("p", { class: "verdict-text" }, permit
        ? "The signature verifies with the trust store's key and every rule of profile " + d.profile + " passes."
        : errors.length + " error" + (errors.length === 1 ? "" : "s") + ": this service would refuse the token (profile " + d.profile + ")."),
      el("p", { class: "hint" }, "The same checks as POST /v1/verify, without the replay check and without an audit record."),
      findingList("Errors", errors, "error", explained),
      findingList("Warnings", d.warnings, "warning", explained));
  }

  // --- the untrusted part: what the token says ------------------------------------------------------------

  // the error codes about one time claim (attestation.toa, exp, ...), from the decision and the rules
  function timeErrors(report, name) {
    const all = ((report.decision || {}).errors || []).concat((report.findings || {}).errors || []);
    const codes = all.filter((f) => f.path === name || f.path === "attestation." + name).map((f) => f.code);
    return [...new Set(codes)];
  }

  function tokenSection(report) {
    const claims = report.claims || {};
    const header = report.header || {};
    const times = report.times || {};
    const rows = [];
    for (const [name, label] of [["toa", "Made (toa)"], ["iat", "Issued (iat)"], ["nbf", "Not before (nbf)"], ["exp", "Expires (exp)"]]) {
      if (!times[name]) continue;
      const errors = timeErrors(report, name);
      rows.push([label, el("span", {}, timeCell(times[name]),
        errors.length ? el("span", { class: "check bad" }, " ✗ " + errors.join(", ")) : null)]);
    }
    const kind = report.access_token ? "HelseID access token" : "Attestation token";
    return section("Token", "token",
      report.summary ? el("p", { class: "summary", id: "summary" }, report.summary) : null,
      definitions([
        ["Kind", kind + (report.shape ? " (" + report.shape + ")" : "")],
        ["Issuer (iss)", show(claims.iss)],
        ["Audience (aud)", claims.aud === undefined ? null : show(claims.aud)],
        ["Subject (sub)", claims.sub === undefined ? null : show(claims.sub)],
        ["Token id (jti)", claims.jti === undefined ? null : show(claims.jti)],
        ["Header", Object.entries(header).map(([k, v]) => k + "=" + show(v)).join(", ")],
        ["Profile", report.profile],
        ...rows,
      ]));
  }

  function checkCell(row) {
    const check = row.check;
    if (check === null || check === undefined) return el("span", { class: "check none" }, row.present ? "" : "—");
    if (check === "ok") return el("span", { class: "check ok" }, "✓ valid");
    if (String(check).startsWith("allow-listed")) return el("span", { class: "check warn" }, "! " + check);
    return el("span", { class: "check bad" }, "✗ " + check);
  }

  function meaningCell(row) {
    const parts = [];
    const displays = row.displays || {};
    if (displays.nb) parts.push(el("span", { class: "display", lang: "nb" }, displays.nb));
    if (displays.en) parts.push(el("span", { class: "display", lang: "en" }, displays.en));
    if (!displays.nb && !displays.en && row.display) parts.push(el("span", { class: "display" }, row.display));
    const known = [displays.nb, displays.en, row.display];
    if (row.text && !known.includes(row.text)) parts.push(el("span", { class: "token-text" }, row.text));
    return parts;
  }

  function fieldRow(row) {
    const cells = [
      ["#", el("span", { class: "n" }, String(row.n))],
      ["Field", el("span", { class: "label" }, row.label, el("span", { class: "path" }, row.field))],
      ["Value", row.present ? el("span", { class: "value" + (row.value && /\*{5}$/.test(row.value) ? " masked" : "") }, show(row.value)) : el("span", { class: "absent" }, "absent")],
      ["Meaning", meaningCell(row)],
      ["System", show(row.kind || row.system_label || row.system || "")],
      ["Check", checkCell(row)],
    ];
    return el("tr", { class: row.present ? "" : "absent-row" },
      cells.map(([label, content], i) => el(i === 1 ? "th" : "td", { "data-label": label, scope: i === 1 ? "row" : null }, content)));
  }

  function fieldsSection(report) {
    if (report.attestation_error) {
      return section("Attestation", "fields", el("p", { class: "check bad" }, "No attestation: " + report.attestation_error));
    }
    const rows = report.fields || [];
    if (rows.length === 0) return null;
    const table = el("table", { class: "fields", id: "fields" },
      el("caption", {}, "The attestation's fields as the token states them, with the code lists' texts and the identifier checks (text in italics is the token's own)"),
      el("thead", {}, el("tr", {}, ["#", "Field", "Value", "Meaning", "System", "Check"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map(fieldRow)));
    return section("Attestation (13 fields)", "fields", el("div", { class: "table-wrap" }, table));
  }

  function accessTokenSection(report) {
    const view = report.access_token;
    if (!view) return null;
    const user = view.user || {};
    const client = view.client || {};
    const levels = [user.security_level !== undefined ? "security level " + user.security_level : null,
      user.assurance_level !== undefined ? "assurance level " + user.assurance_level : null].filter(Boolean).join(", ");
    const org = (key) => client[key] ? client[key].value + (client[key].check === "ok" ? " ✓" : " ✗ " + client[key].check) : null;
    return section("HelseID claims", "access-token", definitions([
      ["User", user.name === undefined ? null : show(user.name)],
      ["User's pid", user.pid === undefined ? null : el("span", { class: "value" }, show(user.pid),
        user.pid_check ? el("span", { class: user.pid_check.startsWith("ok") ? "check ok" : "check bad" }, " " + user.pid_check) : null)],
      ["Login", levels || "no security or assurance level"],
      ["HPR number", user.hpr_number === undefined ? null : show(user.hpr_number)],
      ["Logged in", user.auth_time ? timeCell(user.auth_time) : null],
      ["Client", show(client.client_id)],
      ["Client name", client.client_name === undefined ? null : show(client.client_name)],
      ["Tenancy", client.tenancy === undefined ? null : show(client.tenancy)],
      ["Legal entity (orgnr_parent)", org("orgnr_parent")],
      ["Point of care (orgnr_child)", org("orgnr_child")],
      ["Supplier (orgnr_supplier)", org("orgnr_supplier")],
      ["Scopes", Array.isArray(view.scope) ? view.scope.join(" ") : show(view.scope)],
      ["DPoP binding (cnf.jkt)", view.cnf_jkt || "none: not DPoP-bound (a bearer token)"],
    ]));
  }

  function proofSection(report) {
    const proof = report.dpop;
    if (!proof) return null;
    if (proof.error) return section("DPoP proof", "proof", el("p", { class: "check bad" }, "Cannot be decoded: " + proof.error.message));
    const claims = proof.claims || {};
    const good = (text) => el("span", { class: String(text).startsWith("match") || String(text).startsWith("verifies") ? "check ok" : "check bad" }, text);
    return section("DPoP proof", "proof", definitions([
      ["Header", Object.entries(proof.header || {}).map(([k, v]) => k + "=" + show(v)).join(", ")],
      ["Method (htm)", claims.htm === undefined ? null : show(claims.htm)],
      ["URL (htu)", claims.htu === undefined ? null : show(claims.htu)],
      ["Made (iat)", proof.iat ? timeCell(proof.iat) : null],
      ["Key thumbprint", proof.jkt || "—"],
      ["Signature", good(proof.signature || "")],
      ...Object.entries(proof.binding || {}).map(([name, verdict]) => ["Binding " + name, good(verdict)]),
    ]));
  }

  function untrustedFindings(report) {
    const d = report.decision;
    if (d && d.attestation) return null;  // the signature verified: the decision lists the rules' findings
    const f = report.findings || {};
    const explained = report.explanations || { codes: {}, rules: {} };
    const list = [findingList("Errors", f.errors, "error", explained), findingList("Warnings", f.warnings, "warning", explained)].filter(Boolean);
    if (list.length === 0) return null;
    return section("Rule findings if the token were genuine", "untrusted-findings",
      el("p", { class: "hint" }, "The signature did not verify (or was not checked): these are the profile's rules applied to what the token says."), ...list);
  }

  // --- tools: reveal, copy, share ---------------------------------------------------------------------------

  function tools(report) {
    const reveal = el("button", { type: "button", id: "reveal", "aria-pressed": state.reveal ? "true" : "false" },
      state.reveal ? "Mask identity numbers" : "Reveal identity numbers");
    reveal.addEventListener("click", () => { state.reveal = !state.reveal; inspect(); });
    const copyDecision = el("button", { type: "button", id: "copy-decision", disabled: !report.decision },
      "Copy decision (JSON)");
    copyDecision.addEventListener("click", () => copy(JSON.stringify(report.decision, null, 2), "decision document"));
    const copyShare = el("button", { type: "button", id: "copy-share" }, "Copy explanation (text)");
    copyShare.addEventListener("click", () => copy(report.share_text || "", "explanation"));
    return el("div", { class: "tools", role: "group", "aria-label": "Result tools" }, reveal, copyDecision, copyShare);
  }

  function shareSection(report) {
    return el("details", { class: "share" },
      el("summary", {}, "Shareable explanation (plain text, no identity numbers)"),
      el("pre", { id: "share-text", tabindex: "0" }, report.share_text || ""));
  }

  async function copy(text, what) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
      } else {
        fallbackCopy(text);
      }
      say("Copied the " + what + " to the clipboard.");
    } catch (err) {
      say("Could not copy the " + what + " (" + err.message + "); select it in the page instead.");
    }
  }

  function fallbackCopy(text) {
    const area = el("textarea", { readonly: true, class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    if (!done) throw new Error("the browser refused");
  }

  // --- render -----------------------------------------------------------------------------------------------

  function render(report) {
    const result = $("result");
    if (report.error) {
      const e = report.error;
      result.replaceChildren(tools(report),
        section("Cannot decode the token", "verdict deny",
          el("p", { class: "badge" }, "NOT A TOKEN"),
          el("ul", { class: "finding-list" }, findingItem(e, "error", report.explanations || { codes: {}, rules: {} }))),
        shareSection(report));
    } else {
      result.replaceChildren(
        tools(report),
        el("div", { class: "trusted" }, verdictSection(report)),
        el("div", { class: "untrusted", "aria-labelledby": "untrusted-title" },
          el("h2", { id: "untrusted-title" }, "Decoded token (untrusted)"),
          el("p", { class: "note" }, report.note),
          tokenSection(report), accessTokenSection(report), proofSection(report), fieldsSection(report),
          untrustedFindings(report)),
        shareSection(report));
    }
    result.hidden = false;
  }

  // --- talking to the server --------------------------------------------------------------------------------

  function say(text, isError) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function requestBody() {
    const body = { token: $("token").value.trim(), reveal_identifiers: state.reveal };
    const proof = $("dpop").value.trim();
    const method = $("method").value.trim();
    const url = $("url").value.trim();
    if (proof) body.dpop = proof;
    if (proof && method && url) body.request = { method: method, url: url };
    return body;
  }

  function problemText(problem, status) {
    if (problem && typeof problem.detail === "string") return problem.detail;
    if (problem && Array.isArray(problem.errors) && problem.errors.length) {
      return problem.errors.map((e) => (e.loc || []).slice(1).join(".") + ": " + e.msg).join("; ");
    }
    return "the server answered " + status;
  }

  async function inspect() {
    const body = requestBody();
    if (!body.token) {
      say("Paste a token first.", true);
      $("token").focus();
      return;
    }
    if (state.busy) return;
    state.busy = true;
    say("Inspecting…");
    try {
      const response = await fetch("/v1/inspect", {
        method: "POST", headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(body), cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
      });
      const data = await response.json().catch(() => null);
      if (!response.ok || !data) {
        say("The token could not be inspected: " + problemText(data, response.status), true);
        return;
      }
      state.report = data;
      render(data);
      const d = data.decision;
      say(data.error ? "The text is not a token: " + data.error.code
        : d ? "Inspected: " + d.decision.toUpperCase() + ", " + d.errors.length + " error(s), " + d.warnings.length + " warning(s)."
          : "Inspected (not verified).");
    } catch (err) {
      say("The server could not be reached: " + err.message, true);
    } finally {
      state.busy = false;
    }
  }

  function clear() {
    for (const id of ["token", "dpop", "url"]) $(id).value = "";
    $("method").value = "GET";
    $("token-file").value = "";
    state.reveal = false;
    state.report = null;
    $("result").replaceChildren();
    $("result").hidden = true;
    say("");
    $("token").focus();
  }

  async function readFile(file) {
    if (!file) return;
    if (file.size > MAX_FILE_BYTES) {
      say("That file is over " + MAX_FILE_BYTES / 1024 + " KiB: not a token.", true);
      return;
    }
    $("token").value = (await file.text()).trim();
    state.reveal = false;
    say("Read " + file.name + ". Press Inspect.");
  }

  function init() {
    const form = $("inspect-form");
    const token = $("token");
    form.addEventListener("submit", (event) => { event.preventDefault(); inspect(); });
    $("clear").addEventListener("click", clear);
    token.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    token.addEventListener("input", () => { state.reveal = false; });
    token.addEventListener("dragover", (event) => { event.preventDefault(); token.classList.add("drop"); });
    token.addEventListener("dragleave", () => token.classList.remove("drop"));
    token.addEventListener("drop", (event) => {
      event.preventDefault();
      token.classList.remove("drop");
      readFile(event.dataTransfer && event.dataTransfer.files[0]);
    });
    $("token-file").addEventListener("change", (event) => readFile(event.target.files[0]));
    // leaving the page forgets the token: nothing for the back button or a restored session to bring back
    window.addEventListener("pagehide", () => {
      for (const id of ["token", "dpop"]) $(id).value = "";
      $("result").replaceChildren();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
