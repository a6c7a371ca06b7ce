"""The attestation: 13 fields plus ``toa``. Find it in a token's payload, normalise its spelling, emit it.

Three shapes are read (RULES.md a.1, f.19): the spec v1.1 claim ``attestation``; the HelseID RAR element
of ``authorization_details`` whose ``type`` is ``nhn:tillitsrammeverk:parameters`` (array or single
object); and the categories flat at the payload's top level. Known spelling variants are mapped to the
spec v1.1 spelling (RULES.md a.2, f.1-f.3): ``-`` becomes ``_`` in keys, ``care_relationship`` becomes
``care_relation``, a ``patient`` object becomes a one-element ``patients`` array, ``ref_id`` becomes ``id``;
OID systems written bare or as ``oid:...`` become ``urn:oid:...``.

Normalising never mutates its input and never raises: values of the wrong type are carried over as they
are, for the rules to report. Keys this model does not know are dropped (never emitted).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import Finding
from .identifiers import normalize_system

RAR_TYPE: Final = "nhn:tillitsrammeverk:parameters"
RAR_TYPES: Final = (RAR_TYPE, "nhn:trust_framework:parameters")

IDENTIFIER_MEMBERS: Final = ("id", "name", "system", "authority")
CODE_MEMBERS: Final = ("code", "text", "system", "assigner")
DECISION_REF_MEMBERS: Final = ("id", "description", "user_selected")

#: field -> the struct its value has
PRACTITIONER_FIELDS: Final = {
    "identifier": IDENTIFIER_MEMBERS,
    "hpr_nr": ("id", "system", "authority"),
    "authorization": CODE_MEMBERS,
    "legal_entity": IDENTIFIER_MEMBERS,
    "point_of_care": IDENTIFIER_MEMBERS,
    "department": IDENTIFIER_MEMBERS,
}
CARE_RELATION_FIELDS: Final = {
    "healthcare_service": CODE_MEMBERS,
    "purpose_of_use": CODE_MEMBERS,
    "purpose_of_use_details": CODE_MEMBERS,
    "decision_ref": DECISION_REF_MEMBERS,
}
PATIENT_FIELDS: Final = {
    "identifier": IDENTIFIER_MEMBERS,
    "point_of_care": IDENTIFIER_MEMBERS,
    "department": IDENTIFIER_MEMBERS,
}

# input spelling (after '-' -> '_') -> spec v1.1 spelling, per level
_TOP_ALIASES: Final = {"care_relationship": "care_relation", "patient": "patients"}
_PRACTITIONER_ALIASES: Final = {"pid": "identifier"}
_PATIENT_ALIASES: Final = {"patient_id": "identifier", "point_of_care_patient": "point_of_care"}
_DECISION_REF_ALIASES: Final = {"ref_id": "id"}

SHAPES: Final = ("attestation", "access_token", "authorization_details", "flat")
#: the claim of a HelseID access token that carries the attestation (HELSEID.md section 9)
AT_CLAIM: Final = "nhn:tillitsrammeverk:parameters"
#: containers of RAR elements: authorization_details (RFC 9396), assertion_details (a client assertion)
RAR_CONTAINERS: Final = ("authorization_details", "assertion_details")
#: members of an attestation object (any spelling) that tell it from the older {"value": ...} envelope
_CATEGORY_KEYS: Final = frozenset({"practitioner", "care_relation", "care_relationship", "care-relation",
                            "care-relationship", "patients", "patient"})


class Located:
    """Where the attestation was found: ``shape`` is one of :data:`SHAPES`; ``source`` the JSON path; ``raw``
    the attestation as found. A plain class with ``Final`` attributes for the reason
    :class:`attest.jose.CompactJWS` gives."""

    __slots__ = ("raw", "shape", "source")

    def __init__(self, shape: str, source: str, raw: Any) -> None:
        self.shape: Final = shape
        self.source: Final = source
        self.raw: Final = raw


@dataclass(frozen=True, slots=True)
class NotLocated:
    """Why no attestation was taken from an access token: ``code`` is ``missing_attestation`` (none there)
    or ``invalid_field`` (there, but not in a form of HELSEID.md section 9); ``path`` where."""

    code: str
    path: str
    message: str


def _parse_json_object(text: str) -> dict[str, Any] | None:
    """A string holding one JSON object, parsed as strictly as a token segment (no duplicate members,
    no NaN, bounded depth); None for anything else."""
    from .jose import JoseError, JoseLimits, strict_json_object  # local: jose imports identifiers, not model

    try:
        return strict_json_object(text.encode("utf-8", "surrogatepass"), "attestation",
                                  JoseLimits(max_token_bytes=65536, max_json_depth=10))
    except JoseError:
        return None


def _unwrap(value: Any, path: str) -> tuple[dict[str, Any] | None, NotLocated | None]:
    """An attestation value in any form of HELSEID.md section 9: an object, or a string holding one,
    possibly wrapped as ``{"issuer_type": ..., "issued_at": ..., "value": {...}}``."""
    for _ in range(3):  # a string, an envelope, a string in the envelope: no deeper
        if isinstance(value, str):
            parsed = _parse_json_object(value) if len(value) <= 65536 else None
            if parsed is None:
                return None, NotLocated("invalid_field", path, f"{path} is a string that does not hold one "
                                                               "strict JSON object")
            value = parsed
            continue
        if not isinstance(value, dict):
            return None, NotLocated("invalid_field", path, f"{path} is not a JSON object (nor a string holding one)")
        if "value" in value and not (value.keys() & _CATEGORY_KEYS):
            value, path = value["value"], f"{path}.value"
            continue
        return value, None
    return None, NotLocated("invalid_field", path, f"{path} is wrapped too many times")


def locate_access_token(payload: dict[str, Any]) -> tuple[Located | None, NotLocated | None]:
    """The attestation of an access token (HELSEID.md section 9), looked for in this order: the top-level
    claim ``nhn:tillitsrammeverk:parameters``; an element of ``authorization_details`` or
    ``assertion_details`` (a single object or an array, or a string holding either) whose ``type`` is
    ``nhn:tillitsrammeverk:parameters``. A value may be an object or a string holding a JSON object, and
    may be wrapped in a ``value`` envelope."""
    if AT_CLAIM in payload:
        raw, problem = _unwrap(payload[AT_CLAIM], AT_CLAIM)
        return (Located("access_token", AT_CLAIM, raw), None) if raw is not None else (None, problem)
    for container in RAR_CONTAINERS:
        if container not in payload:
            continue
        ad = payload[container]
        if isinstance(ad, str):
            parsed: Any = _parse_json_object(ad) if ad.lstrip().startswith("{") else None
            if parsed is None and ad.lstrip().startswith("[") and len(ad) <= 65536:
                # an array, parsed as strictly as an object (duplicate members, NaN, depth) inside a wrapper
                wrapped = _parse_json_object('{"a":' + ad + "}")
                parsed = wrapped.get("a") if wrapped is not None else None
            if parsed is None:
                return None, NotLocated("invalid_field", container, f"{container} is a string that holds no "
                                                                    "JSON object or array")
            ad = parsed
        elements = ad if isinstance(ad, list) else [ad]
        hits: list[tuple[int, dict[str, Any]]] = []
        for i, e in enumerate(elements):
            if isinstance(e, str) and AT_CLAIM in e:
                e = _parse_json_object(e)
            if isinstance(e, dict) and e.get("type") in RAR_TYPES:
                hits.append((i, e))
        if len(hits) > 1:
            return None, NotLocated("invalid_field", container, f"{container} has {len(hits)} elements of type "
                                                                f"{RAR_TYPE}; expected one")
        if hits:
            i, element = hits[0]
            source = f"{container}[{i}]" if isinstance(ad, list) else container
            raw, problem = _unwrap(element, source)
            return (Located("access_token", source, raw), None) if raw is not None else (None, problem)
    return None, NotLocated("missing_attestation", "attestation",
                            f"the access token carries no attestation (claim {AT_CLAIM!r}, or an element of "
                            f"authorization_details / assertion_details of type {RAR_TYPE!r})")


def attestation_carriers(payload: dict[str, Any]) -> list[str]:
    """Every place of ``payload`` that carries an attestation: the claim ``attestation``, the categories flat
    at the top level, HelseID's claim, and RAR elements of ``authorization_details`` / ``assertion_details``.
    A self-signed token with more than one is ambiguous: which of them did the issuer mean?"""
    found: list[str] = [name for name in ("attestation", AT_CLAIM) if name in payload]
    if any(k in payload for k in _CATEGORY_KEYS):
        found.append("flat categories")
    for container in RAR_CONTAINERS:
        ad = payload.get(container)
        elements = ad if isinstance(ad, list) else [ad]
        found.extend(f"{container} element" for e in elements
                     if (isinstance(e, dict) and e.get("type") in RAR_TYPES)
                     or (isinstance(e, str) and any(t in e for t in RAR_TYPES)))
        if isinstance(ad, str) and any(t in ad for t in RAR_TYPES):
            found.append(container)
    return found


def locate(payload: dict[str, Any], shapes: tuple[str, ...] = SHAPES) -> tuple[Located | None, str]:
    """Find the attestation in a verified payload, trying ``shapes`` in order. Returns the location and,
    when nothing usable was found, a reason for ``missing_attestation``."""
    for shape in shapes:
        if shape == "access_token" and (AT_CLAIM in payload or "assertion_details" in payload):
            located, problem = locate_access_token(payload)
            if located is not None:
                return located, ""
            assert problem is not None
            return None, problem.message
        if shape == "attestation" and "attestation" in payload:
            raw = payload["attestation"]
            if not isinstance(raw, dict):
                return None, "claim 'attestation' is not a JSON object"
            return Located("attestation", "attestation", raw), ""
        if shape == "authorization_details" and "authorization_details" in payload:
            ad = payload["authorization_details"]
            elements = ad if isinstance(ad, list) else [ad]
            hits = [(i, e) for i, e in enumerate(elements) if isinstance(e, dict) and e.get("type") in RAR_TYPES]
            if len(hits) > 1:
                return None, f"authorization_details has {len(hits)} elements of type {RAR_TYPE}; expected one"
            if hits:
                i, element = hits[0]
                source = f"authorization_details[{i}]" if isinstance(ad, list) else "authorization_details"
                return Located("authorization_details", source, element), ""
        if shape == "flat" and any(k in payload for k in ("practitioner", "care_relation", "care_relationship",
                                                             "care-relation", "care-relationship")):
            return Located("flat", "", payload), ""
    reason = "the token has no attestation (claim 'attestation'"
    reason += ", 'authorization_details' element of type " + RAR_TYPE if "authorization_details" in shapes else ""
    reason += ", or the categories at the top level)" if "flat" in shapes else ")"
    return None, reason


def _keymap(known: tuple[str, ...] | Mapping[str, Any], aliases: dict[str, str]) -> dict[str, str]:
    """Every accepted spelling (snake_case, kebab-case, aliases) -> the spec v1.1 key."""
    m: dict[str, str] = {}
    for k in known:
        m[k] = k
        m[k.replace("_", "-")] = k
    for alias, target in aliases.items():
        m[alias] = target
        m[alias.replace("_", "-")] = target
    return m


def _rekey(obj: dict[str, Any], keymap: dict[str, str], where: str, conflicts: list[Finding]) -> dict[str, Any]:
    """Map the keys of ``obj`` to spec spelling, keep known ones, and report a key given twice."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        k = keymap.get(key)
        if k is None:
            if "-" not in key:
                continue
            k = keymap.get(key.replace("-", "_"))  # mixed spellings such as purpose-of_use
            if k is None:
                continue
        if k in out:
            first = next(orig for orig in obj if orig != key and
                         (keymap.get(orig) or keymap.get(orig.replace("-", "_"))) == k)
            conflicts.append(Finding(
                "invalid_field", "ATT-1", f"{where}.{k}",
                f"{k!r} is given twice, as {first!r} and {key!r}; an attestation must be unambiguous"))
            continue
        out[k] = value
    return out


def _all_in(obj: dict[str, Any], spec: frozenset[str]) -> bool:
    """``obj.keys() <= spec`` without building a keys view: one C loop over the keys in either build."""
    return spec.issuperset(obj)


class _Keys:
    """A key map and its spec spellings. An object whose keys are all spec spellings (what conforming
    issuers send) is copied as it is: no key can be renamed, dropped or given twice."""

    __slots__ = ("keymap", "spec")

    def __init__(self, keymap: dict[str, str]) -> None:
        self.keymap = keymap
        self.spec = frozenset(k for k, v in keymap.items() if k == v)

    def rekey(self, obj: dict[str, Any], where: str, conflicts: list[Finding]) -> dict[str, Any]:
        if _all_in(obj, self.spec):
            return dict(obj)
        return _rekey(obj, self.keymap, where, conflicts)


_STRUCT_KEYS: Final[dict[tuple[str, ...], _Keys]] = {members: _Keys(_keymap(members, {})) for members in
                                              (IDENTIFIER_MEMBERS, CODE_MEMBERS, ("id", "system", "authority"))}
_DECISION_REF_KEYS: Final = _Keys(_keymap(DECISION_REF_MEMBERS, _DECISION_REF_ALIASES))
_TOP_KEYS: Final = _Keys(_keymap(("toa", "practitioner", "care_relation", "patients"), _TOP_ALIASES))


class _Category:
    """How to normalise one category (practitioner, care relation, a patient): its key map and, per field,
    the key map of the struct the field holds."""

    __slots__ = ("fields", "keys")

    def __init__(self, fields: Mapping[str, tuple[str, ...]], aliases: dict[str, str]) -> None:
        self.keys = _Keys(_keymap(fields, aliases))
        self.fields = {name: _DECISION_REF_KEYS if name == "decision_ref" else _STRUCT_KEYS[members]
                       for name, members in fields.items()}


_PRACTITIONER: Final = _Category(PRACTITIONER_FIELDS, _PRACTITIONER_ALIASES)
_CARE_RELATION: Final = _Category(CARE_RELATION_FIELDS, {})
_PATIENT: Final = _Category(PATIENT_FIELDS, _PATIENT_ALIASES)


def _fields(value: Any, category: _Category, where: str, index: int | None, conflicts: list[Finding]) -> Any:
    """The category object ``value`` (at ``where``, or ``where[index]``) with its fields' structs
    normalised. The path is only spelled out when a finding may need it."""
    if not isinstance(value, dict):
        return value
    path = where if index is None else None
    keys = category.keys
    if _all_in(value, keys.spec):
        out = dict(value)
    else:
        if path is None:
            path = f"{where}[{index}]"
        out = _rekey(value, keys.keymap, path, conflicts)
    fields = category.fields
    for name, sub in out.items():
        if isinstance(sub, dict):
            sub_keys = fields[name]
            if _all_in(sub, sub_keys.spec):
                struct = dict(sub)
            else:
                if path is None:
                    path = f"{where}[{index}]"
                struct = _rekey(sub, sub_keys.keymap, f"{path}.{name}", conflicts)
            system = struct.get("system")
            # normalize_system leaves a system already spelled 'urn:oid:...' as it is (the usual case)
            if isinstance(system, str) and not system.startswith("urn:oid:"):
                struct["system"] = normalize_system(system)
            out[name] = struct
    dr = out.get("decision_ref")
    if isinstance(dr, dict) and isinstance(dr.get("id"), int) and not isinstance(dr.get("id"), bool):
        dr["id"] = str(dr["id"])  # RULES.md f.4: accept a numeric id by stringifying it
    return out


def normalise(raw: dict[str, Any], where: str = "attestation") -> tuple[dict[str, Any], list[Finding]]:
    """Return the attestation in spec v1.1 spelling (a new object) and findings for ambiguous input."""
    conflicts: list[Finding] = []
    top = _TOP_KEYS.rekey(raw, where, conflicts)
    out: dict[str, Any] = {}
    if "toa" in top:
        toa = top["toa"]
        # RULES.md ATT-58a: an integral float such as 1700121037.0 is accepted as the integer
        if isinstance(toa, float) and toa.is_integer() and abs(toa) < 1e15:
            toa = int(toa)
        out["toa"] = toa
    if "practitioner" in top:
        out["practitioner"] = _fields(top["practitioner"], _PRACTITIONER, f"{where}.practitioner", None, conflicts)
    if "care_relation" in top:
        out["care_relation"] = _fields(top["care_relation"], _CARE_RELATION, f"{where}.care_relation", None,
                                       conflicts)
    if "patients" in top:
        patients = top["patients"]
        if isinstance(patients, dict):
            patients = [patients]  # RULES.md f.2: a single patient object is a one-element array
        if isinstance(patients, list):
            at = f"{where}.patients"
            patients = [_fields(p, _PATIENT, at, i, conflicts) for i, p in enumerate(patients)]
        out["patients"] = patients
    return out, conflicts


def iter_patients(attestation: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    patients = attestation.get("patients")
    if isinstance(patients, list):
        for i, p in enumerate(patients):
            if isinstance(p, dict):
                yield i, p


def get(attestation: dict[str, Any], *path: str) -> Any:
    """``get(a, "practitioner", "identifier", "id")`` or None when any step is absent or not an object."""
    node: Any = attestation
    for step in path:
        if not isinstance(node, dict):
            return None
        node = node.get(step)
    return node


def to_helseid_rar(attestation: dict[str, Any]) -> dict[str, Any]:
    """The HelseID RAR element for a normalised attestation: ``care_relationship``, only ``id``/``code`` +
    ``system`` per field (and ``decision_ref`` ``id`` + ``user_selected``), no practitioner identifier,
    ``hpr_nr``, patient identifier or ``toa`` (RULES.md a.1, f.5)."""
    def slim(value: Any, keys: tuple[str, ...]) -> Any:
        return {k: value[k] for k in keys if isinstance(value, dict) and k in value}

    out: dict[str, Any] = {"type": RAR_TYPE}
    pr = attestation.get("practitioner") or {}
    out["practitioner"] = {
        name: slim(pr[name], ("code", "system") if name == "authorization" else ("id", "system"))
        for name in ("authorization", "legal_entity", "point_of_care", "department") if name in pr
    }
    cr = attestation.get("care_relation") or {}
    crr: dict[str, Any] = {}
    for name in ("healthcare_service", "purpose_of_use", "purpose_of_use_details"):
        if name in cr:
            crr[name] = slim(cr[name], ("code", "system"))
    if "decision_ref" in cr:
        crr["decision_ref"] = slim(cr["decision_ref"], ("id", "user_selected"))
    out["care_relationship"] = crr
    out["patients"] = [
        {name: slim(p[name], ("id", "system")) for name in ("point_of_care", "department") if name in p}
        for _, p in iter_patients(attestation)
    ]
    return out
