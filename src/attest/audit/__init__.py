"""The audit trail of verifications (FHIR R4 AuditEvents, sealed at rest, SQLite or PostgreSQL)."""

from .fhir import build_audit_event, citizen_entry
from .sealing import KeyRing, SealError
from .store import AuditQuery, AuditRow, AuditStore, SQLAuditStore, open_store
from .trail import AuditTrail, StoredEvent

__all__ = [
    "AuditQuery", "AuditRow", "AuditStore", "AuditTrail", "KeyRing", "SQLAuditStore", "SealError",
    "StoredEvent", "build_audit_event", "citizen_entry", "open_store",
]
