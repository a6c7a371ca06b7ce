"""Trust-store reload without restart: a background thread checks the file's modification time every
``interval`` seconds, and SIGHUP forces a reload. The new store is loaded completely before the reference
is swapped (one attribute assignment: readers see the old or the new store, never a mix). A file that
does not load keeps the old store in service and logs the error; it is tried again when it changes.

Only the trust-store file itself is watched; after changing a ``jwks_file`` it names, touch the trust
store or send SIGHUP."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigurationError
from ..trust import TrustStore

log = logging.getLogger("attest.service.trust")


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class TrustHolder:
    def __init__(self, path: Path, interval: float = 5.0,
                 on_reload: Callable[[bool, TrustStore], None] | None = None) -> None:
        self.path = path
        self.interval = interval
        self._sig = _signature(path)
        self.store: TrustStore = TrustStore.load(path)  # a broken file at start is a configuration error
        self._on_reload = on_reload
        self._lock = threading.Lock()
        #: which claimed version of the file is the newest (a load that finishes after a newer one started is
        #: dropped)
        self._generation = 0
        self._wake = threading.Event()
        self._force = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def check(self, force: bool = False) -> bool:
        """Reload if the file changed (or ``force``). Returns True when a new store is in service.

        The new store is loaded (and its remote key sets fetched) outside the lock, so a slow key server
        never holds it; the lock only decides which version is loaded and swaps the reference. When a newer
        version was claimed meanwhile, the older load is dropped."""
        with self._lock:
            sig = _signature(self.path)
            if not force and sig == self._sig:
                return False
            self._sig = sig
            self._generation += 1
            generation = self._generation
        try:
            new = TrustStore.load(self.path)
        except ConfigurationError as exc:
            with self._lock:
                if generation != self._generation:
                    return False
                self.last_error = str(exc)
            log.error("trust store reload failed; keeping the previous one", extra={"error": str(exc)})
            if self._on_reload:
                self._on_reload(False, self.store)
            return False
        with self._lock:
            if generation != self._generation:
                return False  # a newer version of the file is being loaded: that one goes into service
            self.store = new
            self.last_error = None
        log.info("trust store reloaded", extra={"path": str(self.path), "issuers": len(new.issuers)})
        if self._on_reload:
            self._on_reload(True, new)
        return True

    def request_reload(self) -> None:
        """Force a reload soon (safe to call from a signal handler)."""
        self._force = True
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval if self.interval > 0 else None)
            self._wake.clear()
            if self._stop.is_set():
                return
            force, self._force = self._force, False
            try:
                self.check(force=force)
            except Exception:
                log.exception("trust store watcher error")

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="attest-trust-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
