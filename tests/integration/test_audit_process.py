"""``attest serve`` with ATTEST_AUDIT_PROCESS=1 under load: the audit process is killed while requests wait for
it; every permit a client received is in the audit trail, the requests that waited got 503 without a decision
(their tokens usable again), a new audit process takes over, and none is left behind when the service stops."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ..support.servers import AttestServer, wait_until
from ..support.service import fresh_token

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == pid and b"attest.audit.process" in cmd:
                out.append(int(entry.name))
    return out


def _ended(pid: int) -> bool:
    """Gone, or a zombie nobody has reaped yet (it runs no more)."""
    try:
        return (Path(f"/proc/{pid}") / "stat").read_bytes().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def _recorded_permits(c: httpx.Client, admin: str) -> set[str]:
    """The jti of every permit in the audit trail (all pages)."""
    out: set[str] = set()
    params: dict[str, Any] = {"_count": 1000, "decision": "permit"}
    while True:
        bundle = c.get("/v1/audit", params=params, headers={"Authorization": f"Bearer {admin}"}).json()
        out |= {e["resource"]["entity"][0]["what"]["identifier"]["value"] for e in bundle.get("entry", [])}
        after = [link["url"] for link in bundle.get("link", []) if link["relation"] == "next"]
        if not after:
            return out
        params["_cursor"] = parse_qs(urlsplit(after[0]).query)["_cursor"][0]


def test_killing_the_audit_process_under_load_keeps_every_answered_permit(tmp_path: Path) -> None:
    server = AttestServer(tmp_path / "data", {"ATTEST_AUDIT_PROCESS": "1"})
    server.start()
    assert server.proc is not None
    answers: list[tuple[str, str, int, str | None]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            i = 0
            while not stop.is_set():
                i += 1
                jti = f"proc-load-{n}-{i}"
                token = fresh_token(jti=jti)
                r = c.post("/v1/verify", json={"token": token})
                body = r.json()
                assert r.status_code in (200, 503), r.text
                if r.status_code == 503:
                    assert "decision" not in body
                with lock:
                    answers.append((jti, token, r.status_code, body.get("decision")))

    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            assert c.get("/readyz").json()["checks"]["audit_process"] == "ok"
        first = _children(server.proc.pid)
        assert len(first) == 1, first
        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        assert wait_until(lambda: len(answers) >= 40, timeout=60)
        os.kill(first[0], signal.SIGKILL)
        # a new audit process takes over (at most one start a second) and permits are recorded again
        assert wait_until(lambda: _children(server.proc.pid) not in ([], first), timeout=30), server.log_tail()
        killed_at = len(answers)
        assert wait_until(lambda: any(a[2] == 200 for a in answers[killed_at:]), timeout=30)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(60)
        failed = [a for a in answers if a[2] == 503]
        with httpx.Client(base_url=server.url, timeout=30) as c:
            # a token whose request got 503 was not used up
            for jti, token, _, _ in failed[:5]:
                assert c.post("/v1/verify", json={"token": token}).json()["decision"] == "permit", jti
            recorded = _recorded_permits(c, (tmp_path / "data" / "admin-token").read_text().strip())
        permitted = {a[0] for a in answers if a[3] == "permit"}
        assert permitted and permitted <= recorded
        assert "audit process gone" in server.log.read_text()
    finally:
        stop.set()
        children = _children(server.proc.pid) if server.running() else []
        server.stop()
    # the service's end closes the socket pair: its audit process ends too
    assert wait_until(lambda: all(_ended(pid) for pid in children), timeout=30)


def test_a_worker_killed_outright_leaves_no_audit_process_behind(tmp_path: Path) -> None:
    server = AttestServer(tmp_path / "data", {"ATTEST_AUDIT_PROCESS": "1"})
    server.start()
    assert server.proc is not None
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
        children = _children(server.proc.pid)
        assert len(children) == 1
        server.proc.kill()  # SIGKILL: no shutdown of the app; the socket pair closes with the process
        server.proc.wait(30)
        assert wait_until(lambda: _ended(children[0]), timeout=30)
    finally:
        server.stop()
