"""One verification as the service makes it: verify (the replay check awaited when the cache is a network
service), commit the audit trail, count it and describe it for the access log. Shared by ``POST /v1/verify``
and the forward-auth endpoint ``/v1/authorize``, so both answer only after the decision's audit record is
committed, and a dependency that is down means 503 and no decision for both."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from .. import DependencyUnavailable, VerifyContext, verify_async
from ..audit.fhir import audit_outcome
from ..dpop import REPLAY_NAMESPACE
from ..profiles import Profile, load_profile
from ..verify import Decision
from .runtime import Runtime


@dataclass(frozen=True)
class Recorded:
    """A decision, its document and the ids of its committed AuditEvents."""

    decision: Decision
    doc: dict[str, Any]
    audit_ids: list[str]


Verifier = Callable[..., Awaitable[Decision]]


async def saml_verifier(assertion: str, trust: Any, profile: str | Profile, context: VerifyContext,
                        replay: Any = None) -> Decision:
    """:func:`attest.verify_saml` for :func:`decide`: XML-DSig verification (~2 ms of CPU) and the replay
    check in a worker thread, not on the event loop. With the service's replay cache an assertion with
    OneTimeUse is accepted once (a second presentation is ``token_replayed``), and a cache that is down raises
    DependencyUnavailable (503, as for a JWT); an assertion without OneTimeUse is not recorded under
    xua-saml-1.0 (a XUA assertion serves many requests)."""
    from ..saml import verify_saml

    return await run_in_threadpool(partial(verify_saml, assertion, trust, profile, context, replay=replay))


async def decide(request: Request, runtime: Runtime, token: str, profile: str | Profile, context: VerifyContext,
                 *, adjust: Callable[[Decision], Decision] | None = None,
                 verifier: Verifier | None = None) -> Recorded:
    """Verify ``token`` (with ``verifier``, default :func:`attest.verify_async`) and commit its audit trail;
    raises DependencyUnavailable (-> 503) when the replay cache or the audit store cannot answer. ``adjust``
    may turn the library's decision into a stricter one (a deny the service adds) before it is recorded."""
    start = time.perf_counter()
    try:
        # verification is CPU work of well under a millisecond: it runs on the event loop; a replay cache that
        # is a network service (Redis) is awaited, and a key set that must be fetched again (jwks_uri,
        # discovery) is fetched in a worker thread, never on the loop
        decision = await (verifier or verify_async)(token, runtime.trust.store, profile, context,
                                                    replay=runtime.replay)
    except DependencyUnavailable:
        runtime.metrics.unavailable.labels("replay_cache").inc()
        raise
    if adjust is not None:
        decision = adjust(decision)
    try:
        # the commit is awaited (group commit by the store's writer thread) before the answer is sent
        doc = decision.to_dict()
        ids = await runtime.trail.record_async(decision, context, token=token, doc=doc)
    except DependencyUnavailable:
        runtime.metrics.unavailable.labels("audit_store").inc()
        info = decision.token or {}
        release = getattr(runtime.replay, "release", None)
        if decision.permitted and callable(release):
            # the jtis were recorded for a decision nobody received: let the caller retry with them (only
            # those verification recorded: an access token's jti never was, and releasing it could free
            # another token's entry of the same issuer name; a SAML assertion's ID is in a namespace of its own)
            if info.get("format") == "saml2-assertion":
                from ..saml import replay_entry

                entry = replay_entry(decision)
                if entry is not None:
                    await run_in_threadpool(release, *entry)
            elif (load_profile(decision.profile).token_replay and isinstance(info.get("jti"), str)
                    and isinstance(info.get("iss"), str)):
                await run_in_threadpool(release, info["iss"], info["jti"])
            proof = info.get("dpop")
            if isinstance(proof, dict) and isinstance(proof.get("jti"), str) and isinstance(proof.get("jkt"), str):
                await run_in_threadpool(release, REPLAY_NAMESPACE, f"{proof['jkt']}:{proof['jti']}")
        raise
    elapsed = time.perf_counter() - start
    codes = decision.codes
    runtime.metrics.verify_seconds.observe(elapsed)
    runtime.metrics.audit_events.inc(len(ids))
    runtime.metrics.decision(decision.decision, audit_outcome(doc), codes)
    # one log line per request: the access-log line of RequestContextMiddleware carries these fields
    request.state.log = {"decision": decision.decision, "codes": codes,
                         "issuer": decision.issuer.iss if decision.issuer else None,
                         "audit_events": ids, "verify_ms": round(elapsed * 1000, 2)}
    return Recorded(decision, doc, ids)
