"""``/metrics`` answers whatever the control database holds. A COMPLETED backup row
with no instance (the column is nullable) must not fail the whole scrape: it gets no
throughput series, and every other series is still served."""

import datetime
import json
import os
import tempfile

from trove_lite.api.metrics import Metrics
from trove_lite.db import models
from trove_lite.db.session import Database


def test_a_backup_of_no_instance_does_not_break_the_scrape():
    d = tempfile.mkdtemp(prefix="trove-lite-metrics-")
    db = Database("sqlite:///" + os.path.join(d, "cp.sqlite"))
    db.sync()
    start = datetime.datetime(2026, 1, 1, 12, 0, 0)
    end = start + datetime.timedelta(seconds=10)
    with db.session() as s:
        for name, instance_id in (("orphan", None), ("kept", "inst-1")):
            s.add(models.Backup(name=name, tenant_id="t", instance_id=instance_id,
                                status="COMPLETED", meta=json.dumps({"size_bytes": 1000}),
                                created=start, updated=end))
    try:
        content_type, body = Metrics(db).exposition()
    finally:
        db.dispose()
    text = body.decode()
    assert "trove_lite_control_db_up 1.0" in text
    assert ('trove_lite_backup_throughput_bytes_per_second{instance_id="inst-1"} 100.0'
            in text)
    assert 'instance_id="None"' not in text and 'instance_id=""' not in text
