"""Our own binlog reader lagging does not stop the row copy (gh-ost's applier gives
binlog events priority over copy chunks and goes on); the cut-over waits for it.

Seen in benchmarks/osc.py under heavy machine load: the reader got less CPU than the
write rate needed, its heartbeat lag passed max-lag-millis, the copy paused on it, and
with the load lasting the migration never ended."""

import concurrent.futures
import threading
import time

from trove_lite.osc.context import MigrationRequest
from trove_lite.osc.migrator import Migration
from trove_lite.osc.streamer import INSERT, Txn
from trove_lite.osc.throttler import Decision, Metrics, decide

from tests.unit.osc.test_throttled_apply import FakeStreamer, _returns_within

T = {"max_lag_millis": 1500, "max_load": {"Threads_running": 20},
     "critical_load": {}, "user_throttle": False}


def test_own_reader_lag_is_reported_but_does_not_throttle():
    d = decide(Metrics(heartbeat_lag=5.0, own_reader_lag=True), T)
    assert d == Decision(False, reader_lag="lag=5.000000s")
    assert decide(Metrics(heartbeat_lag=1.0, own_reader_lag=True), T) == Decision(False)
    # every other signal still throttles while the reader lags
    loaded = decide(Metrics(heartbeat_lag=5.0, own_reader_lag=True,
                            status={"Threads_running": 25}), T)
    assert loaded.throttle and loaded.reason.startswith("max-load")
    assert decide(Metrics(heartbeat_lag=5.0, own_reader_lag=True),
                  dict(T, user_throttle=True)).reason == "commanded by user"
    # read through a replica, the lag is the replica's: a throttle, as before
    assert decide(Metrics(heartbeat_lag=5.0), T) == Decision(True, "lag=5.000000s")


class Key:
    all_integer, nullable = True, False


class CopyingApplier:
    """Ten chunks of ten rows; records the order of copies and applies."""

    key = Key()
    pending = None

    def __init__(self):
        self.log = []
        self._pool = concurrent.futures.ThreadPoolExecutor(1)

    def read_range(self):
        return [0], [100]

    def next_chunk_end(self, start, range_max, chunk, inclusive):
        return [min(start[0] + 10, range_max[0])]

    def prefetch_chunk_end(self, start, range_max, chunk, inclusive):
        return self._pool.submit(self.next_chunk_end, start, range_max, chunk, inclusive)

    def copy_chunk(self, start, end, inclusive, changes):
        if changes:  # applied in the chunk's own transaction, ahead of its rows
            self.log.append(("apply", len(changes)))
        self.log.append(("copy", end[0]))
        return 10, len(changes or ())

    def apply_changes(self, changes):
        self.log.append(("apply", len(changes)))
        return len(changes)


class FixedThrottler:
    def __init__(self, decision):
        self.current = decision

    def hibernating(self):
        return False


def _lagging_migration(txns=()):
    m = Migration(MigrationRequest(database="d", table="t", alter="engine=innodb"))
    m.streamer = FakeStreamer(txns)
    m.applier = CopyingApplier()
    m.throttler = FixedThrottler(decide(Metrics(heartbeat_lag=30.0, own_reader_lag=True), T))
    return m


def test_the_copy_goes_on_while_our_reader_lags_with_binlog_events_first():
    txns = [Txn("0-1-%d" % i, [(INSERT, None, {"id": 1000 + i})]) for i in range(20)]
    m = _lagging_migration(txns)
    assert _returns_within(lambda: m._copy_rows(None), 10), "the copy stopped on our own lag"
    copies = [e for e in m.applier.log if e[0] == "copy"]
    assert copies[-1] == ("copy", 100) and m.progress.rows_copied == 100
    # the backlog queued before the copy was applied before (or with) the first chunk
    assert sum(n for kind, n in m.applier.log[:m.applier.log.index(copies[0]) + 1]
               if kind == "apply") == 20
    assert m.progress.applied_coords == "0-1-19"
    # and the copy went at a reduced rate: it rested as long as it copied, at least
    assert m.progress.timings["nice"] > 0


def test_the_cut_over_waits_until_our_reader_has_caught_up():
    m = _lagging_migration()
    assert not _returns_within(lambda: m._wait_unthrottled(reader_caught_up=True), 0.3)
    assert m.progress.throttle_reason == "lag=30.000000s"
    caught_up = _lagging_migration()
    done = threading.Event()

    def wait():
        caught_up._wait_unthrottled(reader_caught_up=True)
        done.set()
    threading.Thread(target=wait, daemon=True).start()
    time.sleep(0.2)
    assert not done.is_set()
    caught_up.throttler.current = Decision(False)
    assert done.wait(2), "the reader caught up but the cut-over still waits"
    m.panic()  # ends the first wait
