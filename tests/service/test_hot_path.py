"""The service's hot path (issue 16 item 3): the routes called before every document-sharing request go
straight to their endpoints (middleware.DirectRoutes) with the answers FastAPI's routing gives; the audit
store's group commit is driven by the event loop (one hand-over to the writer per batch); the commit counters
reach /metrics; ``attest serve`` shares the GIL with the writer and spreads connections over its workers."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import Response

from attest import DependencyUnavailable
from attest.audit.store import AuditQuery, AuditRow, SQLAuditStore, SQLiteDialect
from attest.service import app as app_module
from attest.service import create_app, serve
from attest.service.middleware import DirectRoutes
from attest.service.routes import authorize, verify
from attest.service.settings import DEFAULT_MAX_BODY

from ..support.service import committed_in_sqlite, service_settings
from ..support.tokens import KEYS


def test_the_hot_routes_are_called_directly_and_routes_with_parameters_are_not() -> None:
    direct = DirectRoutes(None, [*verify.router.routes, *authorize.router.routes], app_module.DIRECT_PATHS, {})
    assert ("POST", "/v1/verify") in direct.table
    assert {m for m, p in direct.table if p == "/v1/authorize"} >= {"GET", "POST", "HEAD", "DELETE"}

    other = APIRouter()

    async def needs(request: Request, x: int = 0) -> Response:  # a query parameter FastAPI would solve
        return Response()

    async def depends(request: Request, _: None = Depends(lambda: None)) -> Response:
        return Response()

    def sync(request: Request) -> Response:  # FastAPI runs it in a thread
        return Response()

    other.add_api_route("/a", needs, methods=["POST"])
    other.add_api_route("/b", depends, methods=["POST"])
    other.add_api_route("/c", sync, methods=["POST"])
    assert DirectRoutes(None, other.routes, ("/a", "/b", "/c"), {}).table == {}


def _answers(app: FastAPI, requests: list[tuple[str, str, Any, dict[str, str]]]) -> list[tuple[Any, ...]]:
    out = []
    with TestClient(app, raise_server_exceptions=False) as c:
        for method, path, body, headers in requests:
            r = c.request(method, path, content=body, headers=headers)
            doc = r.json() if r.headers.get("content-type", "").endswith("json") else None
            shape = (doc.get("type"), doc.get("status"), doc.get("decision"), doc.get("detail"),
                     sorted(doc) if doc.get("decision") is None else None) if isinstance(doc, dict) else doc
            out.append((r.status_code, r.headers.get("content-type"), r.headers.get("allow"), shape))
    return out


def test_direct_answers_are_fastapis_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ..support.service import fresh_token

    json_ct = {"content-type": "application/json"}
    requests = [
        ("POST", "/v1/verify", f'{{"token": "{fresh_token()}"}}', json_ct),
        ("POST", "/v1/verify", '{"token": "not.a.token"}', json_ct),
        ("POST", "/v1/verify", '{"token": 5}', json_ct),
        ("POST", "/v1/verify", '{"token": "a", "token": "b"}', json_ct),
        ("POST", "/v1/verify", "{nope", json_ct),
        ("POST", "/v1/verify", "", json_ct),
        ("POST", "/v1/verify", '{"token": "x"}', {"content-type": "text/plain"}),
        ("POST", "/v1/verify", '{"token": "x", "context": {"now": 1800000000}}', json_ct),
        ("GET", "/v1/verify", None, {}),
        ("POST", "/v1/verify/", '{"token": "x"}', json_ct),
        ("GET", "/v1/authorize", None, {}),
        ("POST", "/v1/authorize", None, {"authorization": "Bearer nope"}),
        ("POST", "/v1/verify", '{"token": "' + "a" * (DEFAULT_MAX_BODY + 1) + '"}', json_ct),  # 413
        ("POST", "/v1/verify", '{"token": "x"}', {**json_ct, "x-request-id": "r-1", "x-forwarded-for": "10.0.0.1"}),
    ]
    direct = _answers(create_app(service_settings(tmp_path / "direct")), requests)
    monkeypatch.setattr(app_module, "DIRECT_PATHS", ())
    routed = _answers(create_app(service_settings(tmp_path / "routed")), requests)
    assert direct == routed
    assert direct[0][0] == 200 and direct[0][3][2] == "permit"


def test_hot_requests_enter_below_fastapis_own_layers(tmp_path: Path) -> None:
    """The hot routes enter the app's own middleware at its outermost layer (middleware.HotEntry), through a
    server-error middleware of their own; every other request through FastAPI. Both reach the same instances."""
    from starlette.middleware.errors import ServerErrorMiddleware

    from attest.service.forwarded import PeerMiddleware

    from ..support.service import fresh_token

    app = create_app(service_settings(tmp_path))
    with TestClient(app) as c:
        assert app.hot.entry is None  # looked for when the first request comes  # type: ignore[attr-defined]
        assert c.get("/healthz").status_code == 200
        assert c.post("/v1/verify", json={"token": fresh_token()}).status_code == 200
        entry = app.hot.entry  # type: ignore[attr-defined]
        assert set(app.hot.table) >= {("POST", "/v1/verify"), ("GET", "/v1/authorize")}  # type: ignore[attr-defined]
        assert isinstance(entry, ServerErrorMiddleware) and isinstance(entry.app, PeerMiddleware)
        shared = app.middleware_stack
        while not isinstance(shared, PeerMiddleware):
            shared = shared.app  # type: ignore[attr-defined]
        assert entry.app is shared
        metrics = c.get("/metrics").text
    assert 'attest_http_requests_total{method="POST",route="/v1/verify",status="200"} 1.0' in metrics
    assert 'attest_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in metrics


def test_hot_requests_take_fastapis_way_in_when_its_telemetry_is_on_or_the_chain_is_unexpected(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from ..support.service import fresh_token

    app = create_app(service_settings(tmp_path / "otel"))
    if hasattr(app, "_native_telemetry"):  # FastAPI versions with OpenTelemetry support
        monkeypatch.setattr(app._native_telemetry, "enabled", lambda: True)
        calls: list[str] = []
        real = FastAPI.__call__

        async def counted(self: Any, scope: Any, receive: Any, send: Any) -> None:
            calls.append(scope["type"])
            await real(self, scope, receive, send)

        monkeypatch.setattr(FastAPI, "__call__", counted)
        with TestClient(app) as c:
            assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
            assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
        assert app.hot.entry is False and calls.count("http") == 2  # type: ignore[attr-defined]
        monkeypatch.undo()

    class Opaque:  # a layer whose inner app the entry cannot see
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.inner(scope, receive, send)

    app = create_app(service_settings(tmp_path / "odd"))
    with TestClient(app) as c:
        app.middleware_stack = Opaque(app.middleware_stack)
        assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
    assert app.hot.entry is False  # type: ignore[attr-defined]
    assert "the hot routes enter through FastAPI" in caplog.text

    # a middleware factory that is not a class (Starlette takes any callable)
    from starlette.middleware.gzip import GZipMiddleware

    app = create_app(service_settings(tmp_path / "factory"))
    app.add_middleware(lambda inner: GZipMiddleware(inner))  # type: ignore[arg-type]
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
    assert app.hot.entry is False  # type: ignore[attr-defined]

    # whatever fails while looking at the chain: FastAPI's way in, never a 500 for every request
    app = create_app(service_settings(tmp_path / "broken"))

    def boom() -> Any:
        raise RuntimeError("no stack")

    monkeypatch.setattr(app, "build_middleware_stack", boom)
    app.middleware_stack = None
    app.hot.entry = None  # type: ignore[attr-defined]
    assert app.hot.takes({"type": "http", "method": "POST", "path": "/v1/verify"}) is False  # type: ignore[attr-defined]
    assert "looking at the middleware chain failed (RuntimeError)" in caplog.text


def test_direct_requests_are_counted_under_their_route_template(tmp_path: Path) -> None:
    from ..support.service import fresh_token

    with TestClient(create_app(service_settings(tmp_path))) as c:
        assert c.post("/v1/verify", json={"token": fresh_token()}).status_code == 200
        metrics = c.get("/metrics").text
    assert 'attest_http_requests_total{method="POST",route="/v1/verify",status="200"} 1.0' in metrics
    assert "attest_audit_commits_total 1.0" in metrics and "attest_audit_rows_committed_total 1.0" in metrics


def test_an_unexpected_error_on_the_direct_path_is_a_500_problem(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(verify, "decide", boom)
    with TestClient(create_app(service_settings(tmp_path)), raise_server_exceptions=False) as c:
        r = c.post("/v1/verify", json={"token": "x"})
    assert r.status_code == 500 and r.json()["type"] == "urn:attest:problem:internal-error"


def _row(i: int | str) -> AuditRow:
    return AuditRow(f"hp-{i}", "v", 1, "deny", "8", "", None, None, None, None, None, "k", b"x")


def test_concurrent_appends_on_a_loop_share_commits_and_each_waits_for_its_rows(tmp_path: Path) -> None:
    store = SQLAuditStore(SQLiteDialect(tmp_path / "a.sqlite"), commit_wait=0.0)
    committed: list[bool] = []

    async def one(i: int) -> None:
        await store.append_async([_row(i)])
        committed.append(committed_in_sqlite(tmp_path / "a.sqlite", f"hp-{i}"))

    async def scenario() -> None:
        await asyncio.gather(*(one(i) for i in range(60)))

    asyncio.run(scenario())
    store.close()
    assert committed == [True] * 60
    assert store.rows_committed == 60 and store.commits < 60  # one commit carried several requests' rows


def test_a_failed_batch_fails_its_requests_and_the_next_batch_goes(tmp_path: Path) -> None:
    class Flaky(SQLiteDialect):
        fail = True

        def insert(self, conn: Any, rows: Any) -> None:
            if self.fail:
                self.fail = False
                raise sqlite3.OperationalError("disk I/O error")
            super().insert(conn, rows)

    store = SQLAuditStore(Flaky(tmp_path / "a.sqlite"), commit_wait=0.0)

    async def scenario() -> list[Any]:
        first = await asyncio.gather(*(store.append_async([_row(i)]) for i in range(5)), return_exceptions=True)
        await store.append_async([_row("after")])
        return first

    first = asyncio.run(scenario())
    ids = [r.id for r in store.search(AuditQuery())]
    store.close()
    assert all(isinstance(e, DependencyUnavailable) for e in first)
    assert ids == ["hp-after"]


def test_serve_shares_the_gil_and_spreads_connections_over_workers(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    monkeypatch.setattr(serve.logs, "configure", lambda *a, **kw: None)  # the test's logging stays as it is
    monkeypatch.setenv("ATTEST_TRUST_STORE", str(KEYS / "trust.yaml"))
    monkeypatch.setenv("ATTEST_PROFILE", "tillitsrammeverk-1.1-test")
    monkeypatch.setenv("ATTEST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("UV_TCP_SINGLE_ACCEPT", raising=False)
    before = sys.getswitchinterval()
    try:
        assert serve.run("127.0.0.1", 0, 2, None) == 0
        assert sys.getswitchinterval() == serve.GIL_SWITCH_INTERVAL
        assert os.environ["UV_TCP_SINGLE_ACCEPT"] == "1" and calls[0]["workers"] == 2
    finally:
        sys.setswitchinterval(before)
        os.environ.pop("UV_TCP_SINGLE_ACCEPT", None)


def test_serve_with_workers_reports_a_configuration_error_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    # what only building the app finds (here: REDIS_URL without the redis package) is one line and exit
    # code 2 before any worker starts, not a traceback from every worker
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    monkeypatch.setattr(serve.logs, "configure", lambda *a, **kw: None)
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis -> ImportError
    monkeypatch.setenv("ATTEST_TRUST_STORE", str(KEYS / "trust.yaml"))
    monkeypatch.setenv("ATTEST_PROFILE", "tillitsrammeverk-1.1-test")
    monkeypatch.setenv("ATTEST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    before = sys.getswitchinterval()
    try:
        assert serve.run("127.0.0.1", 0, 2, None) == 2
    finally:
        sys.setswitchinterval(before)
    assert calls == []
    assert "error: REDIS_URL is set but the redis package is not installed" in capsys.readouterr().err
