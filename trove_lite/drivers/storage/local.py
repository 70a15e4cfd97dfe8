"""Backups as files under a root directory: the embedded default store.

``save('container/name')`` writes ``<root>/container/name.partial``, fsyncs it,
writes ``name.meta.json`` (size, sha256, metadata) and renames the data into place,
so ``<root>/container/name`` exists only when complete. Timing: disk speed.
``list_objects`` walks the prefix's directory (what is on disk as it reads it).
"""

import json
import os
from typing import IO, Any, Callable

from oslo_config import cfg

from trove_lite.drivers.storage import base

PARTIAL = ".partial"
META = ".meta.json"
WRITEBACK = 8 << 20


class LocalStorage(base.StorageDriver):
    scheme = "file"

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> "LocalStorage":
        group = conf.storage_local
        return cls(group.root or os.path.join(conf.state_dir, "backups"))

    # -- locations -----------------------------------------------------------
    def location_for(self, location_hint: str) -> str:
        container, name = base.split_hint(location_hint)
        return "file://" + os.path.join(self.root, container, name)

    def _path(self, location: str) -> str:
        prefix = "file://"
        path = location[len(prefix):] if location.startswith(prefix) else None
        if not path or os.path.commonpath([self.root, os.path.abspath(path)]) != self.root:
            raise base.StorageError("%s is not a location of the local store at %s"
                                    % (location, self.root))
        return os.path.abspath(path)

    # -- interface -----------------------------------------------------------
    def save(self, location_hint: str, stream: Any, metadata: dict,
             progress: Callable[[int], None] | None = None) -> base.StoredObject:
        location = self.location_for(location_hint)
        path = self._path(location)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        reader = base.HashingReader(stream, progress)
        try:
            with open(path + PARTIAL, "wb", buffering=0) as out:
                flushed = 0
                while True:
                    data = reader.read(base.CHUNK)
                    if not data:
                        break
                    _write_all(out, data)
                    if reader.size - flushed >= WRITEBACK:
                        # start writeback now (async), so the final fsync is short
                        # and a backup does not fill the page cache
                        os.posix_fadvise(out.fileno(), flushed, reader.size - flushed,
                                         os.POSIX_FADV_DONTNEED)
                        flushed = reader.size
                os.fsync(out.fileno())
        except OSError as exc:
            raise base.StorageError("writing %s failed: %s" % (location, exc)) from exc
        metadata = base.check_metadata(metadata)
        stored = base.StoredObject(location, reader.size, reader.hash.hexdigest(), metadata)
        _write_json(path + META, {"size": stored.size, "checksum": stored.checksum,
                                  "checksum_algorithm": base.CHECKSUM_ALGORITHM,
                                  "metadata": metadata})
        os.replace(path + PARTIAL, path)
        _fsync_dir(os.path.dirname(path))
        return stored

    def metadata(self, location: str) -> base.StoredObject:
        path = self._path(location)
        try:
            with open(path + META) as f:
                meta = json.load(f)
        except FileNotFoundError:
            meta = None
        if meta is None or not os.path.exists(path):
            raise base.ObjectNotFound(location=location)
        return base.StoredObject(location, meta["size"], meta["checksum"], meta["metadata"])

    def load(self, location: str) -> base.VerifyingReader:
        stored = self.metadata(location)
        f = open(self._path(location), "rb")
        chunks = iter(lambda: f.read(base.CHUNK), b"")
        return base.VerifyingReader(location, chunks, stored.size, stored.checksum,
                                    close_fn=f.close)

    def exists(self, location: str) -> bool:
        path = self._path(location)
        return os.path.exists(path) and os.path.exists(path + META)

    def delete(self, location: str) -> bool:
        path = self._path(location)
        removed = [_unlink(p) for p in (path, path + META, path + PARTIAL)]
        return any(removed)

    def cleanup_partial(self, location: str) -> bool:
        path = self._path(location)
        if os.path.exists(path):
            return _unlink(path + PARTIAL)
        return any([_unlink(path + PARTIAL), _unlink(path + META)])

    def list_objects(self, prefix: str) -> list[str]:
        container, name_prefix = base.split_prefix(prefix)
        top = os.path.join(self.root, container)
        start = os.path.join(top, os.path.dirname(name_prefix))
        names = set()
        for d, _dirs, files in os.walk(start):
            for f in files:
                name = os.path.relpath(os.path.join(d, f), top)
                for suffix in (META + ".tmp", META, PARTIAL):
                    if name.endswith(suffix):
                        name = name[:-len(suffix)]
                        break
                if name.startswith(name_prefix):
                    names.add(name)
        return sorted(self.location_for("%s/%s" % (container, n)) for n in names)


def _write_all(f: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[f.write(view):]


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _write_json(path: str, doc: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
