"""The per-client rate limit (ATTEST_RATE_LIMIT): parsing, the token bucket, the 429 answer, which client
is which (also behind a proxy), and that it is off by default."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from attest.errors import ConfigurationError
from attest.service import create_app
from attest.service.ratelimit import RateLimit, TokenBuckets
from attest.service.settings import Settings

from ..support.servers import ROOT
from ..support.service import fresh_token, service_settings


@pytest.mark.parametrize(("text", "limit", "period"), [
    ("100/minute", 100, 60.0), ("10/second", 10, 1.0), ("5000/hour", 5000, 3600.0), ("50/10s", 50, 10.0),
    (" 7 / 2 min ", 7, 120.0), ("1/s", 1, 1.0), ("3/H", 3, 3600.0)])
def test_parse(text: str, limit: int, period: float) -> None:
    assert RateLimit.parse(text) == RateLimit(limit, period)


@pytest.mark.parametrize("text", [None, "", "off", "OFF", "0", "none"])
def test_off(text: str | None) -> None:
    assert RateLimit.parse(text) is None


@pytest.mark.parametrize("text", ["100", "100/", "/minute", "x/minute", "100/fortnight", "-1/s", "0/s",
                                  "1.5/s", "100/0s", "9999999999/s"])
def test_bad_values_are_configuration_errors(text: str) -> None:
    with pytest.raises(ConfigurationError, match="ATTEST_RATE_LIMIT"):
        RateLimit.parse(text)


def test_settings_read_it_and_it_is_off_by_default() -> None:
    assert Settings.from_env({}).rate_limit is None
    assert Settings.from_env({"ATTEST_RATE_LIMIT": "20/minute"}).rate_limit == RateLimit(20, 60.0)
    with pytest.raises(ConfigurationError):
        Settings.from_env({"ATTEST_RATE_LIMIT": "lots"})


def test_token_bucket_burst_then_refill() -> None:
    now = [1000.0]
    buckets = TokenBuckets(RateLimit(3, 60.0), clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(20.0)   # one token every 20 s
    assert buckets.take("b") == 0.0                    # another client has its own bucket
    now[0] += 19.0
    assert buckets.take("a") == pytest.approx(1.0)     # refused requests do not drain the bucket further
    now[0] += 1.0
    assert buckets.take("a") == 0.0
    now[0] += 3600.0                                   # refills up to the burst only
    assert [buckets.take("a") for _ in range(4)][-1] > 0


def test_token_bucket_bounds_its_memory() -> None:
    buckets = TokenBuckets(RateLimit(1, 60.0), max_keys=100, clock=lambda: 0.0)
    for i in range(1000):
        buckets.take(f"client-{i}")
    assert len(buckets) == 100


def _post(app: Any, client: tuple[str, int], path: str = "/v1/verify", **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            if path.startswith("/v1/"):
                return await c.post(path, json={"token": "a.b.c"}, **kw)
            return await c.get(path, **kw)
    return asyncio.run(go())


def test_the_429_answer(tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path, rate_limit=RateLimit(2, 60.0)))
    with TestClient(app) as client:
        assert client.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
        assert client.post("/v1/verify", json={"token": "a.b.c"}).status_code == 200
        r = client.post("/v1/verify", json={"token": fresh_token()})
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == "urn:attest:problem:rate-limited" and r.json()["status"] == 429
        assert 1 <= int(r.headers["retry-after"]) <= 30
        assert "decision" not in r.json()
        # probes and the metrics scraper are never limited
        for _ in range(5):
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
        metrics = client.get("/metrics").text
        assert "attest_rate_limited_total 1.0" in metrics
        assert 'status="429"' in metrics
        # the refused request made no decision and wrote no audit record
        assert len(app.state.runtime.trail.search(limit=100)) == 2


def test_each_client_address_has_its_own_bucket(tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path, rate_limit=RateLimit(2, 60.0)))
    a, b = ("192.0.2.1", 1000), ("192.0.2.2", 1000)
    with TestClient(app):  # lifespan: the store is closed afterwards
        assert [_post(app, a).status_code for _ in range(3)] == [200, 200, 429]
        assert [_post(app, b).status_code for _ in range(3)] == [200, 200, 429]
        assert _post(app, ("192.0.2.1", 2000)).status_code == 429  # the address, not the port


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(tmp_path: Path) -> None:
    """What ``attest serve`` does (uvicorn's proxy headers, FORWARDED_ALLOW_IPS): a request from the trusted
    proxy is counted against the address in X-Forwarded-For; an untrusted peer cannot choose its bucket."""
    app = create_app(service_settings(tmp_path, rate_limit=RateLimit(2, 60.0)))
    served = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")
    proxy = ("127.0.0.1", 5000)
    with TestClient(app):
        for who in ("198.51.100.7", "198.51.100.8"):
            codes = [_post(served, proxy, headers={"X-Forwarded-For": who}).status_code for _ in range(3)]
            assert codes == [200, 200, 429], who
        direct = ("203.0.113.9", 5000)  # not a trusted proxy: its own X-Forwarded-For is ignored
        codes = [_post(served, direct, headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
                 for i in range(3)]
        assert codes == [200, 200, 429]


def test_the_proxy_overwrites_x_forwarded_for() -> None:
    """compose trusts X-Forwarded-For from anywhere (FORWARDED_ALLOW_IPS=*) and uvicorn then takes its first
    address: nginx must overwrite the header, or a client could pick its own rate-limit bucket."""
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr\s*;", nginx)
    assert "$proxy_add_x_forwarded_for" not in nginx.replace("($proxy_add_x_forwarded_for)", "")


def test_off_by_default(client: TestClient) -> None:
    for _ in range(30):
        assert client.post("/v1/verify", json={"token": "a.b.c"}).status_code == 200
    assert "/v1/verify" in client.get("/openapi.json").json()["paths"]
    assert "429" not in client.get("/openapi.json").json()["paths"]["/v1/verify"]["post"]["responses"]


def test_documented_in_openapi_when_on(tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path, rate_limit=RateLimit(100, 60.0)))
    doc = app.openapi()
    assert "429" in doc["paths"]["/v1/verify"]["post"]["responses"]
    assert "Retry-After" in doc["paths"]["/v1/verify"]["post"]["responses"]["429"]["headers"]
    assert "429" not in doc["paths"]["/healthz"]["get"]["responses"]
