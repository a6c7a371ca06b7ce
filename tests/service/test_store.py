"""The audit store (SQLite here; PostgreSQL in tests/integration) and the audit trail on top of it."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from attest import ConfigurationError, DependencyUnavailable, VerifyContext, verify
from attest.audit import AuditTrail, KeyRing, open_store
from attest.audit.fhir import NO_PATIENT
from attest.audit.store import AuditQuery, AuditRow, SQLAuditStore, SQLiteDialect, redact_url

from ..support.service import committed_in_sqlite, key_ring
from ..support.tokens import NOW, VALID_FNRS, make_token, trust_store, valid_attestation


def _trail(tmp_path: Path, ring: str | None = None) -> AuditTrail:
    return AuditTrail(open_store(None, tmp_path), KeyRing.parse(ring or key_ring("k1")), "unit")


def _two_patients() -> dict:  # type: ignore[type-arg]
    att = valid_attestation()
    att["patients"].append({"identifier": {"id": VALID_FNRS[2], "system": "urn:oid:2.16.578.1.12.4.1.4.1"}})
    return att


def test_one_row_per_patient_with_queryable_columns(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    d = verify(make_token(_two_patients()), trust_store(), context=VerifyContext(now=NOW))
    assert d.permitted
    ids = trail.record(d, VerifyContext(now=NOW), token="tok")
    assert len(ids) == 2
    rows = trail.store.search(AuditQuery())
    assert {r.id for r in rows} == set(ids)
    assert len({r.verification_id for r in rows}) == 1
    r = rows[0]
    assert (r.decision, r.outcome, r.codes, r.issuer, r.legal_entity, r.practitioner_hpr) == (
        "permit", "0", "", "https://epj.fagersta.example", "100100673", "9144897")
    assert r.key_id == "k1" and r.instance == "unit"
    assert len(trail.search(patient=VALID_FNRS[2])) == 1
    assert len(trail.search(patient="13116900216")) == 1


def test_nothing_personal_is_stored_in_clear(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    d = verify(make_token(), trust_store(), context=VerifyContext(now=NOW, patient_id="13116900216",
                                                                     authenticated_pid="20086600138"))
    trail.record(d, VerifyContext(now=NOW, patient_id="13116900216", authenticated_pid="20086600138"),
                 token="the-token")
    raw = (tmp_path / "audit.sqlite").read_bytes()
    for secret in (b"20086600138", b"13116900216", b"August September", b"the-token", b"Fastlegeliste"):
        assert secret not in raw
    con = sqlite3.connect(tmp_path / "audit.sqlite")
    for row in con.execute("SELECT * FROM attest_audit_event"):
        for value in row:
            if isinstance(value, str):
                assert not re.search(r"(?<![0-9a-f])[0-9]{11}(?![0-9a-f])", value), value
    con.close()


def test_sealed_payload_opens_only_with_the_key(tmp_path: Path) -> None:
    ring = key_ring("k1")
    trail = _trail(tmp_path, ring)
    d = verify(make_token(), trust_store(), context=VerifyContext(now=NOW))
    trail.record(d, VerifyContext(now=NOW), token="tok")
    ev = trail.search()[0]
    assert ev.payload is not None and ev.payload["token"] == "tok"
    assert ev.payload["decision"]["decision"] == "permit"
    assert ev.audit_event["resourceType"] == "AuditEvent"
    stranger = AuditTrail(trail.store, KeyRing.parse(key_ring("k1")), "unit")
    opened = stranger.search()[0]
    assert opened.payload is None and "does not open" in (opened.error or "")
    # a rotated ring (new key first, old key kept) still opens it
    rotated = AuditTrail(trail.store, KeyRing.parse(key_ring("k2") + "," + ring), "unit")
    assert rotated.search(patient="13116900216")[0].payload is not None


def test_records_are_compressed_and_records_from_before_compression_still_open(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    d = verify(make_token(), trust_store(), context=VerifyContext(now=NOW))
    new, old = trail.prepare(d, VerifyContext(now=NOW), token=make_token()), trail.prepare(d, VerifyContext(now=NOW))
    plaintext = trail.keyring.open(old[0].key_id, old[0].sealed, old[0].id.encode())
    kid, blob = trail.keyring.seal(plaintext, old[0].id.encode(), compress=False)  # as written before compression
    trail.store.append([*new, replace(old[0], key_id=kid, sealed=blob)])
    opened = {ev.row.id: ev for ev in trail.search()}
    assert opened[new[0].id].payload is not None and opened[old[0].id].payload is not None
    assert opened[new[0].id].row.sealed[:1] == b"\x02" and opened[old[0].id].row.sealed[:1] == b"\x01"
    new_plaintext = trail.keyring.open(new[0].key_id, new[0].sealed, new[0].id.encode())
    assert len(new[0].sealed) < 0.5 * len(new_plaintext)


def test_append_only(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    trail.record(verify("x", trust_store()), VerifyContext())
    con = sqlite3.connect(tmp_path / "audit.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE attest_audit_event SET decision = 'permit'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM attest_audit_event")
    con.close()


def test_retry_does_not_duplicate(tmp_path: Path) -> None:
    store = open_store(None, tmp_path)
    row = AuditRow("id1", "v1", 1, "deny", "8", "malformed_token", None, None, None, None, None, "k1", b"\x01" * 40)
    store.append([row])
    store.append([row])
    assert len(store.search(AuditQuery())) == 1


def test_unreachable_database_raises_dependency_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = SQLAuditStore(SQLiteDialect(blocker / "sub" / "audit.sqlite"))
    with pytest.raises(DependencyUnavailable):
        store.append([AuditRow("i", "v", 1, "deny", "8", "", None, None, None, None, None, "k", b"x")])
    assert store.ping() is False
    with pytest.raises(ConfigurationError, match="postgresql"):
        open_store("mysql://x", tmp_path)


def test_redact_url() -> None:
    assert redact_url("postgresql://attest:s3cret@db:5432/attest") == "postgresql://attest:***@db:5432/attest"
    assert redact_url("redis://redis:6379/0") == "redis://redis:6379/0"


class _SlowDialect(SQLiteDialect):
    def __init__(self, path: Path, gate: threading.Event, entered: threading.Event) -> None:
        super().__init__(path)
        self.gate, self.entered = gate, entered

    def insert(self, conn, rows):  # type: ignore[no-untyped-def]
        self.entered.set()
        self.gate.wait(10)
        super().insert(conn, rows)


def test_close_waits_for_writes_in_flight(tmp_path: Path) -> None:
    gate, entered = threading.Event(), threading.Event()
    store = SQLAuditStore(_SlowDialect(tmp_path / "a.sqlite", gate, entered))
    row = AuditRow("i", "v", 1, "deny", "8", "", None, None, None, None, None, "k", b"x")
    writer = threading.Thread(target=store.append, args=([row],))
    writer.start()
    assert entered.wait(10)
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # still waiting for the write
    gate.set()
    writer.join(10)
    closer.join(10)
    assert not closer.is_alive()
    con = sqlite3.connect(tmp_path / "a.sqlite")
    assert con.execute("SELECT count(*) FROM attest_audit_event").fetchone()[0] == 1
    con.close()
    with pytest.raises(DependencyUnavailable):  # closed: no more writes
        store.append([row])


def test_time_filters(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    d = verify("x", trust_store())
    trail.record(d, VerifyContext(), recorded=1000.0)
    trail.record(d, VerifyContext(), recorded=2000.0)
    assert len(trail.search(since_ms=1_500_000)) == 1
    assert len(trail.search(until_ms=1_500_000)) == 1
    assert len(trail.search(code="malformed_token")) == 2
    assert trail.search(code="token_expired") == []
    payload = trail.search()[0].payload
    assert payload is not None and json.dumps(payload)


def test_unbound_attestation_gives_one_event_without_a_patient(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    att = valid_attestation()
    att["patients"] = []
    d = verify(make_token(att), trust_store(), context=VerifyContext(now=NOW))
    ids = trail.record(d, VerifyContext(now=NOW), token="t" * 70000)
    assert len(ids) == 1
    ev = trail.search()[0]
    assert ev.row.patient_ref is None
    assert [x for x in ev.audit_event["extension"] if "patient" in x["url"]] == [NO_PATIENT]
    assert ev.payload["token"] is None and len(ev.payload["token_sha256"]) == 64  # too long to keep verbatim


class _CountingDialect(SQLiteDialect):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[int] = []
        self.gate = threading.Event()

    def insert(self, conn, rows):  # type: ignore[no-untyped-def]
        self.gate.wait(10)  # hold the first write so that the others queue up behind it
        self.batches.append(len(rows))
        super().insert(conn, rows)


def test_group_commit_batches_concurrent_appends_and_each_caller_waits_for_its_rows(tmp_path: Path) -> None:
    """Concurrent appends are written together by the writer thread, several in one transaction; each
    append returns only after its own rows are committed (visible to another connection)."""
    dialect = _CountingDialect(tmp_path / "a.sqlite")
    store = SQLAuditStore(dialect)
    seen: list[bool] = []

    def one(i: int) -> None:
        store.append([AuditRow(f"gc-{i}", "v", 1, "deny", "8", "", None, None, None, None, None, "k", b"x")])
        seen.append(committed_in_sqlite(tmp_path / "a.sqlite", f"gc-{i}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    threading.Timer(0.3, dialect.gate.set).start()
    for t in threads:
        t.join(30)
    store.close()
    assert seen == [True] * 30
    assert sum(dialect.batches) == 30
    assert len(dialect.batches) < 30  # appends shared transactions
    with pytest.raises(DependencyUnavailable, match="shutting down"):
        store.append([AuditRow("late", "v", 1, "deny", "8", "", None, None, None, None, None, "k", b"x")])


def _row(i: int | str) -> AuditRow:
    return AuditRow(f"r-{i}", "v", 1, "deny", "8", "", None, None, None, None, None, "k", b"x")


@pytest.mark.parametrize("n", [1, 70, 71, 72, 143, 300])
def test_a_batch_of_any_size_is_written_whole(tmp_path: Path, n: int) -> None:
    """Up to 71 rows are one multi-row INSERT; more are several statements in one transaction."""
    store = SQLAuditStore(SQLiteDialect(tmp_path / "a.sqlite"))
    store.append([_row(i) for i in range(n)])
    ids = [r.id for r in store.search(AuditQuery(limit=1000))]
    store.close()
    assert sorted(ids) == sorted(f"r-{i}" for i in range(n))


def test_a_batch_that_fails_writes_nothing(tmp_path: Path) -> None:
    """A batch spanning several statements is one transaction: a failure in its last statement leaves no
    row of it behind, and the callers get DependencyUnavailable."""
    store = SQLAuditStore(SQLiteDialect(tmp_path / "a.sqlite"))
    store.append([_row("first")])
    conn = sqlite3.connect(tmp_path / "a.sqlite")
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON attest_audit_event WHEN NEW.id = 'r-150' "
                 "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    conn.commit()
    conn.close()
    with pytest.raises(DependencyUnavailable):
        store.append([_row(i) for i in range(200)])
    ids = [r.id for r in store.search(AuditQuery(limit=1000))]
    store.close()
    assert ids == ["r-first"]


def test_sparse_writes_are_committed_without_waiting(tmp_path: Path) -> None:
    """Writes further apart than half the commit wait are committed at once: the writer never holds a
    commit open for them."""
    store = SQLAuditStore(SQLiteDialect(tmp_path / "a.sqlite"), commit_wait=0.6)
    for i in range(4):
        store.append([_row(i)])
        time.sleep(0.4)
    store.close()
    assert store.commit_waits == 0


def test_under_load_the_writer_waits_for_more_rows(tmp_path: Path) -> None:
    """After a burst (writes arriving much closer together than half the commit wait), a write is held
    for up to the commit wait, so that a write arriving 50 ms later shares its commit."""
    dialect = _CountingDialect(tmp_path / "a.sqlite")
    dialect.gate.set()
    store = SQLAuditStore(dialect, commit_wait=0.5)

    async def scenario() -> None:
        await asyncio.gather(*(store.append_async([_row(f"burst-{i}")]) for i in range(40)))
        first = asyncio.ensure_future(store.append_async([_row("a")]))
        await asyncio.sleep(0.05)
        await asyncio.gather(first, store.append_async([_row("b")]))

    asyncio.run(scenario())
    store.close()
    assert dialect.batches[-1] == 2, dialect.batches
    assert store.commit_waits >= 1
