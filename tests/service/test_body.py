"""service/body.py reads the verify body itself (no FastAPI dependency resolution on the hot path); for
every body, content type and shape it must end exactly as FastAPI's own handling of a body model does:
same status, same validation errors (type, location, message), same parse failures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.exceptions import HTTPException

from attest.service.body import json_body
from attest.service.models import VerifyRequest


def _app(own: bool) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{k: (list(v) if k == "loc" else v) for k, v in e.items() if k in ("type", "loc", "msg")}
                  for e in exc.errors()]
        return JSONResponse({"errors": errors}, 422)

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"detail": exc.detail}, exc.status_code)

    if own:
        @app.post("/v")
        async def own_route(request: Request) -> dict[str, Any]:
            return {"read": ascii((await json_body(request, VerifyRequest)).model_dump())}
    else:
        @app.post("/v")
        async def fastapi_route(body: VerifyRequest) -> dict[str, Any]:
            return {"read": ascii(body.model_dump())}
    return app


FASTAPI, OWN = TestClient(_app(False)), TestClient(_app(True))

CASES: list[tuple[bytes, str | None]] = [
    (b"", "application/json"), (b"{x", "application/json"), (b"[]", "application/json"),
    (b'"abc"', "application/json"), (b"null", "application/json"), (b"{}", "application/json"),
    (b'{"token": 5}', "application/json"), (b'{"token": "a.b.c"}', "application/json"),
    (b'{"token": "a.b.c"}', "text/plain"), (b'{"token": "a.b.c"}', None), (b"token=a.b.c", "application/x-www-form-urlencoded"),
    (b'{"token": "a.b.c", "context": 5}', "application/json"),
    (b'{"token": "a.b.c", "context": {"authenticated_pid": 5}}', "application/json"),
    (b'{"token": "a.b.c", "context": {"now": "5"}}', "application/json"),
    (b'{"token": "a.b.c", "context": {"now": -5}}', "application/json"),
    (b'{"token": "a.b.c", "context": {"now": 5.0}}', "application/json"),
    (b'{"token": "a.b.c", "context": {"now": NaN}}', "application/json"),
    (b'{"token": "a.b.c", "context": {"now": 1e400}}', "application/json"),
    (b'{"token": "a.b.c", "context": {"now": 99999999999999999999999}}', "application/json"),
    (b'{"token": "a.b.c", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json"),
    (b'{"token": "a.b.c", "x": ' + b"[" * 200 + b"1.5" + b"]" * 200 + b"}", "application/json"),
    (b'{"token": "a.b.c", "x": ' + b"[" * 250 + b"]" * 250 + b"}", "application/json"),
    (b'{"token": "\xff"}', "application/json"),
    (b'{"token": "\\ud800"}', "application/json"), ('{"token": "a.b.c"}'.encode("utf-16"), "application/json"),
    (b'\xef\xbb\xbf{"token": "a.b.c"}', "application/json"),
    (b'{"token": "a.b.c"}', "application/json; charset=utf-8"), (b'{"token": "a.b.c"}', "application/vnd.api+json"),
    (b'{"token": "a.b.c"}', "application/jsonx"), (b'{"token": "a.b.c"}', "Application/JSON"),
    (b'{"token": "a.b.c"}', "application/json;"), (b'{"token": "a.b.c"}', "application/json ; x=y"),
    (b'{"token": "a.b.c"}', "application/x-json"), (b'{"token": "a.b.c"}', ""),
    (b' {"token": "a.b.c"} ', "application/json"), (b'{"token": "a.b.c"} x', "application/json"),
]


def _answer(client: TestClient, body: bytes, content_type: str | None) -> tuple[int, Any]:
    r = client.post("/v", content=body, headers={"content-type": content_type} if content_type is not None else {})
    return r.status_code, r.json()


@pytest.mark.parametrize(("body", "content_type"), CASES)
def test_same_answer_as_fastapi(body: bytes, content_type: str | None) -> None:
    assert _answer(OWN, body, content_type) == _answer(FASTAPI, body, content_type)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3),
                     max_leaves=10)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(
    st.binary(max_size=60),
    st.fixed_dictionaries({}, optional={"token": _json, "context": st.one_of(_json, st.fixed_dictionaries(
        {}, optional={k: _json for k in ("audience", "authenticated_pid", "authenticated_hpr", "patient_id", "now")}))
    }).map(lambda d: json.dumps(d).encode()),
    _json.map(lambda d: json.dumps(d).encode())),
    content_type=st.sampled_from(["application/json", "text/plain", "application/problem+json", None]))
def test_same_answer_as_fastapi_for_generated_bodies(body: bytes, content_type: str | None) -> None:
    assert _answer(OWN, body, content_type) == _answer(FASTAPI, body, content_type)


@pytest.mark.parametrize("depth", [257, 600, 1000, 1020, 1100])
@pytest.mark.parametrize("leaf", [b"", b"1.5", b"1"])
def test_bodies_nested_deeper_than_the_limit_are_unparseable(depth: int, leaf: bytes) -> None:
    """The documented difference: FastAPI's limit depends on the call stack; ours is MAX_DEPTH (256)."""
    body = b'{"token": "a.b.c", "x": ' + b"[" * depth + leaf + b"]" * depth + b"}"
    assert _answer(OWN, body, "application/json") == (400, {"detail": "There was an error parsing the body"})


@pytest.mark.parametrize("body", [b'{"token": "a", "token": 5}', b'{"token": "a.b.c", "context": {"patient_id": "1", '
                                  b'"patient_id": "2"}}', b'{"token": "a.b.c", "token": "a.b.c"}',
                                  b'{"token": "a.b.c", "\\u0074oken": "x.y.z"}'])
def test_duplicate_members_are_refused(body: bytes) -> None:
    """Issue 11 item 7 (a documented difference from FastAPI, which keeps the last value): a body naming a
    member twice is refused as invalid JSON, as a token's JSON is; which value did the sender mean?"""
    status, answer = _answer(OWN, body, "application/json")
    assert status == 422 and answer["errors"][0]["type"] == "json_invalid"
