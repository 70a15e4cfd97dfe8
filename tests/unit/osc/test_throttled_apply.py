"""A migration throttled on its own binlog lag keeps applying, or the lag never ends.

Seen in benchmarks/osc.py on a loaded machine: the backlog queue filled (10000/10000),
the reader blocked on it, the heartbeat lag grew, the lag throttled the migrator, and
the migrator, throttled, applied nothing: lag 232 s and rising, copy stopped for good.
"""

import queue
import threading

from trove_lite.osc.context import MigrationRequest
from trove_lite.osc.migrator import Aborted, Migration
from trove_lite.osc.streamer import INSERT, Txn
from trove_lite.osc.throttler import Decision


class FakeStreamer:
    error = None

    def __init__(self, txns):
        self.queue = queue.Queue()
        for t in txns:
            self.queue.put(t)


class FakeApplier:
    def __init__(self):
        self.applied = []

    def apply_changes(self, changes):
        self.applied.extend(changes)
        return len(changes)


class LagThrottler:
    """Throttles on the streamer's lag while its queue is not empty."""

    def __init__(self, streamer, reason="lag=2.500000s", hibernate=False):
        self.streamer, self.reason, self.hibernate = streamer, reason, hibernate

    @property
    def current(self):
        if self.streamer.queue.empty():
            return Decision(False)
        return Decision(True, self.reason)

    def hibernating(self):
        return self.hibernate


def _migration(reason, hibernate=False):
    m = Migration(MigrationRequest(database="d", table="t", alter="engine=innodb"))
    m.streamer = FakeStreamer([Txn("0-1-%d" % i, [(INSERT, None, {"id": i})])
                               for i in range(50)])
    m.applier = FakeApplier()
    m.throttler = LagThrottler(m.streamer, reason, hibernate)
    return m


def _returns_within(fn, seconds):
    def run():
        try:
            fn()
        except Aborted:     # the test's panic() ends a wait that must not return
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive()


def test_throttled_on_its_own_lag_the_migration_drains_the_backlog_and_goes_on():
    m = _migration("lag=2.500000s")
    assert _returns_within(m._wait_unthrottled, 5), "throttled for good: nothing applied"
    assert len(m.applier.applied) == 50 and m.progress.applied_coords == "0-1-49"


def test_throttled_for_another_reason_the_migration_applies_nothing():
    m = _migration("commanded by user")
    assert not _returns_within(m._wait_unthrottled, 0.3)
    assert m.applier.applied == []
    m.panic()


def test_hibernating_on_critical_load_it_applies_nothing_even_when_lagging():
    m = _migration("lag=2.500000s", hibernate=True)
    assert not _returns_within(m._wait_unthrottled, 0.3)
    assert m.applier.applied == []
    m.panic()
