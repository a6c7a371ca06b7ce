"""Inspecting a token for people: the one place that reads untrusted content, and says so.

:func:`inspect` parses a token without trusting it and returns a report: header, registered claims,
times (absolute, local and relative), the 13 fields with code display texts and identifier check
results, and, when a trust store is given, the verification decision. National identity numbers are
masked (``050766*****``) unless ``reveal_identifiers`` is set. It never raises for bad input.
"""

from __future__ import annotations

import copy
import datetime
import time
from typing import Any

from . import access_token as at
from . import codes
from .context import VerifyContext
from .dpop import PROOF_LIMITS, access_token_hash, normalize_htu, proof_key
from .errors import Finding
from .identifiers import (
    IDENTITY_NUMBER,
    OID_DNR,
    OID_FNR,
    OID_HNR,
    OID_HPR,
    OID_ORGNR,
    OID_RESH,
    check_hpr_number,
    check_organization_number,
    check_person_number,
    check_resh_id,
    mask,
    redact_identity_numbers,
)
from .jose import JoseError, parse_compact, verify_signature
from .model import AT_CLAIM, RAR_CONTAINERS, get, iter_patients, locate, locate_access_token, normalise
from .profiles import DEFAULT_PROFILE, Profile, load_profile
from .rules import MAX_NUMERIC_DATE, RuleContext, evaluate
from .trust import TrustStore
from .verify import Decision, is_access_token, profile_for, verify

UNTRUSTED_NOTE = ("Decoded without trusting it: nothing below is proven until the signature is verified "
                  "against a trust store.")

#: (number, path, label) of the 13 fields; patients' fields are repeated per patient
FIELDS: tuple[tuple[int, str, str], ...] = (
    (1, "practitioner.identifier", "Practitioner"),
    (2, "practitioner.hpr_nr", "HPR number"),
    (3, "practitioner.authorization", "Authorisation"),
    (4, "practitioner.legal_entity", "Legal entity"),
    (5, "practitioner.point_of_care", "Point of care"),
    (6, "practitioner.department", "Department"),
    (7, "care_relation.healthcare_service", "Healthcare service"),
    (8, "care_relation.purpose_of_use", "Purpose of use"),
    (9, "care_relation.purpose_of_use_details", "Purpose-of-use details"),
    (10, "care_relation.decision_ref", "Decision reference"),
)
PATIENT_FIELDS: tuple[tuple[int, str, str], ...] = (
    (11, "identifier", "Patient"),
    (12, "point_of_care", "Patient point of care"),
    (13, "department", "Patient department"),
)
_PERSON = {OID_FNR: "F-number", OID_DNR: "D-number", OID_HNR: "H/FH-number"}


def humanize_delta(seconds: int) -> str:
    """``"12 min"``, ``"1 h 5 min"``, ``"3 d 2 h"``, ``"45 s"`` for a non-negative number of seconds."""
    s = abs(int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def describe_time(t: Any, now: int) -> dict[str, Any] | None:
    """Unix time ``t`` as UTC, local time and relative to ``now`` (``"12 min ago"``, ``"in 48 min"``)."""
    if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= MAX_NUMERIC_DATE:
        return None
    t = int(t)
    utc = datetime.datetime.fromtimestamp(t, datetime.UTC)
    local = utc.astimezone()
    delta = t - now
    relative = "now" if delta == 0 else (f"in {humanize_delta(delta)}" if delta > 0 else
                                         f"{humanize_delta(delta)} ago")
    return {"unix": t, "utc": utc.isoformat().replace("+00:00", "Z"),
            "local": local.isoformat(timespec="seconds"), "relative": relative}


def _identifier_check(value: dict[str, Any], profile: Profile) -> tuple[str | None, str | None]:
    """(kind label, check result) for an identifier struct; check is ``"ok"`` or a reason."""
    system, ident = value.get("system"), value.get("id")
    if not isinstance(system, str) or not isinstance(ident, str):
        return None, None
    if system in _PERSON:
        if ident in profile.allow_list.person_identifiers:
            return _PERSON[system], "allow-listed spec example (fails its checks)"
        r = check_person_number(ident, system, allow_synthetic=profile.allow_synthetic,
                                allow_2032=profile.allow_2032_rule)
        label = _PERSON[system] + (f" ({r.kind})" if r.kind and r.kind not in ("F", "D") else "")
        return label, "ok" if r.ok else r.reason
    if system == OID_ORGNR:
        if ident in profile.allow_list.organization_numbers:
            return "organisation number", "allow-listed spec example (fails its checks)"
        return "organisation number", check_organization_number(ident) or "ok"
    if system == OID_HPR:
        return "HPR number", check_hpr_number(ident) or "ok"
    if system == OID_RESH:
        return "RESH id", check_resh_id(ident) or "ok"
    return codes.system_name(system) or "local identifier", None


def _describe_field(n: int, path: str, label: str, value: Any, profile: Profile,
                    reveal: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"n": n, "field": path, "label": label, "present": value is not None}
    if value is None:
        return row
    if not isinstance(value, dict):
        row["value"] = repr(value)[:80]
        row["check"] = "not a JSON object"
        return row
    if "code" in value or path.endswith(("authorization", "healthcare_service", "purpose_of_use",
                                         "purpose_of_use_details")):
        system, code = value.get("system"), value.get("code")
        row["value"] = str(code)
        row["text"] = value.get("text")
        if isinstance(system, str):
            row["system"] = system
            row["system_name"] = codes.system_name(system)
            row["system_label"] = codes.short_label(system)
            if isinstance(code, str):
                row["display"] = codes.display(system, code)
                row["displays"] = codes.display_texts(system, code)
        return row
    if path.endswith("decision_ref"):
        row["value"] = str(value.get("id"))
        row["text"] = value.get("description")
        us = value.get("user_selected")
        row["display"] = ("self-selected by the practitioner" if us is True else
                          "derived by the system" if us is False else "user_selected missing")
        return row
    ident = value.get("id")
    kind, check = _identifier_check(value, profile)
    system = value.get("system")
    # a system that is not a string may still hold a person's number: mask unless it is known not to be one
    person = system in _PERSON if isinstance(system, str) else True
    # any value shaped like an identity number is masked too, whatever system it claims (a person's number
    # under an organisation system is still a person's number)
    shaped = isinstance(ident, str) and IDENTITY_NUMBER.search(ident) is not None
    row["value"] = (mask(ident) if (person or shaped) and not reveal and isinstance(ident, str) else str(ident))
    row["text"] = value.get("name")
    if isinstance(value.get("system"), str):
        row["system"] = value["system"]
    row["kind"] = kind
    row["check"] = check
    return row


#: rule kinds that need the issuer from the trust store (only a verification can run them)
_NEEDS_TRUST = frozenset({"issuer_legal_entity", "issuer_member"})


def _mark_rows(rows: list[dict[str, Any]], errors: list[Finding], warnings: list[Finding]) -> None:
    """Attach each finding to the row of the field it is about; a row with an error shows it as its check."""
    for row in rows:
        prefix = "attestation." + row["field"]
        mine = [f for f in errors if f.path == prefix or f.path.startswith(prefix + ".")]
        row["findings"] = [f.code for f in mine] + [f.code for f in warnings
                                                    if f.path == prefix or f.path.startswith(prefix + ".")]
        if mine and row.get("check") in (None, "ok"):
            row["check"] = "; ".join(sorted({f.code for f in mine}))
        elif not mine and row.get("present") and row.get("check") is None:
            row["check"] = "ok"


def mask_attestation(att: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(att)
    ident = get(out, "practitioner", "identifier")
    if isinstance(ident, dict) and isinstance(ident.get("id"), str):
        ident["id"] = mask(ident["id"])
    for _, p in iter_patients(out):
        pid = p.get("identifier")
        if isinstance(pid, dict) and isinstance(pid.get("id"), str):
            pid["id"] = mask(pid["id"])
    return out


def _choose_profile(token: Any, trust: TrustStore | None, profile: str | Profile | None) -> Profile:
    """The caller's profile, else the one the token calls for (:func:`attest.verify.profile_for`)."""
    return load_profile(profile if profile is not None else profile_for(token, trust, DEFAULT_PROFILE))


def _person_check(pid: Any, profile: Profile) -> str | None:
    if not isinstance(pid, str):
        return None if pid is None else "not a string"
    system = OID_DNR if pid[:1] in ("4", "5", "6", "7") else OID_FNR
    r = check_person_number(pid, system, allow_synthetic=profile.allow_synthetic, allow_2032=profile.allow_2032_rule)
    if r.ok:
        return "ok" + (f" ({r.kind})" if r.kind and r.kind not in ("F", "D") else "")
    if not profile.allow_synthetic:
        test = check_person_number(pid, system, allow_synthetic=True, allow_2032=profile.allow_2032_rule)
        if test.ok:
            return (f"a synthetic test identity ({test.kind}): valid in test environments only "
                    f"(profile {profile.id} refuses it)")
    return r.reason


def _access_token_view(payload: dict[str, Any], profile: Profile, now: int, reveal: bool) -> dict[str, Any]:
    """HelseID's claims for people: the user, the client, scopes, the DPoP binding (HELSEID.md section 9)."""
    policy = profile.access_token or at.AccessTokenPolicy()
    pid = payload.get(policy.pid_claim)
    org_checks = {}
    for name, claim in (("orgnr_parent", at.ORGNR_PARENT), ("orgnr_child", at.ORGNR_CHILD),
                        ("orgnr_supplier", at.ORGNR_SUPPLIER)):
        v = payload.get(claim)
        if v is not None:
            org_checks[name] = {"value": v, "check": (check_organization_number(v) or "ok") if isinstance(v, str)
                                else "not a string"}
    cnf = payload.get("cnf")
    granted = at.scopes(payload.get("scope"))
    user = {
        "name": payload.get("name"),
        "pid": (mask(pid) if isinstance(pid, str) and not reveal else pid),
        "pid_check": _person_check(pid, profile),
        "security_level": payload.get(policy.security_level_claim),
        "assurance_level": payload.get(policy.assurance_level_claim),
        "hpr_number": payload.get(policy.hpr_claim),
        "network": payload.get(at.NETWORK),
        "idp": payload.get("idp"),
        "amr": payload.get("amr"),
        "auth_time": describe_time(payload.get("auth_time"), now),
    }
    client = {
        "client_id": payload.get("client_id"),
        "client_name": payload.get(at.CLIENT_NAME),
        "tenancy": payload.get(at.CLIENT_TENANCY),
        "client_amr": payload.get("client_amr"),
        **org_checks,
    }
    return {
        "user": {k: v for k, v in user.items() if v is not None},
        "client": {k: v for k, v in client.items() if v is not None},
        "scope": sorted(granted) if granted is not None else payload.get("scope"),
        "cnf_jkt": cnf.get("jkt") if isinstance(cnf, dict) else None,
        "sub": payload.get("sub"),
        "sid": payload.get("sid"),
    }


def inspect_proof(proof: Any, *, access_token: str | None = None, method: str | None = None,
                  url: str | None = None, now: int | None = None, cnf_jkt: str | None = None) -> dict[str, Any]:
    """A DPoP proof for people: its header and claims (untrusted), the thumbprint of its key, whether its
    signature verifies with that key, and its binding to ``access_token`` (``ath``, ``cnf.jkt``) and to the
    request (``method``/``url``), when given. Never raises for bad input."""
    t = int(time.time()) if now is None else int(now)
    out: dict[str, Any] = {"error": None, "header": None, "claims": None, "jkt": None, "signature": None,
                           "binding": {}}
    try:
        jws = parse_compact(proof, PROOF_LIMITS)
    except JoseError as err:
        out["error"] = {"code": "invalid_dpop_proof", "message": err.message}
        return out
    header, claims = jws.header, jws.payload
    out["header"] = {k: v for k, v in header.items() if k != "jwk"}
    jwk = header.get("jwk")
    if isinstance(jwk, dict):
        # the key's kind, not its bytes; private members named (a proof must never carry them)
        out["header"]["jwk"] = " ".join(str(jwk[k]) for k in ("kty", "crv") if isinstance(jwk.get(k), str)) or "?"
        private = [m for m in ("d", "p", "q", "dp", "dq", "qi", "k") if m in jwk]
        if private:
            out["header"]["jwk_private_members"] = private
    out["claims"] = claims
    out["iat"] = describe_time(claims.get("iat"), t)
    alg = header.get("alg")
    try:
        out["jkt"], key = proof_key(jwk, alg if isinstance(alg, str) else "")
        out["signature"] = "verifies with the header's jwk" if verify_signature(jws, str(alg), key) \
            else "does NOT verify with the header's jwk"
    except ValueError as exc:
        out["signature"] = f"cannot be checked: {exc}"
    b = out["binding"]
    if access_token is not None:
        b["ath"] = "matches the access token" if claims.get("ath") == access_token_hash(access_token) else (
            "missing" if "ath" not in claims else "does NOT match the access token")
    if cnf_jkt is not None:
        b["cnf.jkt"] = "matches the proof's key" if out["jkt"] == cnf_jkt else "does NOT match the proof's key"
    if method is not None:
        b["htm"] = "matches" if claims.get("htm") == method else "does NOT match"
    if url is not None:
        target = normalize_htu(url)
        b["htu"] = "matches" if target is not None and normalize_htu(claims.get("htu")) == target else \
            "does NOT match"
    return out


def inspect(
    token: Any,
    *,
    trust: TrustStore | None = None,
    profile: str | Profile | None = None,
    context: VerifyContext | None = None,
    reveal_identifiers: bool = False,
) -> dict[str, Any]:
    """A report on ``token`` for people (see module doc). ``decision`` is present when ``trust`` is.
    ``profile`` defaults to the one the token calls for (see :func:`_choose_profile`). For an access token,
    ``access_token`` describes HelseID's claims; with ``context.dpop_proof``, ``dpop`` describes the proof and
    its binding to the token and the request."""
    prof = _choose_profile(token, trust, profile)
    ctx = context or VerifyContext()
    now = int(time.time()) if ctx.now is None else int(ctx.now)
    report: dict[str, Any] = {"trusted": False, "note": UNTRUSTED_NOTE, "profile": prof.id, "now": now,
                              "error": None, "header": None, "claims": None, "times": {}, "fields": [],
                              "attestation": None, "decision": None}
    try:
        jws = parse_compact(token, prof.limits)
    except JoseError as err:
        report["error"] = {"code": err.code, "rule": err.rule, "path": err.path, "message": err.message}
        return report
    report["header"] = jws.header
    payload = jws.payload
    access = is_access_token(jws.header, payload)
    hidden = {"attestation", "practitioner", "care_relation", "care_relationship", "patients", "patient", "toa",
              AT_CLAIM, *RAR_CONTAINERS}
    claims = {k: v for k, v in payload.items() if k not in hidden}
    pid_claim = (prof.access_token or at.AccessTokenPolicy()).pid_claim
    if isinstance(claims.get(pid_claim), str) and not reveal_identifiers:
        claims[pid_claim] = mask(claims[pid_claim])
    if not reveal_identifiers:  # any other claim holding an identity number (a sub, a custom claim)
        claims = mask_numbers(claims)
    report["claims"] = claims
    times: dict[str, Any] = {}
    for name in ("iat", "nbf", "exp"):
        d = describe_time(payload.get(name), now)
        if d is not None:
            times[name] = d
    if access:
        report["access_token"] = _access_token_view(payload, prof, now, reveal_identifiers)
    if ctx.dpop_proof is not None:
        cnf = payload.get("cnf")
        report["dpop"] = inspect_proof(ctx.dpop_proof, access_token=token if isinstance(token, str) else None,
                                       method=ctx.http_method, url=ctx.http_url, now=now,
                                       cnf_jkt=cnf.get("jkt") if isinstance(cnf, dict) else None)
    located, reason = locate(payload)
    if located is None:
        if access:
            problem = locate_access_token(payload)[1]
            reason = problem.message if problem is not None else reason
        report["attestation_error"] = reason
    else:
        att, _ = normalise(located.raw)
        report["shape"] = located.shape
        describe_attestation(report, att, prof, ctx, payload, times, reveal_identifiers)
    finish(report, times, verify(token, trust, prof, ctx) if trust is not None else None, reveal_identifiers)
    return report


def finish(report: dict[str, Any], times: dict[str, Any], decision: Decision | None, reveal: bool) -> None:
    """The report's times, summary and (with a trust store) the decision, its attestation masked unless
    revealed. Shared by the JWT and the SAML reports."""
    report["times"] = times
    report["summary"] = summary(times)
    if decision is not None:
        doc = decision.to_dict()
        if doc.get("attestation") and not reveal:
            doc["attestation"] = mask_attestation(doc["attestation"])
        report["decision"] = doc


def mask_numbers(value: Any) -> Any:
    """``value`` with every string that holds an identity number in any spelling masked (recursively)."""
    if isinstance(value, str):
        return redact_identity_numbers(value) if len(value) >= 11 else value
    if isinstance(value, dict):
        return {k: mask_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_numbers(v) for v in value]
    return value


def describe_attestation(report: dict[str, Any], att: dict[str, Any], prof: Profile, ctx: VerifyContext,
                         claims: dict[str, Any] | None, times: dict[str, Any], reveal_identifiers: bool) -> None:
    """The 13 fields of a normalised attestation, their checks and the rules' findings (those that need no
    trust store), into ``report`` (``fields``, ``findings``, ``attestation``); ``toa`` into ``times``. Shared
    by the JWT and the SAML (:func:`attest.saml.inspect_saml`) views."""
    now = int(report["now"])
    d = describe_time(att.get("toa"), now)
    if d is not None:
        times["toa"] = d
    rows = [_describe_field(n, path, label, get(att, *path.split(".")), prof, reveal_identifiers)
            for n, path, label in FIELDS]
    patients = att.get("patients")
    n_patients = len(patients) if isinstance(patients, list) else 0
    if isinstance(patients, list) and not patients:
        rows.append({"n": 11, "field": "patients", "label": "Patients", "present": True,
                     "value": "none (unbound attestation, ATT-6)"})
    for i, p in iter_patients(att):
        rows.extend(_describe_field(n, f"patients[{i}].{name}", f"{label} {i + 1}" if n_patients > 1
                                    else label, p.get(name), prof, reveal_identifiers)
                    for n, name, label in PATIENT_FIELDS)
    errors: list[Finding] = []
    warnings: list[Finding] = []
    rules = tuple(r for r in prof.rules if r.kind not in _NEEDS_TRUST)
    evaluate(rules, RuleContext(now, prof, None, ctx, att, claims), errors, warnings)
    _mark_rows(rows, errors, warnings)
    report["fields"] = rows
    report["findings"] = {"errors": [f.to_dict() for f in errors], "warnings": [f.to_dict() for f in warnings]}
    report["attestation"] = att if reveal_identifiers else mask_attestation(att)


def summary(times: dict[str, Any]) -> str:
    """"made 12 min ago, expires in 48 min" (from ``toa`` or ``iat``, and ``exp``)."""
    parts = []
    made = times.get("toa") or times.get("iat")
    if made:
        parts.append(f"made {made['relative']}" if made["relative"] != "now" else "made now")
    exp = times.get("exp")
    if exp:
        rel = exp["relative"]
        parts.append(f"expires {rel}" if rel.startswith("in ") else f"expired {rel}")
    return ", ".join(parts)
