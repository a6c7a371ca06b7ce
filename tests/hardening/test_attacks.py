"""The attack corpus of JWT_ATTACKS.md section 1 (classes A1-J2), every variant, against the library
(``attest.verify``) and the service (``POST /v1/verify``).

The tokens come from :mod:`attest.conformance.cases_attacks` (``all_variants``: issuer-signed,
attacker-signed, other-issuer-signed and unsigned variants; 47 classes). For every variant:

* the decision and the exact set of error codes are the documented ones (the variant's expectation, with
  the alternatives the contract leaves open in ``accept_also``);
* the service answers 200 with that decision document, never a 5xx; a body over the service's own limit
  is 413 before any token handling (the 1 MiB token of F5);
* a token that is refused writes nothing to the replay store (the cache is wrapped and every
  ``check_and_store`` counted: no call at all, except for a replay, which is a call that stores nothing);
* while ``verify`` runs on an attack token, no network connection, DNS lookup or file open happens
  (``socket``, ``builtins.open``/``io.open``/``os.open`` patched to record and fail);
* C7 (trust-store hygiene): the broken trust store is refused by the loader, and the service refuses to
  start with it.

Replay variants (I1, B4) present their prelude tokens first, through the same path.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from attest import TrustStore, VerifyContext, verify
from attest.conformance.cases_attacks import ATTACKS, Variant, all_variants
from attest.conformance.forge import Forge
from attest.errors import ConfigurationError
from attest.replay import MemoryReplayCache
from attest.service import create_app
from attest.service import decide as verify_route  # the module whose verify the service calls

from ..support.service import service_settings
from ..support.summary import record

NOW = int(time.time())
FORGE = Forge.generate(now=NOW)
VARIANTS: list[tuple[str, Variant]] = all_variants(FORGE)
BY_CLASS: dict[str, list[Variant]] = {}
for _cls, _v in VARIANTS:
    BY_CLASS.setdefault(_cls, []).append(_v)

#: what the runs measured, for the summary line, and which (target, class) tests ran to the end
TALLY: Counter[str] = Counter()
DONE: set[tuple[str, str]] = set()


class CountingCache(MemoryReplayCache):
    """The in-memory replay cache, counting calls and the calls that stored a new (iss, jti)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.stores = 0

    def check_and_store(self, iss: str, jti: str, expires_at: int) -> bool:
        self.calls += 1
        stored = super().check_and_store(iss, jti, expires_at)
        self.stores += int(stored)
        return stored

    def reset(self) -> None:
        self.calls = self.stores = 0


@dataclass
class Guard:
    """Records network and file access attempts made by the guarded thread (and fails them)."""

    thread: int | None = None
    attempts: list[str] = field(default_factory=list)

    def _blocked(self, what: str) -> Callable[..., Any]:
        def refuse(*args: Any, **_: Any) -> Any:
            if threading.get_ident() == self.thread:
                self.attempts.append(f"{what}{args[:2]!r}"[:200])
                raise PermissionError(f"{what} during verification of an attack token")
            return original[what](*args, **_)
        return refuse

    @contextmanager
    def active(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        with monkeypatch.context() as m:
            for what, (owner, name) in TARGETS.items():
                m.setattr(owner, name, self._blocked(what))
            self.thread = threading.get_ident()
            try:
                yield
            finally:
                self.thread = None


TARGETS: dict[str, tuple[Any, str]] = {
    "socket.connect": (socket.socket, "connect"), "socket.connect_ex": (socket.socket, "connect_ex"),
    "socket.create_connection": (socket, "create_connection"), "socket.getaddrinfo": (socket, "getaddrinfo"),
    "builtins.open": (builtins, "open"), "io.open": (io, "open"), "os.open": (os, "open"),
}
original: dict[str, Any] = {what: getattr(owner, name) for what, (owner, name) in TARGETS.items()}


def _context(v: Variant) -> VerifyContext:
    return VerifyContext.from_dict({"audience": FORGE.audience, "now": FORGE.now, **v.context})


def _check(v: Variant, decision: str, codes: set[str], where: str) -> None:
    e = v.expect
    assert decision == e.decision, f"{where} {v.name}: expected {e.short()}, got {decision} {sorted(codes)}"
    if decision == "deny":
        assert frozenset(codes) in e.code_sets(), (
            f"{where} {v.name}: expected codes {e.errors} (or {e.accept_also}), got {sorted(codes)}")


def _side_effects(v: Variant, decision: str, codes: set[str], cache: CountingCache, guard: Guard,
                  where: str) -> None:
    assert not guard.attempts, f"{where} {v.name}: network/file access while verifying: {guard.attempts}"
    if decision == "deny":
        assert cache.stores == 0, f"{where} {v.name}: a refused token was written to the replay store"
        if "token_replayed" not in codes:
            assert cache.calls == 0, f"{where} {v.name}: the replay store was consulted for a refused token"
    TALLY[f"{where} checked"] += 1


@pytest.fixture(scope="module")
def trust() -> TrustStore:
    return FORGE.trust_store()


@pytest.fixture(scope="module", autouse=True)
def warm(trust: TrustStore) -> None:
    """The first verification in a process reads the profiles (YAML) and the code lists (JSON) of the
    package, the same files whatever the token; do it before the guard is on, so that the guard sees only
    what an attack token makes the verifier do."""
    from attest import codes, profiles

    for pid in profiles.list_profiles():
        profiles.load_profile(pid)
    codes.code_lists()
    codes.system_sets()
    d = verify(FORGE.token("warm-up"), trust, context=VerifyContext(audience=FORGE.audience, now=FORGE.now),
               replay=MemoryReplayCache())
    assert d.permitted, d.codes


def test_the_corpus_covers_every_class_of_the_catalogue() -> None:
    classes = [f"{c}{n}" for c, n in (("A", 6), ("B", 7), ("C", 7), ("D", 7), ("E", 5), ("F", 5), ("G", 3),
                                      ("H", 4), ("I", 1), ("J", 2)) for n in range(1, n + 1)]
    assert list(ATTACKS) == classes
    assert set(BY_CLASS) == set(classes)
    assert len(VARIANTS) > 250
    signed_by = Counter(v.signed_by for _, v in VARIANTS)
    assert signed_by["issuer"] > 100 and signed_by["attacker"] > 20, signed_by


@pytest.mark.parametrize("cls", list(ATTACKS))
def test_library(cls: str, trust: TrustStore, monkeypatch: pytest.MonkeyPatch) -> None:
    for v in BY_CLASS[cls]:
        if v.trust is not None:  # C7: the loader refuses the broken trust store
            with pytest.raises(ConfigurationError):
                TrustStore.from_dict(v.trust)
            TALLY["trust stores refused"] += 1
            TALLY["library checked"] += 1
            continue
        cache = CountingCache()
        for token, want in zip(v.prelude, v.prelude_expect or ("permit",) * len(v.prelude), strict=True):
            assert verify(token, trust, context=_context(v), replay=cache).decision == want, v.name
        cache.reset()
        guard = Guard()
        with guard.active(monkeypatch):
            d = verify(v.token, trust, context=_context(v), replay=cache)
        codes = set(d.codes)
        _check(v, d.decision, codes, "library")
        _side_effects(v, d.decision, codes, cache, guard, "library")
        if d.decision == "deny" and not v.prelude:
            assert d.attestation is None or d.issuer is not None, v.name  # nothing trusted unverified
    DONE.add(("library", cls))


@dataclass
class Service:
    app: FastAPI
    client: TestClient
    cache: CountingCache
    guard: Guard
    requests: int = 0


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data = Path(tmp_path_factory.mktemp("attacks"))
    store = data / "trust.json"
    store.write_text(json.dumps(FORGE.trust_document()))
    app = create_app(service_settings(data, trust_store=store, audience=FORGE.audience,
                                      allow_context_now=True))
    cache = CountingCache()
    app.state.runtime.replay = cache
    guard = Guard()
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Service(app, client, cache, guard)


def _post(svc: Service, token: str, v: Variant) -> Any:
    svc.requests += 1
    return svc.client.post("/v1/verify", json={"token": token,
                                               "context": {"now": FORGE.now, **v.context}})


@pytest.mark.parametrize("cls", list(ATTACKS))
def test_service(cls: str, service: Service, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    guard = service.guard

    async def guarded(*args: Any, **kwargs: Any) -> Any:
        with guard.active(monkeypatch):
            return verify(*args, **kwargs)  # the library's decision, made inside the guard

    monkeypatch.setattr(verify_route, "verify_async", guarded)
    limit = service.app.state.runtime.settings.max_body_bytes
    for v in BY_CLASS[cls]:
        if v.trust is not None:  # C7: the service refuses to start with the broken trust store
            path = tmp_path / f"{v.name}.json"
            path.write_text(json.dumps(v.trust))
            with pytest.raises(ConfigurationError):
                create_app(service_settings(tmp_path / v.name, trust_store=path))
            TALLY["service checked"] += 1
            continue
        for token, want in zip(v.prelude, v.prelude_expect or ("permit",) * len(v.prelude), strict=True):
            r = _post(service, token, v)
            assert r.status_code == 200 and r.json()["decision"] == want, (v.name, r.text[:300])
        service.cache.reset()
        guard.attempts.clear()
        r = _post(service, v.token, v)
        assert r.status_code < 500, (v.name, r.status_code, r.text[:300])
        if len(v.token) + 100 > limit:  # the service's own body limit comes first
            assert r.status_code == 413, (v.name, r.status_code)
            assert r.headers["content-type"] == "application/problem+json"
            assert service.cache.calls == 0 and not guard.attempts
            TALLY["service 413 (body over the limit)"] += 1
            TALLY["service checked"] += 1
            continue
        assert r.status_code == 200, (v.name, r.status_code, r.text[:300])
        doc = r.json()
        codes = {e["code"] for e in doc["errors"]}
        _check(v, doc["decision"], codes, "service")
        _side_effects(v, doc["decision"], codes, service.cache, guard, "service")
    DONE.add(("service", cls))


def test_summary(service: Service) -> None:
    """Runs last in this module: every presentation was audited, and the counts go to the summary."""
    if len(DONE) < 2 * len(ATTACKS):
        pytest.skip("the summary needs every class through both targets (run the whole module)")
    assert TALLY["library checked"] == len(VARIANTS), TALLY
    assert TALLY["service checked"] == len(VARIANTS), TALLY
    events = service.app.state.runtime.trail.search(limit=10_000)
    verifications = {e.row.verification_id for e in events}
    audited = service.requests - TALLY["service 413 (body over the limit)"]
    assert len(verifications) == audited
    denies = sum(1 for _, v in VARIANTS if v.expect.decision == "deny")
    record(f"attack corpus: {len(VARIANTS)} variants in {len(ATTACKS)} classes (JWT_ATTACKS A1-J2), "
           f"{denies} to refuse; library and POST /v1/verify both as documented for all "
           f"({TALLY['service 413 (body over the limit)']} answered 413 by the body limit, "
           f"{TALLY['trust stores refused']} broken trust stores refused); 0 5xx, 0 replay-store writes "
           f"for refused tokens, 0 network/file accesses; {audited} verifications audited")
