"""What a reverse proxy tells the forward-auth endpoint about the request it is deciding (HELSEID.md
section 13): the original method and URL, and the patient the request is for.

Only a configured trusted proxy (``ATTEST_TRUSTED_PROXIES``) may say what the original request was: from
anyone else the ``X-Forwarded-*`` / ``X-Original-*`` headers are ignored, the original method and URL are
unknown, and the DPoP proof's ``htm``/``htu`` cannot match (a deny). The peer is the TCP peer as the ASGI
server saw it (:class:`PeerMiddleware` records it before proxy-header handling rewrites the client
address).
"""

from __future__ import annotations

import ipaddress
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers

Scope = dict[str, Any]

#: where the original request's method may be given
METHOD_HEADERS = ("x-forwarded-method", "x-original-method")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PeerMiddleware:
    """Records the TCP peer (``scope["attest.peer"]``) before any proxy-header handling rewrites
    ``scope["client"]`` from ``X-Forwarded-For``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            scope["attest.peer"] = client[0] if client else None
        await self.app(scope, receive, send)


def parse_networks(values: Sequence[str], where: str) -> tuple[Network, ...]:
    """IP addresses and CIDR networks; raises ValueError naming the bad entry."""
    out: list[Network] = []
    for v in values:
        v = v.strip()
        if not v:
            continue
        try:
            out.append(ipaddress.ip_network(v, strict=False))
        except ValueError:
            raise ValueError(f"{where}: {v!r} is not an IP address or network") from None
    return tuple(out)


def peer_is_trusted(scope: MutableMapping[str, Any], networks: tuple[Network, ...]) -> bool:
    peer = scope.get("attest.peer", (scope.get("client") or (None,))[0])
    if not isinstance(peer, str):
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in n for n in networks)


@dataclass(frozen=True)
class OriginalRequest:
    """The request the proxy is deciding: ``method`` and absolute ``url`` (with its query), None when not
    given (or given ambiguously, or by an untrusted peer)."""

    method: str | None
    url: str | None
    trusted: bool


def _single(headers: Headers, name: str) -> str | None:
    values = headers.getlist(name)
    if len(values) != 1:
        return None  # absent, or given twice: ambiguous
    v = values[0].strip()
    return v if v and v.isprintable() and len(v) <= 8192 else None


def original_request(headers: Headers, trusted: bool) -> OriginalRequest:
    if not trusted:
        return OriginalRequest(None, None, False)
    method = next((m for m in (_single(headers, h) for h in METHOD_HEADERS) if m), None)
    url = _single(headers, "x-original-url")
    if url is None:
        proto, host, uri = (_single(headers, h) for h in ("x-forwarded-proto", "x-forwarded-host",
                                                          "x-forwarded-uri"))
        if proto in ("http", "https") and host and uri and uri.startswith("/") and "/" not in host \
                and "@" not in host:
            url = f"{proto}://{host}{uri}"
    if url is not None and _scheme(url) not in ("http", "https"):
        url = None
    return OriginalRequest(method, url, True)


def _scheme(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:  # an unbalanced IPv6 bracket, a bad port: the original URL is unknown
        return None
    return parts.scheme


def _patient_value(value: str) -> list[str]:
    """``system|id`` or ``id``; a FHIR search may give several, comma-separated (OR)."""
    out = []
    for part in value.split(","):
        part = part.strip()
        if "|" in part:
            part = part.rsplit("|", 1)[1].strip()
        if part:
            out.append(part)
    return out


def requested_patients(url: str | None, headers: Headers, sources: Sequence[str], trusted: bool) -> list[str]:
    """Every distinct patient the request names, from the configured ``sources`` (``query:<name>`` in the
    original URL, ``header:<name>``; headers only from a trusted proxy)."""
    found: list[str] = []
    query = parse_qsl(urlsplit(url).query, keep_blank_values=False) if url else []  # url passed _scheme
    for source in sources:
        kind, _, name = source.partition(":")
        if kind == "query":
            values = [v for k, v in query if k == name]
        elif kind == "header" and trusted:
            values = headers.getlist(name.lower())
        else:
            values = []
        for v in values:
            for pid in _patient_value(v):
                if pid not in found:
                    found.append(pid)
    return found
