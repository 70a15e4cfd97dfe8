"""Pure parts of the managed schema migrations (issue 18): what a restarted agent does
with a migration it was running, the status and progress the API shows, the API's
ALTER checks and the CLI's progress bar."""

import pytest

from trove_lite.cli.schema_migrations import progress_bar
from trove_lite.exceptions import BadRequest
from trove_lite.guestagent.schema_migrations import (SENTRY_COMMENT, progress_of,
                                                     recovery_action, status_of)
from trove_lite.instance.schema_migrations import check_alter


def test_restart_before_the_swap_drops_the_helpers_and_fails():
    rec = recovery_action("t", {"t": "", "_t_gho": "", "_t_ghc": "", "_t_ghk": ""}, False)
    assert rec.status == "FAILED" and "unchanged" in rec.reason
    assert set(rec.drop) == {"_t_gho", "_t_ghc", "_t_ghk"}


def test_restart_during_the_cut_over_drops_the_sentry_but_never_the_table():
    rec = recovery_action("t", {"t": "", "_t_gho": "", "_t_ghc": "",
                                "_t_del": SENTRY_COMMENT}, False)
    assert rec.status == "FAILED" and set(rec.drop) == {"_t_gho", "_t_ghc", "_t_del"}


def test_restart_after_the_swap_is_completed_and_keeps_the_old_table_if_asked():
    tables = {"t": "", "_t_ghc": "", "_t_del": "a user's comment"}
    rec = recovery_action("t", tables, False)
    assert rec.status == "COMPLETED" and set(rec.drop) == {"_t_ghc", "_t_del"}
    assert set(recovery_action("t", tables, True).drop) == {"_t_ghc"}


def test_restart_with_a_checkpoint_resumes_and_drops_a_sentry_first():
    tables = {"t": "", "_t_gho": "", "_t_ghc": "", "_t_ghk": ""}
    rec = recovery_action("t", tables, False, checkpointed=True)
    assert rec.status == "RUNNING" and "resumes" in rec.reason and rec.drop == ()
    rec = recovery_action("t", dict(tables, _t_del=SENTRY_COMMENT), False, checkpointed=True)
    assert rec.status == "RUNNING" and rec.drop == ("_t_del",)
    # an empty checkpoint table (killed before the first checkpoint) cannot resume
    assert recovery_action("t", tables, False, checkpointed=False).status == "FAILED"


def test_restart_before_anything_was_created_has_nothing_to_drop():
    rec = recovery_action("t", {"t": ""}, False)
    assert rec.status == "FAILED" and rec.drop == ()


@pytest.mark.parametrize("phase,postponing,reason,status", [
    ("starting", False, "", "RUNNING"), ("migrating", False, "", "RUNNING"),
    ("migrating", False, "lag=2s", "THROTTLED"), ("migrating", True, "", "POSTPONED"),
    ("cut-over", False, "", "CUTTING_OVER"), ("done", False, "", "CUTTING_OVER")])
def test_status_of_a_running_engine(phase, postponing, reason, status):
    assert status_of(phase, postponing, reason) == status


def _engine_status(**kw):
    base = dict(rows_copied=250, rows_estimate=1000, dml_applied=7, backlog=3,
                elapsed=12.34, copy_elapsed=10.0, heartbeat_lag=0.1234,
                state="migrating", copy_complete=False, eta_seconds=30,
                cut_over_lock_seconds=[])
    base.update(kw)
    return base


def test_progress_block():
    p = progress_of(_engine_status())
    assert p == {"rows_copied": 250, "rows_estimated": 1000, "percent": 25.0,
                 "eta_seconds": 30, "backlog_events": 3, "dml_applied": 7,
                 "lag_seconds": 0.123, "elapsed_seconds": 12.3, "copy_seconds": 10.0,
                 "throttle_reason": None, "cut_over_lock_seconds": []}
    throttled = progress_of(_engine_status(state="throttled, commanded by user",
                                           eta_seconds=-1))
    assert throttled["throttle_reason"] == "commanded by user"
    assert throttled["eta_seconds"] is None
    # more rows than estimated (writes during the copy) never shows over 100%
    over = progress_of(_engine_status(rows_copied=1200))
    assert over["percent"] == 100.0 and over["rows_estimated"] == 1200
    assert progress_of(_engine_status(copy_complete=True))["percent"] == 100.0


@pytest.mark.parametrize("alter,text", [
    ("rename to t2", "seems to RENAME the table"),
    ("change a b int", "renames columns"),
    ("add column x varchar(3) default 'a", "unbalanced quotes"),
    ("alter table other add column x int", "names table other"),
    ("  ", "empty"),
])
def test_alter_refusals_need_no_server(alter, text):
    with pytest.raises(BadRequest) as exc:
        check_alter("t", alter)
    assert text in exc.value.message


def test_alter_of_the_same_table_keeps_its_clauses():
    assert check_alter("T", "alter table t add column x int") == "add column x int"
    assert check_alter("t", "add key (a), drop column b") == "add key (a), drop column b"


def test_progress_bar():
    info = {"status": "THROTTLED", "progress": {"percent": 50.0, "rows_copied": 5,
                                                "rows_estimated": 10, "eta_seconds": 4,
                                                "lag_seconds": 0.5,
                                                "throttle_reason": "commanded by user"}}
    bar = progress_bar(info, width=10)
    assert bar.startswith("[#####.....]  50.0% 5/10 rows, lag 0.5s, ETA 4s THROTTLED")
    assert bar.endswith("(commanded by user)")
    assert progress_bar({"status": "NEW", "progress": None}, width=4).startswith("[....]   0.0%")
    info["progress"].update(rows_copied=700, copy_seconds=2.0)
    assert "700/10 rows at 350 rows/s, lag" in progress_bar(info)


def test_reported_replica_lags_go_unknown_when_they_stop_coming():
    from trove_lite.osc.context import fresh_replica_lags
    reported = {"b": (0.5, 100.0), "a": (None, 100.0)}
    assert fresh_replica_lags(reported, 110.0) == (("a", None), ("b", 0.5))
    assert fresh_replica_lags(reported, 131.0) == (("a", None), ("b", None))


def test_replica_lags_of_a_set_for_its_source():
    from trove_lite.taskmanager.ha import MemberSnapshot, replica_lags
    members = [MemberSnapshot("r1", "a", "HEALTHY", {"lag_seconds": 1.5}),
               MemberSnapshot("r2", "b", "HEALTHY", None),
               MemberSnapshot("r3", "c", "BLOCKED", {"lag_seconds": 0, "broken": True})]
    assert replica_lags(members) == {"r1": 1.5, "r2": None, "r3": None}


def test_throttle_decision_on_reported_lag():
    from trove_lite.osc.throttler import Metrics, decide
    slow = decide(Metrics(replica_lags=(("r1", 2.0),)), {"max_lag_millis": 1500})
    assert slow.throttle and slow.reason == "r1 replica-lag=2.000000s"
    assert not decide(Metrics(replica_lags=(("r1", 1.0),)), {"max_lag_millis": 1500}).throttle
