"""Norwegian identifiers: F/D/H/FH-numbers, synthetic test identities, organisation numbers, HPR numbers,
RESH ids, and OID system strings.

Organisation numbers are checked with python-stdnum (``stdnum.no.orgnr``). Person numbers are checked
here rather than with ``stdnum.no.fodselsnummer`` because that module (a) strips spaces, dashes and
colons before checking, which would let a differently spelled number through, (b) compares the birth
date with the machine's ``date.today()`` (time must be injected here), (c) knows neither the 2032
rule for the first control digit nor the synthetic test identities (month + 80, month + 40), and
(d) cannot be told which kinds a given OID system admits. The control-digit weights are the published
ones (RULES.md d.1).

No function here puts the number itself into a message: messages go into logs and decision documents.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from stdnum.no import orgnr as _stdnum_orgnr

OID_PREFIX: Final = "urn:oid:"
OID_FNR: Final = "urn:oid:2.16.578.1.12.4.1.4.1"
OID_DNR: Final = "urn:oid:2.16.578.1.12.4.1.4.2"
OID_HNR: Final = "urn:oid:2.16.578.1.12.4.1.4.3"
OID_HPR: Final = "urn:oid:2.16.578.1.12.4.1.4.4"
OID_ORGNR: Final = "urn:oid:2.16.578.1.12.4.1.4.101"
OID_RESH: Final = "urn:oid:2.16.578.1.12.4.1.4.102"

#: short names used in profile files for identifier systems
SYSTEM_ALIASES: Final[dict[str, str]] = {
    "fnr": OID_FNR,
    "dnr": OID_DNR,
    "hnr": OID_HNR,
    "hpr": OID_HPR,
    "orgnr": OID_ORGNR,
    "resh": OID_RESH,
}

_W1: Final = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_W2: Final = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_OID: Final = re.compile(r"(?:urn:oid:|oid:)?([0-2](?:\.(?:0|[1-9][0-9]*))+)", re.ASCII | re.IGNORECASE)
_ABSOLUTE_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+", re.ASCII)
# 11 digits (any script: int() and people accept fullwidth digits too), also written "ddmmyy nnnnn"
#: what may stand between the digits of an identity number someone wrote (spaces, dots, hyphens, slashes,
#: underscores, and invisible characters: soft hyphen, zero-width and bidi marks, word joiners, BOM)
_DIGIT_SEPARATORS: Final = r"[\s.\-/_\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]"
#: an 11-digit run in any spelling (``20086600138``, ``200866 00138``, ``2008 6600 138``, ``20.08.66 00138``,
#: digits split by zero-width characters, other scripts' digits): the one pattern every redaction uses
IDENTITY_NUMBER: Final = re.compile(rf"(?<!\d)\d(?:{_DIGIT_SEPARATORS}{{0,3}}\d){{10}}(?!\d)")

PersonKind = Literal["F", "D", "H", "FH", "synthetic-tenor", "synthetic-dolly"]


@lru_cache(maxsize=1024)
def normalize_system(system: str) -> str:
    """Return ``urn:oid:<dotted>`` for the three OID spellings (``urn:oid:…``, ``oid:…``, bare dotted),
    the input unchanged for anything else (URLs, other URNs, placeholders)."""
    m = _OID.fullmatch(system)
    if m is None:
        return system
    return OID_PREFIX + m.group(1)


def is_absolute_uri(system: str) -> bool:
    """A scheme followed by a non-empty, whitespace-free rest. ``urn:oid:`` values must hold a real OID
    (so the spec's ``urn:oid:x.x.x.x.x.9151`` placeholder is not one)."""
    if not _ABSOLUTE_URI.fullmatch(system):
        return False
    if system.lower().startswith(OID_PREFIX):
        return _OID.fullmatch(system) is not None
    return True


def is_ascii_digits(value: str, min_len: int, max_len: int) -> bool:
    """Exactly ``min_len``..``max_len`` ASCII digits (``int()`` would accept ``" 1_2"`` and ``"١٢"``;
    ``str.isdigit`` alone would accept superscripts and other scripts' digits, hence ``isascii`` first)."""
    return min_len <= len(value) <= max_len and value.isascii() and value.isdigit()


@dataclass(frozen=True, slots=True)
class PersonCheck:
    """Result of :func:`check_person_number`: ``ok`` and, if not, a reason that never quotes the number."""

    ok: bool
    kind: PersonKind | None
    reason: str = ""
    #: True when the first control digit only passes under the rule for numbers issued from 2032
    rule_2032: bool = False


def _checksum(value: str, allow_2032: bool) -> tuple[bool, bool]:
    # the caller checked: 11 ASCII digits. The weighted sums are spelled out over the byte values (digit + 48);
    # 48 * (sum of the weights + 1) is subtracted once. Weights: _W1, _W2 (tests/test_identifiers.py compares).
    # (Indexed, not unpacked: compiled, d[i] is a machine integer.)
    d = value.encode("ascii")
    r1 = (3 * d[0] + 7 * d[1] + 6 * d[2] + d[3] + 8 * d[4] + 9 * d[5] + 4 * d[6] + 5 * d[7] + 2 * d[8] + d[9]
          - 48 * 46) % 11
    r2 = (5 * d[0] + 4 * d[1] + 3 * d[2] + 2 * d[3] + 7 * d[4] + 6 * d[5] + 5 * d[6] + 4 * d[7] + 3 * d[8]
          + 2 * d[9] + d[10] - 48 * 42) % 11
    if r2 != 0:
        return False, False
    if r1 == 0:
        return True, False
    if allow_2032 and r1 in (1, 2, 3):
        return True, True
    return False, False


def _century(individual: int, yy: int) -> int | None:
    if individual < 500:
        return 1900
    if individual < 750 and yy >= 54:
        return 1800
    if yy < 40:
        return 2000
    if individual >= 900:
        return 1900
    return None


def _date_exists(day: int, month: int, yy: int, individual: int) -> bool:
    century = _century(individual, yy)
    # undeterminable century: check against a leap year so 29 February is accepted
    year = century + yy if century is not None else 2000
    if not 1 <= month <= 12 or day < 1:
        return False
    if month == 2:
        return day <= (29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28)
    return day <= (30 if month in (4, 6, 9, 11) else 31)


def classify_person_number(value: str) -> tuple[str, int] | None:
    """Structure of an 11-digit number, no checksum: ``("FH", 0)`` for a felles hjelpenummer (first digit
    8 or 9), else ``(base, month_offset)`` with base ``"F"`` (day 1-31) or ``"D"`` (day + 40) and the month
    offset 0, 40 (H-number, or NAV Dolly synthetic identity) or 80 (Skatteetaten Tenor synthetic
    identity). None when no structure fits."""
    if value[0] in "89":
        return ("FH", 0)
    day = int(value[0:2])
    month = int(value[2:4])
    if 1 <= day <= 31:
        base = "F"
    elif 41 <= day <= 71:
        base = "D"
    else:
        return None
    for offset in (0, 40, 80):
        if 1 <= month - offset <= 12:
            return (base, offset)
    return None


#: the results for valid numbers, built once (PersonCheck is immutable)
_KINDS: Final[tuple[PersonKind, ...]] = ("F", "D", "H", "FH", "synthetic-tenor", "synthetic-dolly")
_VALID: Final[dict[tuple[str, bool], PersonCheck]] = {
    (kind, rule_2032): PersonCheck(True, kind, "", rule_2032) for kind in _KINDS for rule_2032 in (False, True)}
_BASE_BY_SYSTEM: Final[dict[str, str]] = {OID_FNR: "F", OID_DNR: "D", OID_HNR: "H"}
_NAMES: Final = {"F": "an F-number", "D": "a D-number", "H": "an H-number", "FH": "an FH-number"}


def check_person_number(
    value: str,
    system: str,
    *,
    allow_synthetic: bool = False,
    allow_2032: bool = True,
) -> PersonCheck:
    """Check an F-, D-, H- or FH-number against the identifier ``system`` it is given under.

    The F-number system takes F-numbers, the D-number system D-numbers, the H-number system
    (2.16.578.1.12.4.1.4.3) H-numbers (month + 40) and FH-numbers (first digit 8 or 9).
    ``allow_synthetic`` also admits the synthetic identities of Norwegian test environments under the
    F- and D-number systems: Skatteetaten's Tenor (month + 80) and NAV Dolly (month + 40).
    ``allow_2032`` admits first-control-digit remainders 1-3 (Skatteetaten's rule for numbers issued
    from 2032).
    """
    if not is_ascii_digits(value, 11, 11):
        return PersonCheck(False, None, "must be exactly 11 digits")
    expected = _BASE_BY_SYSTEM.get(system)
    if expected is None:
        return PersonCheck(False, None, "not a person-identifier system")
    # classify_person_number, on the byte values (digit + 48) of the 11 ASCII digits checked above
    d = value.encode("ascii")
    day = d[0] * 10 + d[1] - 528
    month = d[2] * 10 + d[3] - 528
    if d[0] >= 56:  # first digit 8 or 9
        base, offset = "FH", 0
    else:
        if 1 <= day <= 31:
            base = "F"
        elif 41 <= day <= 71:
            base = "D"
        else:
            return PersonCheck(False, None, "the date part fits no F-, D-, H- or FH-number")
        if 1 <= month <= 12:
            offset = 0
        elif 41 <= month <= 52:
            offset = 40
        elif 81 <= month <= 92:
            offset = 80
        else:
            return PersonCheck(False, None, "the date part fits no F-, D-, H- or FH-number")
    kind: PersonKind
    if base == "FH":
        kind = "FH"
    elif offset == 80:
        kind = "synthetic-tenor"
    elif offset == 40:
        kind = "H" if expected == "H" and base == "F" else "synthetic-dolly"
    else:
        kind = "F" if base == "F" else "D"
    if kind in ("synthetic-tenor", "synthetic-dolly"):
        if not allow_synthetic:
            which = "month + 80 (Tenor)" if offset == 80 else "month + 40 (H-number or Dolly)"
            return PersonCheck(False, kind, f"{which} marks a synthetic test identity; this profile does "
                                            "not allow them here")
        if expected == "H" or base != expected:
            return PersonCheck(False, kind, f"the number is {_NAMES[base]}, which this identifier system "
                                            "does not take")
    elif (expected == "H" and kind not in ("H", "FH")) or (expected != "H" and kind != expected):
        return PersonCheck(False, kind, f"the number is {_NAMES[kind]}, which this identifier system "
                                        "does not take")
    ok, rule_2032 = _checksum(value, allow_2032)
    if not ok:
        return PersonCheck(False, kind, "control digits do not match (mod 11)")
    if kind != "FH" and not _date_exists(day - 40 if base == "D" else day, month - offset,
                                         d[4] * 10 + d[5] - 528, d[6] * 100 + d[7] * 10 + d[8] - 5328):
        return PersonCheck(False, kind, "the birth date does not exist")
    return _VALID[kind, rule_2032]


@lru_cache(maxsize=4096)
def check_organization_number(value: str) -> str | None:
    """None if ``value`` is a valid 9-digit organisation number (mod 11, via python-stdnum), else a reason.
    Cached: organisation numbers are public registry data and a verifier sees the same few again and
    again (person numbers are deliberately not cached)."""
    if not is_ascii_digits(value, 9, 9):
        return "must be exactly 9 digits"
    if not _stdnum_orgnr.is_valid(value):
        return "the control digit does not match (mod 11)"
    return None


def check_hpr_number(value: str) -> str | None:
    """None if ``value`` is 1-9 ASCII digits (no check digit is defined for HPR numbers), else a reason."""
    if not is_ascii_digits(value, 1, 9):
        return "must be 1-9 digits"
    return None


def same_hpr_number(a: str, b: str) -> bool:
    """HPR numbers compare as integers (leading zeros ignored); both must be valid."""
    if check_hpr_number(a) is not None or check_hpr_number(b) is not None:
        return False
    return int(a) == int(b)


def check_resh_id(value: str) -> str | None:
    """None if ``value`` is 1-10 ASCII digits (no check digit is documented for RESH ids), else a reason."""
    if not is_ascii_digits(value, 1, 10):
        return "a RESH id must be 1-10 digits"
    return None


def mask(value: object) -> str:
    """A display form of an identity number that keeps only the first six characters
    (``050766*****``), for people who must recognise a record but not read the whole number."""
    s = str(value)
    if len(s) <= 6:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 6)


def random_id(uuid: bool = False) -> str:
    """16 random bytes as 32 hex digits, or (``uuid``) as a version 4 UUID in its canonical spelling (what
    ``str(uuid.uuid4())`` gives). Drawn again while the text holds 11 or more decimal digits in a row (the
    UUID's hyphens between them included): that covers everything :data:`IDENTITY_NUMBER` matches in such
    text (exactly 11 digits, separators included) and the longer runs it leaves alone, about one hex id in 20
    in all. The ids attest makes (audit events, requests) are written into log lines, where an 11-digit run
    would be redacted like an identity number (the line would no longer name its audit event) and any run of
    11 digits or more would be flagged by a scanner looking for identity numbers in logs. The redraw leaves the
    ids uniform over the rest (UUIDs keep ~122 random bits)."""
    while True:
        b = bytearray(os.urandom(16))
        if uuid:
            b[6] = (b[6] & 0x0F) | 0x40  # version 4
            b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
        if not _eleven_decimal_nibbles(bytes(b)):
            h = b.hex()
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if uuid else h


def _eleven_decimal_nibbles(raw: bytes) -> bool:
    """Whether the hex spelling of ``raw`` has 11 decimal digits in a row (hyphens between them allowed, as
    in a UUID). Wherever :data:`IDENTITY_NUMBER` matches a hex id or a UUID, this is true: the letters a-f are
    neither digits nor separators, so a match lies within one stretch of digits and hyphens
    (tests/service/test_logs.py holds the two together)."""
    run = 0
    for byte in raw:
        if byte >> 4 < 10:
            run += 1
            if run == 11:
                return True
        else:
            run = 0
        if byte & 15 < 10:
            run += 1
            if run == 11:
                return True
        else:
            run = 0
    return False


def redact_identity_numbers(text: str, replacement: str | None = None) -> str:
    """``text`` with every 11-digit run in any spelling (:data:`IDENTITY_NUMBER`) replaced by asterisks of
    the same length (or by ``replacement``): messages that quote a token's values may reach logs, and
    national identity numbers must not, whichever field a buggy client put them in, however spelled."""
    if len(text) < 11:
        return text

    def redact(m: re.Match[str]) -> str:
        if _inside_oid(m.string, m.start(), m.end()):
            return m.group()  # an OID's arcs (urn:oid:2.16.840.1.113883.1.11.20448), not a person
        return "*" * len(m.group()) if replacement is None else replacement

    return IDENTITY_NUMBER.sub(redact, text)


def _inside_oid(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] lies inside a dotted run of digits that is exactly a **known** OID (a code
    system or identifier system of the packaged code lists, or the identifier systems here): only those are
    spared, so that a message naming ``urn:oid:2.16.840.1.113883.1.11.20448`` stays readable, while an identity
    number dressed as arcs of some OID (``…4.1.150769.41383``, ``1.2.3.4.5.150769 41383``) is still masked."""
    lo, hi = start, end
    while lo > 0 and (text[lo - 1].isascii() and (text[lo - 1].isdigit() or text[lo - 1] == ".")):
        lo -= 1
    while hi < len(text) and (text[hi].isascii() and (text[hi].isdigit() or text[hi] == ".")):
        hi += 1
    if hi < len(text) and text[hi] in " -/_" and hi + 1 < len(text) and text[hi + 1].isdigit():
        return False  # the run goes on after a separator: part of a spelled-out number
    return text[lo:hi].strip(".") in _known_oids()


@lru_cache(maxsize=1)
def _known_oids() -> frozenset[str]:
    from . import codes  # local: codes imports this module

    systems: set[str] = set(SYSTEM_ALIASES.values()) | set(codes._identifier_system_names())
    for code_list in codes.code_lists().values():
        systems |= set(code_list.systems)
    for entries in codes.system_sets().values():
        systems |= set(entries)
    return frozenset(x.removeprefix(OID_PREFIX) for x in systems if x.startswith(OID_PREFIX))
