"""Backups in OpenStack Swift (python-swiftclient), as static large objects.

``save('container/name')`` uploads the stream in segments of ``segment_size``
bytes to ``<container>_segments/<name>/00000000, ...`` (each segment's md5 is
computed while streaming and compared with the etag Swift returns), then writes
an SLO manifest ``<container>/<name>`` listing them, with the object's size, sha256
and metadata as ``X-Object-Meta-*`` headers. The manifest appears only after
every segment is in place, so a complete object is atomic; a failed or killed
save leaves only segments, which ``cleanup_partial`` removes by prefix.
``delete`` uses ``multipart-manifest=delete`` (Swift removes the segments) and
then sweeps the prefix for strays. ``list_objects`` reads both containers'
listings (Swift updates them asynchronously: an object written a moment ago may
be missing from them for a while).

Timing: one HTTP PUT per segment, streamed with chunked transfer encoding (no
buffering beyond 1 MiB); swiftclient retries only requests it can repeat
(``retries``, ``timeout`` per request). A Swift that goes away in the middle of
an upload fails the save with the connection error as the reason.
"""

import json
import logging
from types import TracebackType
from typing import Any, Callable, Iterable, Iterator, Literal

import swiftclient
from swiftclient import exceptions as swift_exc
import requests

from oslo_config import cfg

from trove_lite.drivers.storage import base

LOG = logging.getLogger(__name__)

_USER_META = "x-object-meta-m-"
_SIZE = "x-object-meta-backup-size"
_SHA256 = "x-object-meta-backup-sha256"
SEGMENTS_SUFFIX = "_segments"


class SwiftStorage(base.StorageDriver):
    scheme = "swift"

    def __init__(self, connection_factory: Callable[[], Any],
                 segment_size: int = 2 * 1024 ** 3) -> None:
        """``connection_factory()`` returns a new ``swiftclient.Connection``."""
        if segment_size < 1:
            raise ValueError("segment_size must be positive")
        self._factory = connection_factory
        self.segment_size = segment_size
        self._conn: Any = None

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> "SwiftStorage":
        g = conf.storage_swift
        os_options = {k: v for k, v in (("project_name", g.project_name),
                                        ("user_domain_name", g.user_domain_name),
                                        ("project_domain_name", g.project_domain_name),
                                        ("region_name", g.region_name)) if v}

        def factory() -> swiftclient.Connection:
            return swiftclient.Connection(
                authurl=g.auth_url, user=g.user, key=g.key, auth_version=g.auth_version,
                os_options=os_options, retries=g.retries, timeout=g.timeout,
                starting_backoff=0.5, max_backoff=4)
        return cls(factory, segment_size=g.segment_size)

    @property
    def conn(self) -> Any:
        """The ``swiftclient.Connection``, made on first use."""
        if self._conn is None:
            self._conn = self._factory()
        return self._conn

    # -- locations -----------------------------------------------------------
    def location_for(self, location_hint: str) -> str:
        container, name = base.split_hint(location_hint)
        return "swift://%s/%s" % (container, name)

    @staticmethod
    def _split(location: str) -> tuple[str, str]:
        prefix = "swift://"
        if not location.startswith(prefix):
            raise base.StorageError("%s is not a Swift location" % location)
        return base.split_hint(location[len(prefix):])

    # -- save ----------------------------------------------------------------
    def save(self, location_hint: str, stream: Any, metadata: dict,
             progress: Callable[[int], None] | None = None) -> base.StoredObject:
        location = self.location_for(location_hint)
        container, name = self._split(location)
        seg_container = container + SEGMENTS_SUFFIX
        whole = base.HashingReader(stream, progress)
        with _reason(location, "creating containers"):
            self.conn.put_container(container)
            self.conn.put_container(seg_container)
        manifest: list[dict[str, Any]] = []
        source = _Pushback(whole)
        while source.peek() or not manifest:
            seg_name = "%s/%08d" % (name, len(manifest))
            segment = _SegmentReader(source, self.segment_size)
            with _reason(location, "uploading segment %d" % len(manifest)):
                etag = self._put_once(seg_container, seg_name, segment)
            if etag != segment.md5.hexdigest():
                raise base.ChecksumMismatch(location=location,
                                            what="etag of segment %d" % len(manifest),
                                            actual=etag, expected=segment.md5.hexdigest())
            manifest.append({"path": "/%s/%s" % (seg_container, seg_name),
                             "etag": etag, "size_bytes": segment.size})
        metadata = base.check_metadata(metadata)
        stored = base.StoredObject(location, whole.size, whole.hash.hexdigest(), metadata)
        headers = {_SIZE: str(stored.size), _SHA256: stored.checksum}
        headers.update({_USER_META + k.replace("_", "-"): json.dumps(v)
                        for k, v in metadata.items()})
        with _reason(location, "writing the manifest"):
            self.conn.put_object(container, name, json.dumps(manifest),
                                 headers=headers, query_string="multipart-manifest=put",
                                 content_type="application/octet-stream")
        return stored

    def _put_once(self, container: str, name: str, segment: "_SegmentReader") -> str:
        # Streamed data cannot be sent twice; with retries swiftclient would fail
        # with "no ability to reset contents" and lose the real reason.
        conn = self.conn
        retries, conn.retries = conn.retries, 0
        try:
            return conn.put_object(container, name, segment, chunk_size=base.CHUNK)
        finally:
            conn.retries = retries

    # -- read ----------------------------------------------------------------
    def metadata(self, location: str) -> base.StoredObject:
        container, name = self._split(location)
        with _reason(location, "reading metadata"):
            headers = self.conn.head_object(container, name)
        return _stored(location, headers)

    def load(self, location: str) -> base.VerifyingReader:
        container, name = self._split(location)
        with _reason(location, "starting the download"):
            headers, body = self.conn.get_object(container, name,
                                                 resp_chunk_size=base.CHUNK)
        stored = _stored(location, headers)
        return base.VerifyingReader(location, _guarded(location, body), stored.size,
                                    stored.checksum, close_fn=getattr(body, "close", None))

    def exists(self, location: str) -> bool:
        try:
            self.metadata(location)
            return True
        except base.ObjectNotFound:
            return False

    # -- delete --------------------------------------------------------------
    def delete(self, location: str) -> bool:
        container, name = self._split(location)
        # a multipart-manifest=delete of a missing object answers 200 with the
        # 404 inside its body, so ask first
        removed = self.exists(location)
        if removed:
            try:
                with _reason(location, "deleting"):
                    self.conn.delete_object(container, name,
                                            query_string="multipart-manifest=delete")
            except base.ObjectNotFound:
                pass
        return self._delete_segments(location) or removed

    def cleanup_partial(self, location: str) -> bool:
        if self.exists(location):
            return False
        return self._delete_segments(location)

    def _delete_segments(self, location: str) -> bool:
        container, name = self._split(location)
        seg_container = container + SEGMENTS_SUFFIX
        try:
            with _reason(location, "listing segments"):
                _, listing = self.conn.get_container(seg_container, prefix=name + "/",
                                                     full_listing=True)
        except base.ObjectNotFound:
            return False
        for entry in listing:
            try:
                with _reason(location, "deleting segment %s" % entry["name"]):
                    self.conn.delete_object(seg_container, entry["name"])
            except base.ObjectNotFound:
                pass
        return bool(listing)

    def list_objects(self, prefix: str) -> list[str]:
        container, name_prefix = base.split_prefix(prefix)
        names: set[str] = set()
        for c in (container, container + SEGMENTS_SUFFIX):
            try:
                with _reason("swift://%s/%s" % (c, name_prefix), "listing"):
                    _, listing = self.conn.get_container(c, prefix=name_prefix,
                                                         full_listing=True)
            except base.ObjectNotFound:
                continue
            for entry in listing:
                # a segment is '<name>/00000001' in the segments container
                names.add(entry["name"] if c == container
                          else entry["name"].rpartition("/")[0])
        return sorted("swift://%s/%s" % (container, n) for n in names if n)

    def list_segments(self, location: str) -> list[str]:
        """Names of the segments stored for ``location`` (for checks and tests)."""
        container, name = self._split(location)
        try:
            with _reason(location, "listing segments"):
                _, listing = self.conn.get_container(container + SEGMENTS_SUFFIX,
                                                     prefix=name + "/", full_listing=True)
        except base.ObjectNotFound:
            return []
        return [e["name"] for e in listing]


class _Pushback:
    """A source with a one-chunk look-ahead, to tell EOF before opening a segment."""

    def __init__(self, source: base.HashingReader) -> None:
        self.source = source
        self.head = b""

    def peek(self) -> bool:
        if not self.head:
            self.head = self.source.read(base.CHUNK)
        return bool(self.head)

    def read(self, n: int = base.CHUNK) -> bytes:
        if self.head:
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.source.read(n)


class _SegmentReader:
    """At most ``limit`` bytes of ``source``, md5-hashed as they pass."""

    def __init__(self, source: _Pushback, limit: int) -> None:
        self.source = source
        self.remaining = limit
        self.size = 0
        self.md5 = base.hashlib.md5()

    def read(self, n: int = base.CHUNK) -> bytes:
        if self.remaining <= 0:
            return b""
        data = self.source.read(min(n, self.remaining))
        self.remaining -= len(data)
        self.size += len(data)
        self.md5.update(data)
        return data


def _stored(location: str, headers: dict[str, str]) -> base.StoredObject:
    headers = {k.lower(): v for k, v in headers.items()}
    if _SHA256 not in headers:
        raise base.StorageError("%s is not a backup object written by trove-lite "
                                "(no checksum metadata)" % location)
    meta = {k[len(_USER_META):].replace("-", "_"): json.loads(v)
            for k, v in headers.items() if k.startswith(_USER_META)}
    return base.StoredObject(location, int(headers[_SIZE]), headers[_SHA256], meta)


def _guarded(location: str, body: Iterable[bytes]) -> Iterator[bytes]:
    with _reason(location, "downloading"):
        yield from body


class _reason:
    """Turns swiftclient/requests errors into StorageError naming the step."""

    def __init__(self, location: str, step: str) -> None:
        self.location, self.step = location, step

    def __enter__(self) -> "_reason":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc is None or isinstance(exc, base.StorageError):
            return False
        if isinstance(exc, swift_exc.ClientException) and exc.http_status == 404:
            raise base.ObjectNotFound(location=self.location) from exc
        if isinstance(exc, (swift_exc.ClientException, requests.RequestException,
                            OSError)):
            raise base.StorageError("Swift failed while %s for %s: %s" % (
                self.step, self.location, _short(exc))) from exc
        return False


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."
