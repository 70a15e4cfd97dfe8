"""The once-only lease: of many claims of one (schedule, key), one wins."""

import datetime
import threading

from trove_lite.db.session import Database
from trove_lite.taskmanager.scheduler import claim, run_key

DUE = datetime.datetime(2026, 12, 6, 7, 0)


def test_one_of_many_concurrent_claims_wins(tmp_path):
    url = "sqlite:///%s" % (tmp_path / "cp.sqlite")
    Database(url).sync()
    dbs = [Database(url) for _ in range(4)]      # four taskmanagers, one control DB
    won, barrier = [], threading.Barrier(8)

    def contend(n):
        barrier.wait()
        if claim(dbs[n % 4], "s1", run_key(DUE), "tm-%d" % n, DUE):
            won.append(n)
    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 1
    # another due time, or another schedule, is another lease
    assert claim(dbs[0], "s1", run_key(DUE + datetime.timedelta(minutes=1)), "tm-0", DUE)
    assert claim(dbs[1], "s2", run_key(DUE), "tm-1", DUE)
    assert not claim(dbs[2], "s1", run_key(DUE), "tm-2", DUE)
    for db in dbs:
        db.dispose()
