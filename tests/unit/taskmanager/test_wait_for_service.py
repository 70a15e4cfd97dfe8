"""A flow waiting for a guest's report (the end of a create, a restart, an
upgrade) sees it within a few hundredths of a second of the conductor recording
it, not a whole poll interval later: at the end of an upgrade that interval was
the last tenth of a second before ACTIVE."""

import datetime
import os
import tempfile
import threading
import time

from sqlalchemy import update

from trove_lite import config
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.status import ServiceStatus
from trove_lite.taskmanager.instance_flows import InstanceFlows


class NoCompute:
    pass


def _flows():
    d = tempfile.mkdtemp(prefix="trove-lite-wait-")
    db = Database("sqlite:///" + os.path.join(d, "cp.sqlite"))
    db.sync()
    with db.session() as s:
        s.add(models.Datastore(id="d", name="mariadb"))
        s.add(models.DatastoreVersion(id="v", datastore_id="d", name="10.11", image_id="i"))
        s.flush()
        s.add(models.Instance(id="inst-1", name="one", tenant_id="t", flavor_id="1",
                              datastore_version_id="v"))
        s.flush()
        s.add(models.ServiceStatus(instance_id="inst-1", status="SHUTDOWN"))
    return InstanceFlows(config.make_conf(overrides={"state_dir": d}), db, NoCompute(), None,
                         firewall=object()), db


def test_a_report_recorded_while_waiting_is_seen_at_once():
    flows, db = _flows()
    since = models.utcnow()
    recorded = []

    def conductor_records():
        time.sleep(0.03)     # the guest's beat arrives just after the first look
        with db.session() as s:
            s.execute(update(models.ServiceStatus).values(
                status="HEALTHY", updated_at=models.utcnow() + datetime.timedelta(
                    microseconds=1)))
        recorded.append(time.monotonic())

    threading.Thread(target=conductor_records).start()
    status = flows.wait_for_service("inst-1", ServiceStatus.SERVING, time.monotonic() + 5,
                                    since=since)
    seen = time.monotonic()
    assert status == "HEALTHY"
    assert seen - recorded[0] < 0.05, "seen %.3f s after it was recorded" % (
        seen - recorded[0])
