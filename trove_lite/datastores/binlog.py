"""Binary-log facts shared by the guest's archiver and the control plane.

Events are read straight from the binlog files on the instance's volume (format
v4: a 4-byte magic, then events with a 19-byte header: timestamp u32, type u8,
server_id u32, length u32, next position u32, flags u16; ``length`` includes the
header and the CRC32 checksum). Only the headers are decoded, plus the body of
MariaDB's GTID event (sequence number u64, domain u32), which starts each
transaction (event group).

The key reaches the guest sealed (``seal``/``KeyOpener``): the archiver makes an
X25519 key pair in memory when it starts and reports the public half; the
taskmanager encrypts the archive key to it (ephemeral X25519, HKDF-SHA256,
AES-256-GCM), so the bus carries no key in clear and nothing is kept on disk.

Archived segments are AES-256-GCM objects (``nonce || ciphertext || tag``, the
object name as associated data) under a per-instance key derived from the
tenant's backup key (``archive_key``): the guest gets only its own instance's key,
and a segment moved to another name does not decrypt.
"""

import hashlib
import os
import re
import struct
from typing import Iterable, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"\xfebin"
HEADER = struct.Struct("<IBIIIH")
HEADER_LEN = HEADER.size   # 19
STOP_EVENT, ROTATE_EVENT, FORMAT_DESCRIPTION_EVENT = 3, 4, 15
GTID_EVENT = 162
_SEQ = re.compile(r"\.(\d+)$")


class Event(NamedTuple):
    start: int        # byte offset in the file
    end: int          # offset of the next event
    timestamp: int    # epoch seconds (0 for artificial events)
    type: int
    gtid: str | None  # "domain-server-seq" for a GTID event


class Summary(NamedTuple):
    events: int
    first_ts: float | None
    last_ts: float | None
    first_gtid: str | None
    last_gtid: str | None


def file_seq(name: str) -> int:
    """The number of a binlog file (``mysql-bin.000042`` -> 42)."""
    m = _SEQ.search(name)
    if not m:
        raise ValueError("%r is not a binlog file name" % name)
    return int(m.group(1))


def parse_events(data: bytes, base: int) -> list[Event]:
    """The complete events in ``data``, which starts at file offset ``base`` (0 means
    the file's start: the magic is skipped). A trailing partial event is left out:
    the caller reads it again once it is whole."""
    events, i = [], 0
    if base == 0:
        if data[:4] != MAGIC[:len(data[:4])]:
            raise ValueError("not a binary log (bad magic)")
        if len(data) < 4:
            return []
        i = 4
    n = len(data)
    while i + HEADER_LEN <= n:
        ts, etype, server_id, length, _next, _flags = HEADER.unpack_from(data, i)
        if length < HEADER_LEN:
            raise ValueError("corrupt binlog event at %d (length %d)" % (base + i, length))
        if i + length > n:
            break
        gtid = None
        if etype == GTID_EVENT and length >= HEADER_LEN + 12:
            seq, domain = struct.unpack_from("<QI", data, i + HEADER_LEN)
            gtid = "%d-%d-%d" % (domain, server_id, seq)
        events.append(Event(base + i, base + i + length, ts, etype, gtid))
        i += length
    return events


def summarize(events: Iterable[Event]) -> Summary:
    count, first_ts, last_ts, first_gtid, last_gtid = 0, None, None, None, None
    for e in events:
        count += 1
        if e.timestamp:
            first_ts = e.timestamp if first_ts is None else min(first_ts, e.timestamp)
            last_ts = e.timestamp if last_ts is None else max(last_ts, e.timestamp)
        if e.gtid:
            first_gtid = first_gtid or e.gtid
            last_gtid = e.gtid
    return Summary(count, first_ts, last_ts, first_gtid, last_gtid)


def groups(events: Iterable[Event]) -> list[tuple[int, int, int]]:
    """(start, end, newest timestamp) of each event group: a GTID event and what
    follows it up to the next GTID event. Events before the first GTID event
    (format description, GTID list, checkpoints) belong to no group."""
    out: list[list[int]] = []
    for e in events:
        if e.type == GTID_EVENT:
            out.append([e.start, e.end, e.timestamp])
        elif out and e.type not in (ROTATE_EVENT, STOP_EVENT, FORMAT_DESCRIPTION_EVENT):
            out[-1][1] = e.end
            out[-1][2] = max(out[-1][2], e.timestamp)
    return [(g[0], g[1], g[2]) for g in out]


def stop_position(events: Iterable[Event], stop_ts: int) -> int | None:
    """Where replay stops to include every transaction committed at or before the
    second ``stop_ts`` (and none after): the start of the first event group whose
    newest event is later than ``stop_ts``; None when every group qualifies. Exact
    to the event, unlike ``--stop-datetime`` (which reads a local time)."""
    for start, _end, newest in groups(events):
        if newest > stop_ts:
            return start
    return None


def archive_key(tenant_key: str, instance_id: str) -> str:
    """The hex AES-256 key of one instance's binlog archive (never stored)."""
    return hashlib.sha256(b"trove-lite binlog archive\0" + tenant_key.encode() + b"\0"
                          + instance_id.encode()).hexdigest()


class SegmentCipher:
    def __init__(self, key_hex: str):
        self._aead = AESGCM(bytes.fromhex(key_hex))

    def encrypt(self, data: bytes, name: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, name.encode())

    def decrypt(self, blob: bytes, name: str) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], name.encode())


def archive_prefix(instance_id: str) -> str:
    """The object name prefix (under the container) of every segment of an
    instance's archive; it ends with '/', so it never names another instance's."""
    return "%s/binlog/" % instance_id


def segment_name(instance_id: str, file: str, start: int, end: int) -> str:
    """The object name (under the container) of an archived segment."""
    return "%s%s.%012d-%012d.aes" % (archive_prefix(instance_id), file, start, end)


_SEAL_INFO = b"trove-lite binlog archive key"


def _seal_key(shared: bytes) -> AESGCM:
    return AESGCM(HKDF(hashes.SHA256(), 32, None, _SEAL_INFO).derive(shared))


def seal(public_hex: str, key_hex: str) -> str:
    """``key_hex`` encrypted to the X25519 public key ``public_hex`` (hex text)."""
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes_raw()
    shared = eph.exchange(X25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)))
    nonce = os.urandom(12)
    return (eph_pub + nonce + _seal_key(shared).encrypt(nonce, key_hex.encode(),
                                                        eph_pub)).hex()


class KeyOpener:
    """The guest's in-memory key pair for receiving its archive key sealed."""

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()
        self.public_hex = self._private.public_key().public_bytes_raw().hex()

    def open(self, sealed_hex: str) -> str:
        blob = bytes.fromhex(sealed_hex)
        eph_pub, nonce, ct = blob[:32], blob[32:44], blob[44:]
        shared = self._private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        return _seal_key(shared).decrypt(nonce, ct, eph_pub).decode()
