"""The forward-auth topology on loopback: a real nginx (Debian package) running deploy/nginx-forward-auth.conf,
``attest serve`` behind its ``auth_request``, and a small upstream FHIR API that records every request that
reaches it. Every server binds 127.0.0.1 only; the upstream serves a bounded number of requests."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .keyserver import QuietServer
from .servers import ROOT, AttestServer, _tail, _wait_tcp, free_port, unavailable

CONF = ROOT / "deploy" / "nginx-forward-auth.conf"
MAX_UPSTREAM_REQUESTS = 100_000


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def need_nginx() -> str:
    found = nginx_binary()
    if found is None:
        unavailable("the forward-auth test needs nginx (apt-get install nginx)")
    return found


def render(conf: str, *, listen: int, attest_ports: list[int], upstream_port: int, public_origin: str,
           prefix: Path) -> str:
    """deploy/nginx-forward-auth.conf for loopback: only the listen port, the upstream servers, the public
    origin and the log/temp locations change; every directive that decides is the file's own."""
    out = re.sub(r"listen 8443;", f"listen 127.0.0.1:{listen};", conf)
    out = re.sub(r"(upstream attest_api \{)(.*?)(keepalive)",
                 lambda m: m.group(1) + "\n" + "".join(f"        server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;\n"
                                                       for p in attest_ports) + "        " + m.group(3),
                 out, flags=re.S)
    out = out.replace("server fhir-api:8080;", f"server 127.0.0.1:{upstream_port};")
    out = re.sub(r'set \$public_origin "[^"]*";', f'set $public_origin "{public_origin}";', out)
    out = out.replace("access_log /dev/stdout gateway;", f"access_log {prefix}/access.log gateway;")
    out = out.replace("error_log /dev/stderr warn;", f"error_log {prefix}/error.log warn;")
    temps = "".join(f"    {d}_temp_path {prefix}/{d};\n" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    out = out.replace("http {\n", "http {\n" + temps, 1)
    head = f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
    if os.geteuid() == 0:
        head += "user root;\n"  # workers may then use the temporary directories the test made
    return head + out


class Upstream:
    """The protected API: answers every GET/POST under /fhir/ with a FHIR Bundle and records the request's
    method, path and X-Attest-* headers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    def start(self) -> None:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                if len(upstream.requests) >= MAX_UPSTREAM_REQUESTS:
                    self.send_response(429)
                    self.end_headers()
                    return
                upstream.requests.append({"method": self.command, "path": self.path,
                                          "headers": {k.lower(): v for k, v in self.headers.items()}})
                body = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _answer
            do_POST = _answer

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class Nginx:
    def __init__(self, attest_ports: list[int], upstream_port: int, listen: int | None = None) -> None:
        self.binary = need_nginx()
        self.prefix = Path(tempfile.mkdtemp(prefix="attest-nginx-"))
        self.port = listen or free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / d).mkdir()
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(render(CONF.read_text(), listen=self.port, attest_ports=attest_ports,
                                    upstream_port=upstream_port, public_origin=self.origin, prefix=self.prefix))
        self.proc: subprocess.Popen[bytes] | None = None

    def check(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, "-t", "-p", str(self.prefix), "-c", str(self.conf)],
                              capture_output=True, text=True, check=False)

    def start(self) -> None:
        checked = self.check()
        if checked.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{checked.stderr}")
        self.proc = subprocess.Popen([self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _wait_tcp(self.port, 15):
            raise RuntimeError(f"nginx did not listen\n{self.log_tail()}")

    def log_tail(self) -> str:
        return _tail(self.prefix / "error.log")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        time.sleep(0.05)
        shutil.rmtree(self.prefix, ignore_errors=True)


@contextmanager
def forward_auth(base: Path, env: dict[str, str], name: str = "attest-fa") -> Iterator[tuple[AttestServer, Upstream,
                                                                                           Nginx]]:
    """The whole topology: ``attest serve`` (``env``: its settings, on top of an at-rest key ring, the admin
    token and nginx as the trusted proxy), the upstream and nginx in front; stopped in reverse order."""
    from .service import ADMIN_TOKEN, key_ring

    attest = AttestServer(base / "attest", {"ATTEST_AT_REST_KEYS": key_ring("k1"), "ATTEST_ADMIN_TOKEN": ADMIN_TOKEN,
                                            "ATTEST_TRUSTED_PROXIES": "127.0.0.1", **env}, name=name)
    upstream = Upstream()
    nginx: Nginx | None = None
    try:
        attest.start()
        upstream.start()
        nginx = Nginx([attest.port], upstream.port)
        nginx.start()
        yield attest, upstream, nginx
    finally:
        if nginx is not None:
            nginx.stop()
        upstream.stop()
        attest.cleanup()
