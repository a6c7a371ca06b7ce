"""The validation machinery of issue 12 checked against known answers: the vendored validator and IG data are
intact, a valid AuditEvent has no error, and the breakages that matter (a care-relation sub-extension, the
``_patient`` extension, a wrong display) are reported, as are the IG's own (known-invalid) examples."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from ..support.fhirval import AUDIT, IG, ROOT, issues, profile_errors
from ..support.tokens import SHARED

EXT_PATIENT = "http://hl7.no/fhir/StructureDefinition/auditevent-patient-extension"
EXT_CARE_RELATION = "http://hl7.no/fhir/StructureDefinition/auditevent-carerelation-metadata-extension"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def _example(n: int) -> dict[str, Any]:
    return json.loads((IG / "examples" / f"AuditEvent-NOBasisAuditeventInstance{n}.json").read_text("utf-8"))


def valid_event() -> dict[str, Any]:
    """The IG's example 1, fixed up as little as it takes to be valid against its own profile:

    1. the Organizations' and the Patient's numbers move from ``identifier.id`` (the FHIR element id, where the
       example put them) to ``identifier.value`` (no-basis slices ENH/RSH/FNR require ``value``);
    2. the DIPS decision-template coding joins the ActReason coding in ``purposeOfEvent[0]``: the example gave
       it a ``purposeOfEvent`` of its own, which then lacks the required ``PURPOSE_OF_USE_VALUESET`` slice;
    3. ``source.observer`` (``Device/ex-device``) and ``entity[0].what`` (``Bundle/Documentlist``) point at
       nothing: the IG Publisher reports them as errors (fhirval as warnings), so they become a display and
       an identifier."""
    ev = _example(1)
    for r in ev["contained"]:
        if r["resourceType"] in ("Organization", "Patient"):
            for ident in r["identifier"]:
                ident["value"] = ident.pop("id")
    ev["purposeOfEvent"] = [{"coding": ev["purposeOfEvent"][0]["coding"] + ev["purposeOfEvent"][1]["coding"]}]
    ev["source"]["observer"] = {"display": "server.example.com"}
    ev["entity"][0]["what"] = {"identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:6b1a4b1e-0d4c-4f37-9d0b-6a4f3c1e2d10"}}
    return ev


# --- the vendored copies -----------------------------------------------------------------------------------

def test_vendored_ig_data_matches_its_checksums() -> None:
    lines = (IG / "SHA256SUMS").read_text("utf-8").splitlines()
    assert len(lines) == 21
    for line in lines:
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((IG / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (reference material) is not beside this checkout")
def test_vendored_copies_equal_the_reference_material() -> None:
    """Data byte for byte; the validator's code except the vendoring notes (tools/fhirval/README.md)."""
    shared_ig = SHARED / "testdata" / "fhir" / "no-auditevent-ig"
    for f in sorted(p for p in shared_ig.rglob("*") if p.is_file() and p.name != "README.md"):
        assert (IG / f.relative_to(shared_ig)).read_bytes() == f.read_bytes(), f
    tool, shared_tool = ROOT / "tools" / "fhirval", SHARED / "tools" / "fhirval"
    for rel in ("npm/package.json", "npm/package-lock.json", *(f"tests/{p.name}" for p in (shared_tool / "tests").iterdir())):
        assert (tool / rel).read_bytes() == (shared_tool / rel).read_bytes(), rel

    def code(path: Any) -> list[str]:  # without comment lines and docstring prose: the statements
        return [line for line in path.read_text("utf-8").splitlines() if line.strip() and not line.lstrip().startswith("#")
                and "data folder" not in line and "shared data folder" not in line]

    for rel in ("fhirval.py", "make_r4_core_pkg.py", "requirements.txt"):
        assert code(tool / rel) == code(shared_tool / rel), rel


# --- a valid event and its breakages -----------------------------------------------------------------------

def test_the_fixed_up_example_is_valid() -> None:
    ev = valid_event()
    assert profile_errors(ev) == []
    assert profile_errors(ev, None) == []  # against its meta.profile: the same profile
    assert all(i.severity != "error" for i in issues(ev))


@pytest.mark.parametrize("sub", ["decision-ref-id", "decision-ref-description", "decision-ref-user-selected", "toa"])
def test_a_missing_care_relation_sub_extension_is_an_error(sub: str) -> None:
    ev = valid_event()
    care = next(e for e in ev["extension"] if e["url"] == EXT_CARE_RELATION)
    care["extension"] = [e for e in care["extension"] if e["url"] != sub]
    errors = profile_errors(ev)
    assert any(f"slice 'AuditEvent.extension:_careRelationMetaData.extension:{sub}': minimum required = 1, "
               "but only found 0" in e for e in errors), errors
    assert any("AuditEvent.extension:_careRelationMetaData.extension: minimum required = 4, but only found 3" in e
               for e in errors), errors


def test_the_whole_care_relation_extension_may_be_absent() -> None:
    """0..1 in the profile: leaving it out is valid (emitting it incomplete is not)."""
    ev = valid_event()
    ev["extension"] = [e for e in ev["extension"] if e["url"] != EXT_CARE_RELATION]
    assert profile_errors(ev) == []


def test_a_missing_patient_extension_is_an_error() -> None:
    ev = valid_event()
    ev["extension"] = [e for e in ev["extension"] if e["url"] != EXT_PATIENT]
    errors = profile_errors(ev)
    assert any("slice 'AuditEvent.extension:_patient': minimum required = 1, but only found 0" in e
               for e in errors), errors
    # the Patient is still contained but no longer referenced
    assert any("contained resource PatientInstance1 is not referenced from the resource (dom-3)" in e
               for e in errors), errors
    ev["contained"] = [r for r in ev["contained"] if r["resourceType"] != "Patient"]
    errors = profile_errors(ev)
    assert any("slice 'AuditEvent.extension:_patient'" in e for e in errors), errors


def test_no_extension_at_all_is_an_error() -> None:
    ev = valid_event()
    del ev["extension"]
    ev["contained"] = [r for r in ev["contained"] if r["resourceType"] not in ("Patient",)]
    errors = profile_errors(ev)
    assert any("AuditEvent.extension: minimum required = 1, but only found 0" in e for e in errors), errors


def test_a_wrong_display_is_an_error() -> None:
    """fhirval reports a wrong display as a warning; profile_errors counts it as an error (as the HL7
    validator does by default)."""
    ev = valid_event()
    coding = ev["purposeOfEvent"][0]["coding"][0]
    assert (coding["system"], coding["code"]) == (ACT_REASON, "TREAT")
    coding["display"] = "Behandling"
    assert [i.severity for i in issues(ev) if "wrong display" in i.message] == ["warning"]
    assert profile_errors(ev) == [f"AuditEvent.purposeOfEvent[0].coding[0]: wrong display 'Behandling' for "
                                  f"{ACT_REASON}#TREAT; valid display is 'treatment'"]
    coding["display"] = "TREATMENT"  # the comparison ignores case, as the HL7 validator's does
    assert profile_errors(ev) == []


def test_a_purpose_of_use_outside_the_value_set_is_an_error() -> None:
    ev = valid_event()
    ev["purposeOfEvent"][0]["coding"][0]["code"] = "NOSUCHCODE"
    del ev["purposeOfEvent"][0]["coding"][0]["display"]
    errors = profile_errors(ev)
    assert any("unknown code 'NOSUCHCODE'" in e for e in errors), errors
    assert any("slice 'AuditEvent.purposeOfEvent.coding:PURPOSE_OF_USE_VALUESET': minimum required = 1" in e
               for e in errors), errors


def test_an_incomplete_practitioner_role_is_an_error() -> None:
    ev = valid_event()
    role = next(r for r in ev["contained"] if r["resourceType"] == "PractitionerRole")
    del role["location"]
    ev["contained"] = [r for r in ev["contained"] if r["id"] not in ("PractitionerPointOfCareInstance1",
                                                                     "PractitionerPointOfCareOrganizationInstance1")]
    errors = profile_errors(ev)
    assert any("PractitionerRole.location: minimum required = 1, but only found 0" in e for e in errors), errors
    assert any(e.startswith("AuditEvent.agent[0].who: unable to find a match for profile #PractitionerRoleInstance1")
               for e in errors), errors


# --- the IG's own examples: known-invalid ------------------------------------------------------------------

_EXAMPLE_ERRORS = {  # the IG Publisher's qa.txt content errors (0.9.8 build): 17, 11 and 9
    1: (17, ["AuditEvent.contained[2]/*Organization/PractitionerLegalEntityInstance1*/.identifier[0].value: "
             "Organization.identifier:ENH.value: minimum required = 1, but only found 0",
             "AuditEvent.purposeOfEvent[1].coding: slice 'AuditEvent.purposeOfEvent.coding:PURPOSE_OF_USE_VALUESET': "
             "minimum required = 1, but only found 0",
             "AuditEvent.agent[0].who: unable to find a match for profile #PractitionerRoleInstance1 among choices: "
             "http://hl7.no/fhir/StructureDefinition/no-domain-Trustframework-PractitioneRole"]),
    2: (11, ["AuditEvent.extension[2].extension[0]: constraint failed: ext-1",
             "AuditEvent.contained[5]/*Patient/PatientInstance2*/.identifier[0].value: Patient.identifier:FNR.value: "
             "minimum required = 1, but only found 0"]),
    3: (9, ["AuditEvent.extension[0].valueReference: unable to find a match for profile #PatientInstance3"]),
}


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_ig_examples_are_reported_invalid(n: int) -> None:
    count, expected = _EXAMPLE_ERRORS[n]
    errors = profile_errors(_example(n), AUDIT)
    assert len(errors) == count, "\n".join(errors)
    for text in expected:
        assert any(e.startswith(text) for e in errors), (text, errors)


def test_validation_leaves_the_resource_unchanged() -> None:
    ev = valid_event()
    before = copy.deepcopy(ev)
    profile_errors(ev)
    assert ev == before
