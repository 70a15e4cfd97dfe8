"""Pure parts of HA: semi-sync settings and view, endpoint layout, HAProxy commands."""

import pytest

from trove_lite.drivers.endpoint.base import EndpointError, Layout, Member
from trove_lite.drivers.endpoint.haproxy import admin_commands
from trove_lite.guestagent.datastore.mariadb import replication as repl
from trove_lite.guestagent.datastore.mariadb.fence import FENCE, KEEP, OPEN, decide_fence
from trove_lite.taskmanager.ha import (FAILOVER, NOTHING, WAIT, MemberSnapshot, SetHealth,
                                     decide_failover, decide_layout, errant_gtids)

TEMPLATES = "templates/mariadb"


def test_semisync_settings_by_role():
    src = repl.semisync_settings("source", "semisync", 2500)
    assert "SET GLOBAL rpl_semi_sync_master_enabled = ON" in src
    assert "SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC" in src
    assert "SET GLOBAL rpl_semi_sync_master_timeout = 2500" in src
    assert "SET GLOBAL rpl_semi_sync_slave_enabled = OFF" in src
    rep = repl.semisync_settings("replica", "semisync", 2500)
    assert rep == ["SET GLOBAL rpl_semi_sync_slave_enabled = ON",
                   "SET GLOBAL rpl_semi_sync_master_enabled = OFF"]
    for role in ("source", "replica", None):
        assert repl.semisync_settings(role, "async", 2500) == [
            "SET GLOBAL rpl_semi_sync_slave_enabled = OFF",
            "SET GLOBAL rpl_semi_sync_master_enabled = OFF"]


def test_semisync_config_survives_a_restart():
    text = repl.render_config(TEMPLATES, "source", {"ram": 512, "vcpus": 1}, "semisync", 3000)
    assert "rpl_semi_sync_master_enabled = ON" in text
    assert "rpl_semi_sync_master_wait_point = AFTER_SYNC" in text
    assert "rpl_semi_sync_master_timeout = 3000" in text
    text = repl.render_config(TEMPLATES, "replica", {"ram": 512, "vcpus": 1}, "semisync")
    assert "rpl_semi_sync_slave_enabled = ON" in text
    assert "rpl_semi_sync_master_enabled = OFF" in text
    text = repl.render_config(TEMPLATES, "source", {"ram": 512, "vcpus": 1}, "async")
    assert "rpl_semi_sync_master_enabled = OFF" in text


def test_semisync_view_shows_a_fallback_to_async():
    variables = {"rpl_semi_sync_master_enabled": "ON",
                 "rpl_semi_sync_master_wait_point": "AFTER_SYNC"}
    status = {"rpl_semi_sync_master_status": "OFF", "rpl_semi_sync_master_clients": "0",
              "rpl_semi_sync_master_yes_tx": "7", "rpl_semi_sync_master_no_tx": "3"}
    view = repl.semisync_view("source", "semisync", variables, status)
    assert view == {"durability": "semisync", "side": "source", "enabled": True,
                    "active": False, "wait_point": "AFTER_SYNC", "clients": 0, "yes_tx": 7,
                    "no_tx": 3, "fell_back_to_async": True}
    view = repl.semisync_view("replica", "semisync", {"rpl_semi_sync_slave_enabled": "ON"},
                              {"rpl_semi_sync_slave_status": "ON"})
    assert view == {"durability": "semisync", "side": "replica", "enabled": True,
                    "active": True}


def _replica(mid, lag=0.5, status="HEALTHY", **report):
    block = {"role": "replica", "sql_thread": "Yes", "lag_seconds": lag}
    block.update(report)
    return MemberSnapshot(mid, "127.0.0.%d" % (len(mid) + 10), status, block)


def test_layout_keeps_lagging_and_broken_replicas_out_of_ro():
    source = MemberSnapshot("s", "127.0.0.2", "HEALTHY", {"role": "source"})
    replicas = [_replica("ok"), _replica("slow", lag=42.0),
                _replica("broken", broken=True, broken_reason="error 1062"),
                _replica("down", status="SHUTDOWN"), _replica("new", lag=None)]
    layout, reasons = decide_layout(source, replicas, max_lag=10)
    assert layout.rw == Member("s", "127.0.0.2", 3306)
    assert [m.id for m in layout.ro] == ["ok"]
    assert len(reasons) == 4
    assert any("slow" in r and "42.0" in r for r in reasons)
    assert any("broken" in r and "error 1062" in r for r in reasons)
    layout, reasons = decide_layout(source, [_replica("slow", lag=42.0)], max_lag=10)
    assert layout.ro == ()    # the driver serves ro from the source then


def test_admin_commands_move_rw_old_out_first_and_keep_survivors():
    table = {"s0": ["a", "127.0.0.2:3306"], "s1": None}
    cmds, table = admin_commands("rw", table, {"b": "127.0.0.3:3306"}, cut=True)
    assert cmds == ["set server rw/s0 state maint", "shutdown sessions server rw/s0",
                    "set server rw/s0 addr 127.0.0.3 port 3306",
                    "set server rw/s0 state ready"]
    assert table == {"s0": ["b", "127.0.0.3:3306"], "s1": None}
    ro = {"r0": ["x", "127.0.0.5:3306"], "r1": None}
    cmds, ro = admin_commands("ro", ro, {"x": "127.0.0.5:3306", "y": "127.0.0.6:3306"})
    assert cmds == ["set server ro/r1 addr 127.0.0.6 port 3306", "set server ro/r1 state ready"]
    assert admin_commands("ro", ro, {"x": "127.0.0.5:3306", "y": "127.0.0.6:3306"})[0] == []
    with pytest.raises(EndpointError):
        admin_commands("ro", {"r0": None}, {"x": "1.1.1.1:1", "y": "1.1.1.2:1"})
    assert Layout(rw=None, ro=()).rw is None


def _health(age=0.5, serving=True, failures=0, replicas=(("r1", True, 10), ("r2", True, 12)),
            busy=None):
    return SetHealth("src", age, serving, failures, tuple(replicas), busy, 3.0)


def test_failover_needs_two_signals():
    assert decide_failover(_health())[0] == NOTHING
    action, target, reason = decide_failover(_health(failures=5))
    assert (action, target) == (WAIT, None) and "one signal" in reason
    action, target, reason = decide_failover(_health(age=60.0, failures=0))
    assert (action, target) == (WAIT, None) and "one signal" in reason
    action, target, reason = decide_failover(_health(age=60.0, failures=1))
    assert action == WAIT     # one failed probe is not yet a dead database


def test_failover_picks_the_replica_that_received_the_most():
    action, target, reason = decide_failover(_health(age=3.5, failures=2))
    assert (action, target) == (FAILOVER, "r2")
    assert reason.startswith("source src is dead (last report 3.5 s ago, 2 failed probes)")
    # an agent that outlives its database: it reports, but says the database is down
    action, target, _ = decide_failover(_health(age=0.2, serving=False, failures=2))
    assert (action, target) == (FAILOVER, "r2")
    # a replica that does not answer is not a candidate, however far it got
    action, target, _ = decide_failover(_health(age=9, failures=3, replicas=(
        ("r1", True, 10), ("r2", False, 99))))
    assert target == "r1"


def test_no_failover_during_a_flow_or_without_a_replica():
    action, _, reason = decide_failover(_health(age=9, failures=3, busy="PROMOTING"))
    assert action == NOTHING and "PROMOTING" in reason
    action, _, reason = decide_failover(_health(age=9, failures=3, replicas=(
        ("r1", False, 10),)))
    assert action == NOTHING and "no replica answers" in reason


def test_errant_transactions_of_a_former_source():
    new = {"gtid_binlog_state": "0-1-100,0-2-130", "gtid_slave_pos": "0-1-100"}
    # everything the old source wrote reached the new one: it may follow it
    assert errant_gtids({"gtid_binlog_state": "0-1-100"}, new) == []
    assert errant_gtids({"gtid_binlog_state": "0-1-90"}, new) == []
    # one commit in its binlog that no replica acknowledged
    assert errant_gtids({"gtid_binlog_state": "0-1-101"}, new) == [
        "0-1-101 (the new source has up to 0-1-100)"]
    # a server the new source never heard of
    assert errant_gtids({"gtid_binlog_state": "0-1-100,0-9-3"}, new) == [
        "0-9-3 (the new source has up to none)"]
    # a freshly seeded new source knows the old one's writes by its slave position
    assert errant_gtids({"gtid_binlog_state": "0-1-50"},
                        {"gtid_binlog_state": "", "gtid_slave_pos": "0-1-50"}) == []


def test_a_semisync_source_fences_itself_and_reopens_only_for_a_new_replica():
    args = dict(role="source", durability="semisync", clients=1, lost_for=0.0,
                waited=0.0, lease=5.0, fenced=False, reconnected=False)
    assert decide_fence(**args) == KEEP
    assert decide_fence(**dict(args, clients=0, lost_for=4.9)) == KEEP
    assert decide_fence(**dict(args, clients=0, lost_for=5.0)) == FENCE
    # a partition leaves the replicas' connections open and silent: the wait tells
    assert decide_fence(**dict(args, clients=2, waited=5.2)) == FENCE
    fenced = dict(args, fenced=True)
    assert decide_fence(**dict(fenced, clients=2)) == KEEP, "an old silent connection"
    assert decide_fence(**dict(fenced, clients=1, reconnected=True)) == OPEN
    assert decide_fence(**dict(fenced, durability="async")) == OPEN
    # a replica's read_only belongs to its role
    assert decide_fence(**dict(fenced, role="replica", clients=0)) == KEEP
    assert decide_fence(**dict(args, role="demoting", clients=0, lost_for=60)) == KEEP


def test_a_fenced_source_is_one_signal_of_a_dead_source():
    # it reports (age 0.2 s) but says it is fenced, and does not answer probes
    action, target, reason = decide_failover(_health(age=0.2, serving=False, failures=2))
    assert (action, target) == (FAILOVER, "r2") and "down or fenced" in reason


def test_a_semisync_source_boots_fenced_and_crash_safe():
    text = repl.render_config(TEMPLATES, "source", {"ram": 512, "vcpus": 1}, "semisync", 3000)
    assert "read_only = ON" in text
    assert "rpl_semi_sync_slave_enabled = ON" in text     # crash recovery may truncate
    text = repl.render_config(TEMPLATES, "source", {"ram": 512, "vcpus": 1}, "async")
    assert "read_only = OFF" in text and "rpl_semi_sync_slave_enabled = OFF" in text
    assert "WHERE @@GLOBAL.read_only = 0" in repl.write_heartbeat()
