"""API fuzzing with schemathesis against the service's own OpenAPI document (in process, ASGI).

Every operation of ``/openapi.json`` gets schemathesis' coverage-phase requests (boundary values, missing
and mistyped members, unexpected methods), schema-generated requests, valid (positive) and invalid
(negative), plus near-valid verify requests built from real tokens (permits, replays, one-character
mutations), so that the decision document of a permit is checked too. Every answer must:

* not be a 5xx (``not_a_server_error``);
* have a documented status code, content type and headers (``status_code_conformance``,
  ``content_type_conformance``, ``response_headers_conformance``);
* match its documented schema (``response_schema_conformance``): the decision document, the inspect
  report, the FHIR Bundle, ``Problem`` for every error;
* for invalid input, be a 4xx (``negative_data_rejection``).

Admin operations get the admin bearer token, except every fourth request, which goes without it (401).
Generation is derandomised (fixed seed per operation), so CI runs the same requests every time; the
totals are printed in the session summary (tests/conftest.py, ``suite_summary``).
"""

from __future__ import annotations

import itertools
import os
import re
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from attest.errors import DependencyUnavailable
from attest.service import create_app
from attest.service.ratelimit import RateLimit

from ..support.service import ADMIN_TOKEN, fresh_token, service_settings
from ..support.summary import record
from ..support.tokens import KEYS, valid_attestation

SCALE = float(os.environ.get("ATTEST_FUZZ_SCALE", "1"))

#: generated requests per operation and mode (positive, negative); the fixed GET operations without
#: parameters have exactly one request each
BUDGET: dict[str, tuple[int, int]] = {
    "POST /v1/verify": (500, 400),
    "POST /v1/inspect": (150, 150),
    "POST /v1/attestations": (150, 150),
    "GET /v1/profiles/{profile_id}": (50, 50),
    "GET /v1/audit": (200, 200),
    "GET /v1/audit/citizen-log": (100, 100),
}
#: near-valid requests built from real tokens (verify) and the example attestation (issuing)
NEAR_VALID = 200
NEAR_VALID_ISSUE = 60
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]


@dataclass
class Run:
    app: FastAPI
    schema: Any
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    _auth_turn: Iterator[int] = field(default_factory=itertools.count)

    def call(self, case: Any, checks: list[Any], *, admin_op: bool) -> None:
        headers = dict(case.headers or {})
        if admin_op and next(self._auth_turn) % 4 != 3:
            headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        case.headers = headers
        self.requests += 1
        try:
            response = case.call()
            self.statuses[response.status_code] += 1
            if response.status_code == 413:
                # the body limit refused it before the schema was looked at (a generated string over the
                # schema's maxLength can also be over ATTEST_MAX_BODY_BYTES): a documented rejection, which
                # schemathesis's negative-data check does not list among its rejection statuses
                checks = [c for c in checks if c is not negative_data_rejection]
            case.validate_response(response, checks=checks)
        except (Exception, BaseExceptionGroup) as exc:  # a schemathesis FailureGroup, or anything else
            text = "".join(traceback.format_exception(exc))
            kinds = sorted(set(re.findall(r"- (ST\d{3} [A-Za-z -]+)", text))) or [type(exc).__name__]
            key = (case.operation.label, "; ".join(kinds))
            self.failures.setdefault(key, f"{text}\n{case.as_curl_command()}"[:4000])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    data = Path(tmp_path_factory.mktemp("fuzz"))
    app = create_app(service_settings(data, issuing_key=KEYS / "fagersta" / "private.pem",
                                      issuer="https://epj.fagersta.example"))
    with TestClient(app) as client:  # runs the lifespan for the whole module
        # a few records, so that audit searches and the citizen log return real AuditEvents
        for _ in range(3):
            assert client.post("/v1/verify", json={"token": fresh_token()}).json()["decision"] == "permit"
        assert client.post("/v1/verify", json={"token": "x.y.z"}).json()["decision"] == "deny"
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        yield Run(app, schema)


def _operations(run: Run) -> list[Any]:
    return [result.ok() for result in run.schema.get_all_operations()]


def _is_admin(op: Any) -> bool:
    return bool(op.definition.raw.get("security"))


def _fuzz(run: Run, op: Any, mode: GenerationMode, n: int) -> None:
    checks = NEGATIVE_CHECKS if mode == GenerationMode.NEGATIVE else CHECKS
    admin_op = _is_admin(op)

    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def each(case: Any) -> None:
        run.call(case, checks, admin_op=admin_op)

    try:
        each()
    except Exception as exc:  # Unsatisfiable: no parameter can be made invalid (negative mode)
        if type(exc).__name__ != "Unsatisfiable":
            raise


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    token = st.builds(lambda: fresh_token())
    alphabet = "ABCxyz019-_.=+/ \x00é"

    def flip(t: str, i: int, c: str) -> str:
        i %= len(t)
        return t[:i] + c + t[i + 1:]

    mutated = st.builds(flip, token, st.integers(0, 2000), st.sampled_from(alphabet))
    context = st.fixed_dictionaries({}, optional={
        "patient_id": st.sampled_from(["13116900216", "01010112345", "x" * 64, ""]),
        "authenticated_pid": st.sampled_from(["20086600138", "13116900216"]),
        "authenticated_hpr": st.sampled_from(["9144897", "1"]),
        "audience": st.sampled_from(["nhn:pjd", "other"])})
    return st.fixed_dictionaries({"token": token | mutated}, optional={"context": context})


def _issue_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """The example attestation (``toa`` left to the service's clock), whole or with one top-level member
    dropped or replaced."""

    def example() -> dict[str, Any]:
        att = valid_attestation()
        att.pop("toa", None)
        return att

    def change(member: str, value: Any, drop: bool) -> dict[str, Any]:
        att = example()
        if drop:
            att.pop(member, None)
        elif value is not None:
            att[member] = value
        return att

    att = st.builds(example) | st.builds(
        change, st.sampled_from(["practitioner", "care_relation", "patients", "toa"]),
        st.just([]) | st.just({}) | st.integers() | st.text(max_size=5), st.booleans())
    return st.fixed_dictionaries({"attestation": att}, optional={
        "audience": st.sampled_from(["nhn:pjd", "other"]), "lifetime": st.integers(-5, 4000)})


def test_schemathesis_finds_no_5xx_and_no_schema_violation(run: Run) -> None:
    operations = _operations(run)
    labels = {op.label for op in operations}
    assert set(BUDGET) <= labels, labels
    coverage = 0
    for op in operations:
        # schemathesis' coverage phase: deterministic boundary values, missing and wrongly typed members,
        # unexpected methods (405), for every operation
        config = run.schema.config.generation_for(operation=op)
        for case in run.schema.iter_coverage_cases(
                op, generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], generation_config=config):
            run.call(case, NEGATIVE_CHECKS, admin_op=_is_admin(op))
            coverage += 1
        positive, negative = BUDGET.get(op.label, (1, 0))
        _fuzz(run, op, GenerationMode.POSITIVE, max(1, int(positive * SCALE)))
        if negative:
            _fuzz(run, op, GenerationMode.NEGATIVE, max(1, int(negative * SCALE)))

    verify_op = run.schema["/v1/verify"]["POST"]
    replays: list[str] = []

    @settings(max_examples=max(1, int(NEAR_VALID * SCALE)), deadline=None, derandomize=True, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(body=_mutations())
    def near_valid(body: dict[str, Any]) -> None:
        run.call(verify_op.Case(body=body, media_type="application/json"), CHECKS, admin_op=False)
        replays.append(body["token"])

    near_valid()
    issue_op = run.schema["/v1/attestations"]["POST"]

    @settings(max_examples=max(1, int(NEAR_VALID_ISSUE * SCALE)), deadline=None, derandomize=True, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(body=_issue_bodies())
    def near_valid_issue(body: dict[str, Any]) -> None:
        run.call(issue_op.Case(body=body, media_type="application/json"), CHECKS, admin_op=True)

    near_valid_issue()
    for token in replays[:20]:  # replays: a deny, documented like any other
        run.call(verify_op.Case(body={"token": token}, media_type="application/json"), CHECKS, admin_op=False)

    summary = (f"schemathesis: {run.requests} requests over {len(operations)} operations ({coverage} from the "
               f"coverage phase), "
               f"{len(run.failures)} failures; statuses "
               + ", ".join(f"{s}: {n}" for s, n in sorted(run.statuses.items())))
    record(summary)
    assert not run.failures, "\n\n".join(f"{k}\n{v}" for k, v in run.failures.items())
    assert run.requests >= 2000
    assert not any(s >= 500 for s in run.statuses)
    # the generated requests reached the interesting answers, not only validation errors
    assert {200, 201, 400, 401, 404, 422} <= set(run.statuses), run.statuses


def test_the_checks_catch_a_violation(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks used above are not vacuous: a decision outside the documented schema, an unknown error
    code and an undocumented status are each reported."""
    from attest.errors import Finding
    from attest.service import decide as route  # the module whose verify the routes call
    from attest.service.problems import ProblemError
    from attest.verify import Decision

    def maybe(*_: Any, **__: Any) -> Decision:
        return Decision("maybe", "p", (), (), None, None)

    def unknown_code(*_: Any, **__: Any) -> Decision:
        return Decision("deny", "p", (Finding("no_such_code", "r", "p", "m"),), (), None, None)

    def teapot(*_: Any, **__: Any) -> Decision:
        raise ProblemError(418, "teapot", "I'm a teapot")

    async def recorded(*_: Any, **__: Any) -> list[str]:
        return []

    monkeypatch.setattr(run.app.state.runtime.trail, "record_async", recorded)
    op = run.schema["/v1/verify"]["POST"]
    for fake, expected in ((maybe, "Response violates schema"), (unknown_code, "Response violates schema"),
                           (teapot, "Undocumented status code")):
        async def fake_async(*args: Any, fake: Any = fake, **kwargs: Any) -> Decision:
            return fake(*args, **kwargs)  # type: ignore[no-any-return]

        monkeypatch.setattr(route, "verify_async", fake_async)
        case = op.Case(body={"token": "a.b.c"}, media_type="application/json")
        with pytest.raises(BaseExceptionGroup) as caught:  # schemathesis' FailureGroup
            case.validate_response(case.call(), checks=CHECKS)
        assert expected in "".join(traceback.format_exception(caught.value))


def _validated(run: Run, label: str, method: str, path: str, call: Callable[[Any], Any], **case: Any) -> Any:
    op = run.schema[path][method]
    c = op.Case(**case)
    response = call(c)
    # a 503 is meant here: every check but not_a_server_error
    c.validate_response(response, checks=[check for check in CHECKS if check is not not_a_server_error])
    assert op.label == label
    return response


def test_503_and_429_answers_match_the_document(run: Run, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The answers the fuzzer cannot provoke: a dependency down (503) and the rate limit (429)."""
    runtime = run.app.state.runtime

    def down(*_: Any, **__: Any) -> Any:
        raise DependencyUnavailable("audit store unreachable (test)")

    monkeypatch.setattr(runtime.trail.store, "append_async", down)
    monkeypatch.setattr(runtime.trail.store, "ping", lambda: False)
    r = _validated(run, "POST /v1/verify", "POST", "/v1/verify", lambda c: c.call(),
                   body={"token": fresh_token()}, media_type="application/json")
    assert r.status_code == 503 and r.headers["retry-after"] == ["5"]
    r = _validated(run, "GET /readyz", "GET", "/readyz", lambda c: c.call())
    assert r.status_code == 503 and r.json()["checks"]["audit_store"] == "unavailable"
    monkeypatch.undo()

    # 3 per minute: loading /openapi.json takes the first
    limited = create_app(service_settings(tmp_path, rate_limit=RateLimit(3, 60.0)))
    with TestClient(limited):
        schema = schemathesis.openapi.from_asgi("/openapi.json", limited)
        op = schema["/v1/verify"]["POST"]
        answers = []
        for _ in range(3):
            c = op.Case(body={"token": "a.b.c"}, media_type="application/json")
            answers.append(c.call())
            c.validate_response(answers[-1], checks=CHECKS)
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert int(answers[-1].headers["retry-after"][0]) >= 1
