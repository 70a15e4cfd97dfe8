"""The guest's schema-migration runner against a real mariadbd (area 201), without the
control plane: on a replication source it throttles on the replicas' lag the control
plane sends, treats an unknown lag (a broken replica) as a reason to wait, and goes on
when they catch up."""

import time

from tests.functional.osc import support
from trove_lite.guestagent.schema_migrations import SchemaMigrations
from trove_lite.guestagent.state import GuestState


def _wait(runner, mid, predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = {r["id"]: r for r in runner.report()}[mid]
        if predicate(report):
            return report
        time.sleep(0.1)
    raise AssertionError("not reached; last report %s" % report)


def test_running_migration_throttles_on_reported_replica_lag(mariadb_factory, tmp_path):
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    support.create_table(kw, "lagged", 2000)
    runner = SchemaMigrations(lambda: server, GuestState(str(tmp_path / "guest.json")),
                              lambda: None, str(tmp_path))
    runner.report_replica_lags({"replica-1": 4.0})   # before the start: applies too
    runner.start({"id": "m-1", "database": "test", "table": "lagged",
                  "alter": "add column z int", "postpone_cut_over": True,
                  "max_lag_millis": 1000})
    throttled = _wait(runner, "m-1", lambda r: r["status"] == "THROTTLED")
    assert "replica-1 replica-lag=4" in throttled["progress"]["throttle_reason"]
    copied = throttled["progress"]["rows_copied"]
    time.sleep(1.5)
    assert _wait(runner, "m-1", lambda r: True)["progress"]["rows_copied"] == copied
    runner.report_replica_lags({"replica-1": None})  # broken or not reporting
    unknown = _wait(runner, "m-1", lambda r: "unknown" in (
        r["progress"]["throttle_reason"] or ""))
    assert unknown["status"] == "THROTTLED"
    assert unknown["progress"]["throttle_reason"] == "replica-1 replica-lag unknown"
    assert unknown["progress"]["rows_copied"] == copied
    runner.report_replica_lags({"replica-1": 0.2})
    _wait(runner, "m-1", lambda r: r["status"] == "POSTPONED")
    runner.action("m-1", "abort")
    done = _wait(runner, "m-1", lambda r: r["status"] == "ABORTED")
    assert done["finished_at"]
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("show tables like '\\_lagged\\_%'")
        assert cur.fetchall() == ()
    c.close()
