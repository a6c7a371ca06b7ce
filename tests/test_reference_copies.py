"""The copies the suite uses (packaged spec examples and code lists, vendored Wycheproof vectors) are
unchanged from the project's reference material, when that sits beside the checkout (../shared)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from .support.tokens import SHARED

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (reference material) is not beside this checkout")


def _data(name: str) -> str:
    return resources.files("attest").joinpath("data", name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["9060.json", "purpose_of_use.json", "carerelation.json",
                                  "healthcare_service_systems.json", "identifier_systems.json"])
def test_code_lists_are_unchanged(name: str) -> None:
    assert json.loads(_data(name)) == json.loads((SHARED / "spec" / "codes" / name).read_text(encoding="utf-8"))


def test_spec_examples_are_unchanged() -> None:
    packaged = json.loads(_data("spec_examples.json"))["examples"]
    for name, example in packaged.items():
        original = json.loads((SHARED / "spec" / "examples" / f"{name}.json").read_text(encoding="utf-8"))
        assert example == original, name


@pytest.mark.parametrize("name", ["json_web_signature_test.json", "json_web_key_test.json"])
def test_wycheproof_vectors_are_unchanged(name: str) -> None:
    vendored = (ROOT / "tests" / "fixtures" / "wycheproof" / name).read_bytes()
    assert vendored == (SHARED / "testdata" / "wycheproof" / name).read_bytes()


@pytest.mark.parametrize("name", ["helseid-access-token-test-env.jwt", "LICENSE-XcaDocumentSource"])
def test_nhn_test_token_is_unchanged(name: str) -> None:
    vendored = (ROOT / "tests" / "fixtures" / "nhn" / name).read_bytes()
    assert vendored == (SHARED / "testdata" / "nhn" / name).read_bytes()
