"""GET /v1/profiles and /v1/profiles/{id}: the profiles and their rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ... import list_profiles, load_profile
from ..problems import ProblemError

router = APIRouter(tags=["profiles"])


@router.get("/v1/profiles", summary="List the profiles")
def profiles() -> list[dict[str, Any]]:
    out = []
    for pid in list_profiles():
        p = load_profile(pid)
        out.append({"id": p.id, "title": p.title, "status": p.status, "rules": len(p.rules)})
    return out


@router.get("/v1/profiles/{profile_id}", summary="One profile and its rules",
            responses={404: {"content": {"application/problem+json": {}}}})
def profile(profile_id: str) -> dict[str, Any]:
    if profile_id not in list_profiles():
        raise ProblemError(404, "unknown-profile", "Not Found", "no profile with this id")
    return load_profile(profile_id).describe()
