"""Scheduled backups for real: API, conductor and two taskmanagers as separate
processes on one control DB, a real mariadbd instance, real mariadb-backup runs,
the local store.

A pattern firing every 3 s (the test-only seconds field) makes incremental
backups (chains of 2: ``max_chain_length = 2``) by itself; ``retention.count 2``
trims the oldest chains from the store. Each due time makes one backup although
two taskmanagers tick 3 times a second; runs missed while both taskmanagers were
down make one backup when one comes back. The CLI creates, shows, lists and
deletes the schedule.
"""

import datetime
import json
import os
import shutil
import sqlite3
import tempfile
import time

import pytest

from tests.functional.backups_api.conftest import (
    create_instance, local_objects, run_sql, wait_active)
from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import PY, ControlPlane
from trove_lite.cli import main as cli

pytestmark = pytest.mark.slow

CONF = """
[backup]
progress_interval = 1
progress_timeout = 30

[backup_storage]
driver = local

[backup_schedule]
allow_seconds_field = true
tick_interval = 0.3
max_chain_length = 2
"""
EVERY_3_S = "* * * * * */3"


@pytest.fixture(scope="module")
def env():
    base = tempfile.mkdtemp(prefix="trove-lite-sched-")
    cp = ControlPlane(base, heartbeat_interval=1, extra_conf=CONF)
    try:
        cp.start_services()
        cp.wait_taskmanager()
        start_second_taskmanager(cp)
        trove = cp.client()
        inst = wait_active(trove, create_instance(trove, "scheduled").id)
        run_sql(inst, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)",
                "INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_5000")
        yield type("Env", (), {"cp": cp, "trove": trove, "inst": inst})
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


def start_second_taskmanager(cp):
    cp._spawn("taskmanager-2", [PY, "-m", "trove_lite.cmd.taskmanager",  # noqa: SLF001
                                "--config-file", cp.conf_file])


def cli_run(env, capsys, *args):
    rc = cli.main(["--endpoint", env.cp.endpoint("demo"), "--json", *args])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out) if out.out.strip().startswith(("{", "[")) else out.out


def control_db(env, sql, *params):
    conn = sqlite3.connect(os.path.join(env.cp.state_dir, "trove-lite.sqlite"), timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def run_leases(env, schedule_id):
    """(due time, holder, backup id) of every run a taskmanager claimed."""
    return control_db(env, "SELECT key, holder, backup_id FROM backup_schedule_leases "
                           "WHERE schedule_id = ? AND key LIKE 'run %' ORDER BY key",
                      schedule_id)


def lateness(env, schedule_id):
    """Seconds from each run's due time to its claim."""
    out = []
    for key, created in control_db(env, "SELECT key, created FROM backup_schedule_leases "
                                        "WHERE schedule_id = ? AND key LIKE 'run %'",
                                   schedule_id):
        due = datetime.datetime.strptime(key, "run %Y-%m-%dT%H:%M:%S")
        out.append((datetime.datetime.fromisoformat(created) - due).total_seconds())
    return out


def scheduled(env, schedule_id):
    return {b.id: b for b in env.trove.backups.list()
            if b.description == "made by backup schedule %s" % schedule_id}


def test_a_schedule_backs_up_by_itself_and_retention_trims(env, capsys):
    made = cli_run(env, capsys, "schedule-create", "scheduled", "every3s", EVERY_3_S,
                   "--incremental", "--retention-count", "2")
    sid = made["id"]
    assert made["next_run"] and made["last_run"] is None
    seen, trimmed = {}, set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(trimmed) < 3:
        live = scheduled(env, sid)
        for bid, b in live.items():
            seen[bid] = b
        trimmed = set(seen) - set(live)
        time.sleep(0.3)
    assert len(trimmed) >= 3, "backups made %d, trimmed %d" % (len(seen), len(trimmed))

    live = scheduled(env, sid)
    completed = {b.id: b for b in live.values() if b.status == "COMPLETED"}
    # newest 2 completed with what they need: at most one older full besides
    assert 2 <= len(completed) <= 3, [(b.name, b.status) for b in live.values()]
    for b in live.values():
        assert b.parent_id is None or b.parent_id in live   # no orphaned incremental
        if b.parent_id:
            assert live[b.parent_id].parent_id is None        # chains of at most 2
    assert {b.backup_type for b in seen.values()} == {"full", "incremental"}
    stored = " ".join(local_objects(env.cp))
    assert all(bid not in stored for bid in trimmed)
    assert all(bid in stored for bid in completed)

    # one backup per due time, though two taskmanagers tick 3 times a second
    leases = run_leases(env, sid)
    assert len({key for key, _, _ in leases}) == len(leases)
    made_ids = [bid for _, _, bid in leases if bid]
    assert len(made_ids) == len(set(made_ids)) and set(seen) <= set(made_ids)
    assert len({b.name for b in seen.values()}) == len(seen)

    # a run is claimed within a tick (0.3 s) of its due time, plus the tick's own work
    late = sorted(lateness(env, sid))
    with capsys.disabled():
        print("run lateness over %d runs: median %.2f s, max %.2f s"
              % (len(late), late[len(late) // 2], late[-1]))
    assert late[-1] < 1.5, late

    shown = cli_run(env, capsys, "schedule-show", "every3s")
    assert shown["last_backup_status"] in ("NEW", "BUILDING", "SAVING", "COMPLETED")
    assert shown["next_run"] > shown["last_run"]
    assert [s["id"] for s in cli_run(env, capsys, "schedule-list")] == [sid]

    # both taskmanagers down for ~3 runs: one backup when one of them returns
    for name in ("taskmanager", "taskmanager-2"):
        env.cp.kill(name)
    down_at = time.time()
    before = {key for key, _, _ in run_leases(env, sid)}
    time.sleep(10)
    env.cp.start_service("taskmanager")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = [row for row in run_leases(env, sid) if row[0] not in before]
        if new:
            break
        time.sleep(0.2)
    time.sleep(0.5)     # the lease names its backup once the backup is recorded
    catch_up = [row for row in run_leases(env, sid) if row[0] not in before][0]
    # (the earliest run claimed since the stop)
    due = time.mktime(time.strptime(catch_up[0], "run %Y-%m-%dT%H:%M:%S")) - time.timezone
    assert due > down_at + 6, (down_at, catch_up)   # the newest missed run, not the oldest
    assert catch_up[2], (catch_up, env.cp.log_tail("taskmanager"))  # and made a backup
    log = env.cp.log_tail("taskmanager", 100000)
    assert log.count("missed: run once") == 1, log
    start_second_taskmanager(env.cp)

    # deleting the schedule stops it; its backups stay
    cli_run(env, capsys, "schedule-delete", sid)
    assert cli_run(env, capsys, "schedule-list") == []
    time.sleep(1)
    settled = {key for key, _, _ in run_leases(env, sid)}
    time.sleep(4)
    assert {key for key, _, _ in run_leases(env, sid)} == settled
    assert scheduled(env, sid)
    for name in ("api", "conductor", "taskmanager", "taskmanager-2"):
        assert "please report it as a BUG" not in env.cp.log_tail(name, 100000), name
