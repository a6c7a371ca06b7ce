"""Access to the Wycheproof JOSE vectors, vendored unchanged in ``tests/fixtures/wycheproof/`` (Apache-2.0,
see LICENSE and SOURCE there; copied from the project's reference material ``shared/testdata/wycheproof``,
so that the suite runs from any clone)."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

WYCHEPROOF = Path(__file__).resolve().parents[1] / "fixtures" / "wycheproof"


@cache
def jws_vectors() -> dict[str, Any]:
    return json.loads((WYCHEPROOF / "json_web_signature_test.json").read_text(encoding="utf-8"))


@cache
def jwk_vectors() -> dict[str, Any]:
    return json.loads((WYCHEPROOF / "json_web_key_test.json").read_text(encoding="utf-8"))


def jws_groups() -> list[dict[str, Any]]:
    return list(jws_vectors()["testGroups"])


def b64int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")
