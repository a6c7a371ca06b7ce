"""The audit trail: every verification becomes AuditEvents (one per patient), sealed and stored before the
caller gets the decision; follow-up control searches them; the citizen log shows what a citizen may see.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from ..context import VerifyContext
from ..errors import ERROR_CODES
from ..identifiers import OID_DNR, OID_FNR, OID_HNR, random_id
from ..model import get, iter_patients
from ..verify import Decision
from .fhir import audit_outcome, build_audit_event, citizen_entry
from .sealing import KeyRing, SealError
from .store import AuditQuery, AuditRow, AuditStore

PAYLOAD_VERSION = 1
#: tokens longer than this are not kept verbatim in the sealed payload (only their SHA-256)
MAX_TOKEN_KEPT = 65536
#: what is kept of a request whose token was never authenticated (a token-level deny: anyone can send those,
#: so they are recorded compactly): the token only up to this size (its SHA-256 always), context values too
MAX_UNVERIFIED_KEPT = 4096


def _json_bytes(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON of the sealed payload: orjson (several times faster than the standard library on these
    ~10 KB documents), falling back to ``json`` for what orjson refuses (integers beyond 64 bits, which an
    invalid token may carry)."""
    try:
        return orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _person_system(patient_id: str) -> str:
    """The identifier system of a requested patient's number: D-number (first digit 4-7), FH-number (8-9,
    the H/FH system), else F-number."""
    first = patient_id[:1]
    return OID_DNR if first in ("4", "5", "6", "7") else OID_HNR if first in ("8", "9") else OID_FNR


def _digits(v: Any, lo: int, hi: int) -> str | None:
    return v if isinstance(v, str) and v.isascii() and v.isdigit() and lo <= len(v) <= hi else None


_CONTEXT_FIELDS = ("audience", "authenticated_pid", "authenticated_hpr", "patient_id", "now", "http_method",
                   "http_url", "authorization_scheme", "dpop_proof")


class AuditInput(NamedTuple):
    """What the AuditEvents of one decision are made of (plain data: it can cross to the audit process)."""

    doc: dict[str, Any]
    issuer: str | None
    codes: tuple[str, ...]
    decision: str
    context: dict[str, Any]
    token: str | None
    recorded: float

    @classmethod
    def of(cls, decision: Decision, context: VerifyContext, token: str | None = None,
           recorded: float | None = None, doc: dict[str, Any] | None = None) -> AuditInput:
        ctx = {k: v for k in _CONTEXT_FIELDS if (v := getattr(context, k)) is not None}
        return cls(decision.to_dict() if doc is None else doc,
                   decision.issuer.iss if decision.issuer is not None else None,
                   tuple(f.code for f in decision.errors), decision.decision, ctx, token,
                   time.time() if recorded is None else recorded)


@dataclass(frozen=True)
class StoredEvent:
    """A row read back: the AuditEvent, the sealed payload, or why it could not be opened."""

    row: AuditRow
    payload: dict[str, Any] | None
    error: str | None = None

    @property
    def audit_event(self) -> dict[str, Any] | None:
        return self.payload.get("auditevent") if self.payload else None


class AuditTrail:
    def __init__(self, store: AuditStore, keyring: KeyRing, instance: str = "attest") -> None:
        self.store = store
        self.keyring = keyring
        self.instance = instance

    def record(self, decision: Decision, context: VerifyContext, token: str | None = None,
               recorded: float | None = None) -> list[str]:
        """Build, seal and commit the AuditEvents of ``decision``; return their ids. Raises
        :class:`~attest.errors.DependencyUnavailable` when the store cannot commit them."""
        rows = self.prepare(decision, context, token, recorded)
        self.store.append(rows)
        return [r.id for r in rows]

    async def record_async(self, decision: Decision, context: VerifyContext, token: str | None = None,
                           recorded: float | None = None, doc: dict[str, Any] | None = None) -> list[str]:
        """As :meth:`record`, on an event loop: the commit is awaited without holding a thread. ``doc`` is
        ``decision.to_dict()`` when the caller has it already."""
        rows = self.prepare(decision, context, token, recorded, doc)
        await self.store.append_async(rows)
        return [r.id for r in rows]

    def prepare(self, decision: Decision, context: VerifyContext, token: str | None = None,
                recorded: float | None = None, doc: dict[str, Any] | None = None) -> list[AuditRow]:
        """The sealed rows (one per patient) of ``decision``, not yet stored (``doc``: its decision
        document, if already built)."""
        return self.prepare_input(AuditInput.of(decision, context, token, recorded, doc))

    def prepare_input(self, inp: AuditInput) -> list[AuditRow]:
        """The sealed rows (one per patient) of one decision, from what :class:`AuditInput` keeps of it."""
        recorded, doc, token, issuer = inp.recorded, inp.doc, inp.token, inp.issuer
        att: dict[str, Any] = doc["attestation"] if isinstance(doc.get("attestation"), dict) else {}
        verification_id = random_id(uuid=True)
        patient_id = inp.context.get("patient_id")
        # The patient of every event: the patient of the request when the request names one (the HelseID path,
        # whose attestation identifies no patient, and every deny: a search for that patient must find it),
        # else each patient of the attestation (one event per patient, as the IG says).
        targets: list[tuple[int | None, Any]]
        requested = None
        if patient_id:
            patients = list(iter_patients(att))
            index = next((i for i, p in patients if get(p, "identifier", "id") == patient_id),
                         patients[0][0] if len(patients) == 1 and get(patients[0][1], "identifier") is None
                         else None)
            targets = [(index, patient_id)]
            requested = {"id": patient_id, "system": _person_system(patient_id)}
        else:
            targets = [(i, get(p, "identifier", "id")) for i, p in iter_patients(att)] or [(None, None)]
        pr: dict[str, Any] = att["practitioner"] if isinstance(att.get("practitioner"), dict) else {}
        pid = get(pr, "identifier", "id")
        practitioner_ref = (self.keyring.lookup_hash("practitioner", pid)
                            if isinstance(pid, str) and pid else None)
        hpr = _digits(get(pr, "hpr_nr", "id"), 1, 9)
        legal_entity = _digits(get(pr, "legal_entity", "id"), 9, 9)
        codes = " ".join(inp.codes)
        outcome = audit_outcome(doc)
        ctx = inp.context
        # a request whose token never authenticated (anyone can send those) is recorded compactly: what is
        # kept of it is bounded, so garbage cannot fill the append-only store (issue 11 item 7)
        unverified = any(ERROR_CODES[c].stage == "token" for c in inp.codes if c in ERROR_CODES)
        limit = MAX_UNVERIFIED_KEPT if unverified else MAX_TOKEN_KEPT
        kept_token = token if isinstance(token, str) and len(token) <= limit else None
        if unverified:
            ctx = {k: v for k, v in ctx.items() if not isinstance(v, str) or len(v) <= limit}
        token_sha256 = (hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
                        if isinstance(token, str) else None)
        rows: list[AuditRow] = []
        for index, patient_id in targets:
            event_id = random_id(uuid=True)
            event = build_audit_event(doc, event_id=event_id, recorded=recorded, patient_index=index,
                                      requested_patient=requested, issuer=issuer, source_site=self.instance)
            payload = {"v": PAYLOAD_VERSION, "auditevent": event, "decision": doc, "context": ctx,
                       "token": kept_token, "token_sha256": token_sha256, "verification_id": verification_id}
            kid, sealed = self.keyring.seal(_json_bytes(payload), event_id.encode())
            rows.append(AuditRow(
                id=event_id, verification_id=verification_id, recorded_ms=int(recorded * 1000),
                decision=inp.decision, outcome=outcome, codes=codes, issuer=issuer,
                legal_entity=legal_entity, practitioner_hpr=hpr, practitioner_ref=practitioner_ref,
                patient_ref=(self.keyring.lookup_hash("patient", patient_id)
                             if isinstance(patient_id, str) and patient_id else None),
                key_id=kid, sealed=sealed, instance=self.instance))
        return rows

    def open(self, row: AuditRow) -> StoredEvent:
        try:
            payload = json.loads(self.keyring.open(row.key_id, row.sealed, row.id.encode()))
        except SealError as exc:
            return StoredEvent(row, None, str(exc))
        except ValueError:
            return StoredEvent(row, None, "the sealed payload is not JSON")
        return StoredEvent(row, payload)

    def search(self, *, patient: str | None = None, practitioner_pid: str | None = None,
               practitioner_hpr: str | None = None, legal_entity: str | None = None,
               issuer: str | None = None,
               decision: str | None = None, code: str | None = None, since_ms: int | None = None,
               until_ms: int | None = None, before_seq: int | None = None,
               limit: int = 100) -> list[StoredEvent]:
        """Events matching every given filter, newest first, opened with the key ring."""
        q = AuditQuery(
            patient_refs=tuple(self.keyring.lookup_hashes("patient", patient)) if patient else (),
            practitioner_refs=(tuple(self.keyring.lookup_hashes("practitioner", practitioner_pid))
                               if practitioner_pid else ()),
            practitioner_hpr=practitioner_hpr, legal_entity=legal_entity, issuer=issuer, decision=decision,
            code=code, since_ms=since_ms, until_ms=until_ms, before_seq=before_seq, limit=limit)
        return [self.open(r) for r in self.store.search(q)]

    def citizen_log(self, patient: str, *, limit: int = 500) -> list[dict[str, Any]]:
        """The accesses (permits) to ``patient``'s data a citizen may see (ATT-8), newest first."""
        entries = []
        for ev in self.search(patient=patient, decision="permit", limit=limit):
            if ev.audit_event is not None:
                entries.append(citizen_entry(ev.audit_event))
        return entries
