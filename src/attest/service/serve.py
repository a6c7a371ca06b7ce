"""``attest serve``: run the service under uvicorn with embedded defaults (see settings.resolve)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..profiles import DEFAULT_PROFILE
from . import logs
from .settings import Settings, resolve

BANNER = "!" * 78


def run(host: str, port: int, workers: int, data_dir: Path | None, log_format: str = "json") -> int:
    """Start the service; returns an exit code (2 for a configuration error)."""
    import uvicorn

    if data_dir is not None:
        os.environ["ATTEST_DATA_DIR"] = str(data_dir)  # worker processes read the environment
    try:
        settings = Settings.from_env()
        resolved = resolve(settings)  # creates the development key ring / admin token before workers start
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = resolved.settings
    from ..keysets import is_loopback_host
    from ..trust import TrustStore

    if s.trust_store is not None and not is_loopback_host(host) and TrustStore.is_test_material(s.trust_store):
        # issue 11 item 7: published example keys (their private keys are public) must not guard a service
        # that others can reach
        print(f"error: the trust store {s.trust_store} is marked test_material (its private keys are public): "
              f"refusing to listen on {host}. Use --host 127.0.0.1, or set ATTEST_TRUST_STORE to your own trust "
              "store.", file=sys.stderr)
        return 2
    production = _production_profiles(s) if s.trust_store is not None and TrustStore.is_test_material(
        s.trust_store) else []
    if production:
        # issue 11 item 7: keys whose private halves are published must not be trusted under a profile that
        # claims production
        print(f"error: the trust store {s.trust_store} is marked test_material (its private keys are public), "
              f"but would be used under the production profile(s) {', '.join(production)}. Use a test profile "
              f"(ATTEST_PROFILE={DEFAULT_PROFILE}-test; an authorization server's 'profile: helseid-at-1.0-test'), "
              "or set ATTEST_TRUST_STORE to your own trust store.", file=sys.stderr)
        return 2
    if workers > 1 and not s.redis_url:
        print("error: --workers > 1 needs REDIS_URL: the in-memory replay cache is per process, so a token "
              "could be replayed on another worker", file=sys.stderr)
        return 2
    if s.dev_defaults:
        lines = [BANNER, "!!! attest serve is running with DEVELOPMENT defaults. NOT FOR PRODUCTION:"]
        lines += [f"!!!   - {item}" for item in s.dev_defaults]
        lines += ["!!! Configure ATTEST_TRUST_STORE, ATTEST_AT_REST_KEYS, ATTEST_ADMIN_TOKEN,",
                  "!!! DATABASE_URL and REDIS_URL for a real deployment (docs/service.md).", BANNER]
        print("\n".join(lines), file=sys.stderr, flush=True)
    logs.configure(s.log_level, log_format)
    _share_the_gil()
    common: dict[str, Any] = {
        # proxy headers are handled inside the app (create_app: ATTEST_TRUSTED_PROXIES), after the TCP peer is
        # recorded, so that forward-auth can tell a trusted proxy from a client
        "host": host, "port": port, "log_config": None, "access_log": False, "proxy_headers": False,
        "timeout_graceful_shutdown": 30, "server_header": False}
    from .app import create_app

    try:
        # with --workers, each worker builds its own app from the environment; this one is built first all the
        # same, so that a configuration error (an audience missing, the redis package absent, a key that does not
        # load) is one line and exit code 2, not a traceback from every worker
        app = create_app(s)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if workers > 1:
        app.state.runtime.close()
        os.environ["ATTEST_LOG_FORMAT"] = log_format
        # The workers share one listening socket. libuv (uvloop) accepts every queued connection at once, so a
        # client opening its connections in a burst (a proxy's pool, a load generator) had them all in one
        # worker while the others idled; one accept per turn lets each worker take its share
        os.environ.setdefault("UV_TCP_SINGLE_ACCEPT", "1")
        uvicorn.run("attest.service.serve:worker_app", factory=True, workers=workers, **common)
    else:
        uvicorn.run(app, **common)
    return 0


#: how long a thread may hold the GIL while another waits for it (Python's default: 5 ms)
GIL_SWITCH_INTERVAL = 0.0005


def _share_the_gil() -> None:
    """The audit writer thread needs the GIL for a moment after each database call; while the event loop
    verifies requests, Python hands it over only every switch interval, so with the default of 5 ms a group
    commit that needs the GIL a few times took ~10 ms however fast the database answered (and each request
    waited for it). 0.5 ms keeps commits at the database's pace; the extra switches cost next to nothing."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)


def _production_profiles(s: Settings) -> list[str]:
    """The production profiles the service would verify with: its own, and each authorization server's and
    SAML issuer's (read from the file: no key is loaded or fetched twice at start)."""
    from ..errors import ProfileError
    from ..profiles import load_profile
    from ..trust import TrustStore

    assert s.trust_store is not None
    names = [s.profile, *TrustStore.declared_profiles(s.trust_store)]
    out = []
    for name in dict.fromkeys(names):
        try:
            if load_profile(name).status == "production":
                out.append(name)
        except ProfileError:
            pass  # create_app reports it
    return out


def worker_app():  # type: ignore[no-untyped-def]
    """App factory for uvicorn worker processes (settings from the environment)."""
    from .app import create_app

    logs.configure(Settings.from_env().log_level, os.environ.get("ATTEST_LOG_FORMAT", "json"))
    _share_the_gil()
    return create_app()
