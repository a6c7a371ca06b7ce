"""Real servers on loopback for integration and fault-injection tests: PostgreSQL, Redis and `attest serve`.

Every class has idempotent ``start()`` / ``stop()`` / ``restart()`` and ``cleanup()`` (stop and delete its
files), binds to 127.0.0.1 only, and keeps its log in a file (``log_tail()`` for failure messages).

* PostgreSQL: ``initdb`` + ``pg_ctl`` into a temporary directory (as the ``postgres`` user via ``runuser``
  when running as root: initdb refuses root). Trust authentication on loopback, fsync off (test data);
  ``PostgresServer(durable=True)`` keeps PostgreSQL's production defaults (fsync, synchronous_commit and
  full-page writes on: a commit is on disk when it returns), for the benchmarks.
* Redis: ``redis-server --port N --save '' --appendonly no`` (no persistence: a restart forgets the keys);
  ``RedisServer(persist=True)`` keeps an append-only file (``appendfsync always``; ``appendfsync=`` another
  policy, e.g. ``everysec`` as docker-compose.yml) across restarts, as production must (docs/service.md).
* ``attest serve``: a subprocess with a clean environment (no ATTEST_*/DATABASE_URL/REDIS_URL from the
  caller) plus the given variables.

:func:`need` skips a test when a binary is missing, or fails it when ``ATTEST_REQUIRE_INTEGRATION=1``
(as in CI).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]



def unavailable(reason: str) -> NoReturn:
    """A test whose real component (a server, a browser, a validator) is missing: skipped with the reason,
    or failed when ``ATTEST_REQUIRE_INTEGRATION=1`` (as ``.ci/run`` sets: in CI nothing may skip)."""
    if os.environ.get("ATTEST_REQUIRE_INTEGRATION") == "1":
        pytest.fail(reason + " (ATTEST_REQUIRE_INTEGRATION=1)")
    pytest.skip(reason)

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin() -> Path | None:
    """The PostgreSQL server binaries: $ATTEST_PG_BIN, /usr/lib/postgresql/<newest>/bin, or PATH."""
    candidates = [os.environ.get("ATTEST_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2])
                         if p.split("/")[-2].isdigit() else 0, reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).parent))
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def need(*what: str) -> None:
    """Skip (or, with ATTEST_REQUIRE_INTEGRATION=1, fail) unless every named server can be started:
    ``postgres``, ``redis``."""
    missing = []
    if "postgres" in what:
        if pg_bin() is None:
            missing.append("PostgreSQL server binaries (initdb, pg_ctl; set ATTEST_PG_BIN)")
        elif os.geteuid() == 0 and shutil.which("runuser") is None:
            missing.append("runuser (initdb refuses to run as root)")
    if "redis" in what and shutil.which("redis-server") is None:
        missing.append("redis-server (apt-get install redis-server)")
    if missing:
        unavailable("integration test needs " + ", ".join(missing))


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _wait_tcp(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


class PostgresServer:
    def __init__(self, port: int | None = None, durable: bool = False) -> None:
        self.bin = pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL binaries not found")
        self.base = Path(tempfile.mkdtemp(prefix="attest-pg-"))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.log = self.base / "postgres.log"
        self.port = port or free_port()
        self._as_postgres = os.geteuid() == 0
        self.durable = durable

    @property
    def pid(self) -> int | None:
        """The postmaster's process id (None when not running)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().split()[0])
        return None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        return ["runuser", "-u", "postgres", "--", *cmd] if self._as_postgres else cmd

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._cmd(*args), capture_output=True, text=True, check=check, timeout=120,
                              cwd=self.base)

    def init(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.data.mkdir(exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        self.log.touch()
        if self._as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
            for p in (self.data, self.sock, self.log):
                shutil.chown(p, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def start(self) -> None:
        self.init()
        if self.running():
            return
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c max_connections=50"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        r = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", opts, "start",
                      check=False)
        if r.returncode != 0 or not _wait_tcp(self.port, 30):
            raise RuntimeError(f"PostgreSQL did not start: {r.stderr}\n{_tail(self.log)}")

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self) -> str:
        return _tail(self.log)

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


class RedisServer:
    def __init__(self, port: int | None = None, persist: bool = False, appendfsync: str = "always") -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server not found")
        self.port = port or free_port()
        self.base = Path(tempfile.mkdtemp(prefix="attest-redis-"))
        self.log = self.base / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.persist = persist
        self.appendfsync = appendfsync

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _ping(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def start(self) -> None:
        if self.running():
            return
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 *(["--appendonly", "yes", "--appendfsync", self.appendfsync] if self.persist else ["--appendonly", "no"]),
                 "--daemonize", "no", "--dir", str(self.base)],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.base)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self._ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start\n{_tail(self.log)}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self) -> str:
        return _tail(self.log)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


_CLEARED = ("DATABASE_URL", "REDIS_URL")


class AttestServer:
    """``attest serve`` in a subprocess (``python -m attest.cli serve``) on 127.0.0.1."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None,
                 name: str = "attest", cwd: Path = ROOT, args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.name = name
        self.cwd = cwd
        self.args = args
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_") and k not in _CLEARED}
        self.env.update(env or {})
        self.env.setdefault("ATTEST_INSTANCE", name)
        # most tests post bare tokens; tests/service/test_context_required.py covers the production default
        self.env.setdefault("ATTEST_CONTEXT_REQUIRED", "false")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        if self.running():
            return
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "attest.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(self.data_dir), *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /healthz\n{self.log_tail()}")

    def signal(self, sig: int) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM (graceful shutdown) and wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        code = self.proc.returncode
        self.proc = None
        return code

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, **kw: Any) -> httpx.Client:
        """A client for this server (use it as a context manager, so its connections are closed)."""
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", 30.0), **kw)

    def ready(self) -> bool:
        with self.client(timeout=5.0) as c:
            return c.get("/readyz").status_code == 200

    def log_tail(self) -> str:
        return _tail(self.log)

    def cleanup(self) -> None:
        self.stop()


def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` s pass (a bound on waiting, not a timing check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return True
        time.sleep(interval)
    return False


@dataclass
class Cluster:
    """PostgreSQL, Redis and two ``attest serve`` instances sharing them, all on 127.0.0.1."""

    pg: PostgresServer
    redis: RedisServer
    a: AttestServer
    b: AttestServer
    ring: str


@contextlib.contextmanager
def two_instance_cluster(base: Path, ring: str, admin_token: str, *, redis_persist: bool = False,
                         b_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Start the deployment topology of docker-compose.yml on loopback (two API instances, one PostgreSQL,
    one Redis) and clean everything up afterwards; skips (or fails in CI) when a server binary is missing.
    ``b_env``: settings of the second instance only (e.g. the audit process)."""
    need("postgres", "redis")
    pg, redis = PostgresServer(), RedisServer(persist=redis_persist)
    servers: list[AttestServer] = []
    try:
        pg.start()
        redis.start()
        env = {"DATABASE_URL": pg.url, "REDIS_URL": redis.url, "ATTEST_AT_REST_KEYS": ring,
               "ATTEST_ADMIN_TOKEN": admin_token, "ATTEST_DEPENDENCY_TIMEOUT": "1", "ATTEST_LOG_LEVEL": "INFO"}
        servers = [AttestServer(base / name, {**env, **(b_env or {})} if name == "api-b" else env, name=name)
                   for name in ("api-a", "api-b")]
        for s in servers:
            s.start()
        yield Cluster(pg, redis, servers[0], servers[1], ring)
    finally:
        for s in servers:
            s.cleanup()
        redis.cleanup()
        pg.cleanup()
