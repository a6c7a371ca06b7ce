"""A real HTTP key server on loopback for the key-set tests: an OpenID discovery document and a JWKS, with
switches for the ways a key server fails (down, slow, redirecting, junk, compressed, oversized). Every
request is counted; the server serves a bounded number of requests and stops with the test."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_REQUESTS = 500


class QuietServer(ThreadingHTTPServer):
    """A test server whose client hung up mid-answer (the point of the slow and oversized modes) says
    nothing: socketserver would print the traceback into the test output."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class KeyServer:
    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        #: "ok" | "down" (503) | "slow" (drip-feeds the body) | "junk" | "gzip" | "huge" | "huge-chunked" |
        #: "redirect-other" | "redirect-same" | "hang" (headers never come)
        self.mode = "ok"
        self.cache_control: str | None = None
        self.requests: list[str] = []
        self.issuer = ""
        self._server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def discovery_url(self) -> str:
        return self.base + "/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return self.base + "/jwks"

    def count(self, path: str) -> int:
        return sum(1 for p in self.requests if p == path)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        ks = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if "Content-Length" not in (headers or {}) and "Transfer-Encoding" not in (headers or {}):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                ks.requests.append(self.path)
                if len(ks.requests) > MAX_REQUESTS:
                    self._send(429, b"")
                    return
                mode = ks.mode
                if self.path == "/.well-known/openid-configuration":
                    doc = {"issuer": ks.issuer, "jwks_uri": ks.jwks_url,
                           "token_endpoint": ks.base + "/connect/token"}
                    self._send(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
                    return
                if self.path == "/moved":
                    self._send(200, json.dumps(ks.jwks).encode(), {"Content-Type": "application/json"})
                    return
                if self.path != "/jwks":
                    self._send(404, b"")
                    return
                body = json.dumps(ks.jwks).encode()
                headers = {"Content-Type": "application/json"}
                if ks.cache_control:
                    headers["Cache-Control"] = ks.cache_control
                if mode == "down":
                    self._send(503, b"down")
                elif mode == "junk":
                    self._send(200, b"<html>not json</html>", headers)
                elif mode == "gzip":
                    bomb = gzip.compress(b'{"keys": [' + b" " * 5_000_000 + b"]}")
                    self._send(200, bomb, {**headers, "Content-Encoding": "gzip"})
                elif mode == "huge":
                    self._send(200, b"[" + b" " * 2_000_000 + b"]", headers)
                elif mode == "huge-chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b" " * 65536
                    try:
                        for _ in range(40):
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    except OSError:
                        pass
                elif mode == "slow":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    try:
                        for b in body[:40]:
                            self.wfile.write(bytes([b]))
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        pass
                elif mode == "hang":
                    time.sleep(3)
                elif mode == "redirect-other":
                    self._send(302, b"", {"Location": "http://localhost:1/jwks"})
                elif mode == "redirect-same":
                    self._send(302, b"", {"Location": "/moved"})
                else:
                    self._send(200, body, headers)

        return Handler

    def start(self) -> None:
        self._server = QuietServer(("127.0.0.1", 0), self.handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def key_server() -> Iterator[KeyServer]:
    ks = KeyServer()
    ks.start()
    try:
        yield ks
    finally:
        ks.stop()
