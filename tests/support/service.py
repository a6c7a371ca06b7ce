"""Helpers for service tests: fresh tokens at the real clock (the service evaluates at its own clock) and
settings pointing at a temporary data directory."""

from __future__ import annotations

import base64
import itertools
import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from attest.service.settings import Settings

from .tokens import KEYS, make_token, valid_attestation

ADMIN_TOKEN = "test-admin-token-0123456789"
_counter = itertools.count()


def key_ring(*kids: str) -> str:
    """A key ring string with a new random key per kid (first = current)."""
    return ",".join(f"{kid}:{base64.b64encode(os.urandom(32)).decode()}" for kid in kids)


def service_settings(data_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "trust_store": KEYS / "trust.yaml",
        "data_dir": data_dir,
        "at_rest_keys": key_ring("k1"),
        "admin_token": ADMIN_TOKEN,
        "instance": "test-instance",
        "trust_reload_seconds": 0.0,
        # most service tests post bare tokens; test_context_required.py covers the production default (true)
        "context_required": False,
    }
    base.update(overrides)
    return Settings(**base)


def fresh_token(attestation: dict[str, Any] | None = None, *, org_name: str = "fagersta",
                now: int | None = None, keep_toa: bool = False, **claims: Any) -> str:
    """A valid token (unless changed) made now (``toa`` = now - 5 unless ``keep_toa``), with a unique jti."""
    now = int(time.time()) if now is None else now
    att = valid_attestation() if attestation is None else attestation
    if isinstance(att, dict) and not keep_toa:
        att["toa"] = now - 5
    claims.setdefault("jti", f"svc-{uuid.uuid4()}-{next(_counter)}")
    return make_token(att, org_name=org_name, now=now, **claims)


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def committed_in_sqlite(path: Path, row_id: str) -> bool:
    """Whether the audit row ``row_id`` is visible to a fresh connection to the SQLite store at ``path``
    (committed, not only written by the store's own connection)."""
    fresh = sqlite3.connect(path)
    try:
        return bool(fresh.execute("SELECT count(*) FROM attest_audit_event WHERE id = ?", (row_id,)).fetchone()[0] == 1)
    finally:
        fresh.close()
