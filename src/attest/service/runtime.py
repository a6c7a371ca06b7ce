"""What one app instance holds: settings, trust store (reloadable), replay cache, audit trail, metrics and
the optional issuing key. Built by ``create_app``; reached by routes only through ``deps``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..audit.process import AuditProcess, ChildConfig, ProcessAuditTrail
from ..audit.store import open_store, redact_url
from ..audit.trail import AuditTrail
from ..errors import ConfigurationError
from ..keys import load_private_key, public_jwk, signing_algorithm
from ..profiles import load_profile
from ..replay import MemoryReplayCache, RedisReplayCache, ReplayCache
from ..trust import TrustStore
from .metrics import Metrics
from .settings import Resolved, Settings
from .trustwatch import TrustHolder

log = logging.getLogger("attest.service")


@dataclass(frozen=True)
class IssuingKey:
    key: Any
    kid: str
    iss: str
    alg: str


def _require_audience(settings: Settings, store: TrustStore) -> None:
    """A service that checks no audience would accept a token issued for any other verifier (issue 11 item 7):
    it needs ATTEST_AUDIENCE or the trust store's audience for its issuers, and one for every authorization
    server (the server entry's own, or that)."""
    default = settings.audience or store.audience
    if default:
        return
    missing = [f"authorization server {a.iss}" for a in store.authorization_servers.values() if not a.audience]
    if store.issuers:
        missing.insert(0, "the issuers")
    if missing:
        raise ConfigurationError("no audience for " + ", ".join(missing) + ": set ATTEST_AUDIENCE or the trust "
                                 "store's 'audience' (a verifier that checks no audience accepts tokens meant "
                                 "for others)")


@dataclass
class Runtime:
    settings: Settings
    trust: TrustHolder
    replay: ReplayCache
    trail: AuditTrail
    metrics: Metrics
    issuing: IssuingKey | None

    @classmethod
    def build(cls, resolved: Resolved) -> Runtime:
        s = resolved.settings
        load_profile(s.profile)  # an unknown profile is a configuration error at start, not per request
        metrics = Metrics()

        def on_reload(ok: bool, store: Any) -> None:
            metrics.trust_reloads.labels("ok" if ok else "error").inc()
            metrics.trust_issuers.set(len(store.issuers))

        assert s.trust_store is not None
        trust = TrustHolder(s.trust_store, s.trust_reload_seconds, on_reload)
        _require_audience(s, trust.store)
        metrics.trust_issuers.set(len(trust.store.issuers))
        replay: ReplayCache = (RedisReplayCache(s.redis_url, timeout=s.dependency_timeout) if s.redis_url
                               else MemoryReplayCache())
        store = open_store(s.database_url, s.data_dir, pool_size=s.db_pool_size,
                           connect_timeout=s.dependency_timeout, commit_wait=s.audit_commit_wait_ms / 1000)
        trail: AuditTrail
        if s.audit_process:
            process = AuditProcess(ChildConfig(s.database_url, str(s.data_dir), s.db_pool_size, s.dependency_timeout,
                                               s.instance, resolved.keyring.material()),
                                   timeout=getattr(store, "write_timeout", 60.0) + 10.0)
            metrics.watch_audit_store(process)  # its commits are the child's
            trail = ProcessAuditTrail(store, resolved.keyring, process, instance=s.instance)
        else:
            metrics.watch_audit_store(store)
            trail = AuditTrail(store, resolved.keyring, instance=s.instance)
        issuing = None
        if s.issuing_key is not None and s.issuer is not None:
            key = load_private_key(s.issuing_key)
            alg = signing_algorithm(key, None)
            issuing = IssuingKey(key, s.issuing_kid or public_jwk(key, alg)["kid"], s.issuer, alg)
        log.info("service configured", extra={
            "instance": s.instance, "profile": s.profile, "trust_store": str(s.trust_store),
            "issuers": len(trust.store.issuers), "audit_store": store.url_for_logs, "audit_process": s.audit_process,
            "replay_cache": redact_url(s.redis_url) if s.redis_url else "memory",
            "at_rest_key": resolved.keyring.current.kid, "issuing": issuing is not None})
        return cls(s, trust, replay, trail, metrics, issuing)

    @property
    def audit_process(self) -> AuditProcess | None:
        """The child that records the audit trail (ATTEST_AUDIT_PROCESS), if there is one."""
        return self.trail.process if isinstance(self.trail, ProcessAuditTrail) else None

    def close(self) -> None:
        self.trust.stop()
        if self.audit_process is not None:
            self.audit_process.close()
        self.trail.store.close(timeout=30.0)
        close = getattr(self.replay, "close", None)
        if callable(close):
            close()
