"""Rule kinds and the evaluator.

A profile file lists rule entries (``id: ATT-10``, ``kind: identifier_system``, ``path:
practitioner.identifier``, ``params: {...}``, ``severity``). Each ``kind`` is a small function
``(value, params, ctx, path) -> Iterator[Issue]``; the evaluator resolves the path (``patients[*]`` expands
to every patient), calls the function and stamps the rule id and the full JSON path onto each finding.
A new rule that fits an existing kind is a profile edit, not code.

Kinds see only the normalised attestation (spec v1.1 spelling) of a token whose signature verified, plus
the verify context and the issuer's trust-store entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from . import codes as codes_mod
from .context import VerifyContext
from .errors import ERROR_CODES, Finding
from .identifiers import (
    OID_DNR,
    OID_FNR,
    OID_HNR,
    OID_HPR,
    OID_ORGNR,
    OID_RESH,
    SYSTEM_ALIASES,
    check_hpr_number,
    check_organization_number,
    check_person_number,
    check_resh_id,
    is_absolute_uri,
    is_ascii_digits,
    normalize_system,
    redact_identity_numbers,
    same_hpr_number,
)
from .model import get, iter_patients
from .trust import AuthorizationServer, Issuer

if TYPE_CHECKING:
    from .profiles import Profile


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Issue(NamedTuple):
    """What a kind reports: a contract error code, a path suffix (``.system``) and a message."""

    code: str
    suffix: str
    message: str


class RuleContext(NamedTuple):
    """What kinds see besides the value: the evaluation time, the profile, the issuer whose key verified the
    token, the verify context and the whole (normalised) attestation. Built once per verification (a named
    tuple: cheap to build, read-only)."""

    now: int
    profile: Profile
    issuer: Issuer | AuthorizationServer | None
    context: VerifyContext
    attestation: dict[str, Any]
    #: the verified token's payload (HelseID claims for the cross-checks of HELSEID.md section 10)
    claims: dict[str, Any] | None = None


KindFn = Callable[[Any, Any, RuleContext, str], Sequence[Issue]]

#: what a kind returns when it finds nothing (shared: no list is built on the success path)
NO_ISSUES: tuple[Issue, ...] = ()

#: kind name -> (check function, params preparer)
KINDS: dict[str, tuple[KindFn, Callable[[dict[str, Any]], Any]]] = {}

#: A guard writes a Python expression that is true only for values on which the kind reports nothing, so
#: that the compiled evaluator can skip the call in the usual case. Arguments: the name of the local that
#: holds the value, the rule's prepared params, and ``bind(obj, prefix)``, which binds an object to a
#: generated name (no profile text is pasted into code). Returning None means "no guard". A guard may
#: be conservative (false for some values that pass); it must never be true for a value the kind reports.
Guard = Callable[[str, Any, Callable[[Any, str], str]], str | None]

#: kind name -> its guard (kinds without one are always called); filled in the guards section below
GUARDS: dict[str, Guard] = {}


def kind(name: str, prepare: Callable[[dict[str, Any]], Any] | None = None) -> Callable[[KindFn], KindFn]:
    def register(fn: KindFn) -> KindFn:
        KINDS[name] = (fn, prepare or (lambda p: p))
        return fn
    return register


def _systems(names: list[str]) -> frozenset[str]:
    return frozenset(normalize_system(SYSTEM_ALIASES.get(n, n)) for n in names)


def _short(value: object, limit: int = 80) -> str:
    """A token value quoted in a message: identity numbers masked, escaped to ASCII, at most ``limit``."""
    s = redact_identity_numbers(str(value))
    s = s.encode("unicode_escape").decode("ascii")
    return s if len(s) <= limit else s[:limit] + "..."


def _field(path: str) -> str:
    return path.removeprefix("attestation.")


# --- structure -----------------------------------------------------------------------------------------

@kind("required")
def required(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    if value is MISSING or value is None:
        return [Issue("missing_field", "", f"{_field(path)} is required by profile {ctx.profile.id}")]
    return NO_ISSUES


@kind("object")
def object_(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    if value is not MISSING and not isinstance(value, dict):
        return [Issue("invalid_field", "", f"{_field(path)} must be a JSON object, not {_json_type(value)}")]
    return NO_ISSUES


@kind("array", lambda p: {"max_items": int(p.get("max_items", 1000))})
def array(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    if value is MISSING:
        return NO_ISSUES
    if not isinstance(value, list):
        return [Issue("invalid_field", "", f"{_field(path)} must be a JSON array, not {_json_type(value)}")]
    if len(value) > params["max_items"]:
        return [Issue("invalid_field", "", f"{_field(path)} has {len(value)} entries; the limit is "
                                           f"{params['max_items']}")]
    return NO_ISSUES


@kind("struct", lambda p: (tuple(p.get("required", ())), tuple(p.get("optional", ())),
                           p.get("code", "invalid_field")))
def struct(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """An identifier or code struct: an object whose listed members are strings; ``required`` members must
    be present."""
    if value is MISSING:
        return NO_ISSUES
    required_members, optional_members, code = params
    if type(value) is dict:  # the usual case, checked first: every member a string (optional ones may be absent)
        get = value.get
        for m in required_members:
            if type(get(m)) is not str:
                break
        else:
            for m in optional_members:
                v = get(m)
                if v is not None and type(v) is not str:
                    break
            else:
                return NO_ISSUES
    out: list[Issue] = []
    if not isinstance(value, dict):
        out.append(Issue(code, "", f"{_field(path)} must be a JSON object, not {_json_type(value)}"))
        return out
    for m in required_members:
        if m not in value or value[m] is None:
            out.append(Issue("missing_field", f".{m}", f"{_field(path)}.{m} is required"))
        elif not isinstance(value[m], str):
            out.append(Issue(code, f".{m}", f"{_field(path)}.{m} must be a string, not {_json_type(value[m])}"))
    for m in optional_members:
        if m in value and value[m] is not None and not isinstance(value[m], str):
            out.append(Issue(code, f".{m}", f"{_field(path)}.{m} must be a string, not {_json_type(value[m])}"))
    return out


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if v is None:
        return "null"
    return "an object"


# --- identifiers ---------------------------------------------------------------------------------------

@kind("identifier_system", lambda p: _systems(p["systems"]))
def identifier_system(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    if not isinstance(value, dict):
        return NO_ISSUES
    system = value.get("system")
    if isinstance(system, str) and system not in params:
        allowed = ", ".join(sorted(params))
        return [Issue("invalid_identifier_system", ".system",
                      f"system {_short(system)!r} is not allowed for {_field(path)} (allowed: {allowed})")]
    return NO_ISSUES


_PERSON_SYSTEMS = frozenset({OID_FNR, OID_DNR, OID_HNR})


@kind("identifier_value", lambda p: _systems(p["systems"]))
def identifier_value(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """Check ``id`` by the identifier's system (F/D/H-number, organisation number, HPR number, RESH id),
    for the systems in ``params`` only (a wrong system is ``identifier_system``'s finding). Messages never
    quote the value: a national identity number may stand in any field."""
    if not isinstance(value, dict):
        return NO_ISSUES
    system, ident = value.get("system"), value.get("id")
    if not isinstance(system, str) or not isinstance(ident, str) or system not in params:
        return NO_ISSUES
    if system in _PERSON_SYSTEMS:
        profile = ctx.profile
        if ident in profile.allow_list.person_identifiers:
            return NO_ISSUES
        result = check_person_number(ident, system, allow_synthetic=profile.allow_synthetic,
                                     allow_2032=profile.allow_2032_rule)
        if not result.ok:
            return [Issue("invalid_person_identifier", ".id", f"{_field(path)}.id: {result.reason}")]
    elif system == OID_ORGNR:
        reason = check_organization_number(ident)
        if reason is not None and ident not in ctx.profile.allow_list.organization_numbers:
            return [Issue("invalid_organization_number", ".id", f"{_field(path)}.id: {reason}")]
    elif system == OID_HPR:
        reason = check_hpr_number(ident)
        if reason is not None:
            return [Issue("invalid_hpr_number", ".id", f"{_field(path)}.id: {reason}")]
    elif system == OID_RESH:
        reason = check_resh_id(ident)
        if reason is not None:
            return [Issue("invalid_field", ".id", f"{_field(path)}.id: {reason}")]
    return NO_ISSUES


@kind("department", lambda p: frozenset(s for s in _systems(p.get("registry_systems", ["resh", "orgnr"]))
                                         if is_absolute_uri(s)))
def department(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-28: a department carries ``system`` and ``authority`` even for local ids; ``system`` is an
    absolute URI. (``params``: the registry systems that are absolute URIs, the usual case, let through
    without the URI check.)"""
    if not isinstance(value, dict):
        return NO_ISSUES
    system = value.get("system")
    if type(system) is str and system in params and value.get("authority") is not None:
        return NO_ISSUES
    out: list[Issue] = []
    for m in ("system", "authority"):
        if m not in value or value[m] is None:
            out.append(Issue("missing_field", f".{m}", f"{_field(path)}.{m} is required when a department is "
                                                  "given (ATT-28)"))
    system = value.get("system")
    if isinstance(system, str) and not is_absolute_uri(system):
        out.append(Issue("invalid_identifier_system", ".system",
                    f"{_field(path)}.system {_short(system)!r} is not a globally unique URI (urn:… or https://…)"))
    return out


@kind("department_authority", lambda p: _systems(p.get("registry_systems", ["resh", "orgnr"])))
def department_authority(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-28: for a local id space, ``authority`` names the legal entity's organisation number."""
    if not isinstance(value, dict):
        return NO_ISSUES
    system, authority = value.get("system"), value.get("authority")
    if not isinstance(system, str) or system in params or not isinstance(authority, str):
        return NO_ISSUES
    legal_entity = get(ctx.attestation, "practitioner", "legal_entity", "id")
    if isinstance(legal_entity, str) and legal_entity not in authority:
        return [Issue("invalid_field", ".authority",
                      f"{_field(path)} uses a local id space ({_short(system)}), so its authority should be the "
                      "legal entity's organisation number (ATT-28)")]
    return NO_ISSUES


# --- codes ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _CodeSystemParams:
    allowed: frozenset[str]
    deprecated: frozenset[str]
    other: str  # "reject" | "uri"
    names: str


def _prepare_code_system(p: dict[str, Any]) -> _CodeSystemParams:
    allowed: set[str] = set(_systems(p.get("systems", [])))
    deprecated: set[str] = set()
    names: list[str] = []
    for name in p.get("code_lists", []):
        cl = codes_mod.code_lists()[name]
        allowed |= cl.systems
        names.append(cl.system)
    for name in p.get("system_sets", []):
        for entry in codes_mod.system_sets()[name].values():
            allowed.add(entry.system)
            if entry.deprecated:
                deprecated.add(entry.system)
            names.append(entry.system)
    names.extend(sorted(_systems(p.get("systems", []))))
    other = p.get("other_systems", "reject")
    if other not in ("reject", "uri"):
        raise ValueError("other_systems must be 'reject' or 'uri'")
    return _CodeSystemParams(frozenset(allowed), frozenset(deprecated), other, ", ".join(names))


@kind("code_system", _prepare_code_system)
def code_system(value: Any, params: _CodeSystemParams, ctx: RuleContext, path: str) -> Sequence[Issue]:
    out: list[Issue] = []
    if not isinstance(value, dict):
        return out
    system = value.get("system")
    if not isinstance(system, str):
        return out
    if system in params.allowed:
        if system in params.deprecated:
            out.append(Issue("deprecated_code", ".system", f"{_field(path)}.system {system} is retired; accepted "
                                                      "on verify, never issued"))
        return out
    if system in ctx.profile.allow_list.systems:
        return out
    if params.other == "uri" and is_absolute_uri(system):
        return out
    expected = "a known code system or another absolute URI" if params.other == "uri" else params.names
    out.append(Issue("invalid_code_system", ".system",
                f"code system {_short(system)!r} is not allowed for {_field(path)} (expected {expected})"))
    return out


@kind("code_value", lambda p: tuple(codes_mod.code_lists()[n] for n in p.get("code_lists", [])))
def code_value(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """The code must be in the list of its system when we hold a complete list for that system; for
    systems without a list the code only has to be non-empty."""
    out: list[Issue] = []
    if not isinstance(value, dict):
        return out
    system, code = value.get("system"), value.get("code")
    if not isinstance(code, str) or not isinstance(system, str):
        return out
    for cl in params:
        if system in cl.systems:
            if cl.complete and code not in cl.displays:
                out.append(Issue("invalid_code", ".code", f"code {_short(code)!r} is not in {cl.name} "
                                                     f"({cl.system}) for {_field(path)}"))
            elif code in cl.deprecated:
                out.append(Issue("deprecated_code", ".code", f"code {code} of {cl.name} is retired; accepted on "
                                                        "verify, never issued"))
            return out
    if not code.strip():
        out.append(Issue("invalid_code", ".code", f"{_field(path)}.code must not be empty"))
    return out


@kind("one_of", lambda p: (tuple(p["members"]), p.get("code", "missing_care_relation_detail")))
def one_of(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    out: list[Issue] = []
    if not isinstance(value, dict):
        return out
    members, code = params
    if not any(value.get(m) is not None for m in members):
        out.append(Issue(code, "", f"{_field(path)} must contain {' or '.join(members)} (ATT-43a, ATT-36)"))
    return out


@kind("decision_ref", lambda p: int(p.get("max_id_length", 256)))
def decision_ref(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-46: a reference to the local access decision: an object with a non-empty string ``id``."""
    out: list[Issue] = []
    if value is MISSING or value is None:
        return out
    if not isinstance(value, dict):
        out.append(Issue("invalid_decision_ref", "", f"{_field(path)} must be a JSON object, not {_json_type(value)}"))
        return out
    ident = value.get("id")
    if not isinstance(ident, str) or not ident.strip():
        out.append(Issue("invalid_decision_ref", ".id", f"{_field(path)}.id must be a non-empty string"))
    elif len(ident) > params:
        out.append(Issue("invalid_decision_ref", ".id", f"{_field(path)}.id is longer than {params} characters"))
    desc = value.get("description")
    if desc is not None and not isinstance(desc, str):
        out.append(Issue("invalid_decision_ref", ".description", f"{_field(path)}.description must be a string"))
    return out


@kind("boolean", lambda p: (p.get("code", "invalid_field"), bool(p.get("required", False))))
def boolean(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    out: list[Issue] = []
    code, is_required = params
    if value is MISSING or value is None:
        if is_required:
            out.append(Issue(code, "", f"{_field(path)} is required: true or false"))
        return out
    if not isinstance(value, bool):
        out.append(Issue(code, "", f"{_field(path)} must be a JSON boolean (true or false), not {_json_type(value)}"))
    return out


# --- time ----------------------------------------------------------------------------------------------

MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z


@kind("unix_time", lambda p: int(p.get("min_value", 1_000_000_000)))
def unix_time(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-58a: an integer Unix time (booleans are not numbers here; an integral float was already made an
    integer by the model) within ``min_value``..9999-12-31."""
    out: list[Issue] = []
    if value is MISSING or value is None:
        return out
    if isinstance(value, bool) or not isinstance(value, int):
        out.append(Issue("invalid_field", "", f"{_field(path)} must be an integer (Unix seconds), not "
                                              f"{_json_type(value)}"))
    elif not params <= value <= MAX_NUMERIC_DATE:
        out.append(Issue("invalid_field", "", f"{_field(path)} {value} is outside the plausible range "
                                              f"{params}..{MAX_NUMERIC_DATE}"))
    return out


@kind("toa", lambda p: (int(p.get("max_age", 3600)), int(p.get("min_value", 1_000_000_000))))
def toa(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-58c: older than ``max_age`` seconds is ``attestation_has_expired`` (no leeway; exactly ``max_age``
    is still valid); later than now + leeway is ``toa_in_future``. A value that is not a plausible Unix time
    is ``unix_time``'s finding (ATT-58a), not this rule's."""
    out: list[Issue] = []
    max_age, min_value = params
    if isinstance(value, bool) or not isinstance(value, int) or not min_value <= value <= MAX_NUMERIC_DATE:
        return out
    age = ctx.now - value
    if age > max_age:
        out.append(Issue("attestation_has_expired", "", f"attestation_has_expired: the attestation was made "
                                                        f"{age} s ago; the limit is {max_age} s"))
    elif value > ctx.now + ctx.profile.leeway:
        out.append(Issue("toa_in_future", "", f"toa is {value - ctx.now} s in the future; the allowed clock skew "
                                              f"is {ctx.profile.leeway} s"))
    return out


# --- text ----------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@kind("free_text", lambda p: (tuple(p.get("members", ("name", "text", "description"))),
                              int(p.get("max_length", 256))))
def free_text(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """Free text (``name``, ``text``, ``description``): a string of at most ``max_length`` characters
    without control or bidi-override characters (RULES.md b.14, f.22)."""
    out: list[Issue] = []
    if not isinstance(value, dict):
        return out
    members, max_length = params
    for m in members:
        v = value.get(m)
        if v is None:
            continue
        if not isinstance(v, str):
            out.append(Issue("invalid_field", f".{m}", f"{_field(path)}.{m} must be a string"))
        elif len(v) > max_length:
            out.append(Issue("invalid_field", f".{m}", f"{_field(path)}.{m} is longer than {max_length} characters"))
        elif _CONTROL.search(v):
            out.append(Issue("invalid_field", f".{m}", f"{_field(path)}.{m} contains control or bidi characters"))
    return out


@kind("non_empty_text", lambda p: str(p.get("member", "text")))
def non_empty_text(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    out: list[Issue] = []
    if isinstance(value, dict) and not (isinstance(value.get(params), str) and value[params].strip()):
        out.append(Issue("invalid_field", f".{params}", f"{_field(path)}.{params} should be a non-empty text"))
    return out


@kind("absent", lambda p: str(p.get("reason", "")))
def absent(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    out: list[Issue] = []
    if value is not MISSING and value is not None:
        reason = f": {params}" if params else ""
        out.append(Issue("invalid_field", "", f"{_field(path)} must not be present{reason}"))
    return out


@kind("pattern", lambda p: (re.compile(p["regex"]), p.get("code", "invalid_field"), p.get("hint", "")))
def pattern(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    out: list[Issue] = []
    regex, code, hint = params
    if isinstance(value, str) and regex.fullmatch(value) is None:
        out.append(Issue(code, "", f"{_field(path)} does not match {hint or regex.pattern}"))
    return out


@kind("no_deprecated", lambda p: (tuple(codes_mod.code_lists()[n] for n in p.get("code_lists", [])),
                                  frozenset(e.system for name in p.get("system_sets", [])
                                            for e in codes_mod.system_sets()[name].values() if e.deprecated)))
def no_deprecated(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """Issuing: retired codes and code systems are accepted on verify but never issued."""
    out: list[Issue] = []
    if not isinstance(value, dict):
        return out
    lists, systems = params
    system, code = value.get("system"), value.get("code")
    if not isinstance(system, str):  # a non-string is reported by the struct rule; never hash it here
        return out
    if system in systems:
        out.append(Issue("invalid_code_system", ".system", f"code system {system} is retired; do not issue it"))
    for cl in lists:
        if system in cl.systems and isinstance(code, str) and code in cl.deprecated:
            out.append(Issue("invalid_code", ".code", f"code {code} of {cl.name} is retired; do not issue it"))
    return out


# --- advisories (warnings) -----------------------------------------------------------------------------

@kind("btg_user_selected")
def btg_user_selected(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-41: break-the-glass access bypasses the standard rules, so it is normally self-selected."""
    out: list[Issue] = []
    if not isinstance(value, dict):
        return out
    if get(value, "purpose_of_use", "code") == "BTG" and get(value, "decision_ref", "user_selected") is False:
        out.append(Issue("advisory", ".decision_ref.user_selected",
                    "purpose of use BTG (break the glass) with decision_ref.user_selected false: BTG access is "
                    "normally self-selected (ATT-41); flag it for follow-up control"))
    return out


@kind("authorization_without_hpr")
def authorization_without_hpr(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-32 (derived): an authorisation must exist in HPR, so one without an HPR number is suspicious."""
    out: list[Issue] = []
    if isinstance(value, dict) and value.get("authorization") is not None and value.get("hpr_nr") is None:
        out.append(Issue("advisory", ".authorization", "practitioner.authorization is given without hpr_nr; an "
                                                  "authorisation must exist in HPR (ATT-32)"))
    return out


@kind("care_relation_advisory", lambda p: frozenset(p.get("non_care_codes", ())))
def care_relation_advisory(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """RULES.md c.3: non-care decision templates, and explicit templates that were not self-selected."""
    out: list[Issue] = []
    if not isinstance(value, dict):
        return out
    details = value.get("purpose_of_use_details")
    if not isinstance(details, dict):
        return out
    cl = codes_mod.code_lists()["carerelation"]
    system, code = details.get("system"), details.get("code")
    if not isinstance(system, str) or system not in cl.systems or not isinstance(code, str):
        return out
    if code in params:
        out.append(Issue("advisory", ".purpose_of_use_details.code",
                    f"decision template {code} describes a non-care purpose; outside TREAT/ETREAT/COC/BTG care"))
    concept = cl.extra.get(code)
    if concept and concept.get("explicit_template") and get(value, "decision_ref", "user_selected") is False:
        out.append(Issue("advisory", ".decision_ref.user_selected",
                    f"decision template {code} is an explicit (manually chosen) template, yet user_selected is false"))
    return out


# --- context -------------------------------------------------------------------------------------------

def _no_context(what: str, rule_hint: str) -> Issue:
    return Issue("context_not_provided", "", f"{what} was not given, so {rule_hint} was not checked")


@kind("context_pid", lambda p: bool(p.get("warn_if_absent", True)))
def context_pid(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-11: the attested practitioner is the user authenticated for this request."""
    out: list[Issue] = []
    pid = ctx.context.authenticated_pid
    if pid is None:
        if params:
            out.append(_no_context("context.authenticated_pid", "the practitioner binding (ATT-11)"))
        return out
    if not isinstance(value, dict):
        return out
    if value.get("id") != pid:
        out.append(Issue("practitioner_mismatch", ".id",
                    "practitioner.identifier.id is not the identity of the authenticated user"))
    return out


@kind("context_hpr", lambda p: bool(p.get("warn_if_absent", False)))
def context_hpr(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-29b: when the login names an HPR number, the attestation carries the same one."""
    out: list[Issue] = []
    hpr = ctx.context.authenticated_hpr
    if hpr is None:
        if params:
            out.append(_no_context("context.authenticated_hpr", "the HPR binding (ATT-29b)"))
        return out
    attested = value.get("id") if isinstance(value, dict) else None
    if type(attested) is str and attested == hpr and is_ascii_digits(attested, 1, 9):  # the usual case
        return NO_ISSUES
    if not isinstance(attested, str):
        out.append(Issue("hpr_mismatch", "", "the authenticated user has an HPR number but the attestation has "
                                        "no practitioner.hpr_nr"))
    elif not same_hpr_number(attested, hpr):
        out.append(Issue("hpr_mismatch", ".id", "practitioner.hpr_nr.id is not the authenticated user's HPR number"))
    return out


@kind("context_patient", lambda p: (bool(p.get("warn_if_absent", False)), bool(p.get("only_if_identified", False))))
def context_patient(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-4: the patient the request asks for is one of the attested patients (ATT-6: an attestation
    without patients does not unlock one patient's data). With ``only_if_identified`` (the HelseID path,
    where the attestation carries no patient identifier and the patient comes from the request), the
    check applies only when the attestation does identify patients."""
    out: list[Issue] = []
    warn_if_absent, only_if_identified = params
    patient = ctx.context.patient_id
    if patient is None:
        if warn_if_absent:
            out.append(_no_context("context.patient_id", "the patient binding (ATT-4)"))
        return out
    if only_if_identified and not any(isinstance(get(p, "identifier", "id"), str)
                                      for _, p in iter_patients(ctx.attestation)):
        return NO_ISSUES
    ids: list[Any] = []
    patients = ctx.attestation.get("patients")
    if isinstance(patients, list):
        for p in patients:
            if isinstance(p, dict):
                identifier = p.get("identifier")
                ident = identifier.get("id") if isinstance(identifier, dict) else None
                if ident == patient:
                    return NO_ISSUES
                ids.append(ident)
    if patient not in ids:
        out.append(Issue("patient_not_in_attestation", "",
                    "the requested patient is not among patients[].identifier" if ids else
                    "the attestation names no patients, so it cannot unlock one patient's data (ATT-4, ATT-6)"))
    return out


def _claim(ctx: RuleContext, name: str) -> Any:
    return ctx.claims.get(name) if ctx.claims is not None else None


@kind("claim_person", lambda p: str(p.get("claim", "helseid://claims/identity/pid")))
def claim_person(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-11 on the HelseID path: the attested practitioner is the token's user (its pid claim)."""
    pid = _claim(ctx, params)
    attested = value.get("id") if isinstance(value, dict) else None
    if not isinstance(pid, str) or attested is None or attested == pid:
        return NO_ISSUES
    return [Issue("practitioner_mismatch", ".id",
                  "practitioner.identifier.id is not the access token's user (pid claim)")]


@kind("claim_hpr", lambda p: str(p.get("claim", "helseid://claims/hpr/hpr_number")))
def claim_hpr(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-29b on the HelseID path: the attested HPR number is the token's (hpr_number claim)."""
    hpr = _claim(ctx, params)
    attested = value.get("id") if isinstance(value, dict) else None
    if attested is None:
        return NO_ISSUES
    if hpr is None:  # a check that could not run is a finding, not silence
        return [_no_context(f"the access token's {params.rsplit('/', 1)[-1]} claim", "the HPR binding (ATT-29b)")]
    if isinstance(hpr, int) and not isinstance(hpr, bool):
        hpr = str(hpr)
    if isinstance(hpr, str) and isinstance(attested, str) and same_hpr_number(attested, hpr):
        return NO_ISSUES
    return [Issue("hpr_mismatch", ".id", "practitioner.hpr_nr.id is not the access token's HPR number")]


@kind("claim_organization", lambda p: (str(p["claim"]), str(p.get("code", "legal_entity_mismatch"))))
def claim_organization(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-13 / ATT-18a on the HelseID path: an attested organisation number equals the one HelseID puts in
    the token for the client (``orgnr_parent`` for the legal entity, ``orgnr_child`` for the point of care),
    when both sides are present."""
    claim, code = params
    org = _claim(ctx, claim)
    attested = value.get("id") if isinstance(value, dict) else None
    if not isinstance(attested, str) or attested == org:
        return NO_ISSUES
    if org is None:  # HelseID named no organisation: the binding could not be checked (a finding, not silence)
        return [_no_context(f"the access token's {claim.rsplit('/', 1)[-1]} claim",
                            f"the binding of {_field(path)} to the client")]
    return [Issue(code, ".id", f"{_field(path)}.id is not the organisation HelseID names for the client "
                               f"({claim.rsplit('/', 1)[-1]})")]


@kind("issuer_legal_entity")
def issuer_legal_entity(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-13/ATT-2: the signer may attest for this legal entity (trust store ``legal_entities``)."""
    out: list[Issue] = []
    if ctx.issuer is None or ctx.issuer.legal_entities is None or not isinstance(value, dict):
        return out  # an authorization server without 'legal_entities' lets any organisation call
    le = value.get("id")
    if isinstance(le, str) and le not in ctx.issuer.legal_entities:
        out.append(Issue("legal_entity_mismatch", ".id",
                    f"issuer {_short(ctx.issuer.iss)} may not attest for legal entity {_short(le)} "
                    f"(trust store lists {len(ctx.issuer.legal_entities)} organisation(s) for it)"))
    return out


@kind("issuer_member")
def issuer_member(value: Any, params: Any, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-12: the organisation has Helsenett membership (trust store ``member``)."""
    out: list[Issue] = []
    if ctx.issuer is None:
        return out
    if ctx.issuer.member is False:
        out.append(Issue("legal_entity_not_member", "", f"issuer {_short(ctx.issuer.iss)} is not a Helsenett member "
                                                   "(ATT-12)"))
    elif ctx.issuer.member is None:
        out.append(_no_context("the trust store's 'member' flag for this issuer", "Helsenett membership (ATT-12)"))
    return out


# --- guards: the usual case decided inline (see GUARDS; tests/test_rules.py holds each to its kind) ------

def _guard(name: str) -> Callable[[Guard], Guard]:
    def register(fn: Guard) -> Guard:
        GUARDS[name] = fn
        return fn
    return register


def _absent_or(v: str, condition: str) -> str:
    return f"({v} is MISSING or ({condition}))"


def _system_in(v: str, allowed: frozenset[str], bind: Callable[[Any, str], str]) -> str:
    """An object whose ``system`` is a string in ``allowed`` (``_g`` is the guards' scratch local)."""
    return (f"type({v}) is dict and type(_g := {v}.get({bind('system', 'k')})) is str "
            f"and _g in {bind(allowed, 'systems')}")


@_guard("required")
def _required_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return f"({v} is not MISSING and {v} is not None)"


@_guard("object")
def _object_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return _absent_or(v, f"type({v}) is dict")


@_guard("struct")
def _struct_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    """Absent, or an object whose required members are strings and whose optional members are strings or
    absent (an explicit null, which the kind also lets through, takes the call)."""
    required_members, optional_members, _ = params
    parts = [f"type({v}) is dict"]
    parts += [f"type({v}.get({bind(m, 'k')})) is str" for m in required_members]
    parts += [f"type({v}.get({bind(m, 'k')}, '')) is str" for m in optional_members]
    return _absent_or(v, " and ".join(parts))


@_guard("identifier_system")
def _identifier_system_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return _absent_or(v, _system_in(v, params, bind))


@_guard("code_system")
def _code_system_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return _absent_or(v, _system_in(v, params.allowed - params.deprecated, bind))


@_guard("array")
def _array_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return _absent_or(v, f"type({v}) is list and len({v}) <= {bind(params['max_items'], 'c')}")


@_guard("department")
def _department_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return _absent_or(v, f"{_system_in(v, params, bind)} and {v}.get({bind('authority', 'k')}) is not None")


@_guard("department_authority")
def _department_authority_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return _absent_or(v, _system_in(v, params, bind))


@_guard("code_value")
def _code_value_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    """The list that decides the code's system (the first naming it, as the kind looks them up): a complete
    list holds the code and does not retire it; an incomplete one does not retire it; a system no list
    names needs a non-blank code."""
    complete: dict[str, frozenset[str]] = {}
    incomplete: dict[str, frozenset[str]] = {}
    for cl in params:
        for system in cl.systems:
            if system not in complete and system not in incomplete:
                if cl.complete:
                    complete[system] = frozenset(cl.displays) - cl.deprecated
                else:
                    incomplete[system] = cl.deprecated
    named = frozenset(complete) | frozenset(incomplete)
    return _absent_or(v, f"type({v}) is dict and type(_g := {v}.get({bind('system', 'k')})) is str and "
                         f"type(_h := {v}.get({bind('code', 'k')})) is str and "
                         f"(_h in {bind(complete, 'codes')}.get(_g, ()) or "
                         f"(_g in {bind(incomplete, 'codes')} and _h not in {bind(incomplete, 'codes')}[_g]) or "
                         f"(_g not in {bind(named, 'systems')} and _h != '' and not _h.isspace()))")


@_guard("one_of")
def _one_of_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    members, _ = params
    present = " or ".join(f"{v}.get({bind(m, 'k')}) is not None" for m in members)
    return _absent_or(v, f"type({v}) is dict and ({present or 'False'})")


@_guard("decision_ref")
def _decision_ref_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return _absent_or(v, f"{v} is None or (type({v}) is dict and type(_g := {v}.get({bind('id', 'k')})) is str"
                         f" and 0 < len(_g) <= {bind(params, 'c')} and not _g.isspace()"
                         f" and type({v}.get({bind('description', 'k')}, '')) is str)")


@_guard("boolean")
def _boolean_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return f"type({v}) is bool"


@_guard("unix_time")
def _unix_time_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return _absent_or(v, f"{v} is None or (type({v}) is int and "
                         f"{bind(params, 'c')} <= {v} <= {bind(MAX_NUMERIC_DATE, 'c')})")


@_guard("toa")
def _toa_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    max_age, min_value = params
    return (f"(type({v}) is int and {bind(min_value, 'c')} <= {v} <= {bind(MAX_NUMERIC_DATE, 'c')} and "
            f"ctx.now - {v} <= {bind(max_age, 'c')} and {v} <= ctx.now + ctx.profile.leeway)")


@_guard("free_text")
def _free_text_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    """Every member absent, or a string within the length limit that ``str.isprintable`` accepts (it
    refuses every character _CONTROL matches: Cc, Zl, Zp and the Cf bidi controls)."""
    members, max_length = params
    n = bind(max_length, "c")
    clauses = [f"((_g := {v}.get({bind(m, 'k')})) is None or (type(_g) is str and len(_g) <= {n} and "
               f"_g.isprintable()))" for m in members]
    return _absent_or(v, " and ".join([f"type({v}) is dict", *clauses]))


@_guard("btg_user_selected")
def _btg_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return _absent_or(v, f"type({v}) is dict and type(_g := {v}.get({bind('purpose_of_use', 'k')})) is dict and "
                         f"_g.get({bind('code', 'k')}) != {bind('BTG', 'k')}")


@_guard("authorization_without_hpr")
def _authorization_without_hpr_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return _absent_or(v, f"type({v}) is dict and ({v}.get({bind('hpr_nr', 'k')}) is not None or "
                         f"{v}.get({bind('authorization', 'k')}) is None)")


@_guard("context_pid")
def _context_pid_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return (f"(ctx.context.authenticated_pid is not None and type({v}) is dict and "
            f"{v}.get({bind('id', 'k')}) == ctx.context.authenticated_pid)")


@_guard("context_hpr")
def _context_hpr_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return (f"(type({v}) is dict and type(_g := {v}.get({bind('id', 'k')})) is str and "
            f"_g == ctx.context.authenticated_hpr and {bind(is_ascii_digits, 'fn')}(_g, 1, 9))")


@_guard("issuer_legal_entity")
def _issuer_legal_entity_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return (f"(ctx.issuer is None or ctx.issuer.legal_entities is None or type({v}) is not dict or "
            f"(type(_g := {v}.get({bind('id', 'k')})) is str and _g in ctx.issuer.legal_entities))")


@_guard("issuer_member")
def _issuer_member_guard(v: str, params: Any, bind: Callable[[Any, str], str]) -> str:
    return "(ctx.issuer is None or ctx.issuer.member is True)"


# --- evaluator -----------------------------------------------------------------------------------------

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


def _resolve_static(root: Any, steps: tuple[str, ...]) -> Any:
    """The value at a path without wildcards: MISSING when only the last step is absent, ``_UNREACHABLE``
    when a container on the way is absent or not an object."""
    node = root
    for step in steps:
        if type(node) is not dict:
            return _UNREACHABLE
        node = node.get(step, MISSING)
    return node


class _Unreachable:
    __slots__ = ()


_UNREACHABLE: Any = _Unreachable()


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


#: runs a profile's grouped rules: ``(ctx, errors, warnings)``; findings are appended
Evaluator = Callable[["RuleContext", list[Finding], list[Finding]], None]


class RuleGroups(tuple[RuleGroup, ...]):
    """The groups of a rule set, in order, with the evaluator compiled for them (see :func:`_compile`)."""

    evaluator: Evaluator
    #: the evaluator's generated source (for reading and debugging; no profile text is pasted into it)
    source: str


def group_rules(rules: tuple[CompiledRule, ...]) -> RuleGroups:
    """Group ``rules`` by path, groups in order of first appearance, rules in profile order, and compile
    the evaluator for them once."""
    by_steps: dict[tuple[str, ...], list[CompiledRule]] = {}
    for rule in rules:
        by_steps.setdefault(rule.steps, []).append(rule)
    groups = RuleGroups(
        RuleGroup(steps, None if "*" in steps else ".".join(("attestation", *steps)), tuple(group))
        for steps, group in by_steps.items())
    groups.evaluator, groups.source = _compile(groups)
    return groups


def _record(rule: CompiledRule, issues: Sequence[Issue], path: str,
            errors: list[Finding], warnings: list[Finding]) -> None:
    for issue in issues:
        # the message is redacted here as well, for kinds that format a value without _short
        finding = Finding(issue.code, rule.id, path + issue.suffix, redact_identity_numbers(issue.message))
        if rule.severity == "warning" or ERROR_CODES[issue.code].stage == "warning":
            warnings.append(finding)
        else:
            errors.append(finding)


def _extend_paths(paths: list[str], head: str, tail: str, n: int) -> None:
    while len(paths) < n:
        paths.append(f"{head}[{len(paths)}]{tail}")


def _compile(groups: tuple[RuleGroup, ...]) -> tuple[Evaluator, str]:
    """Generate one function that evaluates every group in order, as straight-line code: each path
    resolved once (objects on the way kept in locals and shared between groups), each rule one direct call
    of its kind with its prepared params (skipped when the kind's guard, see :data:`GUARDS`, shows inline
    that it would report nothing), findings recorded only when a kind reports some. For a
    ``prefix[*].suffix`` path the concrete paths (``attestation.patients[3].identifier``) are built once per
    index and kept. The source refers to kinds, params, rules, member names and paths through generated
    names only (no profile text is pasted into code). It resolves exactly like :func:`_resolve_static`
    (static paths) and :func:`resolve` (wildcards), so it reports what :func:`_evaluate_reference` reports,
    in the same order (tests/test_rules.py compares them on generated attestations); an attestation that
    is not a plain object, and paths with several wildcards, are left to the reference code."""
    ns: dict[str, Any] = {"MISSING": MISSING, "UNREACHABLE": _UNREACHABLE, "record": _record,
                          "extend_paths": _extend_paths, "reference": _evaluate_reference,
                          "group_reference": _evaluate_group_reference, "groups": groups}
    names: dict[Any, str] = {}

    def name(obj: Any, prefix: str) -> str:
        """A generated name bound to ``obj`` in the namespace (one per distinct object)."""
        key = (prefix, id(obj))
        if key not in names:
            names[key] = f"{prefix}{len(names)}"
            ns[names[key]] = obj
        return names[key]

    lines = ["def evaluate(ctx, errors, warnings):",
             "    root = ctx.attestation",
             "    if type(root) is not dict:",
             "        reference(groups, ctx, errors, warnings)",
             "        return"]
    # static resolution: a local per path prefix, computed once (kinds never change the attestation)
    nodes: dict[tuple[str, ...], str] = {(): "root"}

    def static_node(steps: tuple[str, ...]) -> str:
        if steps not in nodes:
            parent = static_node(steps[:-1])
            local = f"n{len(nodes)}"
            step = name(steps[-1], "k")
            if parent == "root":  # known to be a plain object here
                lines.append(f"    {local} = root.get({step}, MISSING)")
            else:
                lines.append(f"    {local} = {parent}.get({step}, MISSING) if type({parent}) is dict else UNREACHABLE")
            nodes[steps] = local
        return nodes[steps]

    def calls(indent: str, value: str, path: str, rules: tuple[CompiledRule, ...]) -> None:
        for rule in rules:
            fn, params, r = name(rule.fn, "fn"), name(rule.params, "params"), name(rule, "rule")
            guard = GUARDS.get(rule.kind)
            condition = guard(value, rule.params, name) if guard is not None else None
            inner = indent
            if condition is not None:  # the usual case is decided inline, without calling the kind
                lines.append(f"{indent}if not ({condition}):")
                inner = indent + "    "
            lines.append(f"{inner}issues = {fn}({value}, {params}, ctx, {path})")
            lines.append(f"{inner}if issues:")
            lines.append(f"{inner}    record({r}, issues, {path}, errors, warnings)")

    for g, group in enumerate(groups):
        lines.append(f"    # group {g}")
        if group.static_path is not None:
            local = static_node(group.steps)
            path = name(group.static_path, "path")
            if local == "root":
                calls("    ", "root", path, group.rules)
            else:
                lines.append(f"    if {local} is not UNREACHABLE:")
                calls("        ", local, path, group.rules)
            continue
        star = group.steps.index("*")
        if "*" in group.steps[star + 1:]:
            lines.append(f"    group_reference(groups[{g}], ctx, errors, warnings)")
            continue
        prefix, suffix = group.steps[:star], group.steps[star + 1:]
        # resolve(): every prefix step needs an object (isinstance), the wildcard a list, every suffix step
        # an object before it; an absent last step is MISSING
        lines.append("    node = root")
        indent = "    "
        for step in prefix:
            lines.append(f"{indent}if isinstance(node, dict):")
            indent += "    "
            lines.append(f"{indent}node = node.get({name(step, 'k')}, MISSING)")
        paths = name([], "paths")
        head = name(".".join(("attestation", *prefix)), "head")
        tail = name("".join(f".{s}" for s in suffix), "tail")
        lines.append(f"{indent}if isinstance(node, list):")
        indent += "    "
        lines.append(f"{indent}if len({paths}) < len(node):")
        lines.append(f"{indent}    extend_paths({paths}, {head}, {tail}, len(node))")
        lines.append(f"{indent}for i, value in enumerate(node):")
        indent += "    "
        for step in suffix:
            lines.append(f"{indent}if isinstance(value, dict):")
            indent += "    "
            lines.append(f"{indent}value = value.get({name(step, 'k')}, MISSING)")
        lines.append(f"{indent}path = {paths}[i]")
        calls(indent, "value", "path", group.rules)
    if len(lines) == 5:
        lines.append("    pass")
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<attest rules>", "exec"), ns)  # noqa: S102 - source generated above, from names only
    evaluator: Evaluator = ns["evaluate"]
    return evaluator, source


def evaluate_groups(groups: tuple[RuleGroup, ...], ctx: RuleContext,
                    errors: list[Finding], warnings: list[Finding]) -> None:
    """Run grouped rules over ``ctx.attestation``; append findings (see :func:`evaluate`)."""
    if isinstance(groups, RuleGroups):
        groups.evaluator(ctx, errors, warnings)
    else:
        _evaluate_reference(groups, ctx, errors, warnings)


def _evaluate_group_reference(group: RuleGroup, ctx: RuleContext,
                              errors: list[Finding], warnings: list[Finding]) -> None:
    """The evaluator spelled out plainly: the reference the compiled groups are tested against."""
    root = ctx.attestation
    if group.static_path is not None:
        value = _resolve_static(root, group.steps)
        if value is _UNREACHABLE:
            return
        for rule in group.rules:
            issues = rule.fn(value, rule.params, ctx, group.static_path)
            if issues:
                _record(rule, issues, group.static_path, errors, warnings)
    else:
        for path, value in resolve(root, group.steps):
            for rule in group.rules:
                issues = rule.fn(value, rule.params, ctx, path)
                if issues:
                    _record(rule, issues, path, errors, warnings)


def _evaluate_reference(groups: tuple[RuleGroup, ...], ctx: RuleContext,
                        errors: list[Finding], warnings: list[Finding]) -> None:
    for group in groups:
        _evaluate_group_reference(group, ctx, errors, warnings)


def evaluate(rules: tuple[CompiledRule, ...], ctx: RuleContext,
             errors: list[Finding], warnings: list[Finding]) -> None:
    """Run ``rules`` over ``ctx.attestation``; append findings. Warning-only codes (``context_not_provided``,
    ``deprecated_code``, ``advisory``) and rules of severity ``warning`` go to ``warnings``."""
    evaluate_groups(group_rules(rules), ctx, errors, warnings)
