"""Under a backlog the binlog events are applied in large transactions: each transaction
is a round trip and a log flush, and at --dml-batch-size (10) a backlog of thousands of
events took hundreds of commits to drain (benchmarks/osc.py profile: apply 11.7 s of a
44.6 s copy on a loaded machine)."""

from trove_lite.osc import migrator
from trove_lite.osc.context import MigrationRequest
from trove_lite.osc.migrator import Migration
from trove_lite.osc.streamer import INSERT, STATE, Txn

from tests.unit.osc.test_throttled_apply import FakeStreamer


class CountingApplier:
    """Records each batch: one batch is one transaction on the server."""

    def __init__(self):
        self.batches = []

    def apply_changes(self, changes):
        self.batches.append(list(changes))
        return len(changes)


def _migration(txns):
    m = Migration(MigrationRequest(database="d", table="t", alter="engine=innodb"))
    m.streamer = FakeStreamer(txns)
    m.applier = CountingApplier()
    return m


def _txn(i, rows=1, value="x"):
    return Txn("0-1-%d" % i, [(INSERT, None, {"id": i * 100 + r, "c": value})
                              for r in range(rows)])


def test_a_backlog_drains_in_one_transaction_not_one_per_ten_events():
    m = _migration([_txn(i) for i in range(500)])
    m._apply_backlog(max_seconds=5)
    assert len(m.applier.batches) == 1
    assert sum(len(b) for b in m.applier.batches) == 500
    assert m.progress.applied_coords == "0-1-499" and m.progress.dml_applied == 500


def test_without_a_backlog_batches_keep_the_dml_batch_size():
    m = _migration([_txn(i) for i in range(7)])
    m.tunables.dml_batch_size = 3
    m._apply_backlog(max_seconds=5)
    # 7 queued > 3: a backlog, taken at once; then what trickles in keeps the small size
    assert [len(b) for b in m.applier.batches] == [7]
    for i in range(7, 10):
        m.streamer.queue.put(_txn(i))
    m._apply_backlog(max_seconds=5)
    assert [len(b) for b in m.applier.batches] == [7, 3]


def test_backlog_batches_are_whole_transactions_bounded_in_rows_and_bytes():
    m = _migration([_txn(i, rows=300) for i in range(10)])
    m._apply_backlog(max_seconds=5)
    sizes = [len(b) for b in m.applier.batches]
    # whole transactions of 300 rows: the batch stops at the first that reaches 1000
    assert sizes == [1200, 1200, 600] and m.progress.applied_coords == "0-1-9"

    big = "y" * (1 << 20)           # 1 MiB rows: a batch stays near 4 MiB, not 40
    m = _migration([_txn(i, value=big) for i in range(40)])
    m._apply_backlog(max_seconds=5)
    assert max(len(b) for b in m.applier.batches) <= migrator.BACKLOG_BATCH_BYTES >> 20
    assert sum(len(b) for b in m.applier.batches) == 40


def test_a_marker_in_a_backlog_still_splits_the_batch_where_it_stands():
    txns = [_txn(i) for i in range(20)]
    txns.insert(12, Txn("0-1-m", [(STATE, "%s:1" % migrator.SENTINEL, None)]))
    m = _migration(txns)
    m._apply_backlog(max_seconds=5)
    # the events before the marker are applied when the marker is read, before the rest
    assert [len(b) for b in m.applier.batches] == [12, 8]
    assert "%s:1" % migrator.SENTINEL in m._sentinel_seen
