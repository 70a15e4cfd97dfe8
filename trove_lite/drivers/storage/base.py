"""The backup storage interface: put a stream somewhere, get it back verified.

Implementations: ``local`` (files under a root directory, the embedded default)
and ``swift`` (python-swiftclient, segmented large objects). One contract suite
(``tests/functional/backup/test_storage_contract.py``) runs against both.

Locations are opaque strings a driver returns from ``save`` (and predicts with
``location_for`` before a save starts, so a caller can record where partial data
may be left if the process dies): ``file:///abs/path`` or
``swift://container/object``. Metadata keys are ``[a-z0-9_]`` and values anything
JSON can hold; keep each value under ~200 characters (Swift's header limit).
"""

import abc
import hashlib
import re
from collections.abc import Iterator
from typing import Any, Callable, NamedTuple

from trove_lite import exceptions

CHUNK = 1 << 20
CHECKSUM_ALGORITHM = "sha256"   # whole object; 840 MB/s here vs md5 500 (SHA-NI)
_META_KEY = re.compile(r"^[a-z0-9_]{1,64}$")


class StorageError(exceptions.DriverError):
    """The backup store failed; ``message`` names the object and the reason."""

    code = "storage_error"


class ObjectNotFound(StorageError):
    http_status = 404
    code = "storage_object_not_found"
    message_format = "Backup object %(location)s does not exist."


class ChecksumMismatch(StorageError):
    code = "storage_checksum_mismatch"
    message_format = ("Backup object %(location)s is corrupted: %(what)s is %(actual)s, "
                      "expected %(expected)s.")


class StoredObject(NamedTuple):
    location: str
    size: int          # bytes stored
    checksum: str      # hex sha256 of the stored bytes
    metadata: dict


class StorageDriver(abc.ABC):
    """Store and fetch backup streams.

    Timing: ``save`` consumes ``stream`` to EOF and returns only when the object
    is complete and durable in the store (local: fsynced and renamed into place;
    Swift: every segment acknowledged with a matching md5 etag, then the manifest
    written). It never stages the stream on local disk; memory use is bounded by
    one chunk (1 MiB). ``progress(bytes_stored)`` is called from the saving
    thread after each chunk, so a slow callback slows the save. ``load`` returns
    at once with a stream; data arrives as it is read.

    Atomicity: an object becomes visible to ``exists``/``load`` only when
    complete. If ``save`` fails or the process dies, partial data may remain at
    ``location_for(hint)``; ``cleanup_partial(location)`` removes it (and leaves a
    completed object alone). ``save`` is not retried internally once data has been
    consumed: a failure raises ``StorageError`` with the backend's reason, and the
    caller re-runs the backup.

    Metadata: ``save`` reads ``metadata`` after ``stream`` reaches EOF, so a
    producer may complete it at EOF (the backup runner adds LSNs and binlog
    coordinates then); an exception raised by ``stream.read`` fails the save and
    no complete object appears.

    Verification: the stream from ``load`` raises ``ChecksumMismatch`` at EOF (on
    the read that would return b'') if the bytes read differ in size or sha256 from
    what ``save`` stored; consumers must read to EOF before trusting the data.

    Failures: ``ObjectNotFound`` from ``load``/``metadata`` for a missing
    object; ``delete`` and ``cleanup_partial`` are idempotent (False if there was
    nothing); a location of another driver raises ``StorageError``.

    Listing: ``list_objects(prefix)`` names what the store holds under a prefix,
    so a caller can sweep what it never recorded (an archived binlog segment whose
    report was lost). It is not a snapshot: an object saved or deleted while it
    runs may or may not be listed, and on Swift a container listing may lag a
    write that just completed (Swift updates listings asynchronously). A caller
    sweeps only a prefix nothing writes to any more.
    """

    scheme: str | None = None

    @abc.abstractmethod
    def location_for(self, location_hint: str) -> str:
        """The location ``save(location_hint, ...)`` will use ('container/name').

        Pure: no I/O. Raises ``StorageError`` for a hint that is not
        'container/name'.
        """

    @abc.abstractmethod
    def save(self, location_hint: str, stream: Any, metadata: dict,
             progress: Callable[[int], None] | None = None) -> StoredObject:
        """Store ``stream`` (``read(n)`` returning b'' at EOF); return a StoredObject.

        Blocks until the object is complete and durable (see the class
        docstring); takes as long as the stream and the store's bandwidth.
        Raises ``StorageError`` with the backend's reason (Swift: also
        ``ChecksumMismatch`` for a segment whose etag differs); whatever
        ``stream.read`` raises propagates.
        """

    @abc.abstractmethod
    def load(self, location: str) -> "VerifyingReader":
        """A readable stream of the stored bytes, verified at EOF.

        Returns at once (one open/GET); reading takes as long as the data.
        Raises ``ObjectNotFound``; its ``read`` raises ``ChecksumMismatch`` at
        EOF and ``StorageError`` when the backend fails mid-way.
        """

    @abc.abstractmethod
    def metadata(self, location: str) -> StoredObject:
        """The StoredObject (size, checksum, metadata) without reading the data.

        One stat/HEAD. Raises ``ObjectNotFound``; ``StorageError`` for an object
        that was not written by ``save`` or a backend failure.
        """

    @abc.abstractmethod
    def delete(self, location: str) -> bool:
        """Remove the object and all its segments; True if something was removed.

        Idempotent. Swift: one delete plus a sweep of the segments' prefix.
        Raises ``StorageError`` on a backend failure.
        """

    @abc.abstractmethod
    def exists(self, location: str) -> bool:
        """True if a complete object is at ``location``.

        One stat/HEAD; raises ``StorageError`` on a backend failure (never for a
        missing object).
        """

    @abc.abstractmethod
    def cleanup_partial(self, location: str) -> bool:
        """Remove what an interrupted save left at ``location``; True if anything was.

        Idempotent; a completed object is left alone (False). Raises
        ``StorageError`` on a backend failure.
        """

    @abc.abstractmethod
    def list_objects(self, prefix: str) -> list[str]:
        """Sorted locations of every object whose hint starts with ``prefix``
        ('container/name prefix'; end it with '/' to stay inside one folder), the
        partial ones (left by an interrupted save) included: ``delete`` of a listed
        location removes either kind. One request per 10,000 names on Swift (two
        containers: objects and segments), a directory walk locally. A container
        that does not exist lists nothing; a backend failure raises
        ``StorageError``."""


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    for key in metadata:
        if not _META_KEY.match(key):
            raise StorageError("metadata key %r must match [a-z0-9_]{1,64}" % key)
    return dict(metadata)


def split_prefix(prefix: str) -> tuple[str, str]:
    """'container/some/pre' -> ('container', 'some/pre'); the name part may be empty."""
    container, _, name = prefix.lstrip("/").partition("/")
    if not container or ".." in prefix.split("/"):
        raise StorageError("prefix %r must be 'container/name prefix'" % prefix)
    return container, name


def split_hint(location_hint: str) -> tuple[str, str]:
    """'container/some/name' -> ('container', 'some/name'), validated."""
    container, _, name = location_hint.strip("/").partition("/")
    if not container or not name or ".." in location_hint.split("/"):
        raise StorageError("location hint %r must be 'container/name'" % location_hint)
    return container, name


class HashingReader:
    """Wraps a source; counts and sha256-hashes what passes through ``read``."""

    def __init__(self, source: Any, progress: Callable[[int], None] | None = None) -> None:
        self.source = source
        self.size = 0
        self.hash = hashlib.sha256()
        self.progress = progress

    def read(self, n: int = CHUNK) -> bytes:
        data = self.source.read(n)
        if data:
            self.size += len(data)
            self.hash.update(data)
            if self.progress:
                self.progress(self.size)
        return data


class VerifyingReader:
    """A stream that raises ChecksumMismatch at EOF if size or sha256 differ.

    ``chunks`` is an iterator of bytes; ``close_fn`` releases the source.
    """

    def __init__(self, location: str, chunks: Iterator[bytes], expected_size: int,
                 expected_sha256: str, close_fn: Callable[[], None] | None = None) -> None:
        self.location = location
        self._chunks = chunks
        self._buf = b""
        self._eof = False
        self.expected_size = expected_size
        self.expected_sha256 = expected_sha256
        self.size = 0
        self._hash = hashlib.sha256()
        self._close_fn = close_fn

    def read(self, n: int = CHUNK) -> bytes:
        while not self._buf and not self._eof:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                self._eof = True
                self._verify()
        data, self._buf = self._buf[:n], self._buf[n:]
        self.size += len(data)
        self._hash.update(data)
        return data

    def _verify(self) -> None:
        if self.size != self.expected_size:
            raise ChecksumMismatch(location=self.location, what="size",
                                   actual=self.size, expected=self.expected_size)
        actual = self._hash.hexdigest()
        if actual != self.expected_sha256:
            raise ChecksumMismatch(location=self.location, what="sha256",
                                   actual=actual, expected=self.expected_sha256)

    def drain(self) -> None:
        """Read to EOF (verifying); used to tell corruption from other failures."""
        while self.read(CHUNK):
            pass

    def close(self) -> None:
        if self._close_fn:
            self._close_fn()
            self._close_fn = None

    def __enter__(self) -> "VerifyingReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
