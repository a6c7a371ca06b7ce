"""The README's tables stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from attest import ERROR_CODES, list_profiles

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_error_code_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \| (?:token|claims|replay|dpop|attestation|context|warning) \|",
                                README, re.MULTILINE))
    assert documented == set(ERROR_CODES)


def test_every_profile_is_documented() -> None:
    for pid in list_profiles():
        assert f"| `{pid}` |" in README, pid
