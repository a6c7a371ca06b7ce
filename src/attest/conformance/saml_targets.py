"""Targets for a SAML corpus: ``--mode http-api`` (a ``/v1/verify``-compatible endpoint) and ``--mode library``
(this package's ``attest.verify_saml``, in-process).

``http-api`` sends each case as ``POST {base}/v1/verify`` with ``{"saml": <assertion>, "context": {…}}`` (the
body attest's service takes for a SAML assertion) and compares the decision document's decision and the exact
sets of error and warning codes. The context is the case's (``now``, the request's ``patient_id`` and, where
the case needs it, ``authenticated_pid``/``authenticated_hpr``); the audience is the target's own
configuration (the corpus's trust store names it for its SAML issuer), never sent. Against a target with its
own clock (``--target-clock own``) ``now`` is not sent and cases outside their time window are skipped, as
for ``attest-api``. A 413 for a case tagged ``oversize`` counts as a refusal. Like every HTTP mode it follows
no redirect, uses no proxy from the environment, and bounds concurrency and time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .corpus import Case, Corpus
from .runner import ApiTarget, LibraryTarget, Outcome


def _codes(doc: dict[str, Any], member: str) -> frozenset[str]:
    found = doc.get(member)
    items = found if isinstance(found, list) else []
    return frozenset(str(f.get("code")) for f in items if isinstance(f, dict))


class SamlApiTarget(ApiTarget):
    """A ``/v1/verify``-compatible endpoint given SAML assertions (attest's service: ``{"saml": …}``)."""

    mode = "http-api"
    saml = True
    body_member = "saml"

    def __init__(self, url: str, *, timeout: float = 10.0, jobs: int = 4, replay: bool = True) -> None:
        # replay: the target keeps a replay cache across requests (OneTimeUse; the cases presenting an
        # assertion a second time are skipped without one)
        super().__init__(url, timeout=timeout, jobs=jobs, replay=replay)

    def outcome(self, doc: Any) -> Outcome:
        if not isinstance(doc, dict) or doc.get("decision") not in ("permit", "deny") or \
                not isinstance(doc.get("errors", []), list) or not isinstance(doc.get("warnings", []), list):
            return Outcome("error", detail="the answer is not a decision document")
        errors = [e for e in doc.get("errors", []) if isinstance(e, dict)]
        rules = frozenset(str(e.get("rule")) for e in errors if e.get("rule") is not None)
        return Outcome(str(doc["decision"]), _codes(doc, "errors"), rules, "HTTP 200", _codes(doc, "warnings"))


class SamlLibraryTarget(LibraryTarget):
    """``attest.verify_saml`` in-process with the corpus's trust store (the profile its SAML issuer names,
    unless ``profile`` is given) and a replay cache unless ``replay`` is false. ``verifier``: a drop-in
    replacement for ``verify_saml`` (tests)."""

    saml = True
    trust_variants = False

    def __init__(self, *, profile: str | None = None, trust: str | Path | None = None, replay: bool = True,
                 verifier: Callable[..., Any] | None = None) -> None:
        super().__init__(profile=profile, trust=trust, replay=replay, verifier=verifier)

    async def present(self, case: Case, token: str, corpus: Corpus) -> Outcome:
        from ..context import VerifyContext
        from ..saml import verify_saml

        try:
            store = self._store(Path(self.trust) if self.trust else corpus.path("trust.yaml"))
        except ConfigurationError as exc:
            return Outcome("error", detail=f"trust store refused: {str(exc)[-160:]}")
        fn = self._verify or verify_saml
        d = fn(token, store, self.profile, VerifyContext.from_dict(case.context), replay=self._cache)
        return Outcome(d.decision, frozenset(d.codes), frozenset(f.rule for f in d.errors), "in-process",
                       frozenset(w.code for w in d.warnings))
