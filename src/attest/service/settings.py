"""Service settings: read from the environment once, when the app is created (never at import time), and
handed to routes through a dependency (``deps.get_settings``) that tests override or replace.

:meth:`Settings.from_env` reads the variables below; :func:`resolve` fills the development defaults that
let ``attest serve`` run from a fresh clone with no configuration at all, and says loudly which ones it
used. Every variable is documented in docs/service.md.

The variables (``ATTEST_TRUST_STORE``, ``ATTEST_PROFILE``, ``ATTEST_AUDIENCE``, ``ATTEST_DATA_DIR``,
``DATABASE_URL``, ``REDIS_URL``, ``ATTEST_AT_REST_KEYS[_FILE]``, ``ATTEST_ADMIN_TOKEN[_FILE]``,
``ATTEST_ISSUING_KEY``/``ATTEST_ISSUER``/``ATTEST_ISSUING_KID``, ``ATTEST_MAX_BODY_BYTES``,
``ATTEST_BODY_READ_TIMEOUT``, ``ATTEST_TRUST_RELOAD_SECONDS``, ``ATTEST_ALLOW_CONTEXT_NOW``,
``ATTEST_ALLOW_CONTEXT_AUDIENCE``, ``ATTEST_CONTEXT_REQUIRED``, ``ATTEST_INSTANCE``, ``ATTEST_DB_POOL_SIZE``,
``ATTEST_AUDIT_COMMIT_WAIT_MS``, ``ATTEST_AUDIT_PROCESS``, ``ATTEST_DEPENDENCY_TIMEOUT``, ``ATTEST_LOG_LEVEL``,
``ATTEST_RATE_LIMIT``, ``ATTEST_TRUSTED_PROXIES``, ``ATTEST_AUTHORIZE_PATIENT``),
their meaning and defaults: docs/service.md.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..audit.sealing import KeyRing, load_or_create_dev_keyring
from ..errors import ConfigurationError
from ..profiles import DEFAULT_PROFILE
from .ratelimit import RateLimit

log = logging.getLogger("attest.service")

DEFAULT_MAX_BODY = 131072


def _bool(v: str | None, name: str, default: bool = False) -> bool:
    if v is None or v.strip() == "":
        return default
    s = v.strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false")


def _int(v: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if v is None or v.strip() == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer") from None
    if not lo <= n <= hi:
        raise ConfigurationError(f"{name} must be {lo}..{hi}")
    return n


def _float(v: str | None, name: str, default: float) -> float:
    if v is None or v.strip() == "":
        return default
    try:
        f = float(v)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number") from None
    if not 0 <= f <= 3600:
        raise ConfigurationError(f"{name} must be 0..3600")
    return f


@dataclass(frozen=True)
class Settings:
    trust_store: Path | None = None
    profile: str = DEFAULT_PROFILE
    audience: str | None = None
    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    at_rest_keys: str | None = field(default=None, repr=False)
    at_rest_keys_file: Path | None = None
    admin_token: str | None = field(default=None, repr=False)
    admin_token_file: Path | None = None
    issuing_key: Path | None = None
    issuer: str | None = None
    issuing_kid: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    trust_reload_seconds: float = 5.0
    #: the whole request body must arrive within this many seconds (else 408)
    body_read_timeout: float = 10.0
    allow_context_now: bool = False
    #: accept ``context.audience`` from callers (test harnesses only: it would let a caller choose which
    #: audience a token must carry)
    allow_context_audience: bool = False
    #: refuse (422) a request without the context members its profile requires (``context.required``:
    #: the production profile asks for the patient and the authenticated user); false = the deployment opts
    #: out, and the decision carries a ``context_not_provided`` warning for each absent binding
    context_required: bool = True
    instance: str = field(default_factory=socket.gethostname)
    db_pool_size: int = 4
    #: group commit: how long the first commit after a quiet spell may wait for more rows (ms); 0 = never
    #: waits (rows arriving during a commit share the next one either way; bench/RESULTS.md: 0 is faster)
    audit_commit_wait_ms: int = 0
    #: build, seal and commit the audit trail in a child process of each worker (attest.audit.process)
    audit_process: bool = False
    dependency_timeout: float = 2.0
    log_level: str = "INFO"
    #: per-client request limit (``ATTEST_RATE_LIMIT``, e.g. ``100/minute``); None = off
    rate_limit: RateLimit | None = None
    #: proxies (IP addresses or networks) whose X-Forwarded-* / X-Original-* headers are believed: the client
    #: address for the rate limit and logs, and the original request of the forward-auth endpoint
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    #: where /v1/authorize finds the patient of the request: ``query:<parameter>`` of the original URL or
    #: ``header:<name>``; a value ``system|id`` (a FHIR token) counts as ``id``
    authorize_patient: tuple[str, ...] = ("query:patient.identifier",)
    #: set by :func:`resolve`: the development defaults that were used (for the loud warning)
    dev_defaults: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def s(name: str) -> str | None:
            v = env.get(name)
            return v.strip() if v is not None and v.strip() else None

        def p(name: str) -> Path | None:
            v = s(name)
            return Path(v) if v else None

        return cls(
            trust_store=p("ATTEST_TRUST_STORE"),
            profile=s("ATTEST_PROFILE") or DEFAULT_PROFILE,
            audience=s("ATTEST_AUDIENCE"),
            data_dir=p("ATTEST_DATA_DIR") or Path("data"),
            database_url=s("DATABASE_URL"),
            redis_url=s("REDIS_URL"),
            at_rest_keys=s("ATTEST_AT_REST_KEYS"),
            at_rest_keys_file=p("ATTEST_AT_REST_KEYS_FILE"),
            admin_token=s("ATTEST_ADMIN_TOKEN"),
            admin_token_file=p("ATTEST_ADMIN_TOKEN_FILE"),
            issuing_key=p("ATTEST_ISSUING_KEY"),
            issuer=s("ATTEST_ISSUER"),
            issuing_kid=s("ATTEST_ISSUING_KID"),
            max_body_bytes=_int(s("ATTEST_MAX_BODY_BYTES"), "ATTEST_MAX_BODY_BYTES", DEFAULT_MAX_BODY,
                                1024, 16 * 1024 * 1024),
            trust_reload_seconds=_float(s("ATTEST_TRUST_RELOAD_SECONDS"), "ATTEST_TRUST_RELOAD_SECONDS", 5.0),
            body_read_timeout=(_float(s("ATTEST_BODY_READ_TIMEOUT"), "ATTEST_BODY_READ_TIMEOUT", 10.0) or 10.0),
            allow_context_now=_bool(s("ATTEST_ALLOW_CONTEXT_NOW"), "ATTEST_ALLOW_CONTEXT_NOW"),
            allow_context_audience=_bool(s("ATTEST_ALLOW_CONTEXT_AUDIENCE"), "ATTEST_ALLOW_CONTEXT_AUDIENCE"),
            context_required=_bool(s("ATTEST_CONTEXT_REQUIRED"), "ATTEST_CONTEXT_REQUIRED", True),
            instance=s("ATTEST_INSTANCE") or socket.gethostname(),
            db_pool_size=_int(s("ATTEST_DB_POOL_SIZE"), "ATTEST_DB_POOL_SIZE", 4, 1, 64),
            audit_commit_wait_ms=_int(s("ATTEST_AUDIT_COMMIT_WAIT_MS"), "ATTEST_AUDIT_COMMIT_WAIT_MS", 0, 0, 100),
            audit_process=_bool(s("ATTEST_AUDIT_PROCESS"), "ATTEST_AUDIT_PROCESS"),
            dependency_timeout=(_float(s("ATTEST_DEPENDENCY_TIMEOUT"), "ATTEST_DEPENDENCY_TIMEOUT", 2.0)
                                or 2.0),
            log_level=(s("ATTEST_LOG_LEVEL") or "INFO").upper(),
            rate_limit=RateLimit.parse(s("ATTEST_RATE_LIMIT")),
            trusted_proxies=_proxies(s("ATTEST_TRUSTED_PROXIES") or s("FORWARDED_ALLOW_IPS")),
            authorize_patient=_patient_sources(s("ATTEST_AUTHORIZE_PATIENT")),
        )


def _proxies(v: str | None) -> tuple[str, ...]:
    """``ATTEST_TRUSTED_PROXIES`` (else uvicorn's ``FORWARDED_ALLOW_IPS``): comma-separated IP addresses or
    networks; ``*`` trusts every address (only where clients cannot reach the service directly)."""
    if v is None:
        return ("127.0.0.1", "::1")
    items = tuple(x.strip() for x in v.split(",") if x.strip())
    if items == ("*",):
        return ("0.0.0.0/0", "::/0")
    from .forwarded import parse_networks

    try:
        parse_networks(items, "ATTEST_TRUSTED_PROXIES")
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    return items


def _patient_sources(v: str | None) -> tuple[str, ...]:
    if v is None:
        return ("query:patient.identifier",)
    items = tuple(x.strip() for x in v.split(",") if x.strip())
    for item in items:
        kind, _, name = item.partition(":")
        if kind not in ("query", "header") or not name or not name.isprintable() or " " in name:
            raise ConfigurationError(f"ATTEST_AUTHORIZE_PATIENT: {item!r} is not query:<parameter> or "
                                     "header:<name>")
    return items


def find_example_trust_store() -> Path | None:
    """``keys_example/trust.yaml`` relative to the current directory, else relative to the repository this
    package was installed from (an editable install from a clone)."""
    candidates = [Path.cwd() / "keys_example" / "trust.yaml",
                  Path(__file__).resolve().parents[3] / "keys_example" / "trust.yaml"]
    for c in candidates:
        if c.is_file():
            return c
    return None


def _read_secret_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read the {what} ({type(exc).__name__})") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not lines:
        raise ConfigurationError(f"{path}: the {what} file is empty")
    return ",".join(lines)


def _dev_admin_token(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
    return _read_secret_file(path, "admin token")


@dataclass(frozen=True)
class Resolved:
    settings: Settings
    keyring: KeyRing


def resolve(settings: Settings) -> Resolved:
    """Fill development defaults (and record which), load the key ring. Raises ConfigurationError."""
    used: list[str] = []
    s = settings
    if s.trust_store is None:
        found = find_example_trust_store()
        if found is None:
            raise ConfigurationError("no trust store: set ATTEST_TRUST_STORE (keys_example/trust.yaml was "
                                     "not found relative to the current directory or the repository)")
        s = replace(s, trust_store=found)
        used.append(f"trust store {found} (TEST keys, public private keys)")
        if s.profile == DEFAULT_PROFILE:  # test material is never verified under a production profile
            s = replace(s, profile=f"{DEFAULT_PROFILE}-test")
            used.append(f"profile {DEFAULT_PROFILE}-test (the example trust store is test material)")
    if s.at_rest_keys:
        keyring = KeyRing.parse(s.at_rest_keys, "ATTEST_AT_REST_KEYS")
    elif s.at_rest_keys_file:
        keyring = KeyRing.parse(_read_secret_file(s.at_rest_keys_file, "at-rest key ring"),
                                str(s.at_rest_keys_file))
    else:
        path = s.data_dir / "at-rest.keys"
        keyring, created = load_or_create_dev_keyring(path)
        if created:
            log.warning("generated a development at-rest key ring", extra={"path": str(path)})
        used.append(f"at-rest key ring {path} (generated by attest serve; FOR DEVELOPMENT ONLY)")
    if s.admin_token is None:
        if s.admin_token_file:
            s = replace(s, admin_token=_read_secret_file(s.admin_token_file, "admin token"))
        else:
            path = s.data_dir / "admin-token"
            s = replace(s, admin_token=_dev_admin_token(path))
            used.append(f"admin token in {path} (development)")
    if s.admin_token is not None and len(s.admin_token) < 16:
        raise ConfigurationError("ATTEST_ADMIN_TOKEN must be at least 16 characters")
    if s.database_url is None:
        used.append(f"SQLite audit store {s.data_dir / 'audit.sqlite'}")
    if s.redis_url is None:
        used.append("in-memory replay cache (one process only)")
    if (s.issuing_key is None) != (s.issuer is None):
        raise ConfigurationError("set both ATTEST_ISSUING_KEY and ATTEST_ISSUER to enable /v1/attestations")
    # idempotent: resolving resolved settings again reports the same defaults once
    return Resolved(replace(s, dev_defaults=tuple(dict.fromkeys([*settings.dev_defaults, *used]))), keyring)
