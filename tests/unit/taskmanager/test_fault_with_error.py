"""An instance never shows ERROR without the fault that says why.

The API shows ERROR as soon as the task column holds an error task, and the
fault with it; the create flow once wrote the task first and the fault in a
later transaction, so a client polling for ERROR found no fault (the
replication test for a seed cut off on the source failed that way).
"""

from types import SimpleNamespace

from trove_lite.db import models
from trove_lite.status import TaskStatus
from trove_lite.taskmanager import instance_flows
from tests.support.controldb import sqlite_with_version


def _db(tmp_path):
    return sqlite_with_version(tmp_path / "cp.sqlite",
                               i1={"task_status": TaskStatus.BUILDING})


def _what_a_client_sees(db):
    with db.session() as s:
        inst = s.get(models.Instance, "i1")
        faults = s.query(models.InstanceFault).filter_by(instance_id="i1").count()
        return TaskStatus.is_error(inst.task_status or ""), faults


def test_a_failed_create_shows_its_fault_the_moment_it_shows_error(tmp_path, monkeypatch):
    db = _db(tmp_path)
    flows = instance_flows.InstanceFlows.__new__(instance_flows.InstanceFlows)
    flows.db = db
    flows.conf = SimpleNamespace(taskmanager=SimpleNamespace(usage_timeout=60))
    flows.requests = SimpleNamespace(load=lambda i: None, erase=lambda i: None)
    seen = []
    real_record = instance_flows.events.record

    def record(db_, instance_id, kind, message, *a, **kw):
        seen.append(_what_a_client_sees(db))
        return real_record(db_, instance_id, kind, message, *a, **kw)

    def steps(*args, **kwargs):
        raise instance_flows.FlowError(None, "the source's backup failed or was cut off")

    monkeypatch.setattr(instance_flows.events, "record", record)
    monkeypatch.setattr(flows, "_create_steps", steps)
    flows.create("i1")
    assert _what_a_client_sees(db) == (True, 1)
    # at every moment in between: no ERROR without its fault
    assert all(faults or not error for error, faults in seen), seen
    db.dispose()
