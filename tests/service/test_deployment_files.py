"""The deployment files cannot run here (no Docker engine); check what can be checked statically: the
topology, non-root slim image, documented variables, and no query strings in the proxy's access log."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from attest.service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_compose_topology() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    apis = [name for name, s in services.items() if s.get("build") == "."]
    assert len(apis) >= 2
    assert {"postgres", "redis", "proxy"} <= set(services)
    for name in apis:
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and env["REDIS_URL"].startswith("redis://")
        assert env["ATTEST_INSTANCE"] == name
        assert "ports" not in services[name]  # only the proxy is published
    assert "noeviction" in services["redis"]["command"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    gateway = (ROOT / "deploy" / "nginx-forward-auth.conf").read_text()
    for name in apis:
        assert f"server {name}:8080" in nginx and f"server {name}:8080" in gateway
    # the forward-auth topology: the gateway protects fhir-api, which is not published
    assert "fhir-api" in services and "ports" not in services["fhir-api"]
    assert "nginx-forward-auth.conf" in str(services["gateway"]["volumes"])
    assert "server fhir-api:8080;" in gateway and "auth_request /_attest/authorize;" in gateway
    # only the proxies are trusted with X-Forwarded-*: their fixed addresses, never "*"
    trusted = set(compose["x-api-env"]["ATTEST_TRUSTED_PROXIES"].split(","))
    addresses = {services[n]["networks"]["backend"]["ipv4_address"] for n in ("proxy", "gateway")}
    assert trusted == addresses and "*" not in trusted


def test_every_setting_is_documented() -> None:
    docs = (ROOT / "docs" / "service.md").read_text()
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    names = set(compose["x-api-env"]) | {"ATTEST_INSTANCE"}
    source = (ROOT / "src" / "attest" / "service" / "settings.py").read_text()
    names |= set(re.findall(r'(?:s|p)\("([A-Z_]+)"\)', source))
    assert len(names) > 15
    for name in sorted(names):
        assert f"`{name}`" in docs or name in docs, name
    assert Settings.from_env({}).max_body_bytes == 131072


def test_dockerfile_is_slim_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert '"attest", "serve"' in text
    assert "COPY profiles" in text  # src/attest/profiles is a symlink to it


def test_proxy_never_logs_query_strings() -> None:
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    fmt = re.search(r"log_format\s+attest\s+(.*?);", nginx, re.S)
    assert fmt is not None
    assert "$request " not in fmt.group(1) and "$args" not in fmt.group(1) and "$request_uri" not in fmt.group(1)
    assert "$uri" in fmt.group(1)
