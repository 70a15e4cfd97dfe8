"""Two taskmanagers, one decision: the lease on a set's failover decisions is a
row in the control DB (SQLite and MariaDB), taken by a conditional UPDATE."""

import datetime
import threading
from types import SimpleNamespace

from trove_lite import config
from trove_lite.db import models
from trove_lite.taskmanager import ha
from tests.support.controldb import control_db  # noqa: F401 (fixture)


def _monitor(db):
    conf = config.make_conf([], overrides={"ha.lease_seconds": 6.0})
    return ha.HA(SimpleNamespace(db=db, conf=conf), None)


def test_exactly_one_taskmanager_holds_a_set_until_its_lease_expires(control_db):  # noqa: F811
    first, second = _monitor(control_db), _monitor(control_db)
    won = []
    barrier = threading.Barrier(2)

    def ask(monitor):
        barrier.wait()
        if monitor.acquire("set-1"):
            won.append(monitor.holder)
    threads = [threading.Thread(target=ask, args=(m,)) for m in (first, second)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(won) == 1, "both or neither taskmanager acted on the set: %s" % won
    holder, other = (first, second) if won == [first.holder] else (second, first)
    assert holder.acquire("set-1"), "the holder renews its own lease"
    assert not other.acquire("set-1")
    assert other.acquire("set-2"), "sets are leased one by one"
    # the holder dies (stops renewing): the other takes over once the lease expired
    later = models.utcnow() + datetime.timedelta(seconds=6.5)
    assert other.acquire("set-1", now=later)
    assert not holder.acquire("set-1", now=later)
    with control_db.session() as s:
        assert s.get(models.HASet, "set-1").lease_holder == other.holder
    # a clean stop hands the set over at once
    other.release_all()
    assert holder.acquire("set-1")
