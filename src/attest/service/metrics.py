"""Prometheus metrics of one app instance (its own registry: no global state, several apps per process in
tests). Labels are drawn from fixed sets only (decision, outcome, error code of the error table, route
template, dependency name): never a token value, never an identity number."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from ..errors import ERROR_CODES

INSPECTED_KINDS = frozenset({"attestation", "access_token", "saml", "undecodable"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter("attest_decisions", "Verification decisions by decision and FHIR outcome",
                                 ["decision", "outcome"], registry=r)
        self.errors = Counter("attest_decision_errors", "Findings of denied verifications by error code",
                              ["code"], registry=r)
        self.verify_seconds = Histogram(
            "attest_verify_duration_seconds", "Time to verify a token and commit its audit record",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0), registry=r)
        self.requests = Counter("attest_http_requests", "HTTP requests by method, route template and status",
                                ["method", "route", "status"], registry=r)
        self.unavailable = Counter("attest_dependency_unavailable",
                                   "Requests answered 503 because a dependency was down", ["dependency"],
                                   registry=r)
        self.rate_limited = Counter("attest_rate_limited", "Requests refused with 429 (per-client rate limit)",
                                    registry=r)
        self.inspections = Counter("attest_inspections",
                                   "Tokens inspected (POST /v1/inspect, the inspector page): not decisions, not "
                                   "audited; by kind of token and verification result", ["kind", "result"],
                                   registry=r)
        self.audit_events = Counter("attest_audit_events", "AuditEvents committed", registry=r)
        self.trust_reloads = Counter("attest_trust_store_reloads", "Trust-store reloads by result",
                                     ["result"], registry=r)
        self.trust_issuers = Gauge("attest_trust_store_issuers", "Issuers in the current trust store",
                                   registry=r)

        self.key_set_age = Gauge("attest_key_set_age_seconds",
                                 "Age of the keys in service of each remote key set (jwks_uri, discovery), by "
                                 "trust-store entry", ["entry"], registry=r)
        self.key_set_failing = Gauge("attest_key_set_fetch_failing",
                                     "1 when the last fetch of a remote key set failed (its last good keys stay "
                                     "in service)", ["entry"], registry=r)

    def watch_audit_store(self, store: Any) -> None:
        """Export the audit store's commit counters (``commits``, ``rows_committed``): with the decisions,
        how many decisions one commit (one fsync) carries."""
        self.registry.register(_AuditStoreCollector(store))

    def key_sets(self, statuses: list[tuple[str, dict[str, object]]]) -> None:
        """Set the key-set gauges from the trust store's remote key sets (entries are configuration, a
        fixed set: never token content)."""
        self.key_set_age.clear()
        self.key_set_failing.clear()
        for entry, status in statuses:
            age = status.get("age_seconds")
            if isinstance(age, int | float):
                self.key_set_age.labels(entry).set(age)
            self.key_set_failing.labels(entry).set(1 if status.get("last_error") else 0)

    def decision(self, decision: str, outcome: str, codes: list[str]) -> None:
        self.decisions.labels(decision, outcome).inc()
        for code in codes:
            self.errors.labels(code if code in ERROR_CODES else "other").inc()

    def inspection(self, kind: str, result: str) -> None:
        """Count one inspection: ``kind`` attestation, access_token, saml or undecodable; ``result`` permit, deny or
        not_verified (labels from these fixed sets only)."""
        self.inspections.labels(kind if kind in INSPECTED_KINDS else "undecodable",
                                result if result in ("permit", "deny") else "not_verified").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _AuditStoreCollector(Collector):
    """``attest_audit_commits_total`` and ``attest_audit_rows_committed_total``, read from the store."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily("attest_audit_commits", "Audit-store transactions committed (group commit: "
                                  "several decisions' rows per transaction)", value=getattr(self.store, "commits", 0))
        yield CounterMetricFamily("attest_audit_rows_committed", "Audit rows (AuditEvents) committed",
                                  value=getattr(self.store, "rows_committed", 0))
