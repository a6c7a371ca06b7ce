"""Run a corpus against a verifier and compare what it decides with what each case expects.

Targets (``--mode``):

* ``attest-api``: an attest-compatible service. Each case is ``POST {base}/v1/verify`` with
  ``{"token": …, "context": {…}}`` (CONTRACT.md section 6); the decision document's ``decision`` and the set
  of error ``code``\\ s are compared, the rule ids are noted.
* ``http``: any HTTP endpoint of a source organisation. The token (and optionally context values) go into
  configurable headers or JSON body fields; the status code says accepted or rejected.
* ``command``: a local command per case, the token on stdin, the context in argument placeholders and
  environment variables; the exit status says accepted or rejected (optionally the decision document on
  stdout is compared as in ``attest-api``).
* ``library``: this package's own ``attest.verify`` in-process (a self-test without a server).
* ``http-api`` (a HelseID corpus, :mod:`attest.conformance.helseid_targets`): the API itself, called as an
  EPJ calls it: an access token and a fresh DPoP proof minted per request from the case's recipe; the
  status code says permitted or refused. For a SAML corpus (:mod:`attest.conformance.saml_targets`): a
  ``/v1/verify``-compatible endpoint, ``POST {"saml": …, "context": {…}}``, the decision document compared.

Network use is limited to what the user configured: one target URL (no redirects followed, no proxies from
the environment); nothing in a corpus names an address. Concurrency (``jobs``) and the per-request
``timeout`` are bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .corpus import SAML_GROUPS, Case, Corpus

#: context keys a case may carry and the placeholder names that carry them
CONTEXT_PLACEHOLDERS = {"now": "now", "audience": "audience", "authenticated_pid": "pid",
                        "authenticated_hpr": "hpr", "patient_id": "patient"}
PLACEHOLDERS = frozenset({"token", "case", "trust", "profile", "corpus", *CONTEXT_PLACEHOLDERS.values()})
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
MAX_BODY = 1 << 20


class RunnerError(Exception):
    """Bad runner configuration (the message says which option)."""


@dataclass(frozen=True)
class Outcome:
    """What a target did with one token: ``permit``, ``deny`` or ``error`` (timeout, 5xx, crash, an exit
    status or HTTP status outside both configured sets); ``codes``/``rules`` when the target reports them."""

    decision: str
    codes: frozenset[str] | None = None
    rules: frozenset[str] | None = None
    detail: str = ""
    #: the warning codes, when the target reports them (SAML targets)
    warnings: frozenset[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"decision": self.decision, "detail": self.detail}
        if self.codes is not None:
            d["codes"] = sorted(self.codes)
        if self.rules is not None:
            d["rules"] = sorted(self.rules)
        if self.warnings is not None:
            d["warnings"] = sorted(self.warnings)
        return d


@dataclass(frozen=True)
class CaseResult:
    case: Case
    status: str                    # pass | fail | error | skip
    outcome: Outcome | None = None
    reason: str = ""
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def mismatch(self) -> bool:
        return self.status in ("fail", "error")


@dataclass
class RunResult:
    target: dict[str, Any]
    corpus: dict[str, Any]
    results: list[CaseResult]
    started: float
    seconds: float

    def counts(self) -> dict[str, int]:
        out = {"cases": len(self.results), "pass": 0, "fail": 0, "error": 0, "skip": 0}
        for r in self.results:
            out[r.status] += 1
        out["mismatches"] = out["fail"] + out["error"]
        return out

    @property
    def ok(self) -> bool:
        return not any(r.mismatch for r in self.results)


# --- targets ----------------------------------------------------------------------------------------

class Target:
    """Base class. ``receives``: the context keys the target is given (others make a case inapplicable);
    ``own_clock``: the target evaluates time with its own clock, so cases outside their time window are
    skipped; ``replay``: the target keeps a replay cache across requests; ``trust_variants``: it can load
    a case's own trust store (class C7); ``reports_codes``: it returns the decision document."""

    mode = "?"
    receives: frozenset[str] = frozenset(CONTEXT_PLACEHOLDERS)
    own_clock = False
    replay = True
    trust_variants = False
    reports_codes = False
    #: the target mints a HelseID case's token and proof from its recipe (--mode http-api, a HelseID library)
    mints = False
    #: the target verifies SAML assertions (a SAML corpus's cases)
    saml = False

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "own_clock": self.own_clock, "replay": self.replay,
                "trust_variants": self.trust_variants, "reports_codes": self.reports_codes}

    def skip_reason(self, case: Case, at: float) -> str | None:
        if (case.group in SAML_GROUPS) != self.saml:
            return ("a SAML case (a signed assertion): run it with --mode http-api or library" if not self.saml else
                    "not a SAML case: this target verifies SAML assertions")
        if case.recipe is not None and not self.mints:
            return "a HelseID case (a recipe for token, proof and request): run it with --mode http-api or library"
        if case.recipe is None and self.mints:
            return "not a HelseID case: run a corpus of attestation tokens with --mode attest-api, http or command"
        if "replay" in case.requires and not self.replay:
            return "needs a replay cache kept across requests (run with --replay if the target has one)"
        if "trust-variant" in case.requires and not self.trust_variants:
            return "needs the target to load the case's own trust store ({trust} placeholder, command mode)"
        # audience and now are configuration (the target's own identity and clock), not per-case input
        missing = [k for k in case.context if k not in self.receives and k not in ("now", "audience")]
        if missing:
            return (
                f"the target is not given context {', '.join(missing)} (map it to a header/field/placeholder)"
            )
        if self.own_clock and not case.open_at(at):
            if case.window_empty:
                return "decision depends on the exact second; only a target given 'now' can run it"
            return "outside the case's time window for a target with its own clock (regenerate the corpus)"
        return None

    async def present(self, case: Case, token: str, corpus: Corpus) -> Outcome:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


def _decision_document(doc: Any) -> Outcome:
    if not isinstance(doc, dict) or doc.get("decision") not in ("permit", "deny") or \
            not isinstance(doc.get("errors", []), list):
        return Outcome("error", detail="the answer is not a decision document")
    errors = [e for e in doc.get("errors", []) if isinstance(e, dict)]
    codes = frozenset(str(e.get("code")) for e in errors)
    rules = frozenset(str(e.get("rule")) for e in errors if e.get("rule") is not None)
    return Outcome(str(doc["decision"]), codes, rules)


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RunnerError(f"target {url!r} must be an http:// or https:// URL")
    return url


class _HttpBase(Target):
    def __init__(self, url: str, timeout: float, jobs: int) -> None:
        import httpx

        self.url = _check_url(url)
        # trust_env=False: no proxy or netrc from the environment, so the named target is the only address
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=jobs, max_keepalive_connections=jobs),
        )
        self._httpx = httpx

    async def _send(self, method: str, url: str, **kw: Any) -> tuple[int, bytes] | Outcome:
        got = await self._exchange(method, url, **kw)
        return got if isinstance(got, Outcome) else (got[0], got[1])

    async def _exchange(self, method: str, url: str, **kw: Any) -> tuple[int, bytes, dict[str, str]] | Outcome:
        """One request: ``(status, body, headers with lower-case names)``, or an error outcome."""
        try:
            async with self._client.stream(method, url, **kw) as resp:
                body = b""
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        return Outcome(
                            "error", detail=f"HTTP {resp.status_code}: answer over {MAX_BODY} bytes"
                        )
                return resp.status_code, body, {k.lower(): v for k, v in resp.headers.items()}
        except self._httpx.TimeoutException:
            return Outcome("error", detail="timeout")
        except (self._httpx.HTTPError, ValueError) as exc:
            return Outcome("error", detail=f"{type(exc).__name__}: {str(exc)[:120]}")

    async def aclose(self) -> None:
        await self._client.aclose()


class ApiTarget(_HttpBase):
    """An attest-compatible ``POST /v1/verify`` (CONTRACT.md section 6)."""

    mode = "attest-api"
    reports_codes = True
    #: the member of the request body that carries the token (a SAML target: ``saml``)
    body_member = "token"

    def __init__(self, url: str, *, timeout: float = 10.0, jobs: int = 4, replay: bool = True) -> None:
        base = url.rstrip("/")
        super().__init__(base if base.endswith("/v1/verify") else base + "/v1/verify", timeout, jobs)
        self.replay = replay

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "url": self.url}

    async def present(self, case: Case, token: str, corpus: Corpus) -> Outcome:
        # a service that evaluates with its own clock is not sent `now` (attest's service refuses it with
        # 422 unless ATTEST_ALLOW_CONTEXT_NOW is set); closed time windows are then skipped instead. The
        # audience is the target's own configuration (the corpus's trust.yaml names it), never sent: attest's
        # service refuses a caller's audience unless ATTEST_ALLOW_CONTEXT_AUDIENCE is set
        context = {k: v for k, v in case.context.items()
                   if k != "audience" and not (self.own_clock and k == "now")}
        got = await self._send("POST", self.url, json={self.body_member: token, "context": context},
                               headers={"Accept": "application/json"})
        if isinstance(got, Outcome):
            return got
        status, body = got
        if status == 413 and "oversize" in case.tags:
            return Outcome("deny", detail="HTTP 413 (request body over the service's limit)")
        if status != 200:
            return Outcome("error", detail=f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}")
        try:
            doc = json.loads(body)
        except ValueError:
            return Outcome("error", detail="HTTP 200 but the body is not JSON")
        return self.outcome(doc)

    def outcome(self, doc: Any) -> Outcome:
        """The decision document's decision, error codes and rules (a SAML target also compares warnings)."""
        out = _decision_document(doc)
        return Outcome(out.decision, out.codes, out.rules, "HTTP 200")


def _status_set(spec: str) -> Callable[[int], bool]:
    """``"200-299,304"`` -> predicate."""
    ranges: list[tuple[int, int]] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                ranges.append((int(a), int(b)))
            else:
                ranges.append((int(part), int(part)))
        except ValueError as exc:
            raise RunnerError(f"bad status/exit list {spec!r}") from exc
    if not ranges:
        raise RunnerError(f"empty status/exit list {spec!r}")
    return lambda v: any(a <= v <= b for a, b in ranges)


def _placeholders(template: str) -> set[str]:
    names = set(_PLACEHOLDER.findall(template))
    unknown = names - PLACEHOLDERS
    if unknown:
        raise RunnerError(f"unknown placeholder(s) {', '.join('{' + u + '}' for u in sorted(unknown))} in "
                          f"{template!r}; known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}")
    return names


def _values(case: Case, token: str, corpus: Corpus, trust: str | None) -> dict[str, str | None]:
    ctx = case.context
    vals: dict[str, str | None] = {"token": token, "case": case.id, "trust": trust,
                                   "profile": str(corpus.meta.get("profile", "")),
                                   "corpus": str(corpus.root) if corpus.root else None}
    for key, name in CONTEXT_PLACEHOLDERS.items():
        v = ctx.get(key)
        vals[name] = None if v is None else str(v)
    return vals


def _fill(template: str, vals: dict[str, str | None]) -> str | None:
    """Substitute placeholders; None when one of them has no value for this case."""
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        v = vals.get(m.group(1))
        if v is None:
            missing = True
            return ""
        return v

    out = _PLACEHOLDER.sub(sub, template)
    return None if missing else out


class HttpTarget(_HttpBase):
    """Any HTTP endpoint: the token in a header and/or a JSON body field; accepted/rejected by status."""

    mode = "http"

    def __init__(
        self,
        url: str,
        *,
        method: str = "POST",
        headers: Iterable[str] = ("Authorization: Bearer {token}",),
        fields: Iterable[str] = (),
        accept: str = "200-299",
        reject: str = "400-499",
        timeout: float = 10.0,
        jobs: int = 4,
        replay: bool = True,
        own_clock: bool | None = None,
    ) -> None:
        super().__init__(url, timeout, jobs)
        self.method = method.upper()
        self.headers: list[tuple[str, str]] = []
        used: set[str] = set()
        for h in headers:
            if ":" not in h:
                raise RunnerError(f"--header {h!r} must be 'Name: value'")
            name, value = h.split(":", 1)
            used |= _placeholders(value)
            self.headers.append((name.strip(), value.strip()))
        self.fields: list[tuple[list[str], str]] = []
        for fld in fields:
            if "=" not in fld:
                raise RunnerError(f"--field {fld!r} must be 'path=template' (for example token={{token}})")
            path, value = fld.split("=", 1)
            used |= _placeholders(value)
            self.fields.append((path.strip().split("."), value))
        if "token" not in used:
            raise RunnerError("the token must go somewhere: use {token} in a --header or --field")
        self._accept, self._reject = _status_set(accept), _status_set(reject)
        self.accept_spec, self.reject_spec = accept, reject
        self.receives = frozenset(k for k, n in CONTEXT_PLACEHOLDERS.items() if n in used)
        self.own_clock = "now" not in used if own_clock is None else own_clock
        self.replay = replay

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "url": self.url, "method": self.method,
                "headers": [f"{n}: {v}" for n, v in self.headers],
                "fields": [f"{'.'.join(p)}={v}" for p, v in self.fields],
                "accept": self.accept_spec, "reject": self.reject_spec}

    def skip_reason(self, case: Case, at: float) -> str | None:
        reason = super().skip_reason(case, at)
        if reason is not None:
            return reason
        in_header = any("{token}" in v for _, v in self.headers)
        tokens = (case.token, *case.prelude)
        if in_header and any(not t.isascii() or any(c in t for c in "\r\n\x00") for t in tokens):
            return "the token cannot be carried in an HTTP header (control or non-ASCII characters)"
        return None

    async def present(self, case: Case, token: str, corpus: Corpus) -> Outcome:
        vals = _values(case, token, corpus, None)
        headers = {}
        for name, tmpl in self.headers:
            v = _fill(tmpl, vals)
            if v is not None:
                headers[name] = v
        kw: dict[str, Any] = {"headers": headers}
        if self.fields:
            body: dict[str, Any] = {}
            for path, tmpl in self.fields:
                v = _fill(tmpl, vals)
                if v is None:
                    continue
                node = body
                for step in path[:-1]:
                    node = node.setdefault(step, {})
                node[path[-1]] = int(v) if tmpl == "{now}" else v
            kw["json"] = body
        if any(not v.isascii() or any(c in v for c in "\r\n\x00") for v in headers.values()):
            return Outcome("error", detail="token not representable in an HTTP header")
        got = await self._send(self.method, self.url, **kw)
        if isinstance(got, Outcome):
            return got
        status, _ = got
        if self._accept(status):
            return Outcome("permit", detail=f"HTTP {status}")
        if self._reject(status):
            return Outcome("deny", detail=f"HTTP {status}")
        return Outcome(
            "error",
            detail=f"HTTP {status} is neither an accept ({self.accept_spec}) nor a reject "
            f"({self.reject_spec}) status",
        )


def _argv(template: list[str], vals: dict[str, str | None]) -> list[str]:
    """Fill an argv template: an argument whose placeholder has no value is dropped, and with it the option
    name just before it when the argument was only that placeholder (``--pid {pid}``)."""
    out: list[str] = []
    prev_flag = False
    for arg in template:
        filled = _fill(arg, vals)
        if filled is None:
            if _PLACEHOLDER.fullmatch(arg) and prev_flag and out:
                out.pop()
            prev_flag = False
            continue
        out.append(filled)
        prev_flag = arg.startswith("-") and not _PLACEHOLDER.search(arg)
    return out


class CommandTarget(Target):
    """A local command per case: token on stdin, context in placeholders and ``ATTEST_*`` variables."""

    mode = "command"

    def __init__(
        self,
        command: str | list[str],
        *,
        accept: str = "0",
        reject: str = "1",
        json_output: bool = False,
        timeout: float = 30.0,
        replay: bool = False,
        own_clock: bool | None = None,
        cwd: str | Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.argv:
            raise RunnerError("the command is empty")
        used: set[str] = set()
        for a in self.argv:
            used |= _placeholders(a)
        self._accept, self._reject = _status_set(accept), _status_set(reject)
        self.accept_spec, self.reject_spec = accept, reject
        self.json_output = json_output
        self.reports_codes = json_output
        self.timeout = timeout
        self.replay = replay
        self.trust_variants = "trust" in used
        self.own_clock = "now" not in used if own_clock is None else own_clock
        self.cwd = str(cwd) if cwd else None
        self.env = env

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "command": shlex.join(self.argv), "accept": self.accept_spec,
                "reject": self.reject_spec, "json_output": self.json_output}

    async def present(self, case: Case, token: str, corpus: Corpus) -> Outcome:
        trust = corpus.path(case.trust) if case.trust else corpus.trust_path
        vals = _values(case, token, corpus, str(trust) if trust else None)
        argv = _argv(self.argv, vals)
        env = dict(self.env if self.env is not None else os.environ)
        env.update({"ATTEST_CASE_ID": case.id, "ATTEST_CONTEXT": json.dumps(case.context),
                    "ATTEST_TRUST": str(trust or "")})
        for key, name in CONTEXT_PLACEHOLDERS.items():
            if key in case.context:
                env[f"ATTEST_{name.upper()}"] = str(case.context[key])
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE, env=env, cwd=self.cwd)
        except OSError as exc:
            return Outcome("error", detail=f"cannot start {argv[0]!r}: {exc.strerror}")
        try:
            out, err = await asyncio.wait_for(proc.communicate(token.encode("utf-8")), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return Outcome("error", detail=f"timeout after {self.timeout} s")
        rc = proc.returncode
        assert rc is not None
        if self._accept(rc):
            decision = "permit"
        elif self._reject(rc):
            decision = "deny"
        else:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            return Outcome("error", detail=f"exit {rc} ({tail[0][:160]})")
        if not self.json_output:
            return Outcome(decision, detail=f"exit {rc}")
        try:
            doc = _decision_document(json.loads(out))
        except ValueError:
            return Outcome("error", detail=f"exit {rc} but stdout is not a JSON decision document")
        if doc.decision != decision:
            return Outcome("error", detail=f"exit {rc} says {decision} but the document says {doc.decision}")
        return Outcome(decision, doc.codes, doc.rules, f"exit {rc}")


class LibraryTarget(Target):
    """This package's ``attest.verify``, in-process (with a replay cache unless ``replay`` is false)."""

    mode = "library"
    reports_codes = True
    trust_variants = True

    def __init__(self, *, profile: str | None = None, trust: str | Path | None = None, replay: bool = True,
                 verifier: Callable[..., Any] | None = None) -> None:
        from ..replay import MemoryReplayCache

        self.profile = profile
        self.trust = trust
        self.replay = replay
        self._cache = MemoryReplayCache() if replay else None
        self._stores: dict[str, Any] = {}
        self._verify = verifier

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "profile": self.profile}

    def _store(self, path: Path) -> Any:
        from ..trust import TrustStore

        key = str(path)
        if key not in self._stores:
            self._stores[key] = TrustStore.load(path)
        return self._stores[key]

    async def present(self, case: Case, token: str, corpus: Corpus) -> Outcome:
        from .. import verify as attest_verify
        from ..context import VerifyContext
        from ..errors import ConfigurationError

        path = corpus.path(case.trust) if case.trust else Path(self.trust or corpus.path("trust.yaml"))
        try:
            store = self._store(path)
        except ConfigurationError as exc:
            return Outcome("error", detail=f"trust store refused: {str(exc)[-160:]}")
        profile = self.profile or str(corpus.meta.get("profile", "tillitsrammeverk-1.1"))
        fn = self._verify or attest_verify
        d = fn(token, store, profile, VerifyContext.from_dict(case.context), replay=self._cache)
        return Outcome(d.decision, frozenset(d.codes), frozenset(f.rule for f in d.errors), "in-process")


# --- comparison and the run loop ---------------------------------------------------------------------

def compare(case: Case, outcome: Outcome, *, strict_rules: bool = False) -> CaseResult:
    """Judge one outcome against the case's expectation (decision, exact set of codes when reported)."""
    e = case.expect
    if e.trust_refused:
        if outcome.decision == "permit":
            return CaseResult(
                case, "fail", outcome, "accepted a token whose key is only in a broken trust store"
            )
        return CaseResult(case, "pass", outcome)
    if outcome.decision == "error":
        return CaseResult(case, "error", outcome, outcome.detail)
    if outcome.decision != e.decision:
        got = outcome.decision + (f" {','.join(sorted(outcome.codes))}" if outcome.codes else "")
        return CaseResult(case, "fail", outcome, f"expected {e.short()}, got {got}")
    notes: list[str] = []
    if outcome.codes is not None and e.decision == "deny" and frozenset(outcome.codes) not in e.code_sets():
        return CaseResult(
            case,
            "fail",
            outcome,
            f"expected codes {','.join(e.errors)}, got {','.join(sorted(outcome.codes)) or '(none)'}",
        )
    if e.warnings is not None and outcome.warnings is not None and outcome.warnings != frozenset(e.warnings):
        return CaseResult(case, "fail", outcome, f"expected warnings {','.join(e.warnings) or '(none)'}, got "
                                                 f"{','.join(sorted(outcome.warnings)) or '(none)'}")
    if (
        outcome.rules is not None
        and e.decision == "deny"
        and frozenset(outcome.codes or ()) == frozenset(e.errors)
    ):
        missing = [r for r in e.rules if r not in outcome.rules]
        if missing:
            notes.append(
                f"rule id(s) {', '.join(missing)} expected, reported {', '.join(sorted(outcome.rules))}"
            )
    if strict_rules and notes:
        return CaseResult(case, "fail", outcome, notes[0], tuple(notes))
    return CaseResult(case, "pass", outcome, "", tuple(notes))


async def _run_case(target: Target, case: Case, corpus: Corpus, strict_rules: bool) -> CaseResult:
    t0 = time.monotonic()
    for i, (tok, want) in enumerate(zip(case.prelude, case.prelude_decisions(), strict=True)):
        pre = await target.present(case, tok, corpus)
        if pre.decision != want:
            # a prelude refused as a replay: the target remembers an earlier run of this very corpus
            hint = ("; the target's replay cache remembers an earlier run of this corpus: generate a fresh one "
                    "(another --now) or clear the cache" if "token_replayed" in (pre.codes or ()) else "")
            return CaseResult(
                case,
                "error",
                pre,
                f"prelude token {i + 1} should get {want}, got ({pre.decision} "
                f"{','.join(sorted(pre.codes or ()))} {pre.detail})".rstrip() + hint,
                seconds=time.monotonic() - t0,
            )
    outcome = await target.present(case, case.token, corpus)
    r = compare(case, outcome, strict_rules=strict_rules)
    return CaseResult(r.case, r.status, r.outcome, r.reason, r.notes, time.monotonic() - t0)


@dataclass
class RunOptions:
    jobs: int = 4
    strict_rules: bool = False
    progress: Callable[[CaseResult], None] | None = None
    clock: Callable[[], float] = field(default=time.time)


async def run_async(corpus: Corpus, target: Target, options: RunOptions | None = None) -> RunResult:
    opts = options or RunOptions()
    if opts.jobs < 1:
        raise RunnerError("jobs must be at least 1")
    started = time.time()
    t0 = time.monotonic()
    sem = asyncio.Semaphore(opts.jobs)
    at = opts.clock()

    async def one(case: Case) -> CaseResult:
        reason = target.skip_reason(case, at)
        if reason is not None:
            r = CaseResult(case, "skip", reason=reason)
        else:
            async with sem:
                try:
                    r = await _run_case(target, case, corpus, opts.strict_rules)
                except Exception as exc:
                    r = CaseResult(
                        case, "error", Outcome("error", detail=repr(exc)[:200]), f"runner: {exc!r}"[:200]
                    )
        if opts.progress:
            opts.progress(r)
        return r

    try:
        results = await asyncio.gather(*(one(c) for c in corpus.cases))
    finally:
        await target.aclose()
    meta = {k: corpus.meta.get(k) for k in ("profile", "seed", "now", "audience", "generator", "variants",
                                            "selection")}
    if corpus.kind is not None:
        meta["kind"] = corpus.kind
    meta["directory"] = str(corpus.root) if corpus.root else None
    return RunResult(target.describe(), meta, list(results), started, time.monotonic() - t0)


def run(corpus: Corpus, target: Target, options: RunOptions | None = None) -> RunResult:
    """Run every case of ``corpus`` against ``target`` (blocking)."""
    return asyncio.run(run_async(corpus, target, options))
