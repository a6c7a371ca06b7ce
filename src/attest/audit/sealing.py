"""Encryption at rest for the audit trail (ATT-3): AES-256-GCM under a key ring with key ids.

A key ring is written ``kid1:BASE64KEY,kid2:BASE64KEY`` (``ATTEST_AT_REST_KEYS``); the first key is the
current one and seals every new record, the others only open old records (key rotation: put the new key
first and keep the old ones for as long as records sealed under them must stay readable).

Each configured key is never used directly: HKDF-SHA256 derives one sub-key for sealing and one for the
keyed hashes (HMAC) that make audit records findable by patient or practitioner without storing those
identity numbers in clear. The record's id and key id are bound into the ciphertext as associated data,
so a sealed payload cannot be moved to another record unnoticed.

A payload is compressed (Zstandard, level 1) before it is encrypted: the audit trail's payloads are ~10 KB of
JSON that repeats itself (the token, the decision document and the AuditEvent say much the same), and they
shrink to ~37 % — the WAL, replication and storage of every decision with them, for ~20 µs per record
(issue 16; docs/performance.md). A blob says which it is in its first byte (authenticated with the rest):
``01`` the JSON as it is (records written before compression, or sealed with ``compress=False``), ``02``
a Zstandard frame of it. Compressing before encrypting makes a blob's length depend on its content, not only
on the lengths of its fields: whoever sees stored sizes (the database, its backups, WAL, replicas) may learn
something about that record (e.g. that two of its values are equal), never about another record: each payload
is its own frame, nothing is kept between frames and no dictionary is used. Guessing attacks on compression
(CRIME) need attacker-chosen text compressed together with a secret the attacker does not know; a payload holds
one request's own content and values of the server that are no secret to the requester. Keep it so: never
compress several requests' payloads together, never use a dictionary trained on stored records, never add a
value the requester must not learn.

Nothing here ever puts key material into an exception message or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import ConfigurationError

if sys.version_info >= (3, 14):  # pragma: no cover - the standard library's since 3.14 (PEP 784)
    try:
        from compression import zstd
    except ImportError as exc:  # a Python built without libzstd
        raise ImportError("attest's audit trail needs Zstandard: this Python was built without "
                          "compression.zstd (PEP 784); use a build with libzstd") from exc
else:
    from backports import zstd

KEY_BYTES = 32
NONCE_BYTES = 12
#: sealed blob layout: version byte, 12-byte nonce, ciphertext || 16-byte tag; the version byte says what the
#: ciphertext holds: the plaintext (01) or a Zstandard frame of it (02)
_PLAIN = b"\x01"
_ZSTD = b"\x02"
#: Zstandard level of new records: level 1 keeps ~37 % of a payload at ~2 µs per KB; higher levels gain a few
#: percent more for twice the time
ZSTD_LEVEL = 1
#: its hash table: 2**12 entries (16 KB) instead of the 2**15 (128 KB) level 1 takes for a payload of 8-16 KB
#: (each payload is compressed in one call, so Zstandard knows its size). Alone both take ~20 µs for a 10 KB
#: payload; inside the service, where every request's objects compete for the caches, the smaller table took
#: 29.5-32.2 against 35.3-38.6 µs per request (perf, three pairs of runs of 8,300 requests) for 0.7 % more
#: bytes (3,819 against 3,792). Only the compressor's choice: a frame opens whatever it was written with.
ZSTD_HASH_LOG = 12
#: a payload is never sealed, nor opened, larger than this (a sealed payload is tens of KB: the token, at most
#: 64 KiB, is the largest part); a compressed one that would open larger is refused, not expanded
MAX_PLAINTEXT_BYTES = 16 * 1024 * 1024
_KID = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)


class SealError(Exception):
    """A sealed payload cannot be opened: unknown key id, wrong key, or tampered data."""


_LOCAL = threading.local()
_ZSTD_OPTIONS: dict[Any, int] = {zstd.CompressionParameter.compression_level: ZSTD_LEVEL,
                                 zstd.CompressionParameter.hash_log: ZSTD_HASH_LOG}


def _compress(data: bytes) -> bytes:
    """A Zstandard frame of ``data``. The compressor keeps its tables between calls (a new one per call costs
    half again as much); each thread has its own (a shared one would serialise the threads on its lock)."""
    compressor = getattr(_LOCAL, "compressor", None)
    if compressor is None:
        compressor = _LOCAL.compressor = zstd.ZstdCompressor(options=_ZSTD_OPTIONS)
    try:
        return compressor.compress(data, zstd.ZstdCompressor.FLUSH_FRAME)
    except BaseException:
        _LOCAL.compressor = None  # never reuse a compressor interrupted mid-frame
        raise


def _decompress(frame: bytes) -> bytes:
    """The content of one whole Zstandard frame, at most :data:`MAX_PLAINTEXT_BYTES`."""
    d = zstd.ZstdDecompressor()
    try:
        out = d.decompress(frame, max_length=MAX_PLAINTEXT_BYTES)
    except zstd.ZstdError:
        raise SealError("the compressed payload is damaged") from None
    if not d.eof:
        raise SealError(f"the compressed payload is incomplete or opens to more than {MAX_PLAINTEXT_BYTES} bytes")
    if d.unused_data:
        raise SealError("the compressed payload has data after its frame")
    return out


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


@dataclass(frozen=True)
class RingKey:
    kid: str
    seal_key: bytes = field(repr=False)
    index_key: bytes = field(repr=False)

    @cached_property
    def aead(self) -> AESGCM:
        """The AES-256-GCM cipher of ``seal_key``, built once (it keeps no state between calls)."""
        return AESGCM(self.seal_key)

    @cached_property
    def _index_mac(self) -> hmac.HMAC:
        """HMAC-SHA256 keyed with ``index_key``, nothing hashed yet: each lookup hash starts from a copy (the
        key schedule is done once; a one-shot ``hmac.digest`` also looks the algorithm up in OpenSSL each
        time, ~1.7 µs against ~1.1 µs per hash). Private and never updated itself: an update would change
        every later lookup hash, and stored rows would no longer be found."""
        return hmac.new(self.index_key, digestmod="sha256")


class KeyRing:
    """The at-rest keys; ``current`` seals, every key opens what it sealed."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        entries: list[RingKey] = []
        seen: set[str] = set()
        for kid, raw in keys:
            if not _KID.fullmatch(kid):
                raise ConfigurationError(f"at-rest key id {kid!r} must be 1-64 of A-Z a-z 0-9 . _ -")
            if kid in seen:
                raise ConfigurationError(f"at-rest key id {kid!r} appears twice in the key ring")
            if len(raw) != KEY_BYTES:
                raise ConfigurationError(f"at-rest key {kid!r} must be {KEY_BYTES} bytes (AES-256), "
                                         f"base64-encoded; it has {len(raw)}")
            seen.add(kid)
            entries.append(RingKey(kid, _derive(raw, b"attest audit seal v1"),
                                   _derive(raw, b"attest audit index v1")))
        if not entries:
            raise ConfigurationError("the at-rest key ring is empty")
        self._keys = {k.kid: k for k in entries}
        self.current = entries[0]

    def material(self) -> list[tuple[str, bytes, bytes]]:
        """The derived keys, current first, for :meth:`from_material` in another process of this service
        (the audit process): key material, never to be logged or stored."""
        return [(k.kid, k.seal_key, k.index_key) for k in self._keys.values()]

    @classmethod
    def from_material(cls, material: Iterable[tuple[str, bytes, bytes]]) -> KeyRing:
        """The key ring :meth:`material` describes."""
        ring = cls.__new__(cls)
        entries = [RingKey(kid, seal_key, index_key) for kid, seal_key, index_key in material]
        if not entries:
            raise ConfigurationError("the at-rest key ring is empty")
        ring._keys = {k.kid: k for k in entries}
        ring.current = entries[0]
        return ring

    def __repr__(self) -> str:  # never show key material
        return f"KeyRing(kids={list(self._keys)!r}, current={self.current.kid!r})"

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    @classmethod
    def parse(cls, text: str, where: str = "ATTEST_AT_REST_KEYS") -> KeyRing:
        """Parse ``kid:base64[,kid:base64...]`` (whitespace and newlines between entries are allowed)."""
        keys: list[tuple[str, bytes]] = []
        for i, part in enumerate(p.strip() for p in re.split(r"[,\n]", text)):
            if not part or part.startswith("#"):
                continue
            kid, sep, b64 = part.partition(":")
            if not sep:
                raise ConfigurationError(f"{where}: entry {i + 1} is not 'kid:base64key'")
            try:
                s = b64.strip().replace("-", "+").replace("_", "/").rstrip("=")
                raw = base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigurationError(f"{where}: key {kid.strip()!r} is not base64") from None
            keys.append((kid.strip(), raw))
        try:
            return cls(keys)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None

    @staticmethod
    def generate_entry(kid: str) -> str:
        """A new ``kid:base64key`` entry (32 random bytes)."""
        return f"{kid}:{base64.b64encode(os.urandom(KEY_BYTES)).decode('ascii')}"

    # --- sealing ---------------------------------------------------------------------------------
    def seal(self, plaintext: bytes, aad: bytes, *, compress: bool = True) -> tuple[str, bytes]:
        """Compress (unless ``compress`` is false) and encrypt under the current key; returns ``(kid, blob)``.
        Raises :class:`SealError` for a payload over :data:`MAX_PLAINTEXT_BYTES` (it could never be opened)."""
        if len(plaintext) > MAX_PLAINTEXT_BYTES:
            raise SealError(f"the payload is larger than {MAX_PLAINTEXT_BYTES} bytes")
        version, data = (_ZSTD, _compress(plaintext)) if compress else (_PLAIN, plaintext)
        nonce = os.urandom(NONCE_BYTES)
        k = self.current
        ct = k.aead.encrypt(nonce, data, version + k.kid.encode() + b"\x00" + aad)
        return k.kid, version + nonce + ct

    def open(self, kid: str, blob: bytes, aad: bytes) -> bytes:
        """Decrypt a blob sealed under ``kid``; raises :class:`SealError` (never with key material)."""
        k = self._keys.get(kid)
        if k is None:
            raise SealError(f"no at-rest key with id {kid!r} in the key ring")
        blob = bytes(blob)
        version = blob[:1]
        if len(blob) < 1 + NONCE_BYTES + 16 or version not in (_PLAIN, _ZSTD):
            raise SealError("not a sealed payload of a known version")
        try:
            data = k.aead.decrypt(blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:],
                                  version + kid.encode() + b"\x00" + aad)
        except InvalidTag:
            raise SealError(f"the payload does not open under key {kid!r} (wrong key or tampered)") from None
        return _decompress(data) if version == _ZSTD else data

    # --- keyed hashes for lookups ----------------------------------------------------------------
    def lookup_hash(self, kind: str, value: str, kid: str | None = None) -> str:
        """HMAC-SHA256 of ``value`` under the index key of ``kid`` (default: the current key)."""
        k = self._keys[kid] if kid is not None else self.current
        mac = k._index_mac.copy()
        mac.update(f"{kind}\x00{value.strip()}".encode())
        return mac.hexdigest()

    def lookup_hashes(self, kind: str, value: str) -> list[str]:
        """The hash of ``value`` under every key of the ring (records sealed under old keys are found too)."""
        return [self.lookup_hash(kind, value, kid) for kid in self._keys]


def load_or_create_dev_keyring(path: Path) -> tuple[KeyRing, bool]:
    """The development key ring stored at ``path`` (created with one random key, mode 0600, when absent).
    Returns ``(ring, created)``."""
    created = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = KeyRing.generate_entry("dev-" + os.urandom(4).hex())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write("# DEVELOPMENT at-rest key ring generated by `attest serve`. Not for production.\n")
                f.write(entry + "\n")
            created = True
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read the at-rest key ring ({type(exc).__name__})") from None
    return KeyRing.parse(text, str(path)), created
