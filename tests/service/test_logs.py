"""The ids attest makes and writes into log lines (audit event ids, request ids; identifiers.random_id) never
hold what the log's redaction takes for an identity number, nor any run of 11 digits or more that a scanner of
logs would flag, so a line names its audit events and its request
exactly (before: about one line in 12 had "[redacted]" in the middle of an id), while a request id a client
sends is its text and redacted as such (tests/hardening/test_secrets_in_logs.py holds every log line to that)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from attest import identifiers
from attest.identifiers import IDENTITY_NUMBER, random_id
from attest.service import create_app, logs

from ..support.service import admin, fresh_token, service_settings

FNR = "13116900216"
#: 16 bytes whose hex holds 11 decimal digits in a row: as a UUID ab123456-7890-4bcd-8eef-abcdefabcdef
LOOKALIKE = bytes.fromhex("ab12345678904bcd8eefabcdefabcdef")
#: 16 bytes whose hex holds a run of 13 decimal digits (a1582800327069aa…, a request id seen in a log)
LONG_RUN = bytes.fromhex("b344a0f100943a1582800327069aa3f9")
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _draws(monkeypatch: pytest.MonkeyPatch, *first: bytes) -> None:
    """``os.urandom(16)`` answers ``first`` in turn, then random bytes (keys and nonces stay random)."""
    queue, urandom = list(first), os.urandom
    monkeypatch.setattr(os, "urandom", lambda n: queue.pop(0) if n == 16 and queue else urandom(n))


def test_random_ids_are_drawn_again_while_they_look_like_an_identity_number(monkeypatch: pytest.MonkeyPatch) -> None:
    good = bytes(range(0xA0, 0xB0))
    _draws(monkeypatch, LOOKALIKE, LOOKALIKE, good)
    assert random_id() == good.hex()
    _draws(monkeypatch, LOOKALIKE, good)
    assert random_id(uuid=True) == "a0a1a2a3-a4a5-46a7-a8a9-aaabacadaeaf"
    # 13 digits in a row: not an identity number to the pattern (exactly 11), but to a scanner of logs
    _draws(monkeypatch, LONG_RUN, good)
    assert IDENTITY_NUMBER.search(LONG_RUN.hex()) is None
    assert random_id() == good.hex()
    for _ in range(2000):
        text = random_id(uuid=True)
        assert UUID4.fullmatch(text) and IDENTITY_NUMBER.search(text) is None
        assert re.search(r"[0-9]{11}", text.replace("-", "")) is None
        text = random_id()
        assert IDENTITY_NUMBER.search(text) is None and re.search(r"[0-9]{11}", text) is None


#: 16 bytes as 32 nibbles, four in five decimal (runs of about 10-12 digits, where the redraw rule and the
#: pattern could disagree, in ~1 draw of 12), and uniform bytes
_NIBBLES = st.lists(st.sampled_from([*range(10)] * 4 + [*range(10, 16)]), min_size=32, max_size=32).map(
    lambda n: bytes(n[i] << 4 | n[i + 1] for i in range(0, 32, 2)))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_NIBBLES, st.binary(min_size=16, max_size=16)))
def test_the_redraw_rule_of_random_id_covers_every_id_the_pattern_matches(raw: bytes) -> None:
    h = raw.hex()
    for text in (h, f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"):
        if not identifiers._eleven_decimal_nibbles(raw):
            assert IDENTITY_NUMBER.search(text) is None, text
    assert identifiers._eleven_decimal_nibbles(raw) == (re.search(r"[0-9]{11}", h) is not None)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The service's log configuration (logs.configure, as attest serve), written to a buffer."""
    saved = {name: (lg.handlers[:], lg.level, lg.propagate)
             for name in ("attest", "uvicorn", "uvicorn.error") for lg in [logging.getLogger(name)]}
    logs.configure("INFO")
    buffer = io.StringIO()
    handler = logging.getLogger("attest").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    for name, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate


def _verify_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "attest.service.access" and line.get("route") == "/v1/verify"]


def test_a_verification_log_line_names_its_audit_events_and_request_exactly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_lines: io.StringIO) -> None:
    body = {"token": fresh_token(), "context": {"patient_id": FNR}}
    ids = [bytes([i]) * 16 for i in (0xA1, 0xA2, 0xA3)]
    with TestClient(create_app(service_settings(tmp_path))) as client:
        # the request id, the verification id and the event id are drawn in this order; the first draw of
        # each looks like an identity number
        _draws(monkeypatch, LOOKALIKE, ids[0], LOOKALIKE, ids[1], LOOKALIKE, ids[2])
        r = client.post("/v1/verify", json=body)
        assert r.status_code == 200 and r.json()["decision"] == "permit"
        events = client.get("/v1/audit", headers=admin()).json()["entry"]
        # a request id the client sent is the client's text: an identity number in it is redacted
        client.post("/v1/verify", json={"token": fresh_token(), "context": {"patient_id": FNR}},
                    headers={"X-Request-ID": f"req-{FNR}"})
    first, second = _verify_lines(log_lines)
    assert first["request_id"] == r.headers["x-request-id"] == "a1" * 16
    assert first["audit_events"] == [e["resource"]["id"] for e in events] == ["a3a3a3a3-a3a3-43a3-a3a3-a3a3a3a3a3a3"]
    assert "[redacted]" not in json.dumps(first)
    assert second["request_id"] == "req-[redacted]"
    assert FNR not in log_lines.getvalue()
