"""Settings from the environment, development defaults, and `attest serve` refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from attest import ConfigurationError
from attest.service.serve import run
from attest.service.settings import Settings, resolve

from ..support.service import key_ring
from ..support.tokens import KEYS


def test_from_env_reads_every_variable(tmp_path: Path) -> None:
    env = {
        "ATTEST_TRUST_STORE": str(KEYS / "trust.yaml"), "ATTEST_PROFILE": "tillitsrammeverk-1.1-test",
        "ATTEST_AUDIENCE": "nhn:pjd", "ATTEST_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://x@h/db",
        "REDIS_URL": "redis://h:6379/0", "ATTEST_AT_REST_KEYS": key_ring("a", "b"),
        "ATTEST_ADMIN_TOKEN": "x" * 20, "ATTEST_MAX_BODY_BYTES": "4096", "ATTEST_TRUST_RELOAD_SECONDS": "1.5",
        "ATTEST_ALLOW_CONTEXT_NOW": "true", "ATTEST_INSTANCE": "api-1", "ATTEST_DB_POOL_SIZE": "8",
        "ATTEST_DEPENDENCY_TIMEOUT": "3", "ATTEST_LOG_LEVEL": "debug",
    }
    s = Settings.from_env(env)
    assert s.trust_store == KEYS / "trust.yaml" and s.profile == "tillitsrammeverk-1.1-test"
    assert s.max_body_bytes == 4096 and s.trust_reload_seconds == 1.5 and s.allow_context_now is True
    assert s.instance == "api-1" and s.db_pool_size == 8 and s.log_level == "DEBUG"
    r = resolve(s)
    assert r.keyring.current.kid == "a" and r.settings.dev_defaults == ()
    assert "x" * 20 not in repr(s) and env["ATTEST_AT_REST_KEYS"] not in repr(s)


@pytest.mark.parametrize("name,value", [("ATTEST_MAX_BODY_BYTES", "lots"), ("ATTEST_MAX_BODY_BYTES", "10"),
                                        ("ATTEST_ALLOW_CONTEXT_NOW", "maybe"), ("ATTEST_DB_POOL_SIZE", "0"),
                                        ("ATTEST_TRUST_RELOAD_SECONDS", "-1")])
def test_bad_values_are_configuration_errors(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "keys").write_text("# ring\n" + key_ring("f1").replace(",", "\n") + "\n")
    (tmp_path / "token").write_text("a-long-enough-admin-token\n")
    r = resolve(Settings(trust_store=KEYS / "trust.yaml", data_dir=tmp_path, at_rest_keys_file=tmp_path / "keys",
                         admin_token_file=tmp_path / "token"))
    assert r.keyring.current.kid == "f1" and r.settings.admin_token == "a-long-enough-admin-token"


def test_weak_admin_token_and_half_issuing_config_are_refused(tmp_path: Path) -> None:
    base = {"trust_store": KEYS / "trust.yaml", "data_dir": tmp_path, "at_rest_keys": key_ring("k")}
    with pytest.raises(ConfigurationError, match="16"):
        resolve(Settings(admin_token="short", **base))
    with pytest.raises(ConfigurationError, match="ATTEST_ISSUER"):
        resolve(Settings(admin_token="x" * 16, issuing_key=Path("k.pem"), **base))


def test_dev_defaults_are_reported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(KEYS.parent)
    first = resolve(Settings(data_dir=tmp_path))
    again = resolve(first.settings)
    assert again.settings.dev_defaults == first.settings.dev_defaults
    assert any("TEST keys" in d for d in first.settings.dev_defaults)


def test_serve_refuses_several_workers_without_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("ATTEST_TRUST_STORE", str(KEYS / "trust.yaml"))
    monkeypatch.setenv("ATTEST_PROFILE", "tillitsrammeverk-1.1-test")  # test material: a test profile
    monkeypatch.setenv("ATTEST_DATA_DIR", str(tmp_path))
    assert run("127.0.0.1", 0, 2, None) == 2
    assert "REDIS_URL" in capsys.readouterr().err


def test_serve_reports_configuration_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ATTEST_TRUST_STORE", str(tmp_path / "missing.yaml"))
    monkeypatch.setenv("ATTEST_AT_REST_KEYS", "nonsense")
    assert run("127.0.0.1", 0, 1, tmp_path) == 2
    assert "error:" in capsys.readouterr().err
