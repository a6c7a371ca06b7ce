"""Code systems and code lists, loaded once from the packaged JSON files in ``attest/data/``
(sources in ``data/SOURCES.md``).

A *code list* is a set of codes under one canonical system plus its aliases. ``complete`` lists are
checked for membership (9060, purpose of use, care relation); partial ones (Volven 9151) only give
display texts. A *system set* names allowed systems without codes (the ten healthcare-service systems of
ATT-37, whose Volven code values are not in the material).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from typing import Any

from .identifiers import normalize_system


@dataclass(frozen=True)
class CodeList:
    """Codes of one code system. ``system`` is canonical; ``aliases`` are accepted on input as equal."""

    name: str
    system: str
    aliases: tuple[str, ...]
    title: str
    complete: bool
    displays: dict[str, str]
    deprecated: frozenset[str] = frozenset()
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the language of ``displays`` (BCP 47: ``nb`` Norwegian Bokmål, ``en`` English); a concept's
    #: ``display_<lang>`` in ``extra`` gives the text in another language
    language: str = "nb"

    @cached_property
    def systems(self) -> frozenset[str]:
        """The canonical system and its aliases (built once per list)."""
        return frozenset((self.system, *self.aliases))

    def display(self, code: str) -> str | None:
        return self.displays.get(code)


@dataclass(frozen=True)
class SystemEntry:
    system: str
    name: str
    deprecated: bool


def _load_json(name: str) -> Any:
    return json.loads(resources.files("attest").joinpath("data", name).read_text(encoding="utf-8"))


def _norm_all(systems: list[str]) -> tuple[str, ...]:
    return tuple(normalize_system(s) for s in systems)


@cache
def code_lists() -> dict[str, CodeList]:
    """All packaged code lists by name: ``9060``, ``purpose_of_use``, ``carerelation``, ``9151``."""
    out: dict[str, CodeList] = {}
    d = _load_json("9060.json")
    out["9060"] = CodeList(
        "9060", normalize_system(d["system"]), (d["fhir_url"],), d["name"], True,
        {c["code"]: c["display"] for c in d["concepts"]},
        frozenset(c["code"] for c in d["concepts"] if c.get("deprecated")),
    )
    d = _load_json("purpose_of_use.json")
    out["purpose_of_use"] = CodeList(
        "purpose_of_use", normalize_system(d["system"]), _norm_all(d["system_aliases"]), d["name"], True,
        {c["code"]: c["display"] for c in d["concepts"]},
        extra={c["code"]: c for c in d["concepts"]}, language="en",
    )
    d = _load_json("carerelation.json")
    out["carerelation"] = CodeList(
        "carerelation", d["system"], tuple(d["system_aliases"]), d["name"], True,
        {c["code"]: c["display"] for c in d["concepts"]},
        extra={c["code"]: c for c in d["concepts"]},
    )
    d = _load_json("volven_9151_partial.json")
    out["9151"] = CodeList(
        "9151", normalize_system(d["system"]), (), d["name"], bool(d["complete"]),
        {c["code"]: c["display"] for c in d["concepts"]},
    )
    return out


@cache
def system_sets() -> dict[str, dict[str, SystemEntry]]:
    """Named sets of allowed systems without code lists: ``healthcare_service`` (ATT-37)."""
    rows = _load_json("healthcare_service_systems.json")
    return {
        "healthcare_service": {
            normalize_system(r["system"]): SystemEntry(normalize_system(r["system"]), r["name"],
                                                       bool(r["deprecated"]))
            for r in rows
        }
    }


@cache
def _by_system() -> dict[str, CodeList]:
    out: dict[str, CodeList] = {}
    for cl in code_lists().values():
        for s in cl.systems:
            out[s] = cl
    return out


def code_list_for_system(system: str) -> CodeList | None:
    """The code list whose canonical system or alias is ``system`` (after OID normalisation)."""
    return _by_system().get(normalize_system(system))


def system_name(system: str) -> str | None:
    """A human name for a code or identifier system, if known."""
    s = normalize_system(system)
    cl = _by_system().get(s)
    if cl is not None:
        return cl.title
    for entries in system_sets().values():
        if s in entries:
            return entries[s].name
    return _identifier_system_names().get(s)


@cache
def _identifier_system_names() -> dict[str, str]:
    d = _load_json("identifier_systems.json")
    return {normalize_system(r["system"]): r["name"] for r in d["systems"]}


def display(system: str, code: str) -> str | None:
    """Display text of ``code`` in ``system``, if the system is one we have (part of) a list for."""
    cl = code_list_for_system(system)
    return cl.display(code) if cl is not None else None


def display_texts(system: str, code: str) -> dict[str, str]:
    """The display texts of ``code`` in ``system`` by language (``{"nb": "Behandling", "en": "treatment"}``):
    every language the code list has a text in, none when the system or the code is unknown."""
    cl = code_list_for_system(system)
    if cl is None:
        return {}
    out: dict[str, str] = {}
    text = cl.display(code)
    if text:
        out[cl.language] = text
    for lang in ("nb", "en"):
        other = cl.extra.get(code, {}).get(f"display_{lang}")
        if isinstance(other, str) and other:
            out.setdefault(lang, other)
    return out


_VOLVEN_PREFIX = "urn:oid:2.16.578.1.12.4.1.1."


def short_label(system: str) -> str:
    """A short label for a code system, for narrow displays: ``Volven 8655``, ``HL7 PurposeOfUse``,
    ``care relation``; the system itself when unknown."""
    s = normalize_system(system)
    cl = _by_system().get(s)
    if cl is not None and cl.name == "purpose_of_use":
        return "HL7 PurposeOfUse"
    if cl is not None and cl.name == "carerelation":
        return "care relation (HL7 Norway / DIPS)"
    if s.startswith(_VOLVEN_PREFIX) and s[len(_VOLVEN_PREFIX):].isdigit():
        return f"Volven {s[len(_VOLVEN_PREFIX):]}"
    return s
