"""Access to the vendored Wycheproof JOSE vectors (``../shared/testdata/wycheproof``, Apache-2.0,
unchanged)."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from ..support.tokens import SHARED

WYCHEPROOF = SHARED / "testdata" / "wycheproof"


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
