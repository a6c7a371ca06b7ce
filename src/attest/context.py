"""The verify context: what the verifier knows besides the token (CONTRACT.md section 3, HELSEID.md
section 11)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

_STRINGS: Final = ("audience", "authenticated_pid", "authenticated_hpr", "patient_id", "dpop_proof", "http_method",
            "http_url", "authorization_scheme")


@dataclass(frozen=True, slots=True)
class VerifyContext:
    """Every field is optional; a check whose input is absent is skipped (and reported as the warning
    ``context_not_provided`` where the profile asks for it).

    ``audience``: this verifier's identity (else the trust store's ``audience``).
    ``authenticated_pid``: F/D-number of the user authenticated for this request (ATT-11).
    ``authenticated_hpr``: that user's HPR number (ATT-29b).
    ``patient_id``: the patient whose data the request asks for (ATT-4; recorded in the audit trail).
    ``now``: evaluation time in unix seconds (default: the clock).

    For an access token (HELSEID.md section 11): ``dpop_proof`` is the ``DPoP`` header's value,
    ``http_method`` and ``http_url`` the request the client made (scheme, host, port, path; the query and
    fragment are ignored), ``authorization_scheme`` the scheme of its ``Authorization`` header (``DPoP`` or
    ``Bearer``; None when the caller does not say).
    """

    audience: str | None = None
    authenticated_pid: str | None = None
    authenticated_hpr: str | None = None
    patient_id: str | None = None
    now: int | None = None
    dpop_proof: str | None = None
    http_method: str | None = None
    http_url: str | None = None
    authorization_scheme: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VerifyContext:
        """Build from a JSON object (unknown members are ignored; wrong types raise ``TypeError``)."""
        if not data:
            return cls()
        kwargs: dict[str, Any] = {}
        for name in _STRINGS:
            v = data.get(name)
            if v is not None and not isinstance(v, str):
                raise TypeError(f"context.{name} must be a string")
            kwargs[name] = v
        now = data.get("now")
        if now is not None and (isinstance(now, bool) or not isinstance(now, int)):
            raise TypeError("context.now must be an integer (unix seconds)")
        kwargs["now"] = now
        return cls(**kwargs)
