"""Limits of the service (the library's are in test_limits.py): the request body limit (exact boundary,
declared and actual size, no body read past it), the token size cap, the ``patients`` cap and the JSON depth
cap through ``POST /v1/verify``, and request bodies nested deeper than the JSON parser goes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from attest.service import create_app

from ..support.service import admin, service_settings
from ..support.tokens import KEYS, NOW, make_token, valid_attestation
from .test_limits import _token_of_length, _with_patients

LIMIT = 4096


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    # context.now allowed, so that the library's boundary tokens (made at a fixed time) can be reused
    return create_app(service_settings(Path(tmp_path_factory.mktemp("limits")), allow_context_now=True,
                                       issuing_key=KEYS / "fagersta" / "private.pem",
                                       issuer="https://epj.fagersta.example"))


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, TestClient]]:
    app = create_app(service_settings(Path(tmp_path_factory.mktemp("small")), max_body_bytes=LIMIT))
    with TestClient(app) as c:
        yield app, c


def _problem(r: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    if slug:
        assert body["type"] == f"urn:attest:problem:{slug}"
    return body


def _body_of(size: int) -> bytes:
    body = json.dumps({"token": "a.b.c", "pad": ""}).encode()
    return body[:-2] + b"x" * (size - len(body)) + b'"}'


def test_the_body_limit_is_exact(small: tuple[FastAPI, TestClient]) -> None:
    _, c = small
    at, over = _body_of(LIMIT), _body_of(LIMIT + 1)
    assert (len(at), len(over)) == (LIMIT, LIMIT + 1)
    headers = {"content-type": "application/json"}
    assert c.post("/v1/verify", content=at, headers=headers).status_code == 200
    _problem(c.post("/v1/verify", content=over, headers=headers), 413, "payload-too-large")

    def chunks(total: int) -> Iterator[bytes]:  # no Content-Length: the limit counts what is read
        data = _body_of(total)
        for i in range(0, total, 1000):
            yield data[i:i + 1000]

    assert c.post("/v1/verify", content=chunks(LIMIT), headers=headers).status_code == 200
    _problem(c.post("/v1/verify", content=chunks(LIMIT + 1), headers=headers), 413)


def _asgi(app: FastAPI, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int]:
    """Send a request straight to the ASGI app; returns (status, how many body chunks the app read)."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        if read <= len(chunks):
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/verify", "raw_path": b"/v1/verify", "query_string": b"",
             "root_path": "", "headers": [(b"content-type", b"application/json"), *headers],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], read


def test_a_declared_size_over_the_limit_is_refused_before_reading(small: tuple[FastAPI, TestClient]) -> None:
    app, _ = small
    status, read = _asgi(app, [(b"content-length", str(10**9).encode())], [b"{}"] * 5)
    assert (status, read) == (413, 0)
    status, read = _asgi(app, [(b"content-length", b"12x")], [b"{}"])
    assert (status, read) == (400, 0)
    # an undeclared body is read only until it passes the limit
    status, read = _asgi(app, [], [b" " * 1024] * 50)
    assert status == 413 and read == LIMIT // 1024 + 1


def test_the_token_size_cap_through_the_service(client: TestClient) -> None:
    ctx = {"now": NOW}
    at, over = _token_of_length(65536), _token_of_length(65537)
    r = client.post("/v1/verify", json={"token": at, "context": ctx})
    assert r.status_code == 200 and r.json()["decision"] == "permit", r.text[:300]
    r = client.post("/v1/verify", json={"token": over, "context": ctx})
    assert [(e["code"], e["rule"]) for e in r.json()["errors"]] == [("malformed_token", "RFC8725-3.15")]
    r = client.post("/v1/verify", json={"token": "A" * 120_000})
    assert r.json()["errors"][0]["code"] == "malformed_token"


def test_the_patients_cap_through_the_service(client: TestClient, app: FastAPI) -> None:
    ctx = {"now": NOW}
    r = client.post("/v1/verify", json={"token": make_token(_with_patients(100), jti="svc-100"), "context": ctx})
    assert r.json()["decision"] == "permit", r.json()["errors"]
    r = client.post("/v1/verify", json={"token": make_token(_with_patients(101), jti="svc-101"), "context": ctx})
    assert [(e["code"], e["rule"], e["path"]) for e in r.json()["errors"]] == [
        ("invalid_field", "ATT-1", "attestation.patients")]
    # one AuditEvent per patient of the permit; the refused attestation is audited once, as a deny
    rows = app.state.runtime.trail.search(limit=1000)
    assert sum(1 for e in rows if e.row.decision == "permit") >= 100


def test_the_json_depth_cap_through_the_service(client: TestClient) -> None:
    deep: Any = 1
    for _ in range(13):
        deep = [deep]
    att = valid_attestation()
    att["practitioner"]["identifier"]["name"] = deep
    r = client.post("/v1/verify", json={"token": make_token(att, jti="svc-deep"), "context": {"now": NOW}})
    assert r.json()["errors"][0]["code"] == "malformed_token"
    assert "nested deeper" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("depth", [900, 1_000, 10_000, 40_000])
@pytest.mark.parametrize("where", ["context", "context-member", "token", "attestation"])
def test_request_bodies_nested_too_deeply_are_a_problem_not_a_crash(client: TestClient, depth: int,
                                                                    where: str) -> None:
    nest = "[" * depth + "]" * depth
    body, path = {
        "context": ('{"token": "a.b.c", "context": ' + nest + "}", "/v1/verify"),
        "context-member": ('{"token": "a.b.c", "context": {"patient_id": ' + nest + "}}", "/v1/verify"),
        "token": ('{"token": ' + nest + "}", "/v1/inspect"),
        "attestation": ('{"attestation": {"practitioner": {"identifier": {"name": ' + nest + "}}}}",
                        "/v1/attestations"),
    }[where]
    r = client.post(path, content=body.encode(), headers={"content-type": "application/json", **admin()})
    assert r.status_code in (400, 422), (r.status_code, r.text[:200])
    _problem(r, r.status_code, "malformed-json" if r.status_code == 400 else None)
