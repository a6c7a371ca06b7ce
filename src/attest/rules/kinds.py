"""Rule kinds: one small function per kind of check.

A profile file lists rule entries (``id: ATT-10``, ``kind: identifier_system``, ``path:
practitioner.identifier``, ``params: {...}``, ``severity``). Each ``kind`` is a function
``(value, params, ctx, path) -> Sequence[Issue]`` registered in :data:`KINDS` with a preparer that turns
the entry's ``params`` into what the function reads (sets, compiled patterns) once, when the profile loads.
:mod:`attest.rules.evaluator` resolves the path and stamps the rule id and full JSON path onto each issue.
A new rule that fits an existing kind is a profile edit, not code. Each kind tests its usual case (the
value passes) first and returns the shared :data:`NO_ISSUES`, so a passing rule allocates nothing.

Kinds see only the normalised attestation (spec v1.1 spelling) of a token whose signature verified, plus
the verify context and the issuer's trust-store entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from .. import codes as codes_mod
from ..context import VerifyContext
from ..identifiers import (
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
from ..model import get, iter_patients
from ..trust import AuthorizationServer, Issuer, SamlIssuer

if TYPE_CHECKING:
    from ..profiles import Profile


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()


class Issue(NamedTuple):
    """What a kind reports: a contract error code, a path suffix (``.system``) and a message."""

    code: str
    suffix: str
    message: str


class RuleContext:
    """What kinds see besides the value: the evaluation time, the profile, the issuer whose key verified the
    token (a JWT issuer, an authorization server or a SAML issuer), the verify context, the whole
    (normalised) attestation and the verified token's payload (HelseID claims for the cross-checks of
    HELSEID.md section 10). Built once per verification; kinds only read it. (A plain class: compiled, its
    attributes are read directly.)"""

    def __init__(self, now: int, profile: Profile, issuer: Issuer | AuthorizationServer | SamlIssuer | None,
                 context: VerifyContext, attestation: dict[str, Any], claims: dict[str, Any] | None = None) -> None:
        self.now: Final = now
        self.profile: Final = profile
        self.issuer: Final = issuer
        self.context: Final = context
        self.attestation: Final = attestation
        self.claims: Final = claims


KindFn = Callable[[Any, Any, RuleContext, str], Sequence[Issue]]

#: what a kind returns when it finds nothing (shared: no list is built on the success path)
NO_ISSUES: Final[tuple[Issue, ...]] = ()

#: kind name -> (check function, params preparer)
KINDS: Final[dict[str, tuple[KindFn, Callable[[dict[str, Any]], Any]]]] = {}

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


@kind("struct", lambda p: (tuple(str(m) for m in p.get("required", ())), tuple(str(m) for m in p.get("optional", ())),
                           str(p.get("code", "invalid_field"))))
def struct(value: Any, params: tuple[tuple[str, ...], tuple[str, ...], str], ctx: RuleContext,
           path: str) -> Sequence[Issue]:
    """An identifier or code struct: an object whose listed members are strings; ``required`` members must
    be present."""
    if value is MISSING:
        return NO_ISSUES
    required_members, optional_members, code = params
    if isinstance(value, dict):  # the usual case, checked first: every member a string (optional ones may be absent)
        for m in required_members:
            if not isinstance(value.get(m), str):
                break
        else:
            for m in optional_members:
                v = value.get(m)
                if v is not None and not isinstance(v, str):
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
def identifier_system(value: Any, params: frozenset[str], ctx: RuleContext, path: str) -> Sequence[Issue]:
    if not isinstance(value, dict):
        return NO_ISSUES
    system = value.get("system")
    if isinstance(system, str) and system not in params:
        allowed = ", ".join(sorted(params))
        return [Issue("invalid_identifier_system", ".system",
                      f"system {_short(system)!r} is not allowed for {_field(path)} (allowed: {allowed})")]
    return NO_ISSUES


_PERSON_SYSTEMS: Final = frozenset({OID_FNR, OID_DNR, OID_HNR})


@kind("identifier_value", lambda p: _systems(p["systems"]))
def identifier_value(value: Any, params: frozenset[str], ctx: RuleContext, path: str) -> Sequence[Issue]:
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
def department(value: Any, params: frozenset[str], ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-28: a department carries ``system`` and ``authority`` even for local ids; ``system`` is an
    absolute URI. (``params``: the registry systems that are absolute URIs, the usual case, let through
    without the URI check.)"""
    if not isinstance(value, dict):
        return NO_ISSUES
    system = value.get("system")
    if isinstance(system, str) and system in params and value.get("authority") is not None:
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
def department_authority(value: Any, params: frozenset[str], ctx: RuleContext, path: str) -> Sequence[Issue]:
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
    if not isinstance(value, dict):
        return NO_ISSUES
    system = value.get("system")
    if not isinstance(system, str):
        return NO_ISSUES
    if system in params.allowed:
        if system in params.deprecated:
            return [Issue("deprecated_code", ".system", f"{_field(path)}.system {system} is retired; accepted on "
                                                        "verify, never issued")]
        return NO_ISSUES
    if system in ctx.profile.allow_list.systems:
        return NO_ISSUES
    if params.other == "uri" and is_absolute_uri(system):
        return NO_ISSUES
    expected = "a known code system or another absolute URI" if params.other == "uri" else params.names
    return [Issue("invalid_code_system", ".system",
                  f"code system {_short(system)!r} is not allowed for {_field(path)} (expected {expected})")]


@dataclass(frozen=True)
class _Codes:
    """What the code checks read of a :class:`attest.codes.CodeList`, copied once when a profile is built: a
    class of this compiled module, whose attributes compiled code reads directly (a CodeList's are looked up
    by name on every read)."""

    name: str
    system: str
    systems: frozenset[str]
    complete: bool
    displays: dict[str, str]
    deprecated: frozenset[str]
    extra: dict[str, dict[str, Any]]


def _codes(name: str) -> _Codes:
    cl = codes_mod.code_lists()[name]
    return _Codes(cl.name, cl.system, cl.systems, cl.complete, cl.displays, cl.deprecated, cl.extra)


@kind("code_value", lambda p: tuple(_codes(n) for n in p.get("code_lists", [])))
def code_value(value: Any, params: tuple[_Codes, ...], ctx: RuleContext, path: str) -> Sequence[Issue]:
    """The code must be in the list of its system when we hold a complete list for that system; for
    systems without a list the code only has to be non-empty."""
    if not isinstance(value, dict):
        return NO_ISSUES
    system, code = value.get("system"), value.get("code")
    if not isinstance(code, str) or not isinstance(system, str):
        return NO_ISSUES
    for cl in params:
        if system in cl.systems:
            if cl.complete and code not in cl.displays:
                return [Issue("invalid_code", ".code", f"code {_short(code)!r} is not in {cl.name} "
                                                       f"({cl.system}) for {_field(path)}")]
            if code in cl.deprecated:
                return [Issue("deprecated_code", ".code", f"code {code} of {cl.name} is retired; accepted on "
                                                          "verify, never issued")]
            return NO_ISSUES
    if not code.strip():
        return [Issue("invalid_code", ".code", f"{_field(path)}.code must not be empty")]
    return NO_ISSUES


@kind("one_of", lambda p: (tuple(str(m) for m in p["members"]), str(p.get("code", "missing_care_relation_detail"))))
def one_of(value: Any, params: tuple[tuple[str, ...], str], ctx: RuleContext, path: str) -> Sequence[Issue]:
    if not isinstance(value, dict):
        return NO_ISSUES
    members, code = params
    for m in members:
        if value.get(m) is not None:
            return NO_ISSUES
    return [Issue(code, "", f"{_field(path)} must contain {' or '.join(members)} (ATT-43a, ATT-36)")]


@kind("decision_ref", lambda p: int(p.get("max_id_length", 256)))
def decision_ref(value: Any, params: int, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-46: a reference to the local access decision: an object with a non-empty string ``id``."""
    if value is MISSING or value is None:
        return NO_ISSUES
    out: list[Issue] = []
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


@kind("boolean", lambda p: (str(p.get("code", "invalid_field")), bool(p.get("required", False))))
def boolean(value: Any, params: tuple[str, bool], ctx: RuleContext, path: str) -> Sequence[Issue]:
    if isinstance(value, bool):
        return NO_ISSUES
    code, is_required = params
    if value is MISSING or value is None:
        return [Issue(code, "", f"{_field(path)} is required: true or false")] if is_required else NO_ISSUES
    return [Issue(code, "", f"{_field(path)} must be a JSON boolean (true or false), not {_json_type(value)}")]


# --- time ----------------------------------------------------------------------------------------------

MAX_NUMERIC_DATE: Final = 253402300799  # 9999-12-31T23:59:59Z


@kind("unix_time", lambda p: int(p.get("min_value", 1_000_000_000)))
def unix_time(value: Any, params: int, ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-58a: an integer Unix time (booleans are not numbers here; an integral float was already made an
    integer by the model) within ``min_value``..9999-12-31."""
    if value is MISSING or value is None:
        return NO_ISSUES
    out: list[Issue] = []
    if isinstance(value, bool) or not isinstance(value, int):
        out.append(Issue("invalid_field", "", f"{_field(path)} must be an integer (Unix seconds), not "
                                              f"{_json_type(value)}"))
    elif not params <= value <= MAX_NUMERIC_DATE:
        out.append(Issue("invalid_field", "", f"{_field(path)} {value} is outside the plausible range "
                                              f"{params}..{MAX_NUMERIC_DATE}"))
    return out


@kind("toa", lambda p: (int(p.get("max_age", 3600)), int(p.get("min_value", 1_000_000_000))))
def toa(value: Any, params: tuple[int, int], ctx: RuleContext, path: str) -> Sequence[Issue]:
    """ATT-58c: older than ``max_age`` seconds is ``attestation_has_expired`` (no leeway; exactly ``max_age``
    is still valid); later than now + leeway is ``toa_in_future``. A value that is not a plausible Unix time
    is ``unix_time``'s finding (ATT-58a), not this rule's."""
    max_age, min_value = params
    if isinstance(value, bool) or not isinstance(value, int) or not min_value <= value <= MAX_NUMERIC_DATE:
        return NO_ISSUES
    out: list[Issue] = []
    age = ctx.now - value
    if age > max_age:
        out.append(Issue("attestation_has_expired", "", f"attestation_has_expired: the attestation was made "
                                                        f"{age} s ago; the limit is {max_age} s"))
    elif value > ctx.now + ctx.profile.leeway:
        out.append(Issue("toa_in_future", "", f"toa is {value - ctx.now} s in the future; the allowed clock skew "
                                              f"is {ctx.profile.leeway} s"))
    return out


# --- text ----------------------------------------------------------------------------------------------

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@kind("free_text", lambda p: (tuple(str(m) for m in p.get("members", ("name", "text", "description"))),
                              int(p.get("max_length", 256))))
def free_text(value: Any, params: tuple[tuple[str, ...], int], ctx: RuleContext, path: str) -> Sequence[Issue]:
    """Free text (``name``, ``text``, ``description``): a string of at most ``max_length`` characters
    without control or bidi-override characters (RULES.md b.14, f.22). (``str.isprintable`` is false for
    every character ``_CONTROL`` matches, so a printable text needs no search.)"""
    if not isinstance(value, dict):
        return NO_ISSUES
    members, max_length = params
    out: list[Issue] = []
    for m in members:
        v = value.get(m)
        if v is None or (isinstance(v, str) and len(v) <= max_length and v.isprintable()):
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


@kind("no_deprecated", lambda p: (tuple(_codes(n) for n in p.get("code_lists", [])),
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


@kind("care_relation_advisory", lambda p: (frozenset(str(c) for c in p.get("non_care_codes", ())),
                                           _codes("carerelation")))
def care_relation_advisory(value: Any, params: tuple[frozenset[str], _Codes], ctx: RuleContext,
                           path: str) -> Sequence[Issue]:
    """RULES.md c.3: non-care decision templates, and explicit templates that were not self-selected."""
    if not isinstance(value, dict):
        return NO_ISSUES
    details = value.get("purpose_of_use_details")
    if not isinstance(details, dict):
        return NO_ISSUES
    non_care, cl = params
    system, code = details.get("system"), details.get("code")
    if not isinstance(system, str) or system not in cl.systems or not isinstance(code, str):
        return NO_ISSUES
    out: list[Issue] = []
    if code in non_care:
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
def context_patient(value: Any, params: tuple[bool, bool], ctx: RuleContext, path: str) -> Sequence[Issue]:
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
