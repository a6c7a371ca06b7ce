"""From a (verified) SAML 2.0 assertion's subject and attributes to the attestation model (issue 14).

The attribute names are those of IHE XUA / OASIS XSPA, NHN's ``urn:no:ehelse:saml:1.0:*`` and the trust
framework's ``urn:nhn:trust-framework:1.0:ext:*`` extensions, as HelseID's XDS SAML service issues them (the
test assertions in ``tests/fixtures/nhn/``) and as NHN's document-source code reads them (XcaDocumentSource
``XcaXds.Shared/Constants.cs``). RULES.md e.3 (DM section 6.3) gives the data model's side.

SAML attribute (``xspa`` = ``urn:oasis:names:tc:xspa``, ``xacml`` = ``urn:oasis:names:tc:xacml``, ``nhn`` =
``urn:nhn:trust-framework:1.0:ext``) -> attestation field:

* ``Subject/NameID`` -> ``practitioner.identifier`` (F- or D-number by the first digit); ``xspa:1.0`` or
  ``xacml:1.0`` ``subject:subject-id`` -> its ``name``
* ``xspa:1.0`` / ``xspa:2.0`` ``subject:npi``, XUA ``provider-identifier`` (HL7v3 ``II``) -> ``practitioner.hpr_nr``
* ``xspa:1.0`` / ``xacml:2.0`` ``subject:role`` (HL7v3 ``CE``, Volven 9060) -> ``practitioner.authorization``
* ``xspa:1.0:subject:organization-id`` (``II``) + ``subject:organization`` -> ``practitioner.legal_entity``
* ``xspa:1.0:subject:child-organization`` (``II``) + ``nhn:subject:child-organization-name`` ->
  ``practitioner.point_of_care``
* ``xspa:1.0:subject:purposeOfUse`` (helsenorge: ``purposeofuse``), ``xacml:2.0:action:purpose`` (``CE``) ->
  ``care_relation.purpose_of_use``
* ``nhn:care-relationship:healthcare-service`` / ``:purpose-of-use-details`` (``CE``) -> ``care_relation``'s
  ``healthcare_service`` / ``purpose_of_use_details``
* ``nhn:care-relationship:decision-ref`` (``<decision-ref><id value/><user-selected value/></decision-ref>``) ->
  ``care_relation.decision_ref``
* ``xacml:2.0`` / ``xacml:1.0`` ``resource:resource-id`` (HL7v2 ``CX`` ``id^^^&OID&ISO``) ->
  ``patients[0].identifier``; ``nhn:resource:child-organization`` (``II``) + ``-name`` -> its ``point_of_care``
* ``SecurityLevel``, ``Scope``, ``client_id``, ``homeCommunityId`` (``urn:no:ehelse:saml:1.0:subject:*``) -> the
  decision's ``token`` information (ATT-9 is checked on ``SecurityLevel``)

An attribute that comes under two names (``role`` as XSPA and XACML, ``npi`` and ``provider-identifier``,
``purposeOfUse`` and ``action:purpose``, both ``resource-id``) must say the same under every name: otherwise
the attestation is ambiguous (``invalid_field``). So must an attribute given twice, or with more than one
value where one is meant. Values that are XML inside XML are parsed with the hardening of
:mod:`attest.xmlsafe`. Nothing here raises for any input; problems are findings.

Not mapped (no attribute in the material carries them): ``toa`` (issue #156), ``decision_ref.description``,
``practitioner.department`` and ``patients[].department`` (DM 6.3's ``facility-id`` has no known URN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import Finding
from .identifiers import OID_DNR, OID_FNR, OID_HPR, normalize_system, redact_identity_numbers, same_hpr_number
from .xmlsafe import XSI_NS, XmlLimits, XmlRefused, parse_fragment, text_content

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"

SUBJECT_ID = ("urn:oasis:names:tc:xspa:1.0:subject:subject-id", "urn:oasis:names:tc:xacml:1.0:subject:subject-id")
NPI = ("urn:oasis:names:tc:xspa:1.0:subject:npi", "urn:oasis:names:tc:xspa:2.0:subject:npi")
PROVIDER_IDENTIFIER = "urn:ihe:iti:xua:2017:subject:provider-identifier"
ROLE = ("urn:oasis:names:tc:xspa:1.0:subject:role", "urn:oasis:names:tc:xacml:2.0:subject:role")
ORGANIZATION = "urn:oasis:names:tc:xspa:1.0:subject:organization"
ORGANIZATION_ID = "urn:oasis:names:tc:xspa:1.0:subject:organization-id"
CHILD_ORGANIZATION = "urn:oasis:names:tc:xspa:1.0:subject:child-organization"
CHILD_ORGANIZATION_NAME = "urn:nhn:trust-framework:1.0:ext:subject:child-organization-name"
PURPOSE_OF_USE = ("urn:oasis:names:tc:xspa:1.0:subject:purposeOfUse",
                  "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",  # helsenorge's spelling
                  "urn:oasis:names:tc:xacml:2.0:action:purpose")
HEALTHCARE_SERVICE = "urn:nhn:trust-framework:1.0:ext:care-relationship:healthcare-service"
PURPOSE_OF_USE_DETAILS = "urn:nhn:trust-framework:1.0:ext:care-relationship:purpose-of-use-details"
DECISION_REF = "urn:nhn:trust-framework:1.0:ext:care-relationship:decision-ref"
RESOURCE_ID = ("urn:oasis:names:tc:xacml:2.0:resource:resource-id", "urn:oasis:names:tc:xacml:1.0:resource:resource-id")
RESOURCE_CHILD_ORGANIZATION = "urn:nhn:trust-framework:1.0:ext:resource:child-organization"
RESOURCE_CHILD_ORGANIZATION_NAME = "urn:nhn:trust-framework:1.0:ext:resource:child-organization-name"
SECURITY_LEVEL = ("urn:no:ehelse:saml:1.0:subject:SecurityLevel", "SecurityLevel")
SCOPE = ("urn:no:ehelse:saml:1.0:subject:Scope", "Scope")
CLIENT_ID = ("urn:no:ehelse:saml:1.0:subject:client_id", "client_id")
HOME_COMMUNITY_ID = ("urn:ihe:iti:xca:2010:homeCommunityId", "urn:no:ehelse:saml:1.0:subject:homeCommunityId")
#: read, and not part of the attestation (nil in HelseID's assertions; consent documents are not in the model)
NOT_MAPPED = ("urn:no:ehelse:saml:1.0:subject:Authentication_method", "urn:ihe:iti:xua:2012:acp",
              "urn:ihe:iti:bppc:2007:docid")

#: ISO 14265 "Classification of purposes for processing personal health information"; code 13 is
#: "Subject of care uses" (the citizen's own access, as helsenorge asserts it)
ISO_14265 = "urn:oid:1.0.14265.1"
ISO_14265_SUBJECT_OF_CARE = "13"

_KNOWN = frozenset({*SUBJECT_ID, *NPI, PROVIDER_IDENTIFIER, *ROLE, ORGANIZATION, ORGANIZATION_ID, CHILD_ORGANIZATION,
                    CHILD_ORGANIZATION_NAME, *PURPOSE_OF_USE, HEALTHCARE_SERVICE, PURPOSE_OF_USE_DETAILS,
                    DECISION_REF, *RESOURCE_ID, RESOURCE_CHILD_ORGANIZATION, RESOURCE_CHILD_ORGANIZATION_NAME,
                    *SECURITY_LEVEL, *SCOPE, *CLIENT_ID, *HOME_COMMUNITY_ID, *NOT_MAPPED})

#: HL7v2 CX as XUA writes a patient identifier: ``id^^^&<OID>&ISO``
_CX = re.compile(r"([^\^&]+)\^\^\^&((?:urn:oid:)?[0-2](?:\.[0-9]+)+)&ISO", re.ASCII)
_RULE = "DM-6.3"


@dataclass(frozen=True, slots=True)
class Value:
    """One ``saml:AttributeValue``: its text, or the element it holds, or nothing (``xsi:nil``/empty)."""

    text: str | None
    element: Any = None


@dataclass(slots=True)
class Attributes:
    """The attribute statement(s) of an assertion: values by exact ``Name`` (attributes given twice under
    one name are left out and reported; attributes the mapping does not know are listed without values)."""

    values: dict[str, list[Value]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def unknown(self) -> list[str]:
        return sorted(n for n in self.values if n not in _KNOWN)


@dataclass(slots=True)
class Mapped:
    """The attestation built from an assertion (before normalisation), the findings of the mapping, the
    token information it contributes, and why the assertion is a citizen's (empty: it is not)."""

    attestation: dict[str, Any]
    findings: list[Finding]
    info: dict[str, Any]
    citizen: list[str]
    security_level: str | None


def _path(name: str) -> str:
    """The finding path of an attribute (an unknown one's Name is the sender's text: no identity numbers)."""
    return f"saml:Attribute[@Name='{redact_identity_numbers(name[:128])}']"


def read_attributes(assertion: Any) -> Attributes:
    """Every ``saml:AttributeStatement/saml:Attribute`` of ``assertion`` (an element)."""
    out = Attributes()
    twice: set[str] = set()
    for attribute in assertion.iterfind(f"{{{SAML_NS}}}AttributeStatement/{{{SAML_NS}}}Attribute"):
        name = attribute.get("Name")
        if not isinstance(name, str) or not name or len(name) > 256 or not name.isprintable():
            out.findings.append(Finding("invalid_field", _RULE, "saml:Attribute/@Name",
                                        "an attribute has no usable Name"))
            continue
        values: list[Value] = []
        if name in _KNOWN:  # attributes this model does not map are listed, never read
            try:
                for av in attribute.iterfind(f"{{{SAML_NS}}}AttributeValue"):
                    values.append(_value(av))
            except XmlRefused as exc:
                out.findings.append(Finding("invalid_field", _RULE, _path(name), exc.message))
                continue
        if name in _KNOWN and (name in out.values or name in twice):  # unknown ones are not read
            twice.add(name)
            out.values.pop(name, None)
            continue
        out.values[name] = values
    for name in sorted(twice):
        out.findings.append(Finding("invalid_field", _RULE, _path(name),
                                    "the attribute is given more than once; the assertion must be unambiguous"))
    return out


def _value(av: Any) -> Value:
    if (av.get(f"{{{XSI_NS}}}nil") or "").strip() in ("true", "1"):
        return Value(None)
    elements = [c for c in av if isinstance(c.tag, str)]
    if elements:
        if len(elements) != 1 or (av.text or "").strip() or (elements[0].tail or "").strip():
            raise XmlRefused("an attribute value holds more than one element, or an element and text")
        return Value(None, elements[0])
    text = text_content(av)
    return Value(text if text.strip() else None)


class _Reader:
    """Reads typed values out of :class:`Attributes`, collecting findings."""

    def __init__(self, attrs: Attributes, limits: XmlLimits) -> None:
        self.attrs = attrs
        self.limits = limits
        self.findings: list[Finding] = []

    def problem(self, where: str, message: str) -> None:
        self.findings.append(Finding("invalid_field", _RULE, where, message))

    def single(self, name: str) -> Value | None:
        """The one value of attribute ``name``; None when absent, nil, or (reported) several."""
        values = self.attrs.values.get(name)
        if not values:
            return None
        present = [v for v in values if v.text is not None or v.element is not None]
        if len(present) > 1:
            self.problem(_path(name), f"the attribute has {len(present)} values; one is expected")
            return None
        return present[0] if present else None

    def text(self, name: str) -> str | None:
        v = self.single(name)
        if v is None:
            return None
        if v.element is not None:
            self.problem(_path(name), "the attribute holds XML where text is expected")
            return None
        return (v.text or "").strip() or None

    def element(self, name: str) -> Any:
        """The XML element a value holds: an element child, or text that is XML (parsed, hardened)."""
        v = self.single(name)
        if v is None:
            return None
        if v.element is not None:
            return v.element
        try:
            return parse_fragment(v.text or "", self.limits)
        except XmlRefused as exc:
            self.problem(_path(name), exc.message)
            return None

    def agree(self, names: tuple[str, ...], read: Any, where: str) -> Any:
        """The value read (with ``read(name)``) under every name of ``names`` that is present; they must
        all agree (compared as read)."""
        found = [(n, read(n)) for n in names if n in self.attrs.values]
        found = [(n, v) for n, v in found if v is not None]
        if not found:
            return None
        first_name, first = found[0]
        for n, v in found[1:]:
            if v != first:
                self.problem(where, f"attributes {first_name} and {n} say different things; the assertion must "
                                    "be unambiguous")
                return None
        return first


def _attr(element: Any, name: str) -> str | None:
    v = element.get(name)
    return v.strip() if isinstance(v, str) and v.strip() else None


def _code(element: Any) -> dict[str, Any]:
    """An HL7v3 ``CE``: ``code``, ``displayName`` -> text, ``codeSystem`` -> system (normalised),
    ``assigningAuthorityName`` -> assigner."""
    out: dict[str, Any] = {}
    for key, attr in (("code", "code"), ("text", "displayName"), ("system", "codeSystem"),
                      ("assigner", "assigningAuthorityName")):
        v = _attr(element, attr)
        if v is not None:
            out[key] = normalize_system(v) if key == "system" else v
    return out


def _identifier(element: Any) -> dict[str, Any]:
    """An HL7v3 ``II``: ``extension`` -> id, ``root`` -> system (normalised), ``assigningAuthorityName`` ->
    authority."""
    out: dict[str, Any] = {}
    for key, attr in (("id", "extension"), ("system", "root"), ("authority", "assigningAuthorityName")):
        v = _attr(element, attr)
        if v is not None:
            out[key] = normalize_system(v) if key == "system" else v
    return out


def _person_system(pid: str) -> str:
    """F- or D-number by the first digit (a D-number's day is increased by 40), as the HelseID login does."""
    return OID_DNR if pid[:1] in ("4", "5", "6", "7") else OID_FNR


def _patient(cx: str) -> dict[str, Any] | None:
    """``id^^^&OID&ISO`` (HelseID's XDS SAML service escapes the ``&`` twice, so ``&amp;`` is read as ``&``)."""
    m = _CX.fullmatch(cx.replace("&amp;", "&").strip())
    if m is None:
        return None
    return {"id": m.group(1), "system": normalize_system(m.group(2))}


def _decision_ref(element: Any) -> dict[str, Any] | None:
    """NHN's ``<decision-ref><id value="…"/><user-selected value="True"/></decision-ref>``; ``user_selected``
    becomes a boolean when it says true/false (any case), else stays text for ATT-48 to refuse."""
    if not isinstance(element.tag, str) or element.tag.rsplit("}", 1)[-1] != "decision-ref":
        return None
    out: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        local = child.tag.rsplit("}", 1)[-1]
        value = child.get("value")
        if value is None:
            try:
                value = text_content(child)
            except XmlRefused:
                return None
        value = value.strip()
        if local == "id":
            out["id"] = value
        elif local in ("user-selected", "user_selected"):
            low = value.lower()
            out["user_selected"] = True if low == "true" else False if low == "false" else value
    return out


def map_assertion(name_id: str | None, attrs: Attributes, limits: XmlLimits) -> Mapped:
    """The attestation of an assertion whose subject is ``name_id`` (the full text of ``NameID``), with
    the findings of the mapping. See the module's table."""
    r = _Reader(attrs, limits)
    info: dict[str, Any] = {}
    practitioner: dict[str, Any] = {}
    care: dict[str, Any] = {}

    # --- the practitioner ---------------------------------------------------------------------------------
    name = r.agree(SUBJECT_ID, r.text, "attestation.practitioner.identifier.name")
    if name_id is not None:
        practitioner["identifier"] = {"id": name_id, "system": _person_system(name_id)}
        if name is not None:
            practitioner["identifier"]["name"] = name

    npi = r.agree(NPI, r.text, "attestation.practitioner.hpr_nr")
    provider = r.element(PROVIDER_IDENTIFIER)
    provider_id = _identifier(provider) if provider is not None else None
    hpr: dict[str, Any] | None = None
    if npi is not None:
        hpr = {"id": npi, "system": OID_HPR}
    if provider_id is not None:
        if hpr is not None and not (isinstance(provider_id.get("id"), str)
                                    and same_hpr_number(provider_id["id"], npi or "")):
            r.problem("attestation.practitioner.hpr_nr",
                      f"attributes npi and {PROVIDER_IDENTIFIER} name different people")
        elif hpr is None:
            hpr = provider_id
    if hpr is not None:
        practitioner["hpr_nr"] = hpr

    role = r.agree(ROLE, lambda n: _map(r.element(n), _code), "attestation.practitioner.authorization")
    if role:
        practitioner["authorization"] = role

    legal_entity = _map(r.element(ORGANIZATION_ID), _identifier)
    organization = r.text(ORGANIZATION)
    if legal_entity is not None or organization is not None:
        practitioner["legal_entity"] = {**(legal_entity or {}), **({"name": organization} if organization else {})}

    point_of_care = _map(r.element(CHILD_ORGANIZATION), _identifier)
    point_of_care_name = r.text(CHILD_ORGANIZATION_NAME)
    if point_of_care is not None or point_of_care_name is not None:
        practitioner["point_of_care"] = {**(point_of_care or {}),
                                         **({"name": point_of_care_name} if point_of_care_name else {})}

    # --- the care relation --------------------------------------------------------------------------------
    purpose = r.agree(PURPOSE_OF_USE, lambda n: _map(r.element(n), _code), "attestation.care_relation.purpose_of_use")
    if purpose:
        care["purpose_of_use"] = purpose
    for key, attr in (("healthcare_service", HEALTHCARE_SERVICE), ("purpose_of_use_details", PURPOSE_OF_USE_DETAILS)):
        coded = _map(r.element(attr), _code)
        if coded:
            care[key] = coded
    element = r.element(DECISION_REF)
    if element is not None:
        decision_ref = _decision_ref(element)
        if decision_ref is None:
            r.problem("attestation.care_relation.decision_ref", f"{DECISION_REF} is not a decision-ref element")
        else:
            care["decision_ref"] = decision_ref

    # --- the patient --------------------------------------------------------------------------------------
    patient: dict[str, Any] = {}
    cx = r.agree(RESOURCE_ID, r.text, "attestation.patients[0].identifier")
    if cx is not None:
        identifier = _patient(cx)
        if identifier is None:
            r.problem("attestation.patients[0].identifier",
                      "resource-id is not an HL7v2 CX identifier of the form id^^^&OID&ISO")
        else:
            patient["identifier"] = identifier
    patient_poc = _map(r.element(RESOURCE_CHILD_ORGANIZATION), _identifier)
    patient_poc_name = r.text(RESOURCE_CHILD_ORGANIZATION_NAME)
    if patient_poc is not None or patient_poc_name is not None:
        patient["point_of_care"] = {**(patient_poc or {}), **({"name": patient_poc_name} if patient_poc_name else {})}

    attestation: dict[str, Any] = {"practitioner": practitioner, "care_relation": care,
                                   "patients": [patient] if patient else []}

    # --- decision information -----------------------------------------------------------------------------
    security_level = r.agree(SECURITY_LEVEL, r.text, "saml:Attribute[@Name='SecurityLevel']")
    for key, names in (("home_community_id", HOME_COMMUNITY_ID), ("client_id", CLIENT_ID), ("scope", SCOPE)):
        value = r.agree(names, r.text, _path(names[0]))
        if value is not None:
            info[key] = value[:256]
    if security_level is not None:
        info["security_level"] = security_level[:16]
    unknown = attrs.unknown()
    if unknown:
        info["unmapped_attributes"] = [redact_identity_numbers(u[:128]) for u in unknown[:32]]

    return Mapped(attestation, [*attrs.findings, *r.findings], info,
                  citizen_signals(name_id, provider_id, purpose, patient.get("identifier")), security_level)


def _map(element: Any, convert: Any) -> dict[str, Any] | None:
    if element is None:
        return None
    out: dict[str, Any] = convert(element)
    return out


def citizen_signals(name_id: str | None, provider: dict[str, Any] | None, purpose: dict[str, Any] | None,
                    patient: dict[str, Any] | None) -> list[str]:
    """Why the assertion is a citizen's rather than a health-personnel user's (helsenorge's assertions):
    the provider identifier is a person number, not an HPR number; the purpose of use is ISO 14265
    "subject of care uses"; the subject is the patient. Empty: none of these."""
    out: list[str] = []
    if provider is not None and provider.get("system") in (OID_FNR, OID_DNR):
        out.append("the provider identifier is a national identity number, not an HPR number")
    if purpose is not None and purpose.get("system") == ISO_14265 and purpose.get("code") == ISO_14265_SUBJECT_OF_CARE:
        out.append("the purpose of use is ISO 14265 'subject of care uses' (a citizen's own access)")
    if name_id is not None and patient is not None and patient.get("id") == name_id:
        out.append("the subject is the patient")
    return out
