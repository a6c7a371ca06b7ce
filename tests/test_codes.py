from __future__ import annotations

from attest import codes


def test_code_lists_are_loaded_with_their_aliases() -> None:
    lists = codes.code_lists()
    assert len(lists["9060"].displays) == 36 and lists["9060"].deprecated == {"MT"}
    assert set(lists["purpose_of_use"].displays) == {"TREAT", "ETREAT", "COC", "BTG"}
    assert "urn:oid:2.16.840.1.113883.5.8" in lists["purpose_of_use"].systems
    assert len(lists["carerelation"].displays) == 38
    assert "https://terminology.dips.com/decisiontemplate" in lists["carerelation"].systems
    assert not lists["9151"].complete


def test_ten_healthcare_service_systems() -> None:
    systems = codes.system_sets()["healthcare_service"]
    assert len(systems) == 10
    assert [s for s, e in systems.items() if e.deprecated] == ["urn:oid:2.16.578.1.12.4.1.1.8627"]


def test_display_texts() -> None:
    assert codes.display("urn:oid:2.16.578.1.12.4.1.1.9060", "LE") == "Lege"
    assert codes.display("2.16.578.1.12.4.1.1.9060", "SP") == "Sykepleier"
    assert codes.display("https://terminology.dips.com/decisiontemplate", "POLBESOK") == "Poliklinisk besøk"
    assert codes.display("urn:oid:2.16.578.1.12.4.1.1.9151", "15") == "Helsetjenester i hjemmet"
    assert codes.display("urn:oid:2.16.578.1.12.4.1.1.8655", "KX17") is None
    assert codes.system_name("urn:oid:2.16.578.1.12.4.1.1.8655") == "Tjenestetyper innen spesialisthelsetjenesten"
    assert codes.system_name("urn:oid:2.16.578.1.12.4.1.4.101") == "Organisasjonsnummer (Enhetsregisteret)"


def test_display_texts_by_language() -> None:
    """Norwegian and English where the code list has both (purpose of use); the list's one language else."""
    pou = "urn:oid:2.16.840.1.113883.1.11.20448"
    assert codes.display_texts(pou, "TREAT") == {"en": "treatment", "nb": "Behandling"}
    assert codes.display_texts("http://terminology.hl7.org/CodeSystem/v3-ActReason", "BTG") == {
        "en": "break the glass", "nb": "Nødtilgang"}
    assert codes.display_texts("urn:oid:2.16.578.1.12.4.1.1.9060", "LE") == {"nb": "Lege"}
    assert codes.display_texts("urn:oid:2.16.578.1.12.4.1.1.9060", "QQ") == {}
    assert codes.display_texts("urn:oid:2.16.578.1.12.4.1.1.8655", "KX17") == {}
    assert codes.display_texts("https://unknown.example/codes", "A") == {}
