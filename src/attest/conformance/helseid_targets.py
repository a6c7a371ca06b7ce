"""Targets for a HelseID corpus: ``--mode http-api`` (the real API, or the reverse proxy in front of it) and
``--mode library`` (this package's ``attest.verify``, in-process).

For each case the target mints the access token and the DPoP proof from the case's recipe just before it
sends the request (:func:`attest.conformance.helseid_mint.mint`), for the URL it calls: ``htm`` is the
method, ``htu`` the target URL without its query. A replay pair (``repeat: 2``) is the very same request sent
twice, in order, on the same target: the first must be permitted, the second is judged.

``http-api`` judges by status: 2xx permitted, 401/403 refused, anything else (a 5xx, a redirect, a timeout)
an error. Like the other HTTP modes it follows no redirect, uses no proxy from the environment, and bounds
concurrency and time (:class:`attest.conformance.runner._HttpBase`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..identifiers import redact_identity_numbers
from .corpus import Case, Corpus
from .helseid_mint import DEFAULT_PATIENT_PARAM, Material, Minted, MintError, load_material, mint
from .runner import LibraryTarget, Outcome, RunnerError, _HttpBase, _status_set

#: the URL a library target pretends to be called with (``.invalid``: never resolvable)
LIBRARY_URL = "https://api.conformance.invalid/fhir/DocumentReference"
_PARAM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:")


class _Minting:
    """What both HelseID targets share: the corpus's key material, loaded once (:meth:`material`; the command
    line calls it before the run, so that a corpus without its keys is a usage error, not 54 errors)."""

    _material: tuple[Path | None, Material] | None = None

    def material(self, corpus: Corpus) -> Material:
        if self._material is None or self._material[0] != corpus.root:
            if corpus.root is None:
                raise RunnerError("a HelseID corpus must be read from its directory (its keys are files)")
            try:
                self._material = (corpus.root, load_material(corpus.root, str(corpus.meta.get("seed", ""))))
            except MintError as exc:
                raise RunnerError(str(exc)) from exc
        return self._material[1]


async def present_recipe(case: Case, minter: Callable[[], Minted],
                         send: Callable[[Minted], Awaitable[Outcome]]) -> Outcome:
    """Mint the case's request, send it (twice, in order, for a replay pair) and return the outcome that
    is judged."""
    assert case.recipe is not None
    try:
        request = minter()
    except MintError as exc:
        return Outcome("error", detail=redact_identity_numbers(str(exc)[:300]))
    outcome = await send(request)
    if case.recipe.get("repeat", 1) == 2:
        if outcome.decision != "permit":
            codes = f" {','.join(sorted(outcome.codes))}" if outcome.codes else ""
            return Outcome("error", outcome.codes, outcome.rules,
                           f"the first request of the replay pair should be permitted, got {outcome.decision}"
                           f"{codes} ({outcome.detail})")
        outcome = await send(request)
    return outcome


def _check_param(name: str) -> str:
    if not name or not set(name) <= _PARAM_CHARS:
        raise RunnerError(f"--patient-param {name!r} must be a query parameter name (letters, digits, . _ - :)")
    return name


class HttpApiTarget(_Minting, _HttpBase):
    """The API itself (or the reverse proxy that guards it), called as an EPJ calls it."""

    mode = "http-api"
    mints = True
    receives: frozenset[str] = frozenset()

    def __init__(self, url: str, *, method: str = "GET", patient_param: str = DEFAULT_PATIENT_PARAM,
                 accept: str = "200-299", reject: str = "401,403", timeout: float = 10.0, jobs: int = 4) -> None:
        super().__init__(url, timeout, jobs)
        if "#" in url:
            raise RunnerError(f"target {url!r} must not have a fragment")
        self.method = method.upper()
        self.patient_param = _check_param(patient_param)
        self._accept, self._reject = _status_set(accept), _status_set(reject)
        self.accept_spec, self.reject_spec = accept, reject

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "url": self.url, "method": self.method, "patient_param": self.patient_param,
                "accept": self.accept_spec, "reject": self.reject_spec}

    async def present(self, case: Case, token: str, corpus: Corpus) -> Outcome:
        material = self.material(corpus)
        assert case.recipe is not None
        recipe = case.recipe
        return await present_recipe(
            case, lambda: mint(recipe, material, url=self.url, method=self.method, patient_param=self.patient_param),
            self._call)

    async def _call(self, request: Minted) -> Outcome:
        got = await self._exchange(request.method, request.url, headers=list(request.headers))
        if isinstance(got, Outcome):  # an HTTP client's message may quote the URL, and so the patient
            return Outcome(got.decision, detail=redact_identity_numbers(got.detail))
        status, _, headers = got
        detail = f"HTTP {status}"
        errors = headers.get("x-attest-errors")
        if errors:  # attest's forward-auth says why (codes only); shown, never judged
            detail += f" ({redact_identity_numbers(errors[:200])})"
        if self._accept(status):
            return Outcome("permit", detail=detail)
        if self._reject(status):
            return Outcome("deny", detail=detail)
        return Outcome("error", detail=f"{detail} is neither an accept ({self.accept_spec}) nor a reject "
                                       f"({self.reject_spec}) status")


class HelseIdLibraryTarget(_Minting, LibraryTarget):
    """``attest.verify`` in-process, given what attest's forward-auth would give it for the minted request
    (the trust store's authorization server picks the profile; a replay cache unless ``replay`` is false)."""

    mints = True

    def __init__(self, *, url: str = LIBRARY_URL, method: str = "GET", replay: bool = True,
                 verifier: Callable[..., Any] | None = None) -> None:
        super().__init__(replay=replay, verifier=verifier)
        self.url, self.method = url, method.upper()

    async def present(self, case: Case, token: str, corpus: Corpus) -> Outcome:
        material = self.material(corpus)
        assert case.recipe is not None
        recipe = case.recipe
        try:
            store = self._store(corpus.path("trust.yaml"))
        except ConfigurationError as exc:
            return Outcome("error", detail=f"trust store refused: {str(exc)[-160:]}")

        async def decide(request: Minted) -> Outcome:
            return self._decide(request, store)

        return await present_recipe(case, lambda: mint(recipe, material, url=self.url, method=self.method),
                                    decide)

    def _decide(self, request: Minted, store: Any) -> Outcome:
        from .. import verify as attest_verify
        from ..context import VerifyContext
        from ..trust import DEFAULT_AT_PROFILE
        from ..verify import profile_for

        token = request.token if request.scheme else ""
        ctx = VerifyContext(patient_id=request.patient, dpop_proof=",".join(request.proofs) or None,
                            http_method=request.method, http_url=request.url,
                            authorization_scheme=request.scheme)
        fn = self._verify or attest_verify
        d = fn(token, store, profile_for(token, store, DEFAULT_AT_PROFILE), ctx, replay=self._cache)
        return Outcome(d.decision, frozenset(d.codes), frozenset(f.rule for f in d.errors), "in-process")
