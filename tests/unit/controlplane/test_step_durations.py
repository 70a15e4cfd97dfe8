"""The flow-step histogram in the control DB: several taskmanagers recording the same
new step at once lose no count, and the buckets read back cumulative, with the sum."""

import os
import tempfile
import threading

from trove_lite.db import step_durations
from trove_lite.db.session import Database


def test_taskmanagers_recording_at_once_lose_no_step():
    d = tempfile.mkdtemp(prefix="trove-lite-steps-")
    dbs = [Database("sqlite:///" + os.path.join(d, "cp.sqlite")) for _ in range(4)]
    dbs[0].sync()
    start = threading.Barrier(4)

    def run(db, seconds):
        start.wait()
        for _ in range(5):  # the first of them all creates the step's buckets
            step_durations.record(db, "volume 6f1c-22 created", seconds)

    threads = [threading.Thread(target=run, args=(db, s))
               for db, s in zip(dbs, (0.04, 0.3, 2.0, 400.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with dbs[0].session() as s:
        read = step_durations.read(s)
    buckets, total = read["volume * created"]
    counts = dict(buckets)
    assert counts[0.05] == 5 and counts[0.5] == 10 and counts[2.5] == 15
    assert counts[300.0] == 15 and counts[float("inf")] == 20
    assert abs(total - 5 * (0.04 + 0.3 + 2.0 + 400.0)) < 1e-6
    assert [n for _, n in buckets] == sorted(n for _, n in buckets)  # cumulative
    for db in dbs:
        db.dispose()
