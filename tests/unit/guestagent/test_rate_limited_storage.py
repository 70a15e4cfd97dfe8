"""The guest's rate-limited store (``[backup] max_rate_mb``) over the real local store.

A user who caps the backup rate still gets a store that behaves as the one it
wraps (the backup runner and the agent's recovery use every operation), and a
save that takes at least as long as the cap says.
"""

import io
import os
import time

import pytest

from trove_lite.drivers.storage import base
from trove_lite.drivers.storage.local import LocalStorage
from trove_lite.guestagent.backup.agent import RateLimitedStorage


def test_every_operation_reaches_the_wrapped_store(tmp_path):
    store = RateLimitedStorage(LocalStorage(str(tmp_path)), rate=64 << 20)
    assert isinstance(store, base.StorageDriver)
    assert store.scheme == "file"
    data = os.urandom(300_000)
    seen = []
    stored = store.save("backups/b1.xbstream", io.BytesIO(data), {"backup_id": "b1"},
                        progress=seen.append)
    assert stored.location == store.location_for("backups/b1.xbstream")
    assert (stored.size, seen[-1]) == (len(data), len(data))
    assert store.exists(stored.location)
    assert store.metadata(stored.location).metadata == {"backup_id": "b1"}
    with store.load(stored.location) as reader:
        assert b"".join(iter(lambda: reader.read(65536), b"")) == data
    assert store.cleanup_partial(stored.location) is False   # a complete object stays
    assert store.delete(stored.location) is True
    assert not store.exists(stored.location)
    with pytest.raises(base.ObjectNotFound):
        store.load(stored.location)
    assert store.root == str(tmp_path)     # the wrapped store's own attributes too


def test_save_takes_at_least_as_long_as_the_rate_allows(tmp_path):
    rate = 4 << 20                              # bytes per second
    store = RateLimitedStorage(LocalStorage(str(tmp_path)), rate=rate)
    data = os.urandom(1 << 20)                  # 1 MiB: at least 0.25 s
    started = time.monotonic()
    stored = store.save("backups/slow.xbstream", io.BytesIO(data), {})
    assert time.monotonic() - started >= len(data) / rate * 0.95
    assert stored.size == len(data)
