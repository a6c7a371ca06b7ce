"""Trust-store reload without restart: file change, SIGHUP-style forced reload, broken file keeps the old."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from fastapi.testclient import TestClient

from attest.service import create_app
from attest.service.trustwatch import TrustHolder

from ..support.service import fresh_token, service_settings
from ..support.tokens import KEYS


def _copy_keys(tmp_path: Path) -> Path:
    dst = tmp_path / "keys"
    shutil.copytree(KEYS, dst)
    return dst / "trust.yaml"


def _without_fagersta(path: Path) -> None:
    text = path.read_text()
    start = text.index('  - iss: "https://epj.fagersta.example"')
    end = text.index('  - iss: "https://epj.oslo-kommune.example"')
    path.write_text(text[:start] + text[end:])


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_changed_file_is_picked_up(tmp_path: Path) -> None:
    trust = _copy_keys(tmp_path)
    holder = TrustHolder(trust, interval=0)
    assert "https://epj.fagersta.example" in holder.store.issuers
    assert holder.check() is False  # unchanged: nothing to do
    _without_fagersta(trust)
    _touch_later(trust)
    assert holder.check() is True
    assert "https://epj.fagersta.example" not in holder.store.issuers


def test_broken_file_keeps_the_old_store(tmp_path: Path) -> None:
    trust = _copy_keys(tmp_path)
    holder = TrustHolder(trust, interval=0)
    old = holder.store
    trust.write_text("issuers: [ {iss: 1} ]")
    _touch_later(trust)
    assert holder.check() is False
    assert holder.store is old and holder.last_error
    holder.request_reload()  # forced reload of the same broken file: still the old store
    assert holder.check(force=True) is False and holder.store is old


def test_watcher_thread_and_forced_reload_through_the_app(tmp_path: Path) -> None:
    trust = _copy_keys(tmp_path)
    app = create_app(service_settings(tmp_path / "data", trust_store=trust, trust_reload_seconds=0.05))
    with TestClient(app) as c:
        assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
        _without_fagersta(trust)
        _touch_later(trust)
        deadline = time.monotonic() + 20
        codes: list[str] = []
        while time.monotonic() < deadline:
            codes = [e["code"] for e in c.post("/v1/verify", json={"token": fresh_token()}).json()["errors"]]
            if codes == ["unknown_issuer"]:
                break
            time.sleep(0.05)
        assert codes == ["unknown_issuer"]
        assert 'attest_trust_store_reloads_total{result="ok"}' in c.get("/metrics").text
        # SIGHUP path: request_reload() (what the signal handler calls) reloads even without a new mtime
        shutil.copy(KEYS / "trust.yaml", trust)
        st = trust.stat()
        os.utime(trust, ns=(st.st_atime_ns, st.st_mtime_ns))
        app.state.runtime.trust.request_reload()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "https://epj.fagersta.example" not in app.state.runtime.trust.store.issuers:
            time.sleep(0.05)
        assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
