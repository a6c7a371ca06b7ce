from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest import model
from attest.model import locate, normalise, to_helseid_rar

from .hardening.test_properties import attestations
from .support.tokens import valid_attestation


def test_normalise_does_not_mutate_and_emits_spec_spelling() -> None:
    raw = {
        "toa": 1700121037.0,
        "practitioner": {"pid": {"id": "20086600138", "system": "2.16.578.1.12.4.1.4.1"},
                         "hpr-nr": {"id": "9144897", "system": "oid:2.16.578.1.12.4.1.4.4"},
                         "legal-entity": {"id": "100100673", "system": "urn:oid:2.16.578.1.12.4.1.4.101",
                                          "unknown": 1}},
        "care-relationship": {"purpose-of-use": {"code": "TREAT"},
                              "decision-ref": {"ref_id": 7, "user-selected": False}},
        "patient": {"patient_id": {"id": "13116900216"}},
        "ignored": True,
    }
    before = copy.deepcopy(raw)
    out, conflicts = normalise(raw)
    assert raw == before
    assert conflicts == []
    assert out == {
        "toa": 1700121037,
        "practitioner": {"identifier": {"id": "20086600138", "system": "urn:oid:2.16.578.1.12.4.1.4.1"},
                         "hpr_nr": {"id": "9144897", "system": "urn:oid:2.16.578.1.12.4.1.4.4"},
                         "legal_entity": {"id": "100100673", "system": "urn:oid:2.16.578.1.12.4.1.4.101"}},
        "care_relation": {"purpose_of_use": {"code": "TREAT"}, "decision_ref": {"id": "7", "user_selected": False}},
        "patients": [{"identifier": {"id": "13116900216"}}],
    }


def test_wrong_types_are_carried_over_for_the_rules() -> None:
    out, _ = normalise({"practitioner": "x", "care_relation": [1], "patients": [3, {"identifier": "y"}], "toa": "t"})
    assert out == {"practitioner": "x", "care_relation": [1], "patients": [3, {"identifier": "y"}], "toa": "t"}


def test_conflicting_spellings_are_reported() -> None:
    _, conflicts = normalise({"care_relation": {}, "care-relationship": {}})
    assert [(f.code, f.path) for f in conflicts] == [("invalid_field", "attestation.care_relation")]
    _, conflicts = normalise({"practitioner": {"hpr_nr": {}, "hpr-nr": {}}})
    assert [f.path for f in conflicts] == ["attestation.practitioner.hpr_nr"]


def test_locate_shapes() -> None:
    att = valid_attestation()
    assert locate({"attestation": att})[0].shape == "attestation"
    assert locate({"attestation": "x"})[0] is None
    assert locate({**att})[0].shape == "flat"
    assert locate({**att}, ("attestation",))[0] is None
    rar = {"type": "nhn:tillitsrammeverk:parameters", "practitioner": {}}
    loc = locate({"authorization_details": [{"type": "x"}, rar]})[0]
    assert loc.shape == "authorization_details" and loc.source == "authorization_details[1]"
    assert locate({"authorization_details": rar})[0].source == "authorization_details"
    legacy = {"type": "nhn:trust_framework:parameters"}
    assert locate({"authorization_details": [legacy]})[0] is not None
    none, reason = locate({"authorization_details": [rar, rar]})
    assert none is None and "2 elements" in reason


def test_helseid_rar_emission_is_slim() -> None:
    out, _ = normalise(valid_attestation())
    rar = to_helseid_rar(out)
    assert rar["type"] == "nhn:tillitsrammeverk:parameters"
    assert "identifier" not in rar["practitioner"] and "hpr_nr" not in rar["practitioner"]
    assert rar["practitioner"]["authorization"] == {"code": "LE", "system": "urn:oid:2.16.578.1.12.4.1.1.9060"}
    assert rar["care_relationship"]["decision_ref"] == {"id": "fagersta-0001", "user_selected": False}
    assert rar["patients"] == [{}]
    assert "toa" not in rar


def _typed(value: object) -> object:
    """Comparable form that keeps member order and tells 1, 1.0 and True apart."""
    if isinstance(value, dict):
        return [(k, _typed(v)) for k, v in value.items()]
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(attestations, st.just(valid_attestation())))
def test_spec_spelled_fast_path_equals_the_key_map_path(raw: dict[str, Any]) -> None:
    """normalise copies objects whose keys are all spec spellings as they are; with that shortcut switched
    off (every object through the key map) the result and the findings are the same."""
    fast, fast_findings = normalise(raw)
    shortcuts = [model._TOP_KEYS, *model._STRUCT_KEYS.values(), model._DECISION_REF_KEYS,
                 *(c.keys for c in (model._PRACTITIONER, model._CARE_RELATION, model._PATIENT))]
    saved = [k.spec for k in shortcuts]
    try:
        for k in shortcuts:
            k.spec = frozenset()
        slow, slow_findings = normalise(raw)
    finally:
        for k, spec in zip(shortcuts, saved, strict=True):
            k.spec = spec
    assert _typed(fast) == _typed(slow)
    assert fast_findings == slow_findings
