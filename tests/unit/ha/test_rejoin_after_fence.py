"""A source an automatic failover left behind is fenced first (repl2's eject),
then rejoins as a replica (ha2's rejoin): the rejoin proceeds from role
``fenced`` and a stale fence never turns the rejoined replica back."""

import datetime

from trove_lite.db import models
from trove_lite.guestagent.datastore.mariadb import replication as repl
from trove_lite.guestagent.state import GuestState
from trove_lite.taskmanager import ha
from trove_lite.taskmanager import replication_flows as rf
from trove_lite.taskmanager.ha import former_source_back
from tests.support.controldb import sqlite_with_version

T0 = datetime.datetime(2026, 12, 6, 8, 0, 0)
LATER = T0 + datetime.timedelta(seconds=5)


def test_a_fenced_former_source_is_back_for_its_rejoin():
    # fenced by the eject: its agent reports BLOCKED with role fenced; it is back
    assert former_source_back("BLOCKED", {"role": "fenced"}, LATER, T0)
    assert former_source_back("HEALTHY", {"role": "demoting"}, LATER, T0)
    assert former_source_back("RUNNING", {"role": "source", "writes_held": True}, LATER, T0)
    # a report from before the failover, a stopped database or a broken block is not
    assert not former_source_back("BLOCKED", {"role": "fenced"}, T0, LATER)
    assert not former_source_back("SHUTDOWN", {"role": "fenced"}, LATER, T0)
    assert not former_source_back("BLOCKED", {"role": "replica", "broken": True}, LATER, T0)
    assert not former_source_back("BLOCKED", None, LATER, T0)


class _Recording(repl.Replication):
    """The agent's Replication with the server replaced by a statement log."""

    def __init__(self, tmp_path, **info):
        state = GuestState(str(tmp_path / "state.json"))
        state.update(replication=info, flavor={"ram": 512})
        (tmp_path / repl.SECRET_FILE).write_text("pw-not-logged")
        super().__init__(lambda: None, state, None, lambda: "127.0.0.1")
        self.ran = []

    def _execute(self, *statements, log_bin=True):
        self.ran.extend(statements)
        return [(0, "")]

    def _write_config(self, role, flavor):
        self.ran.append("config %s" % role)


def test_a_fenced_former_source_follows_from_its_own_binlog(tmp_path):
    r = _Recording(tmp_path, role="fenced", strategy="gtid", fenced_by="new-id",
                   fenced_reason="ejected", durability="semisync")
    r.follow("127.0.0.9", 3306, None, "gtid", {"ram": 512}, "new-id")
    assert "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos" in r.ran
    info = r.info
    assert info["role"] == "replica" and info["source_id"] == "new-id"
    assert not info.get("fenced_by") and not info.get("fenced_reason")
    assert r.ran[-1] == "config replica"


def test_a_late_fence_leaves_a_rejoined_replica_alone(tmp_path):
    r = _Recording(tmp_path, role="replica", strategy="gtid", source_id="new-id")
    r.fence("ejected from its replication set", "new-id")
    assert r.info["role"] == "replica" and r.ran == []
    src = _Recording(_sub(tmp_path), role="source", strategy="gtid")
    src.fence("ejected from its replication set", "new-id")
    assert src.info["role"] == "fenced" and src.info["fenced_by"] == "new-id"
    assert "SET GLOBAL read_only = ON" in src.ran


def test_former_source_roles_take_the_rejoin_steps():
    assert set(repl.FORMER_SOURCE_ROLES) == {"source", "demoting", "fenced"}


def _sub(tmp_path):
    path = tmp_path / "other"
    path.mkdir()
    return path


def _db(tmp_path):
    db = sqlite_with_version(tmp_path / "cp.sqlite", old={"fenced_by": "new"})
    with db.session() as s:
        s.add(models.HARejoin(instance_id="old", set_id="set", source_id="new", term=2,
                              state=ha.REJOIN_PENDING))
    return db


def test_the_rejoined_former_source_is_a_replica_not_a_fenced_outsider(tmp_path):
    db = _db(tmp_path)
    watcher = ha.HA.__new__(ha.HA)
    watcher.db = db
    watcher._rejoined("old", "new", None)
    with db.session() as s:
        inst, row = s.get(models.Instance, "old"), s.get(models.HARejoin, "old")
        assert (inst.slave_of_id, inst.fenced_by, row.state) == ("new", None, ha.REJOINED)
    db.dispose()


def test_a_detach_of_the_fenced_former_source_cancels_its_rejoin(tmp_path):
    db = _db(tmp_path)
    flows = rf.ReplicationFlows.__new__(rf.ReplicationFlows)
    flows.db = db
    flows._cancel_rejoin("old")
    with db.session() as s:
        row = s.get(models.HARejoin, "old")
        assert row.state == ha.REJOIN_DETACHED and "detach" in row.reason
    # rejoin() leaves a row that is no longer pending alone
    watcher = ha.HA.__new__(ha.HA)
    watcher.db = db
    assert watcher.rejoin("old") is None
    db.dispose()
