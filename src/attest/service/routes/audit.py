"""Follow-up control (GET /v1/audit, a FHIR searchset Bundle of AuditEvents) and the citizen's access log
(GET /v1/audit/citizen-log, ATT-8). Both need the admin bearer token.

Query strings here can carry identity numbers (``patient``, ``practitioner``): the service never logs
query strings (see middleware), and the reverse proxy's log format must not either (deploy/nginx.conf).
"""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from ...audit.trail import StoredEvent
from ..deps import get_runtime, require_admin
from ..problems import ProblemError
from ..runtime import Runtime
from ..schemas import AuditBundle, CitizenLog, ok, problem_responses

router = APIRouter(tags=["audit"], dependencies=[Depends(require_admin)])
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def _time_ms(value: str | None, name: str) -> int | None:
    """Unix seconds or an ISO 8601 date/time (UTC if no offset is given)."""
    if value is None:
        return None
    v = value.strip()
    if _DIGITS.fullmatch(v) and len(v) <= 12:
        return int(v) * 1000
    try:
        dt = datetime.datetime.fromisoformat(v)
    except ValueError:
        raise ProblemError(400, "invalid-parameter", "Bad Request",
                           f"{name} must be unix seconds or an ISO 8601 date/time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    return int(dt.timestamp() * 1000)


def _entry(ev: StoredEvent) -> dict[str, Any]:
    if ev.audit_event is not None:
        return {"fullUrl": f"urn:uuid:{ev.row.id}", "resource": ev.audit_event, "search": {"mode": "match"}}
    return {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "search": {"mode": "outcome"},
            "resource": {"resourceType": "OperationOutcome", "issue": [{
                "severity": "error", "code": "security",
                "diagnostics": f"audit record {ev.row.id} cannot be opened: {ev.error}"}]}}


Str64 = Annotated[str | None, Query(max_length=64)]
#: the largest ``seq`` (a signed 64-bit integer in SQLite and PostgreSQL): a larger cursor cannot be bound
MAX_SEQ = 2**63 - 1


@router.get("/v1/audit", summary="Search the audit trail (FHIR Bundle of AuditEvents)",
            response_model=None,
            responses={200: ok(AuditBundle, "a FHIR R4 Bundle (searchset) of AuditEvents"),
                       **problem_responses(400, 401, 422, 503)})
def search_audit(
    request: Request,
    runtime: Runtime = Depends(get_runtime),  # noqa: B008
    patient: Str64 = None,
    practitioner: Annotated[str | None, Query(max_length=64,
                                              description="the practitioner's F/D-number")] = None,
    hpr: Annotated[str | None, Query(max_length=9, pattern=r"^[0-9]+$")] = None,
    legal_entity: Annotated[str | None, Query(max_length=9, pattern=r"^[0-9]+$")] = None,
    issuer: Annotated[str | None, Query(max_length=1024)] = None,
    decision: Literal["permit", "deny"] | None = None,
    code: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
    since: Annotated[str | None, Query(max_length=64, description="unix seconds or ISO 8601")] = None,
    until: Annotated[str | None, Query(max_length=64, description="unix seconds or ISO 8601")] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(alias="_cursor", ge=1, le=MAX_SEQ)] = None,
) -> dict[str, Any]:
    events = runtime.trail.search(patient=patient, practitioner_pid=practitioner, practitioner_hpr=hpr,
                                  legal_entity=legal_entity, issuer=issuer, decision=decision, code=code,
                                  since_ms=_time_ms(since, "since"), until_ms=_time_ms(until, "until"),
                                  before_seq=cursor, limit=count)
    links = [{"relation": "self", "url": str(request.url)}]
    if len(events) == count and events[-1].row.seq is not None:
        links.append({"relation": "next",
                      "url": str(request.url.include_query_params(_cursor=events[-1].row.seq))})
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"),
        "link": links,
        "entry": [_entry(ev) for ev in events],
    }


@router.get("/v1/audit/citizen-log", summary="The accesses a citizen may see (ATT-8)",
            response_model=None,
            responses={200: ok(CitizenLog), **problem_responses(401, 422, 503)})
def citizen_log(
    patient: Annotated[str, Query(min_length=1, max_length=64)],
    runtime: Runtime = Depends(get_runtime),  # noqa: B008
    count: Annotated[int, Query(alias="_count", ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    entries = runtime.trail.citizen_log(patient, limit=count)
    return {"count": len(entries), "entries": entries,
            "note": "Accesses to your health records that were granted on the basis of an attestation. "
                    "Practitioners are named; their identity numbers are never shown."}
