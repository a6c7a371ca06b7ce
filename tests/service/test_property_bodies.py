"""No request body gets a 5xx (CONTRACT.md section 6): random bytes, random JSON, and JSON shaped almost
like a verify request, against every POST endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest.service import create_app

from ..support.service import admin, fresh_token, service_settings
from ..support.tokens import KEYS


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = Path(tmp_path_factory.mktemp("prop"))
    app = create_app(service_settings(data, max_body_bytes=8192, issuing_key=KEYS / "fagersta" / "private.pem",
                                      issuer="https://epj.fagersta.example"))
    with TestClient(app) as c:
        yield c


_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**30), max_value=10**30)
            | st.floats() | st.text(max_size=30))
_json = st.recursive(_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                     max_leaves=20)
_context = st.dictionaries(st.sampled_from(["audience", "authenticated_pid", "authenticated_hpr", "patient_id",
                                            "now", "other"]), _json, max_size=5)
_token = st.one_of(st.text(max_size=200), st.just(fresh_token()),
                   st.builds(lambda t, i, c: t[:i] + c + t[i + 1:], st.just(fresh_token()),
                             st.integers(0, 400), st.characters()))
_shaped = st.fixed_dictionaries({"token": _token | _json}, optional={"context": _context | _json,
                                                                     "attestation": _json, "lifetime": _json,
                                                                     "audience": _json})
_paths = st.sampled_from(["/v1/verify", "/v1/inspect", "/v1/attestations"])
_ctypes = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                           "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None])


def _post(client: TestClient, path: str, body: bytes, ctype: str | None) -> Any:
    headers = {"content-type": ctype} if ctype else {}
    headers.update(admin())
    return client.post(path, content=body, headers=headers)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(path=_paths, body=st.binary(max_size=300), ctype=_ctypes)
def test_random_bytes(client: TestClient, path: str, body: bytes, ctype: str | None) -> None:
    r = _post(client, path, body, ctype)
    assert r.status_code < 500, r.text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(path=_paths, doc=_json | _shaped)
def test_random_json(client: TestClient, path: str, doc: Any) -> None:
    body = json.dumps(doc).encode()
    r = _post(client, path, body, "application/json")
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(doc=_shaped)
def test_verify_shaped_bodies(client: TestClient, doc: dict[str, Any]) -> None:
    r = _post(client, "/v1/verify", json.dumps(doc).encode(), "application/json")
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert r.json()["decision"] in ("permit", "deny")
