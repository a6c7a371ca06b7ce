"""Regression tests for the outside security review's findings (issue 11), one per item done here; each fails
on the code before its fix. Items done elsewhere in the suite: 2 (helseid-rar overwrote the practitioner:
tests/test_verify_helseid.py::test_helseid_rar_compares_the_practitioner_with_the_login), 3 (revoked keys:
tests/test_keysets.py::test_a_revoked_key_stops_working_after_the_cache_interval and the rotation tests),
4 (hostile key servers: tests/test_keysets.py, test_a_failing_key_server_*, test_https_only_except_loopback),
5 (terminal injection: tests/test_cli_helseid.py::test_terminal_control_characters_from_a_token_are_shown_escaped).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from attest import TrustStore, TrustStoreError, VerifyContext, verify
from attest.cli import app as cli
from attest.keys import public_jwk
from attest.service import create_app

from ..support.helseid import make_at
from ..support.service import fresh_token, service_settings
from ..support.tokens import KEYS, NOW, make_token, org, trust_store, valid_attestation

ROOT = Path(__file__).resolve().parents[2]


def test_item1_unknown_context_members_are_refused(tmp_path: Path) -> None:
    """A misspelled context member (patientId, patient) was dropped silently, so the patient binding was
    skipped and a clean permit came back for any patient."""
    with TestClient(create_app(service_settings(tmp_path))) as c:
        for member in ("patientId", "patient", "authenticatedPid"):
            r = c.post("/v1/verify", json={"token": fresh_token(), "context": {member: "13116900216"}})
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", member
            assert r.json()["errors"][0]["type"] == "extra_forbidden"


def test_item6_metrics_labels_come_from_a_fixed_set(tmp_path: Path) -> None:
    """The raw HTTP method was a Prometheus label: made-up methods grew /metrics without bound and could put
    an identity-number-shaped string into it."""
    with TestClient(create_app(service_settings(tmp_path))) as c:
        for i in range(50):
            c.request(f"X{i:03d}13116900216", "/healthz")
        metrics = c.get("/metrics").text
    assert "13116900216" not in metrics
    methods = {line.split('method="', 1)[1].split('"', 1)[0] for line in metrics.splitlines()
               if line.startswith("attest_http_requests_total{")}
    assert methods <= {"GET", "other"} and "other" in methods


def test_item7_caller_audience_is_refused_unless_allowed(tmp_path: Path) -> None:
    """The caller's context.audience overrode the configured audience, so a token for another verifier
    could be accepted by naming its audience."""
    with TestClient(create_app(service_settings(tmp_path / "a"))) as c:
        r = c.post("/v1/verify", json={"token": fresh_token(aud="x"), "context": {"audience": "x"}})
        assert r.status_code == 422 and r.json()["type"].endswith("context-audience-not-allowed")
        codes = [e["code"] for e in c.post("/v1/verify", json={"token": fresh_token(aud="x")}).json()["errors"]]
        assert codes == ["invalid_audience"]
    allowed = create_app(service_settings(tmp_path / "b", allow_context_audience=True))
    with TestClient(allowed) as c:
        doc = c.post("/v1/verify", json={"token": fresh_token(aud="x"), "context": {"audience": "x"}}).json()
        assert doc["decision"] == "permit"


def test_item7_duplicate_body_members_are_refused(tmp_path: Path) -> None:
    """A /v1/verify body naming a member twice was accepted (the last value won), unlike a token's JSON."""
    token = fresh_token()
    raw = ('{"token": "' + token + '", "context": {"patient_id": "13116900216", "patient_id": "04056600324"}}')
    with TestClient(create_app(service_settings(tmp_path))) as c:
        r = c.post("/v1/verify", content=raw.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["type"].endswith("malformed-json")


@pytest.mark.parametrize("extra", ["flat", "rar"])
def test_item7_a_token_with_two_attestations_is_denied(extra: str) -> None:
    """A token carrying the claim and flat categories (or a RAR element) was permitted on one of them."""
    other = valid_attestation()
    other["care_relation"]["purpose_of_use"]["code"] = "BTG"
    claims = {"care_relation": other["care_relation"]} if extra == "flat" else {
        "authorization_details": [{"type": "nhn:tillitsrammeverk:parameters", **other}]}
    d = verify(make_token(**claims), trust_store(), context=VerifyContext(now=NOW))
    assert d.codes == ["invalid_field"] and "more than one attestation" in d.errors[0].message


def test_item7_test_material_is_refused_on_a_non_loopback_bind(tmp_path: Path) -> None:
    """`attest serve` used the published example keys even on --host 0.0.0.0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env["ATTEST_TRUST_STORE"] = str(KEYS / "trust.yaml")
    r = subprocess.run([sys.executable, "-m", "attest.cli", "serve", "--host", "0.0.0.0", "--port", "1",  # noqa: S104
                        "--data-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=60,
                       check=False)
    assert r.returncode == 2 and "test_material" in r.stderr


def test_item8_keygen_force_writes_the_private_key_owner_only(tmp_path: Path) -> None:
    """`keygen --force` kept an old file's 0644 mode for a new private key."""
    (tmp_path / "private.pem").write_text("old")
    os.chmod(tmp_path / "private.pem", 0o644)
    r = CliRunner().invoke(cli, ["keygen", "--out", str(tmp_path), "--force"])
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE((tmp_path / "private.pem").stat().st_mode) == 0o600


def test_item8_audit_database_files_are_owner_only(tmp_path: Path) -> None:
    """The SQLite audit database (and its -wal/-shm files) were created 0644."""
    old = os.umask(0o022)
    try:
        with TestClient(create_app(service_settings(tmp_path))) as c:
            assert c.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
            files = [p for p in tmp_path.iterdir() if p.name.startswith("audit.sqlite")]
            assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), \
                [(p.name, oct(p.stat().st_mode)) for p in files]
    finally:
        os.umask(old)


@pytest.mark.parametrize("exponent", [3, 17, 257])
def test_item8_weak_rsa_exponents_are_refused(exponent: int) -> None:
    """RSA keys with e=3 (or another small exponent) loaded into the trust store."""
    n = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers().n
    jwk = public_jwk(rsa.RSAPublicNumbers(exponent, n).public_key(), "RS256", kid="weak")
    with pytest.raises(TrustStoreError, match="exponent"):
        TrustStore.from_dict({"issuers": [{"iss": "https://x.example", "jwks": {"keys": [jwk]}}]})


def test_item8_even_rsa_moduli_are_refused() -> None:
    n = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers().n
    jwk = public_jwk(rsa.RSAPublicNumbers(65537, n + 1).public_key(), "RS256", kid="even")
    with pytest.raises(TrustStoreError, match="even modulus"):
        TrustStore.from_dict({"issuers": [{"iss": "https://x.example", "jwks": {"keys": [jwk]}}]})


def test_access_tokens_are_unaffected_by_the_self_signed_ambiguity_rule() -> None:
    """HELSEID.md 9 gives an order for access tokens (the top-level claim first), so a HelseID token with the
    claim and an authorization_details element is read from the claim, not refused."""
    from ..support.helseid import make_proof

    element = {"type": "nhn:tillitsrammeverk:parameters", **json.loads(
        (ROOT / "examples" / "helseid-enriched-attestation.json").read_text())}
    tok = make_at(extra={"authorization_details": [element]})
    ctx = VerifyContext(now=NOW, dpop_proof=make_proof(tok), http_method="GET",
                        http_url="https://api.source.example/fhir/DocumentReference", patient_id="13116900216")
    assert verify(tok, trust_store(), "helseid-at-1.0", ctx).permitted


@pytest.mark.parametrize("spelling", ["20086600138", "200866 00138", "2008 6600 138", "20.08.66 00138",
                                      "200866-00138", "2\u200b0\u200b0\u200b8\u200b6\u200b6\u200b0\u200b0\u200b1\u200b3\u200b8",
                                      "20 08 66 001 38", "２００８６６００１３８", "2008\u00ad6600\u2060138"])
def test_item7_every_spelling_of_an_identity_number_is_scrubbed(spelling: str) -> None:
    """The citizen-log scrubber (and the log filter, and message redaction: one pattern now) missed
    "2008 6600 138", "20.08.66 00138" and digits split by zero-width characters."""
    from attest.audit.fhir import _scrub
    from attest.identifiers import redact_identity_numbers
    from attest.service.logs import redact

    text = f"Dr. Hansen ({spelling}) ringte"
    for scrubbed in (_scrub(text), redact_identity_numbers(text), redact(text)):
        assert not any(c.isdigit() for c in scrubbed), scrubbed
    assert redact_identity_numbers("HPR 9144897, org 993467049") == "HPR 9144897, org 993467049"


def test_item7_unauthenticated_garbage_is_recorded_compactly(tmp_path: Path) -> None:
    """Each unauthenticated garbage request wrote a permanent ~65 KiB audit row: a token that never
    authenticated is now recorded by its hash (and at most 4 KiB of it), its values cut to 256 characters."""
    from attest.jose import b64url

    garbage = b64url(json.dumps({"alg": "ES256", "typ": "attestation+jwt", "kid": "k" * 30000}).encode()) + \
        "." + b64url(json.dumps({"iss": "i" * 12000}).encode()) + "." + "A" * 86
    assert len(garbage) > 50000
    with TestClient(create_app(service_settings(tmp_path))) as c:
        doc = c.post("/v1/verify", json={"token": garbage}).json()
        assert doc["decision"] == "deny" and len(doc["token"]["kid"]) == 256
        valid = c.post("/v1/verify", json={"token": fresh_token()}).json()
        assert valid["decision"] == "permit"
        runtime = c.app.state.runtime  # type: ignore[attr-defined]
        rows = runtime.trail.search(limit=10)
    sizes = {ev.payload["decision"]["decision"]: len(ev.row.sealed) for ev in rows}
    assert sizes["deny"] < 8192, sizes
    garbage_row = next(ev for ev in rows if ev.payload["decision"]["decision"] == "deny")
    assert garbage_row.payload["token"] is None and garbage_row.payload["token_sha256"]


def test_item4_trust_store_reloads_fetch_outside_the_reload_lock(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow key server held the reload lock for the whole fetch (with the old per-read timeout: forever).
    Now the new store is loaded outside the lock; the lock only swaps the reference, and a newer version of
    the file wins over an older load that finishes later."""
    import threading

    from attest.service.trustwatch import TrustHolder

    path = tmp_path / "trust.yaml"
    path.write_text((KEYS / "trust.yaml").read_text().replace("jwks_file: \"", f"jwks_file: \"{KEYS}/"))
    holder = TrustHolder(path, interval=0)
    loading, release = threading.Event(), threading.Event()
    real_load = TrustStore.load

    def slow_load(p: Path, **kw: object) -> TrustStore:
        loading.set()
        assert release.wait(30)
        return real_load(p)

    monkeypatch.setattr(TrustStore, "load", staticmethod(slow_load))
    worker = threading.Thread(target=holder.check, kwargs={"force": True})
    worker.start()
    try:
        assert loading.wait(30)
        assert holder._lock.acquire(timeout=30)  # free while the load is under way
        holder._lock.release()
    finally:
        release.set()
        worker.join(30)
    assert holder.last_error is None and holder.store.issuers


def test_item7_the_service_refuses_to_start_without_an_audience(tmp_path: Path) -> None:
    """With no audience configured, aud was not checked (a warning only): a token issued for any other
    verifier was accepted. The service now refuses to start without one."""
    from attest import ConfigurationError

    data = {"issuers": [{"iss": "https://epj.fagersta.example", "legal_entities": ["100100673"], "member": True,
                         "jwks_file": str(KEYS / "fagersta" / "jwks.json")}]}
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigurationError, match="no audience"):
        create_app(service_settings(tmp_path, trust_store=path))
    assert create_app(service_settings(tmp_path / "b", trust_store=path, audience="nhn:pjd")) is not None


def test_item1_production_profile_reports_each_absent_binding() -> None:
    """The production profile skipped ATT-4 and ATT-11 silently when the context named neither the patient nor
    the user: the decision now says, for each, that it was not checked."""
    d = verify(make_token(), trust_store(), context=VerifyContext(now=NOW))
    assert d.permitted
    assert sorted((w.code, w.rule) for w in d.warnings) == [("context_not_provided", "ATT-11"),
                                                           ("context_not_provided", "ATT-4")]
    bound = verify(make_token(), trust_store(),
                   context=VerifyContext(now=NOW, patient_id="13116900216", authenticated_pid="20086600138"))
    assert bound.permitted and bound.warnings == ()


def test_item1_the_service_requires_the_bindings_of_a_production_profile(tmp_path: Path) -> None:
    """The service answered a clean permit for a token posted without the patient and the user of the
    request. Under a profile that requires them it now refuses (422) unless the deployment opted out, and
    then every skipped binding is a warning in the decision and its audit record."""
    from attest.service.settings import Settings

    assert Settings().context_required is True and Settings.from_env({}).context_required is True
    with TestClient(create_app(service_settings(tmp_path / "a", context_required=True))) as c:
        r = c.post("/v1/verify", json={"token": fresh_token()})
        assert r.status_code == 422 and r.json()["type"] == "urn:attest:problem:context-required"
        assert "context.patient_id and context.authenticated_pid" in r.json()["detail"]
        r = c.post("/v1/verify", json={"token": fresh_token(), "context": {"patient_id": "13116900216"}})
        assert r.status_code == 422 and "context.authenticated_pid" in r.json()["detail"]
        ctx = {"patient_id": "13116900216", "authenticated_pid": "20086600138"}
        r = c.post("/v1/verify", json={"token": fresh_token(), "context": ctx})
        assert r.status_code == 200 and r.json()["decision"] == "permit" and r.json()["warnings"] == []
    opted_out = service_settings(tmp_path / "b", context_required=False)
    with TestClient(create_app(opted_out)) as c:
        doc = c.post("/v1/verify", json={"token": fresh_token()}).json()
        assert doc["decision"] == "permit"
        assert sorted(w["rule"] for w in doc["warnings"] if w["code"] == "context_not_provided") == ["ATT-11",
                                                                                                    "ATT-4"]
        events = c.get("/v1/audit", headers={"Authorization": f"Bearer {opted_out.admin_token}"}).json()["entry"]
        assert "context_not_provided" in json.dumps(events)


def test_item7_issuers_must_say_whether_they_are_members() -> None:
    """An issuer without 'member' only warned, so ATT-12 went unchecked by omission."""
    jwk = public_jwk(org("fagersta").key, "ES256")
    entry = {"iss": "https://epj.fagersta.example", "legal_entities": ["100100673"], "jwks": {"keys": [jwk]}}
    with pytest.raises(TrustStoreError, match=r"'member'.*required"):
        TrustStore.from_dict({"issuers": [entry], "audience": "nhn:pjd"})
    with pytest.raises(TrustStoreError, match="'member'"):
        TrustStore.from_dict({"issuers": [{**entry, "member": "yes"}], "audience": "nhn:pjd"})


def test_item7_context_now_does_not_reopen_the_replay_window() -> None:
    """With context.now in the past, the replay entry was keyed to the token's exp on the real clock (long
    gone), so a token that is valid at the evaluation time could be replayed without limit."""
    import time

    from attest import MemoryReplayCache

    cache = MemoryReplayCache()  # the real clock
    past = int(time.time()) - 30 * 86400  # evaluated a month ago: exp is long gone on the cache's clock
    att = valid_attestation()
    att["toa"] = past - 60
    token = make_token(att, now=past, jti="once-only")
    ctx = VerifyContext(now=past, patient_id="13116900216", authenticated_pid="20086600138")
    assert verify(token, trust_store(), context=ctx, replay=cache).permitted
    again = verify(token, trust_store(), context=ctx, replay=cache)
    assert [e.code for e in again.errors] == ["token_replayed"]


def test_item7_a_trickled_body_is_cut_off() -> None:
    """With uvicorn facing clients directly, a body sent a byte at a time held a worker and a connection for
    as long as the client liked. The whole body must now arrive within the read deadline (408)."""
    import asyncio

    from attest.service.middleware import BodyLimitMiddleware

    reached: list[bool] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # pragma: no cover - must not run
        reached.append(True)

    async def trickle() -> dict:
        if not sent:
            sent.append(True)
            return {"type": "http.request", "body": b"{", "more_body": True}
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    sent: list[bool] = []
    answers: list[dict] = []

    async def send(message: dict) -> None:
        answers.append(message)

    mw = BodyLimitMiddleware(app, max_bytes=1024, read_timeout=0.2)
    asyncio.run(asyncio.wait_for(mw({"type": "http", "headers": []}, trickle, send), 5))
    assert not reached and answers[0]["status"] == 408
    assert b"request-timeout" in answers[1]["body"]
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "client_header_timeout 10s;" in text and "client_body_timeout 10s;" in text


def test_item7_test_material_is_refused_under_a_production_profile(tmp_path: Path) -> None:
    """`test_material: true` was ignored: the published example keys were trusted under the production
    profile. `attest serve` now refuses that pairing (even on loopback); with no trust store configured, the
    development defaults pair the example keys with the test profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env["ATTEST_TRUST_STORE"] = str(KEYS / "trust.yaml")
    env["ATTEST_PROFILE"] = "tillitsrammeverk-1.1"
    r = subprocess.run([sys.executable, "-m", "attest.cli", "serve", "--host", "127.0.0.1", "--port", "1",
                        "--data-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=60,
                       check=False)
    assert r.returncode == 2 and "test_material" in r.stderr and "tillitsrammeverk-1.1" in r.stderr
    from attest.service.settings import Settings, resolve

    resolved = resolve(Settings(data_dir=tmp_path / "dev")).settings
    assert resolved.profile == "tillitsrammeverk-1.1-test"
    assert any("tillitsrammeverk-1.1-test" in d for d in resolved.dev_defaults)
    assert TrustStore.load(KEYS / "trust.yaml").authorization_servers[
        "https://helseid-sts.test.example"].profile == "helseid-at-1.0-test"
