"""ATTEST_AUDIT_PROCESS: the audit trail built, sealed and committed by a child process (attest.audit.process),
with the same answers and the same failing closed as in process."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from attest.audit.process import AuditProcess, ProcessAuditTrail
from attest.audit.sealing import KeyRing
from attest.service.app import create_app
from attest.service.settings import Settings

from ..support.servers import free_port, wait_until
from ..support.service import admin, committed_in_sqlite, fresh_token, key_ring, service_settings
from ..support.tokens import KEYS


def _app(tmp_path: Path, **overrides: Any) -> Any:
    return create_app(service_settings(tmp_path / "data", audit_process=True, **overrides))


def _process(app: Any) -> AuditProcess:
    trail = app.state.runtime.trail
    assert isinstance(trail, ProcessAuditTrail)
    return trail.process


def test_the_setting_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).audit_process is False
    assert Settings.from_env({"ATTEST_AUDIT_PROCESS": "1"}).audit_process is True
    assert Settings.from_env({"ATTEST_AUDIT_PROCESS": "false"}).audit_process is False


def test_key_material_builds_the_same_ring() -> None:
    ring = KeyRing.parse(key_ring("k2", "k1"))
    again = KeyRing.from_material(ring.material())
    assert again.kids == ["k2", "k1"] and again.current.kid == "k2"
    kid, blob = again.seal(b"payload", b"rid")
    assert ring.open(kid, blob, b"rid") == b"payload"
    assert again.lookup_hash("patient", "x") == ring.lookup_hash("patient", "x")
    assert "k2" in repr(again) and str(ring.current.seal_key) not in repr(again)


def test_every_decision_is_committed_by_the_child_before_the_answer(tmp_path: Path) -> None:
    app = _app(tmp_path)
    with TestClient(app) as c:
        assert _process(app).alive()  # started with the app
        pid = _process(app)._child.proc.pid  # type: ignore[union-attr]
        permit = c.post("/v1/verify", json={"token": fresh_token(jti="proc-1")})
        deny = c.post("/v1/verify", json={"token": "x.y.z"})
        assert permit.json()["decision"] == "permit" and deny.json()["decision"] == "deny"
        events = [e["resource"] for e in c.get("/v1/audit", headers=admin()).json()["entry"]]
        assert {e["outcome"] for e in events} == {"0", "8"}
        assert all(committed_in_sqlite(tmp_path / "data" / "audit.sqlite", e["id"]) for e in events)
        ready = c.get("/readyz").json()
        assert ready["checks"]["audit_process"] == "ok"
        # the child counts its commits for /metrics, as the store does in process
        assert _process(app).rows_committed == 2 and _process(app).commits >= 1
        assert "attest_audit_rows_committed_total 2.0" in c.get("/metrics").text
    # the app's shutdown ends the child
    assert wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=30)


def test_the_answered_event_ids_are_the_stored_ones(tmp_path: Path) -> None:
    app = _app(tmp_path)
    with TestClient(app) as c:
        token = fresh_token(jti="proc-ids")
        inp_ids: list[list[str]] = []
        trail = app.state.runtime.trail
        original = trail.record_async

        async def spy(*args: Any, **kwargs: Any) -> list[str]:
            ids = await original(*args, **kwargs)
            inp_ids.append(ids)
            return ids

        trail.record_async = spy
        assert c.post("/v1/verify", json={"token": token}).json()["decision"] == "permit"
        stored = [e["resource"]["id"] for e in c.get("/v1/audit", headers=admin()).json()["entry"]]
        assert inp_ids == [stored]


def test_a_store_that_cannot_commit_means_503_no_decision_and_the_token_kept(tmp_path: Path) -> None:
    # PostgreSQL that is not there: the child's commit fails, the request gets 503 and no decision
    down = f"postgresql://attest@127.0.0.1:{free_port()}/attest"
    app = _app(tmp_path, database_url=down, dependency_timeout=0.5)
    with TestClient(app) as c:
        token = fresh_token(jti="proc-down")
        r = c.post("/v1/verify", json={"token": token})
        assert r.status_code == 503 and "decision" not in r.json() and r.headers["retry-after"]
        assert c.get("/readyz").status_code == 503
        # the failed attempt did not burn the token: the child is still there for the next one
        assert _process(app).alive()
        r = c.post("/v1/verify", json={"token": token})
        assert r.status_code == 503  # still down, and still not token_replayed


def test_a_child_that_dies_fails_its_requests_and_is_replaced(tmp_path: Path) -> None:
    app = _app(tmp_path)
    with TestClient(app) as c:
        assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
        process = _process(app)
        first = process._child.proc.pid  # type: ignore[union-attr]
        os.kill(first, signal.SIGKILL)
        assert wait_until(lambda: c.get("/readyz").status_code == 503 or process._child is None
                          or process._child.proc.pid != first, timeout=10)
        # within a second or so a new child runs and decisions are recorded again
        assert wait_until(lambda: c.get("/readyz").status_code == 200, timeout=30)
        assert process._child is not None and process._child.proc.pid != first
        token = fresh_token(jti="proc-after")
        assert c.post("/v1/verify", json={"token": token}).json()["decision"] == "permit"
        values = [e["resource"]["entity"][0]["what"]["identifier"]["value"]
                  for e in c.get("/v1/audit", headers=admin()).json()["entry"]]
        assert "proc-after" in values


def test_requests_waiting_for_a_child_that_dies_get_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a child that reads the batch and dies before it answers: its requests fail closed (503, no decision),
    # their tokens are released for a retry
    import attest.audit.process as module

    app = _app(tmp_path)
    with TestClient(app) as c:
        process = _process(app)

        def die(child: Any) -> None:  # the answer never comes: the child is killed first
            os.kill(child.proc.pid, signal.SIGKILL)
            child.proc.wait()
            original_flush(child)

        original_flush = process._flush
        monkeypatch.setattr(process, "_flush", die)
        token = fresh_token(jti="proc-killed")
        r = c.post("/v1/verify", json={"token": token})
        assert r.status_code == 503 and "decision" not in r.json()
        monkeypatch.setattr(process, "_flush", original_flush)
        monkeypatch.setattr(module, "RESTART_INTERVAL", 0.05)
        assert wait_until(lambda: c.get("/readyz").status_code == 200, timeout=30)
        assert c.post("/v1/verify", json={"token": token}).json()["decision"] == "permit"


def test_a_decision_whose_record_cannot_be_made_fails_alone(tmp_path: Path) -> None:
    # one decision whose record cannot be made fails alone; the others of its batch are committed
    from attest.audit.process import _serve

    class _Store:
        def __init__(self) -> None:
            self.rows: list[Any] = []

        def append(self, rows: list[Any]) -> None:
            # nothing is answered before the rows are committed
            assert select.select([parent], [], [], 0)[0] == []
            self.rows.extend(rows)

    class _Row:
        def __init__(self, i: str) -> None:
            self.id = i

    def prepare(inp: Any) -> list[Any]:
        if inp == "bad":
            raise ValueError("cannot")
        return [_Row(f"id-{inp}")]

    import select
    import socket

    from attest import DependencyUnavailable
    from attest.audit.process import _frame, _frames

    parent, child = socket.socketpair()
    with parent, child:
        parent.sendall(_frame([(1, "a"), (2, "bad"), (3, "c")]))
        parent.shutdown(socket.SHUT_WR)
        store = _Store()
        _serve(child, bytearray(), [], prepare, store)
        inbox = bytearray(parent.recv(1 << 16))
    (results, commits, rows), = _frames(inbox)
    assert results[0] == (1, ["id-a"]) and results[2] == (3, ["id-c"])
    assert results[1][0] == 2 and "ValueError" in results[1][1]
    assert commits == 1 and rows == 2 and [r.id for r in store.rows] == ["id-a", "id-c"]

    # a commit that fails fails every decision of its batch, and nothing is counted
    class _Down:
        def append(self, rows: list[Any]) -> None:
            raise DependencyUnavailable("audit store unreachable (test)")

    parent, child = socket.socketpair()
    with parent, child:
        parent.sendall(_frame([(4, "a"), (5, "c")]))
        parent.shutdown(socket.SHUT_WR)
        _serve(child, bytearray(), [], prepare, _Down())
        (results, commits, rows), = _frames(bytearray(parent.recv(1 << 16)))
    assert results == [(4, "audit store unreachable (test)"), (5, "audit store unreachable (test)")]
    assert commits == 0 and rows == 0


def test_the_service_settings_cross_over_the_socket_not_the_command_line_or_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ring = key_ring("env-1")
    monkeypatch.setenv("ATTEST_AT_REST_KEYS", ring)
    monkeypatch.setenv("ATTEST_ADMIN_TOKEN", "admin-token-from-the-environment")
    monkeypatch.setenv("DATABASE_URL", "postgresql://attest:secret-password@db.example/attest")
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "7")  # libpq's own settings stay
    app = create_app(Settings.from_env({**os.environ, "ATTEST_AUDIT_PROCESS": "1", "DATABASE_URL": "",
                                        "ATTEST_TRUST_STORE": str(KEYS / "trust.yaml"),
                                        "ATTEST_DATA_DIR": str(tmp_path / "data")}))
    with TestClient(app):
        process = _process(app)
        child = process._child
        assert child is not None
        proc = Path(f"/proc/{child.proc.pid}")
        cmdline = (proc / "cmdline").read_bytes()
        environ = (proc / "environ").read_bytes()
        assert cmdline.split(b"\0")[1:4] == [b"-P", b"-m", b"attest.audit.process"]
        for secret in (ring, "admin-token-from-the-environment", "secret-password"):
            assert secret.encode() not in cmdline + environ
        assert b"PGCONNECT_TIMEOUT=7" in environ
        for _, seal_key, index_key in process._config.key_material:
            assert seal_key not in cmdline + environ and index_key not in cmdline + environ
        assert "env-1" in repr(process._config) and ring.partition(":")[2] not in repr(process._config)


def test_a_child_that_cannot_start_leaves_the_worker_unready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import attest.audit.process as module

    monkeypatch.setattr(module.sys, "executable", str(tmp_path / "no-such-python"))
    app = _app(tmp_path)
    with TestClient(app) as c:  # the app starts (unready), it does not fail
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["audit_process"] == "unavailable"
        r = c.post("/v1/verify", json={"token": fresh_token()})
        assert r.status_code == 503 and "decision" not in r.json()
