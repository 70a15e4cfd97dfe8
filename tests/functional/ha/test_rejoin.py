"""The rejoin decision of a source a failover left behind (taskmanager/ha.py),
on the control DB (SQLite and MariaDB) with stand-in guests: it follows the new
source when it has nothing the set lacks; with errant transactions it is
re-seeded, or with ``rejoin_errant = refuse`` left in ERROR with a fault."""

import datetime
from types import SimpleNamespace

import pytest

from tests.support.controldb import control_db  # noqa: F401 (fixture)
from trove_lite import config
from trove_lite.db import models
from trove_lite.taskmanager import ha
from trove_lite.taskmanager.instance_flows import InstanceFlows


class Guest:
    def __init__(self, calls, instance_id, binlog_state):
        self.calls, self.id, self.state = calls, instance_id, binlog_state

    def __getattr__(self, method):
        def call(*args, **kwargs):
            self.calls.append((self.id, method) + args)
            if method in ("ha_fence", "gtid_state"):
                return {"gtid_binlog_state": self.state, "gtid_binlog_pos": self.state,
                        "gtid_slave_pos": ""}
        return call


class Flows:
    """The InstanceFlows state helpers over the test's DB, stand-in guests."""
    load, update, set_task, add_fault, fail = (
        InstanceFlows.load, InstanceFlows.update, InstanceFlows.set_task,
        InstanceFlows.add_fault, InstanceFlows.fail)

    def __init__(self, db, conf, states):
        self.db, self.conf, self.calls = db, conf, []
        self.guests = {iid: Guest(self.calls, iid, st) for iid, st in states.items()}
        self.guest_factory = self.guests.__getitem__
        self.replication = SimpleNamespace(
            strategy=lambda inst: "gtid",
            seed_request=lambda inst: {"source_id": inst.slave_of_id, "stream": "s"},
            apply_durability=lambda source_id: self.calls.append((source_id, "durability")))


def _set_up(db, old_state, back=True):
    now = models.utcnow()
    with db.session() as s:
        ds = models.Datastore(name="mariadb-%s" % models.new_id()[:8])
        s.add(ds)
        s.flush()
        dv = models.DatastoreVersion(datastore_id=ds.id, name="10.11", image_id="img")
        s.add(dv)
        s.flush()
        for iid, addr in (("old", "127.0.0.1"), ("new", "127.0.0.2")):
            s.add(models.Instance(id=iid, name=iid, tenant_id="t", flavor_id="1",
                                  datastore_version_id=dv.id, address=addr))
            s.add(models.ServiceStatus(instance_id=iid, status="HEALTHY",
                                       updated_at=now if back else now - datetime.timedelta(
                                           seconds=60)))
        s.add(models.HARejoin(instance_id="old", set_id="set", source_id="new", term=1,
                              state=ha.REJOIN_PENDING,
                              failed_over_at=now - datetime.timedelta(seconds=10)))
    return {"old": old_state, "new": "0-1-100,0-2-130"}


def _monitor(db, states, errant="reseed"):
    conf = config.make_conf([], overrides={"ha.rejoin_errant": errant})
    return ha.HA(Flows(db, conf, states), None)


@pytest.fixture(autouse=True)
def _answers(monkeypatch):
    monkeypatch.setattr(ha, "probe", lambda *a, **k: True)


def _row(db, model, key):
    with db.session() as s:
        row = s.get(model, key)
        s.expunge(row)
        return row


def test_nothing_errant_it_follows_the_new_source(control_db):  # noqa: F811
    monitor = _monitor(control_db, _set_up(control_db, "0-1-100"))
    assert monitor.rejoin("old") == ha.REJOINED
    calls = monitor.flows.calls
    assert ("old", "ha_fence", 1) in calls
    # the same term as the fence: a guest holding a newer one would refuse it
    assert ("old", "follow_source", "127.0.0.2", 3306, None, "gtid", "new", 1) in calls
    assert _row(control_db, models.Instance, "old").slave_of_id == "new"
    assert _row(control_db, models.HARejoin, "old").state == ha.REJOINED


def test_errant_transactions_refused_leave_it_in_error_with_a_fault(control_db):  # noqa: F811
    monitor = _monitor(control_db, _set_up(control_db, "0-1-102"), errant="refuse")
    assert monitor.rejoin("old") == ha.NEEDS_REBUILD
    assert not [c for c in monitor.flows.calls if c[1] in ("follow_source", "ha_reseed")]
    old = _row(control_db, models.Instance, "old")
    assert old.slave_of_id is None and old.task_status == "REJOIN_ERROR"
    with control_db.session() as s:
        fault = s.query(models.InstanceFault).filter_by(instance_id="old").one()
        assert "0-1-102 (the new source has up to 0-1-100)" in fault.message


def test_errant_transactions_are_discarded_by_a_reseed(control_db):  # noqa: F811
    monitor = _monitor(control_db, _set_up(control_db, "0-1-102"))
    assert monitor.rejoin("old") == ha.REJOINED
    assert ("old", "ha_reseed", {"source_id": "new", "stream": "s"}) in monitor.flows.calls
    row = _row(control_db, models.HARejoin, "old")
    assert row.state == ha.REJOINED and "re-seeded from new" in row.reason
    assert _row(control_db, models.Instance, "old").slave_of_id == "new"


def test_not_back_yet_nothing_is_asked(control_db):  # noqa: F811
    monitor = _monitor(control_db, _set_up(control_db, "0-1-100", back=False))
    assert monitor.rejoin("old") is None
    assert monitor.flows.calls == []
    assert _row(control_db, models.HARejoin, "old").state == ha.REJOIN_PENDING
