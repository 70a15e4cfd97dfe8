"""One contract for every backup store: local files and a real Swift."""

import io
import os

import pytest

from tests.functional.backup.conftest import SEGMENT, stored_names
from trove_lite.drivers.storage import base
from trove_lite.drivers.storage.local import LocalStorage

pytestmark = pytest.mark.slow


def payload(size):
    # incompressible-looking but reproducible
    block = os.urandom(4096)
    return (block * (size // 4096 + 1))[:size]


class Exploding:
    """A producer that dies after ``after`` bytes, as a killed backup tool would."""

    def __init__(self, data, after):
        self.src, self.after, self.sent = io.BytesIO(data), after, 0

    def read(self, n):
        if self.sent >= self.after:
            raise RuntimeError("producer died")
        chunk = self.src.read(min(n, 64 * 1024))
        self.sent += len(chunk)
        return chunk


def read_all(stream):
    out = bytearray()
    while True:
        chunk = stream.read(100_000)
        if not chunk:
            return bytes(out)
        out += chunk


def test_roundtrip_segments_metadata_and_delete(store):
    storage, container = store
    data = payload(5 * SEGMENT + 123)     # several Swift segments, a short last one
    seen = []
    meta = {"backup_id": "b1", "to_lsn": 12345, "gtid": "0-1-7", "encrypted": True}
    stored = storage.save(container + "/b1.xbstream", io.BytesIO(data), meta,
                          progress=seen.append)
    assert stored.location == storage.location_for(container + "/b1.xbstream")
    assert stored.size == len(data)
    assert stored.checksum == base.hashlib.sha256(data).hexdigest()
    assert seen and seen[-1] == len(data)
    assert storage.exists(stored.location)
    assert storage.metadata(stored.location).metadata == meta
    with storage.load(stored.location) as stream:
        assert read_all(stream) == data
    if not isinstance(storage, LocalStorage):
        assert len(storage.list_segments(stored.location)) == 6
    assert storage.delete(stored.location) is True
    assert not storage.exists(stored.location)
    assert stored_names(storage, container) == []
    assert storage.delete(stored.location) is False       # idempotent
    with pytest.raises(base.ObjectNotFound):
        storage.load(stored.location)


def test_corrupted_object_fails_verification(store, swift_aio):
    storage, container = store
    data = payload(3 * SEGMENT)
    stored = storage.save(container + "/c.xbstream", io.BytesIO(data), {})
    if isinstance(storage, LocalStorage):
        path = stored.location[len("file://"):]
        with open(path, "r+b") as f:
            f.seek(SEGMENT + 10)
            f.write(b"\xff\x00\xff")
    else:
        # replace one segment with same-sized garbage, behind the manifest's back
        seg = storage.list_segments(stored.location)[1]
        storage.conn.put_object(container + "_segments", seg, os.urandom(SEGMENT))
    with pytest.raises(base.StorageError) as err:
        with storage.load(stored.location) as stream:
            read_all(stream)
    assert stored.location in err.value.message
    storage.delete(stored.location)
    assert stored_names(storage, container) == []


def test_failed_save_leaves_nothing_after_cleanup(store):
    storage, container = store
    hint = container + "/dead.xbstream"
    location = storage.location_for(hint)
    with pytest.raises(RuntimeError, match="producer died"):
        storage.save(hint, Exploding(payload(4 * SEGMENT), after=2 * SEGMENT + 1), {})
    assert not storage.exists(location)
    assert stored_names(storage, container) != []          # partial data is there...
    assert storage.cleanup_partial(location) is True
    assert stored_names(storage, container) == []          # ...and gone after cleanup
    assert storage.cleanup_partial(location) is False


def test_cleanup_partial_leaves_a_complete_object(store):
    storage, container = store
    stored = storage.save(container + "/ok.xbstream", io.BytesIO(b"x" * 1000), {"a": 1})
    assert storage.cleanup_partial(stored.location) is False
    with storage.load(stored.location) as stream:
        assert read_all(stream) == b"x" * 1000
    storage.delete(stored.location)


def test_foreign_location_is_refused(store):
    storage, _ = store
    with pytest.raises(base.StorageError):
        storage.exists("ftp://elsewhere/x")


@pytest.mark.parametrize("driver", ["local", "swift"])
def test_get_storage_builds_each_driver_from_config(driver, swift_aio, tmp_state_dir):
    from oslo_config import cfg

    from trove_lite.drivers.storage import get_storage, opts
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt("state_dir"))
    opts.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("state_dir", tmp_state_dir)
    conf.set_override("driver", driver, group="backup_storage")
    conf.set_override("auth_url", swift_aio.auth_url, group="storage_swift")
    conf.set_override("user", swift_aio.user, group="storage_swift")
    conf.set_override("key", swift_aio.key, group="storage_swift")
    conf.set_override("segment_size", 1000, group="storage_swift")
    storage = get_storage(conf)
    stored = storage.save("conf-test/obj", io.BytesIO(b"y" * 2500), {"n": 1})
    assert stored.location.startswith({"local": "file://" + tmp_state_dir,
                                       "swift": "swift://conf-test/"}[driver])
    with storage.load(stored.location) as stream:
        assert read_all(stream) == b"y" * 2500
    assert storage.delete(stored.location)


def test_list_objects_names_a_prefix_complete_and_partial_and_nothing_else(store):
    """What a sweep of one instance's archive finds: its objects, finished or cut
    off mid-save, and never another instance's or a backup's."""
    storage, container = store
    assert storage.list_objects(container + "/inst-a/binlog/") == []    # nothing yet
    mine = [storage.save(container + "/inst-a/binlog/mysql-bin.00000%d.aes" % n,
                         io.BytesIO(payload(SEGMENT + n)), {"n": n}).location
            for n in (1, 2)]
    dead = container + "/inst-a/binlog/mysql-bin.000003.aes"
    with pytest.raises(RuntimeError, match="producer died"):
        storage.save(dead, Exploding(payload(3 * SEGMENT), after=SEGMENT + 1), {})
    others = [storage.save(container + hint, io.BytesIO(b"z" * 10), {}).location
              for hint in ("/inst-ab/binlog/mysql-bin.000001.aes",
                           "/inst-b/binlog/mysql-bin.000001.aes", "/inst-a.xbstream",
                           "/backup-1.xbstream.zst")]
    listed = storage.list_objects(container + "/inst-a/binlog/")
    assert listed == sorted(mine + [storage.location_for(dead)])
    assert storage.list_objects(container + "/inst-a") == sorted(
        listed + [others[0], others[2]])      # a prefix, not a folder, without the '/'
    for location in listed:
        assert storage.delete(location) is True
    assert storage.list_objects(container + "/inst-a/binlog/") == []
    assert [n for n in stored_names(storage, container) if "inst-a/" in n] == []
    for location in others:                   # untouched
        assert storage.exists(location)
        storage.delete(location)
    assert storage.list_objects("no-such-container-%s/x/" % container) == []
