"""Profiles: the rule sets of ``profiles/*.yaml``, loaded, checked and compiled once.

A profile file declares the token policy (allowed algorithms, ``typ``, header parameters, size limits),
the registered-claim policy (required claims, lifetime limit, leeway), where the attestation may be found,
identifier options (synthetic test identities, the 2032 rule), an explicit allow-list of known-bad
example values (test profiles only), and its rules, each with its ATT id. A profile may ``extend`` another
and then only states what differs (``rule_overrides`` by rule name, ``rules_remove``, ``rules_add``).

Profiles are looked up by id in, in order: directories given to :func:`load_profile`, ``$ATTEST_PROFILES``
(colon-separated), and the profiles shipped with the package.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .access_token import AccessTokenPolicy
from .errors import ProfileError
from .jose import ASYMMETRIC_ALGORITHMS, JoseLimits, media_type
from .model import SHAPES
from .rules import CompiledRule, RuleGroup, compile_rule, group_rules

DEFAULT_PROFILE = "tillitsrammeverk-1.1"

#: what a profile's ``context.required`` may name (CONTRACT.md section 3, the inputs of bindings)
CONTEXT_MEMBERS = frozenset({"authenticated_pid", "authenticated_hpr", "patient_id"})


@dataclass(frozen=True)
class AllowList:
    """Exact values a test profile accepts although they fail a check (RULES.md d.7, f.13)."""

    person_identifiers: frozenset[str] = frozenset()
    organization_numbers: frozenset[str] = frozenset()
    systems: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Profile:
    id: str
    title: str
    description: str
    status: str
    algorithms: frozenset[str]
    typ: str
    header_params: frozenset[str]
    limits: JoseLimits
    required_claims: tuple[str, ...]
    max_lifetime: int
    leeway: int
    jti_max_length: int
    shapes: tuple[str, ...]
    max_age: int
    allow_synthetic: bool
    allow_2032_rule: bool
    allow_list: AllowList
    practitioner_from_context: bool
    emit: str
    rules: tuple[CompiledRule, ...]
    issue_rules: tuple[CompiledRule, ...]
    source: str
    data: dict[str, Any]
    #: ``rules`` grouped by path, compiled once (what ``verify`` runs)
    rule_groups: tuple[RuleGroup, ...] = ()
    #: every ``typ`` the profile accepts (``typ`` is the first, the one it issues)
    typs: frozenset[str] = frozenset()
    #: where the key is found: ``issuer`` (trust store ``issuers``) or ``authorization_server``
    issuer_kind: str = "issuer"
    #: the token's ``jti`` is single-use (self-signed attestations); access tokens are reusable
    token_replay: bool = True
    #: HelseID access tokens: the user's claims (None for other profiles)
    access_token: AccessTokenPolicy | None = None
    #: the token's user (pid, HPR number) fills an attestation that names no practitioner identifier
    practitioner_from_claims: bool = False
    #: verify-context members a deployment must supply under this profile (``context.required``): the
    #: service refuses a request without them unless it opted out (``ATTEST_CONTEXT_REQUIRED=false``); the
    #: library reports each absent one as ``context_not_provided`` through the profile's context rules
    context_required: tuple[str, ...] = ()
    #: what :func:`attest.jose.check_header` compares ``typ`` with: one value, compared exactly, or a set of
    #: media types (compared case-insensitively, ``application/`` optional); derived from ``typ`` and ``typs``
    #: once, not per token
    typ_policy: str | frozenset[str] = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "typ_policy",
                           self.typ if len(self.typs) <= 1 else frozenset(media_type(t) for t in self.typs))

    def describe(self) -> dict[str, Any]:
        """The profile and its rules, for people and for ``GET /v1/profiles/{id}``."""
        def rule_dict(r: CompiledRule) -> dict[str, Any]:
            d: dict[str, Any] = {"id": r.id, "name": r.name, "kind": r.kind, "path": r.path,
                                 "severity": r.severity}
            if r.description:
                d["description"] = r.description
            return d
        return {
            "id": self.id, "title": self.title, "description": self.description, "status": self.status,
            "token": {"algorithms": sorted(self.algorithms), "typ": self.typ, "typs": sorted(self.typs),
                      "issuer_kind": self.issuer_kind,
                      "header_params": sorted(self.header_params),
                      "max_token_bytes": self.limits.max_token_bytes,
                      "max_json_depth": self.limits.max_json_depth},
            "claims": {"required": list(self.required_claims), "max_lifetime": self.max_lifetime,
                       "leeway": self.leeway, "jti_max_length": self.jti_max_length, "replay": self.token_replay},
            "attestation": {"shapes": list(self.shapes), "max_age": self.max_age, "emit": self.emit,
                            "practitioner_from_context": self.practitioner_from_context,
                            "practitioner_from_claims": self.practitioner_from_claims},
            "identifiers": {"allow_synthetic": self.allow_synthetic, "allow_2032_rule": self.allow_2032_rule},
            "context": {"required": list(self.context_required)},
            "allow_list": {"person_identifiers": len(self.allow_list.person_identifiers),
                           "organization_numbers": sorted(self.allow_list.organization_numbers),
                           "systems": sorted(self.allow_list.systems)},
            "rules": [rule_dict(r) for r in self.rules],
            "issue_rules": [rule_dict(r) for r in self.issue_rules],
        }


_cache: dict[tuple[str, tuple[str, ...]], Profile] = {}
_lock = threading.Lock()


def _search_dirs(extra: tuple[str, ...]) -> list[Path]:
    dirs = [Path(d) for d in extra]
    env = os.environ.get("ATTEST_PROFILES")
    if env:
        dirs.extend(Path(d) for d in env.split(os.pathsep) if d)
    dirs.append(Path(str(resources.files("attest").joinpath("profiles"))))
    return dirs


def _find(profile_id: str, extra: tuple[str, ...]) -> Path:
    if "/" in profile_id or "\\" in profile_id or profile_id.startswith("."):
        raise ProfileError(f"{profile_id!r} is not a profile id")
    for d in _search_dirs(extra):
        for ext in (".yaml", ".yml", ".json"):
            p = d / f"{profile_id}{ext}"
            if p.is_file():
                return p
    raise ProfileError(f"unknown profile {profile_id!r}; known profiles: {', '.join(list_profiles(extra))}")


#: profile directories: one directory, or any iterable of them, as strings or paths
ProfileDirs = Iterable[str | os.PathLike[str]] | str | os.PathLike[str]


def _dirs(dirs: ProfileDirs) -> tuple[str, ...]:
    """Profile directories as given (any iterable of strings or paths; one string or path is one directory),
    as a hashable tuple of strings."""
    if type(dirs) is tuple and all(type(d) is str for d in dirs):  # the usual case: () on every request
        return dirs
    if isinstance(dirs, str | os.PathLike):
        return (os.fspath(dirs),)
    return tuple(os.fspath(d) for d in dirs)


def list_profiles(extra: ProfileDirs = ()) -> list[str]:
    """Ids of every profile that can be loaded (``extra``: directories searched first)."""
    ids: set[str] = set()
    for d in _search_dirs(_dirs(extra)):
        if d.is_dir():
            ids.update(p.stem for p in d.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    return sorted(ids)


def load_profile(profile: str | Profile, dirs: ProfileDirs = ()) -> Profile:
    """The compiled profile with this id (cached; thread-safe). A :class:`Profile` is returned as is.
    ``dirs``: directories searched first (strings or paths)."""
    if isinstance(profile, Profile):
        return profile
    if not isinstance(profile, str):
        raise TypeError("profile must be a profile id or a Profile")
    searched = _dirs(dirs)
    key = (profile, searched)
    with _lock:
        cached = _cache.get(key)
        if cached is None:
            cached = _build(profile, searched)
            _cache[key] = cached
    return cached


def _read(profile_id: str, dirs: tuple[str, ...], seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    if profile_id in seen:
        raise ProfileError(f"profile {profile_id!r} extends itself through {' -> '.join(seen)}")
    path = _find(profile_id, dirs)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot read profile ({exc})") from exc
    if not isinstance(data, dict) or data.get("id") != profile_id:
        raise ProfileError(f"{path}: a profile is a mapping whose 'id' is {profile_id!r}")
    parent_id = data.get("extends")
    if parent_id is None:
        return data, str(path)
    parent, _ = _read(str(parent_id), dirs, (*seen, profile_id))
    return _merge(parent, data, str(path)), str(path)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge(parent: dict[str, Any], child: dict[str, Any], where: str) -> dict[str, Any]:
    special = {"rules", "issue_rules", "rule_overrides", "rules_remove", "rules_add", "extends"}
    merged = _deep_merge({k: v for k, v in parent.items() if k not in special},
                         {k: v for k, v in child.items() if k not in special})
    for section in ("rules", "issue_rules"):
        rules = [dict(r) for r in child.get(section, parent.get(section, []))]
        for name, change in (child.get("rule_overrides") or {}).items():
            for r in rules:
                if r.get("name") == name:
                    r.update(copy.deepcopy(change))
        remove = set(child.get("rules_remove") or [])
        rules = [r for r in rules if r.get("name") not in remove]
        if section == "rules":
            rules.extend(copy.deepcopy(child.get("rules_add") or []))
        merged[section] = rules
    all_names = {r.get("name") for s in ("rules", "issue_rules") for r in merged[s]}
    for name in (child.get("rule_overrides") or {}):
        if name not in all_names:
            raise ProfileError(f"{where}: rule_overrides names unknown rule {name!r}")
    return merged


def _build(profile_id: str, dirs: tuple[str, ...]) -> Profile:
    data, source = _read(profile_id, dirs)
    try:
        return _compile(data, source)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{source}: {exc}") from exc


#: ``header_params: "*"``: any header parameter is tolerated (never used to find a key; ``crit`` is still
#: refused). For tokens of a configured authorization server, whose signature alone decides.
ANY_HEADER_PARAM = frozenset({"*"})


def _header_params(value: Any) -> frozenset[str]:
    if value == "*":
        return ANY_HEADER_PARAM
    if not isinstance(value, list):
        raise ValueError("token.header_params must be a list of names or '*'")
    return frozenset(str(v) for v in value)


def _compile(d: dict[str, Any], source: str) -> Profile:
    token = d.get("token", {})
    claims = d.get("claims", {})
    att = d.get("attestation", {})
    ids = d.get("identifiers", {})
    allow = d.get("allow_list", {}) or {}
    algorithms = frozenset(token.get("algorithms", ASYMMETRIC_ALGORITHMS))
    bad = algorithms - set(ASYMMETRIC_ALGORITHMS)
    if bad:
        raise ValueError(f"token.algorithms: {sorted(bad)} are not allowed (never none or HMAC)")
    shapes = tuple(att.get("shapes", ["attestation"]))
    if not set(shapes) <= set(SHAPES):
        raise ValueError(f"attestation.shapes must be drawn from {list(SHAPES)}")
    emit = att.get("emit", "spec")
    if emit not in ("spec", "helseid_rar"):
        raise ValueError("attestation.emit must be 'spec' or 'helseid_rar'")
    rules: list[CompiledRule] = []
    names: set[str] = set()
    for section in ("rules", "issue_rules"):
        for i, entry in enumerate(d.get(section, [])):
            rule = compile_rule(entry, f"{section}[{i}]")
            if rule.name in names:
                raise ValueError(f"{section}[{i}]: duplicate rule name {rule.name!r}")
            names.add(rule.name)
            rules.append(rule)
    n_rules = len(d.get("rules", []))
    from .identifiers import normalize_system  # local: avoids a cycle at import time

    typ_value = token.get("typ", "attestation+jwt")
    typs = [str(t) for t in typ_value] if isinstance(typ_value, list) else [str(typ_value)]
    if not typs:
        raise ValueError("token.typ must name at least one type")
    issuer_kind = str(token.get("issuer_kind", "issuer"))
    if issuer_kind not in ("issuer", "authorization_server"):
        raise ValueError("token.issuer_kind must be 'issuer' or 'authorization_server'")
    required_context = tuple(str(m) for m in (d.get("context") or {}).get("required", ()))
    unknown = set(required_context) - CONTEXT_MEMBERS
    if unknown:
        raise ValueError(f"context.required: {sorted(unknown)} are not verify-context members "
                         f"({', '.join(sorted(CONTEXT_MEMBERS))})")
    at = d.get("access_token")
    access_policy = AccessTokenPolicy.from_dict(at or {}) if at is not None or issuer_kind != "issuer" else None

    return Profile(
        id=str(d["id"]),
        title=str(d.get("title", d["id"])),
        description=str(d.get("description", "")).strip(),
        status=str(d.get("status", "production")),
        algorithms=algorithms,
        typ=typs[0],
        header_params=_header_params(token.get("header_params", ["alg", "kid", "typ"])),
        limits=JoseLimits(int(token.get("max_token_bytes", 65536)), int(token.get("max_json_depth", 12))),
        required_claims=tuple(claims.get("required", ["iss", "aud", "iat", "exp", "jti"])),
        max_lifetime=int(claims.get("max_lifetime", 3600)),
        leeway=int(claims.get("leeway", 30)),
        jti_max_length=int(claims.get("jti_max_length", 128)),
        shapes=shapes,
        max_age=int(att.get("max_age", 3600)),
        allow_synthetic=bool(ids.get("allow_synthetic", False)),
        allow_2032_rule=bool(ids.get("allow_2032_rule", True)),
        allow_list=AllowList(
            frozenset(str(x) for x in allow.get("person_identifiers", [])),
            frozenset(str(x) for x in allow.get("organization_numbers", [])),
            frozenset(normalize_system(str(x)) for x in allow.get("systems", [])),
        ),
        practitioner_from_context=bool(att.get("practitioner_from_context", False)),
        emit=emit,
        rules=tuple(rules[:n_rules]),
        issue_rules=tuple(rules[n_rules:]),
        source=source,
        data=d,
        rule_groups=group_rules(tuple(rules[:n_rules])),
        typs=frozenset(typs),
        issuer_kind=issuer_kind,
        token_replay=bool(claims.get("replay", True)),
        access_token=access_policy,
        practitioner_from_claims=bool(att.get("practitioner_from_claims", False)),
        context_required=required_context,
    )
