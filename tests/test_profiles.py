from __future__ import annotations

from pathlib import Path

import pytest

from attest import ProfileError, list_profiles, load_profile
from attest.profiles import ProfileDirs, _build


def test_shipped_profiles() -> None:
    assert list_profiles() == ["helseid-at-1.0", "helseid-at-1.0-test", "helseid-rar-1.0", "tillitsrammeverk-1.1",
                              "tillitsrammeverk-1.1-test", "xua-saml-1.0", "xua-saml-1.0-test"]
    prod = load_profile("tillitsrammeverk-1.1")
    assert prod.typ == "attestation+jwt" and prod.max_lifetime == 3600 and prod.leeway == 30
    assert "none" not in prod.algorithms and not any(a.startswith("HS") for a in prod.algorithms)
    assert not prod.allow_synthetic and not prod.allow_list.person_identifiers
    test = load_profile("tillitsrammeverk-1.1-test")
    assert test.allow_synthetic and "05076600324" in test.allow_list.person_identifiers
    sev = {r.name: r.severity for r in test.rules}
    assert sev["decision-ref-present"] == "warning" and sev["legal-entity-present"] == "error"
    assert load_profile("tillitsrammeverk-1.1") is prod  # compiled once


def test_every_rule_has_an_att_or_spec_id() -> None:
    for pid in list_profiles():
        for r in load_profile(pid).rules + load_profile(pid).issue_rules:
            assert r.id.startswith(("ATT-", "DM-", "HID")), (pid, r.name)


def test_machine_checkable_rules_of_rules_md_are_covered() -> None:
    """RULES.md section b marks these rules MECH (or CTX with a contract input): each appears in the
    production profile."""
    expected = {"ATT-1", "ATT-4", "ATT-10", "ATT-11", "ATT-12", "ATT-13", "ATT-15", "ATT-18a", "ATT-18b",
                "ATT-28", "ATT-29a", "ATT-29b", "ATT-32", "ATT-37", "ATT-38", "ATT-41", "ATT-43a", "ATT-45",
                "ATT-46", "ATT-48", "ATT-49", "ATT-53", "ATT-58a", "ATT-58c"}
    ids = {r.id for r in load_profile("tillitsrammeverk-1.1").rules}
    assert expected <= ids, expected - ids


def test_unknown_profile_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile("nope")
    with pytest.raises(ProfileError):
        load_profile("../etc/passwd")
    (tmp_path / "bad.yaml").write_text("id: bad\nrules:\n  - {id: ATT-1, kind: no_such_kind}\n")
    with pytest.raises(ProfileError, match="unknown rule kind"):
        _build("bad", (str(tmp_path),))
    (tmp_path / "hs.yaml").write_text("id: hs\ntoken: {algorithms: [HS256]}\n")
    with pytest.raises(ProfileError, match="never none or HMAC"):
        _build("hs", (str(tmp_path),))
    (tmp_path / "loop.yaml").write_text("id: loop\nextends: loop\n")
    with pytest.raises(ProfileError, match="extends itself"):
        _build("loop", (str(tmp_path),))
    (tmp_path / "ovr.yaml").write_text("id: ovr\nextends: tillitsrammeverk-1.1\nrule_overrides: {nope: {}}\n")
    with pytest.raises(ProfileError, match="unknown rule"):
        _build("ovr", (str(tmp_path),))


def test_a_new_rule_that_fits_a_kind_is_a_profile_edit(tmp_path: Path) -> None:
    (tmp_path / "strict-hpr.yaml").write_text(
        "id: strict-hpr\nextends: tillitsrammeverk-1.1\n"
        "rules_add:\n  - {name: hpr-required, id: ATT-29b, kind: required, path: practitioner.hpr_nr}\n")
    prof = _build("strict-hpr", (str(tmp_path),))
    assert "hpr-required" in {r.name for r in prof.rules}


def test_profile_directories_may_be_strings_or_paths_in_any_iterable(tmp_path: Path) -> None:
    """The same in both builds (the compiled one checks argument types): a list, a tuple, a single directory,
    ``Path`` objects; each form finds the same profile, and the cache keys them alike."""
    (tmp_path / "dirs-form.yaml").write_text("id: dirs-form\nextends: tillitsrammeverk-1.1\n")
    forms: list[ProfileDirs] = [(str(tmp_path),), [str(tmp_path)], [tmp_path], str(tmp_path), tmp_path]
    loaded = [load_profile("dirs-form", d) for d in forms]
    assert all(p is loaded[0] for p in loaded) and loaded[0].id == "dirs-form"
    assert all("dirs-form" in list_profiles(d) for d in forms)
