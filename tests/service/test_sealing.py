"""AES-GCM sealing with key ids, rotation and keyed lookup hashes (ATT-3)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from attest import ConfigurationError
from attest.audit import sealing
from attest.audit.sealing import KeyRing, SealError, load_or_create_dev_keyring

from ..support.service import key_ring


def test_round_trip_and_key_id() -> None:
    ring = KeyRing.parse(key_ring("k1"))
    kid, blob = ring.seal(b"secret payload 20086600138", b"record-1")
    assert kid == "k1"
    assert b"secret" not in blob and b"20086600138" not in blob
    assert ring.open(kid, blob, b"record-1") == b"secret payload 20086600138"


def test_nonce_is_fresh() -> None:
    ring = KeyRing.parse(key_ring("k1"))
    assert ring.seal(b"x", b"a")[1] != ring.seal(b"x", b"a")[1]


def test_wrong_key_tampering_and_moved_records_fail() -> None:
    ring = KeyRing.parse(key_ring("k1"))
    other = KeyRing.parse(key_ring("k1"))  # same id, different key
    kid, blob = ring.seal(b"payload", b"record-1")
    with pytest.raises(SealError):
        other.open(kid, blob, b"record-1")
    with pytest.raises(SealError):
        ring.open(kid, blob, b"record-2")  # bound to its record id
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(SealError):
        ring.open(kid, bytes(tampered), b"record-1")
    with pytest.raises(SealError):
        ring.open("nope", blob, b"record-1")
    with pytest.raises(SealError):
        ring.open(kid, b"\x01short", b"record-1")


def test_rotation_keeps_old_records_readable() -> None:
    old_entry = key_ring("2024")
    old = KeyRing.parse(old_entry)
    kid_old, blob_old = old.seal(b"old", b"r1")
    rotated = KeyRing.parse(key_ring("2025") + "," + old_entry)
    assert rotated.current.kid == "2025"
    assert rotated.open(kid_old, blob_old, b"r1") == b"old"
    kid_new, blob_new = rotated.seal(b"new", b"r2")
    assert kid_new == "2025"
    with pytest.raises(SealError):
        old.open(kid_new, blob_new, b"r2")
    # lookups find records hashed under either key
    h_old = old.lookup_hash("patient", "13116900216")
    assert h_old in rotated.lookup_hashes("patient", "13116900216")
    assert rotated.lookup_hash("patient", "13116900216") != h_old


def test_lookup_hash_is_keyed_and_domain_separated() -> None:
    a, b = KeyRing.parse(key_ring("k")), KeyRing.parse(key_ring("k"))
    assert a.lookup_hash("patient", "13116900216") != b.lookup_hash("patient", "13116900216")
    assert a.lookup_hash("patient", "13116900216") != a.lookup_hash("practitioner", "13116900216")
    assert a.lookup_hash("patient", " 13116900216 ") == a.lookup_hash("patient", "13116900216")


def test_lookup_hashes_stay_what_existing_stores_hold() -> None:
    """The index columns of rows already stored were written with these values: a change of how the hash
    is computed must not change them (HKDF-SHA256 index key, HMAC-SHA256 of ``kind NUL value``)."""
    ring = KeyRing.parse("k1:" + base64.b64encode(bytes(range(32))).decode())
    assert ring.lookup_hash("patient", "13116900216") == (
        "7217ba6e485bb2f3a319d3ea7219c23fcc035528b2b7a5cc64c1b5306cc9e5b4")
    assert ring.lookup_hash("practitioner", " 20086600138") == (
        "dd51890aac7a2627c2fbe85c6c7e3e49d6d4701bde9919ba16182ad94c1ce8f1")
    # a fresh ring's first hashes from several threads at once (the keyed state is built on first use), then
    # many copies of it
    fresh = KeyRing.parse("k1:" + base64.b64encode(bytes(range(32))).decode())
    start = threading.Barrier(4)

    def first(_: int) -> str:
        start.wait()
        return fresh.lookup_hash("patient", "13116900216")

    with ThreadPoolExecutor(4) as pool:
        hashes = set(pool.map(first, range(4)))
        hashes |= set(pool.map(lambda _: fresh.lookup_hash("patient", "13116900216"), range(400)))
    assert hashes == {"7217ba6e485bb2f3a319d3ea7219c23fcc035528b2b7a5cc64c1b5306cc9e5b4"}


@pytest.mark.parametrize("text", [
    "", "k1", "k1:", "k1:!!!!", "bad id:" + base64.b64encode(b"x" * 32).decode(),
    "k1:" + base64.b64encode(b"x" * 16).decode(),
    "k1:" + base64.b64encode(b"x" * 32).decode() + ",k1:" + base64.b64encode(b"y" * 32).decode(),
])
def test_bad_key_rings_are_refused_without_echoing_keys(text: str) -> None:
    with pytest.raises(ConfigurationError) as exc:
        KeyRing.parse(text)
    secret = text.partition(":")[2]
    if len(secret) > 8:
        assert secret not in str(exc.value)


def test_urlsafe_and_unpadded_base64_are_accepted() -> None:
    raw = bytes(range(256))[:32]
    ring = KeyRing.parse("a:" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert ring.kids == ["a"]


def test_repr_shows_no_key_material() -> None:
    entry = key_ring("k1")
    assert entry.partition(":")[2] not in repr(KeyRing.parse(entry))


def test_dev_key_ring_is_created_once_with_private_mode(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "d" / "at-rest.keys"
    ring, created = load_or_create_dev_keyring(path)
    assert created and path.stat().st_mode & 0o777 == 0o600
    again, created_again = load_or_create_dev_keyring(path)
    assert not created_again and again.current.kid == ring.current.kid
    kid, blob = ring.seal(b"x", b"r")
    assert again.open(kid, blob, b"r") == b"x"


# --- compression before encryption (issue 16: the audit trail's bytes per decision) ----------------------------


def test_payloads_are_compressed_before_encryption() -> None:
    ring = KeyRing.parse(key_ring("k1"))
    payload = b'{"token":"eyJ...","decision":{"attestation":{"purpose":"TREAT"}}}' * 150
    kid, blob = ring.seal(payload, b"record-1")
    assert blob[:1] == b"\x02"
    assert len(blob) < len(payload) // 10
    assert ring.open(kid, blob, b"record-1") == payload


def test_compressed_records_written_before_the_smaller_hash_table_still_open() -> None:
    # a version-02 blob sealed by the code before ZSTD_HASH_LOG (level 1's own parameters; key bytes 0..31,
    # kid k1, record id rid-2): the compressor's parameters are the writer's choice, any frame opens
    payload = (b'{"v":1,"auditevent":{"resourceType":"AuditEvent"},"token":"' + b"eyJhbGciOiJFUzI1NiJ9" * 40
               + b'"}')
    written_before = bytes.fromhex(
        "023c0027910b5b89ad5c8d6f89085119e61479c823307897482b1c44466381cb7c2df1034ce9879d645bfaf12c0431de3bc7b7bd"
        "686627bdfde48111eec7f703a99d7ae24a4d3c4530d98a748547ff13db6d7544e601a77bf4d9a637f291d6b94d0c282c0ee204"
        "e8430505b4a381524a9f904c85007a98274aac8b699958")
    assert KeyRing([("k1", bytes(range(32)))]).open("k1", written_before, b"rid-2") == payload


def test_new_records_are_compressed_with_the_smaller_hash_table() -> None:
    from attest.audit.sealing import ZSTD_HASH_LOG, ZSTD_LEVEL, _compress, _decompress, zstd

    # many distinct short runs repeated far apart: more than a table of 2**12 entries remembers
    payload = json.dumps({f"k{i}": hashlib.sha256(str(i).encode()).hexdigest()[:16] * (i % 7)
                          for i in range(400)}).encode()
    param = zstd.CompressionParameter

    def frame(options: dict[Any, int]) -> bytes:
        return bytes(zstd.ZstdCompressor(options=options).compress(payload, zstd.ZstdCompressor.FLUSH_FRAME))

    ours = frame({param.compression_level: ZSTD_LEVEL, param.hash_log: ZSTD_HASH_LOG})
    if ours == frame({param.compression_level: ZSTD_LEVEL}):
        pytest.skip("this Zstandard writes the same frame with either table for the test payload")
    assert _compress(payload) == ours
    assert _decompress(ours) == payload


def test_records_sealed_without_compression_still_open() -> None:
    # what every record written before compression is: version 01, the JSON as it is
    ring = KeyRing.parse(key_ring("k1"))
    kid, blob = ring.seal(b"old record", b"record-1", compress=False)
    assert blob[:1] == b"\x01"
    assert ring.open(kid, blob, b"record-1") == b"old record"
    # and a blob written by the code before compression existed (key bytes 0..31, kid k1, record id rid-1)
    old = KeyRing([("k1", bytes(range(32)))])
    written_before = bytes.fromhex("01dcc5c856cb029fd51eeb0d623d518db2067ff965ae5f4c5d6ad04fc69764744a0e594dadc525b9"
                                   "a71b254957b64b")
    assert old.open("k1", written_before, b"rid-1") == b'{"v":1,"old":true}'


def test_the_version_byte_is_authenticated() -> None:
    ring = KeyRing.parse(key_ring("k1"))
    for compress, other in ((True, b"\x01"), (False, b"\x02")):
        kid, blob = ring.seal(b"payload" * 20, b"record-1", compress=compress)
        with pytest.raises(SealError, match="does not open"):
            ring.open(kid, other + blob[1:], b"record-1")
        with pytest.raises(SealError, match="known version"):
            ring.open(kid, b"\x03" + blob[1:], b"record-1")


@pytest.mark.parametrize(("frame", "message"), [
    (lambda data, compress: b"not a zstandard frame", "damaged"),
    (lambda data, compress: compress(data)[:-3], "incomplete"),
    (lambda data, compress: compress(data) + b"more", "after its frame"),
])
def test_a_compressed_payload_that_does_not_decompress_cleanly_is_refused(
        monkeypatch: pytest.MonkeyPatch, frame: Any, message: str) -> None:
    # only the key's holder can seal such a blob; it is refused all the same, never half-read
    ring = KeyRing.parse(key_ring("k1"))
    real = sealing._compress
    monkeypatch.setattr(sealing, "_compress", lambda data: frame(data, real))
    kid, blob = ring.seal(b"x" * 500, b"record-1")
    with pytest.raises(SealError, match=message):
        ring.open(kid, blob, b"record-1")


def test_a_payload_is_never_expanded_beyond_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = KeyRing.parse(key_ring("k1"))
    kid, blob = ring.seal(b"\x00" * 100_000, b"record-1")  # ~30 bytes of frame
    monkeypatch.setattr(sealing, "MAX_PLAINTEXT_BYTES", 99_999)
    with pytest.raises(SealError, match="more than 99999 bytes"):
        ring.open(kid, blob, b"record-1")
    monkeypatch.setattr(sealing, "MAX_PLAINTEXT_BYTES", 100_000)
    assert ring.open(kid, blob, b"record-1") == b"\x00" * 100_000
    # nor sealed beyond it: such a record could never be opened
    with pytest.raises(SealError, match="larger than 100000 bytes"):
        ring.seal(b"\x00" * 100_001, b"record-2")


def test_a_compressed_bomb_is_refused_without_being_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    # 256 MiB of zeros in a frame of a few KB: refused while at most the limit (16 MiB) is held in memory
    ring = KeyRing.parse(key_ring("k1"))
    monkeypatch.setattr(sealing, "MAX_PLAINTEXT_BYTES", 1 << 30)
    kid, blob = ring.seal(bytes(256 << 20), b"record-1")
    assert len(blob) < 64 << 10
    monkeypatch.undo()
    tracemalloc.start()
    try:
        with pytest.raises(SealError, match="more than"):
            ring.open(kid, blob, b"record-1")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak


def test_threads_seal_concurrently() -> None:
    # seal and open from several threads at once (each has its own compressor)
    ring = KeyRing.parse(key_ring("k1"))

    def work(i: int) -> bool:
        payloads = [f"payload {i}-{j} ".encode() * (50 + j) for j in range(200)]
        sealed = [ring.seal(p, b"r") for p in payloads]
        return all(ring.open(kid, blob, b"r") == p for p, (kid, blob) in zip(payloads, sealed, strict=True))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(8)))
