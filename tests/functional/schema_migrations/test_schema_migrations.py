"""Online schema migrations as an instance action, against a real instance: one control
plane and one instance shared by the module (issue 18).

What a user sees: under a live writer (every write mirrored into an untouched twin
table in the same transaction) the progress moves, a throttle stops the copy, a
postponed cut-over waits, the cut-over lands, every row and write is kept and no ghost,
changelog, old table or trigger is left; an abort leaves the table as it was and
nothing behind; bad input is a 4xx in Trove's fault format; the CLI drives it.
"""

import json
import os
import shutil
import signal
import tempfile
import time

import pytest
import requests

from tests.functional.controlplane.conftest import destroy_everything
from tests.functional.osc import twin_writes
from tests.support.controlplane import ControlPlane, wait_for_status
from trove_lite.cli import main as cli

USER, PASSWORD, DB = "app", "app-Pw-1", "shop"


@pytest.fixture(scope="module")
def env():
    base = tempfile.mkdtemp(prefix="trove-lite-osc-api-")
    cp = ControlPlane(base, heartbeat_interval=2).start_aio()
    try:
        trove = cp.client("demo")
        inst = trove.instances.create(
            "osc1", "1", volume={"size": 1}, datastore="mariadb",
            datastore_version="10.11", databases=[{"name": DB}],
            users=[{"name": USER, "password": PASSWORD, "databases": [{"name": DB}]}])
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=180)
        assert inst.status == "ACTIVE", getattr(inst, "fault", None)
        kw = {"host": inst.ip[0], "port": 3306, "user": USER, "password": PASSWORD,
              "database": DB}
        yield type("Env", (), {"cp": cp, "trove": trove, "inst": inst, "kw": kw})
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


def api(env, method, path, body=None):
    r = requests.request(method, env.cp.endpoint("demo") + "/instances/%s%s" % (
        env.inst.id, path), data=None if body is None else json.dumps(body),
        headers={"Content-Type": "application/json"}, timeout=60)
    return r.status_code, r.json() if r.content else None


def create(env, **fields):
    body = {"database": DB, "table": "t"}
    body.update(fields)
    return api(env, "POST", "/schema_migrations", {"schema_migration": body})


def show(env, mid):
    code, body = api(env, "GET", "/schema_migrations/" + mid)
    assert code == 200, body
    return body["schema_migration"]


def wait_until(env, mid, predicate, timeout=90, what=""):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        info = show(env, mid)
        seen.append((info["status"], (info["progress"] or {}).get("rows_copied")))
        if predicate(info):
            return info, seen
        time.sleep(0.3)
    raise AssertionError("%s not reached in %ss; seen %s" % (what, timeout, seen[-10:]))


def leftovers(env):
    c = twin_writes.support.connect(env.kw)
    with c.cursor() as cur:
        cur.execute("select table_name from information_schema.tables where table_schema=%s "
                    "and table_name rlike '^_.*_(gho|ghc|del|ghk)$'", (DB,))
        tables = [r[0] for r in cur.fetchall()]
        cur.execute("select trigger_name from information_schema.triggers "
                    "where event_object_schema=%s", (DB,))
        triggers = [r[0] for r in cur.fetchall()]
    c.close()
    return tables, triggers


def make_table(env, name, rows=3000):
    c = twin_writes.support.connect(env.kw)
    with c.cursor() as cur:
        cur.execute("drop table if exists %s" % name)
        cur.execute("create table %s (id int primary key, v varchar(20))" % name)
        cur.execute("insert into %s select seq, concat('v', seq) from seq_1_to_%d" % (
            name, rows))
    c.close()


def columns(env, table="t"):
    c = twin_writes.support.connect(env.kw)
    with c.cursor() as cur:
        cur.execute("select column_name from information_schema.columns where "
                    "table_schema=%s and table_name=%s order by ordinal_position", (DB, table))
        out = [r[0] for r in cur.fetchall()]
    c.close()
    return out


def test_migration_under_writes_postponed_cut_over_keeps_every_write(env):
    twin_writes.create_tables(env.kw, 40000)
    writers = twin_writes.TwinWriters(env.kw, rate=200, connections=2)
    writers.start(40000)
    try:
        code, body = create(env, alter="add column note varchar(16) not null default 'x', "
                                       "add key k_idx (k)",
                            postpone_cut_over=True, chunk_size=100, nice_ratio=4.0)
        assert code == 202, body
        mid = body["schema_migration"]["id"]
        # progress moves while rows copy
        first, _ = wait_until(env, mid, lambda i: (i["progress"] or {}).get("rows_copied"),
                              what="first progress")
        moved, _ = wait_until(env, mid, lambda i: (i["progress"] or {}).get(
            "rows_copied", 0) > first["progress"]["rows_copied"], what="progress moving")
        assert moved["progress"]["rows_estimated"] >= 40000 * 0.5
        # a throttle stops the copy; unthrottle lets it go on
        code, body = api(env, "POST", "/schema_migrations/%s/action" % mid, {"throttle": {}})
        assert code == 202, body
        # THROTTLED, or POSTPONED with the throttle on when a fast machine copied every
        # row before the throttle arrived (a postponed cut-over shows POSTPONED first)
        held, _ = wait_until(env, mid, lambda i: i["status"] == "THROTTLED" or (
            i["status"] == "POSTPONED" and (i["progress"] or {}).get("throttle_reason")),
            what="THROTTLED")
        time.sleep(2.5)
        still = show(env, mid)
        assert still["status"] == held["status"]
        assert still["progress"]["rows_copied"] == held["progress"]["rows_copied"]
        assert still["progress"]["throttle_reason"]
        code, body = api(env, "POST", "/schema_migrations/%s/action" % mid,
                         {"set": {"nice_ratio": 0, "chunk_size": 2000}})
        assert code == 202 and body["schema_migration"]["settings"]["chunk_size"] == 2000, body
        api(env, "POST", "/schema_migrations/%s/action" % mid, {"unthrottle": {}})
        # the copy finishes and the cut-over waits
        postponed, _ = wait_until(env, mid, lambda i: i["status"] == "POSTPONED",
                                  what="POSTPONED")
        assert postponed["progress"]["percent"] == 100.0
        time.sleep(3)
        assert show(env, mid)["status"] == "POSTPONED"
        assert "note" not in columns(env)
        listed = api(env, "GET", "/schema_migrations")[1]["schema_migrations"]
        assert [m["id"] for m in listed] == [mid]
        # one migration at a time per table
        code, body = create(env, alter="add column other int")
        assert code == 409 and "one migration at a time" in body["conflict"]["message"], body
        code, body = api(env, "POST", "/schema_migrations/%s/action" % mid, {"cut_over": {}})
        assert code == 202, body
        done, _ = wait_until(env, mid, lambda i: i["status"] in ("COMPLETED", "FAILED"),
                             what="COMPLETED")
        assert done["status"] == "COMPLETED", done["fail_reason"]
        assert done["finished"] and done["progress"]["cut_over_lock_seconds"]
        time.sleep(1)  # writes land on the new table after the swap
    finally:
        writers.pause()
        writers.stop()
    assert writers.commits > 200
    assert "note" in columns(env)
    assert twin_writes.differences(env.kw) == []
    assert leftovers(env) == ([], [])
    # a final migration takes no more actions
    code, body = api(env, "POST", "/schema_migrations/%s/action" % mid, {"abort": {}})
    assert code == 409 and "COMPLETED" in body["conflict"]["message"], body


def test_abort_leaves_the_table_as_it_was_and_nothing_behind(env):
    before = columns(env)
    code, body = create(env, alter="add column gone int", postpone_cut_over=True)
    assert code == 202, body
    mid = body["schema_migration"]["id"]
    wait_until(env, mid, lambda i: i["status"] == "POSTPONED", what="POSTPONED")
    code, body = api(env, "POST", "/schema_migrations/%s/action" % mid, {"abort": {}})
    assert code == 202, body
    info, _ = wait_until(env, mid, lambda i: i["status"] in ("ABORTED", "FAILED",
                                                             "COMPLETED"), what="ABORTED")
    assert info["status"] == "ABORTED", info
    assert columns(env) == before
    assert twin_writes.differences(env.kw) == []
    assert leftovers(env) == ([], [])


@pytest.mark.parametrize("fields,status,fault,text", [
    ({"alter": "add column x int,, add"}, 400, "badRequest", "ALTER is refused"),
    ({"alter": "add column x int default"}, 400, "badRequest", "Error 1064 (42000)"),
    ({"alter": "add colum x int"}, 400, "badRequest", "Unknown data type"),
    ({"alter": "drop column nope"}, 400, "badRequest", "nope"),
    ({"alter": "rename to t2"}, 400, "badRequest", "seems to RENAME the table"),
    ({"alter": "change k k2 int"}, 400, "badRequest", "renames columns"),
    ({"alter": "add column x int", "table": "missing"}, 404, "itemNotFound", "shop.missing"),
    ({"alter": "add column x int", "chunk_size": 5}, 400, "badRequest", "chunk_size"),
    ({"alter": "add column x int", "max_load": "Threads_running"}, 400, "badRequest",
     "Invalid load value"),
    ({"alter": "add column x int", "bogus": 1}, 400, "badRequest", "unknown field"),
    ({"table": "t"}, 400, "badRequest", "alter"),
])
def test_bad_requests_are_4xx_in_trove_fault_format(env, fields, status, fault, text):
    code, body = create(env, **fields)
    assert code == status, body
    assert set(body) == {fault} and text in body[fault]["message"], body
    assert api(env, "GET", "/schema_migrations")[1]["schema_migrations"] == [] or all(
        m["status"] != "NEW" for m in api(env, "GET", "/schema_migrations")[1][
            "schema_migrations"])


def test_unknown_migration_and_bad_actions(env):
    code, body = api(env, "GET", "/schema_migrations/nope")
    assert code == 404 and "nope" in body["itemNotFound"]["message"]
    mid = api(env, "GET", "/schema_migrations")[1]["schema_migrations"][0]["id"]
    code, body = api(env, "POST", "/schema_migrations/%s/action" % mid,
                     {"cut_over": {}, "abort": {}})
    assert code == 400, body
    code, body = api(env, "POST", "/schema_migrations/%s/action" % mid, {"explode": {}})
    assert code == 400, body


def test_cli_create_wait_and_show(env, capsys):
    endpoint = env.cp.endpoint("demo")
    make_table(env, "cli_a")
    rc = cli.main(["--endpoint", endpoint, "migration-create", env.inst.id, DB, "cli_a",
                   "add column cli_col int not null default 7", "--wait"])
    out = capsys.readouterr()
    assert rc == 0, (out.out, out.err)
    assert "COMPLETED" in out.out and "100.0%" in out.err, (out.out, out.err)
    rc = cli.main(["--endpoint", endpoint, "--json", "migration-list", env.inst.id])
    listed = json.loads(capsys.readouterr().out)
    assert rc == 0 and any(m["table"] == "cli_a" and m["status"] == "COMPLETED"
                           for m in listed)
    assert "cli_col" in columns(env, "cli_a")


def test_cli_postponed_cut_over_and_cancel(env, capsys):
    """The brief's names: create --postpone-cut-over --wait returns once the copy is done
    and the cut-over waits; cutover --wait lands it; cancel --wait leaves the table."""
    endpoint = env.cp.endpoint("demo")

    def run(*argv):
        rc = cli.main(["--endpoint", endpoint, "--json", *argv])
        out = capsys.readouterr()
        assert rc == 0, (out.out, out.err)
        return json.loads(out.out), out.err

    make_table(env, "cli_b")
    info, err = run("schema-migration-create", env.inst.id, DB, "cli_b",
                    "add column cli_two int", "--postpone-cut-over", "--wait")
    assert info["status"] == "POSTPONED" and "POSTPONED" in err
    assert "cli_two" not in columns(env, "cli_b")
    info, _ = run("schema-migration-cutover", env.inst.id, info["id"], "--wait")
    assert info["status"] == "COMPLETED" and "cli_two" in columns(env, "cli_b")
    info, _ = run("schema-migration-create", env.inst.id, DB, "cli_b",
                  "add column cli_three int", "--postpone-cut-over", "--wait")
    info, _ = run("schema-migration-cancel", env.inst.id, info["id"], "--wait")
    assert info["status"] == "ABORTED"
    assert "cli_three" not in columns(env, "cli_b")
    assert leftovers(env) == ([], [])
    shown, _ = run("schema-migration-show", env.inst.id, info["id"])
    assert shown["status"] == "ABORTED" and "aborted by the user" in shown["fail_reason"]


def guest_agent_pid(env):
    """The guest agent's PID: the child of the wrapper named in guest.pid (local driver)."""
    server_id = env.cp.client("admin").mgmt_instances.show(env.inst.id).server_id
    with open(os.path.join(env.cp.state_dir, "servers", server_id, "guest.pid")) as f:
        leader = int(f.read().split()[0])
    with open("/proc/%d/task/%d/children" % (leader, leader)) as f:
        children = [int(p) for p in f.read().split()]
    assert len(children) == 1, children
    return children[0]


def execute(env, statement):
    c = twin_writes.support.connect(env.kw)
    with c.cursor() as cur:
        cur.execute(statement)
        rows = cur.fetchall()
    c.close()
    return rows


def test_agent_killed_mid_copy_resumes_from_its_checkpoint(env):
    """The agent and its server restart mid-copy; the migration goes on from its last
    checkpoint (still postponed), cuts over on request and keeps every row."""
    make_table(env, "resumed", rows=20000)
    before = execute(env, "select count(*), sum(crc32(concat(id, v))) from resumed")
    code, body = create(env, table="resumed", alter="add column extra int",
                        postpone_cut_over=True, chunk_size=20, nice_ratio=8.0)
    assert code == 202, body
    mid = body["schema_migration"]["id"]
    deadline = time.monotonic() + 60
    while not execute(env, "select count(*) from information_schema.tables where "
                           "table_schema='shop' and table_name='_resumed_ghk'")[0][0] or \
            not execute(env, "select count(*) from _resumed_ghk")[0][0]:
        assert time.monotonic() < deadline, show(env, mid)
        time.sleep(0.3)
    assert show(env, mid)["progress"]["percent"] < 100
    os.kill(guest_agent_pid(env), signal.SIGKILL)
    env.cp.client("admin").mgmt_instances.reboot(env.inst.id)
    wait_for_status(env.trove, env.inst.id, {"ACTIVE"}, timeout=120)
    code, body = api(env, "POST", "/schema_migrations/%s/action" % mid,
                     {"set": {"nice_ratio": 0, "chunk_size": 1000}})
    deadline = time.monotonic() + 60
    while code == 409 and time.monotonic() < deadline:   # until the agent resumed it
        time.sleep(0.5)
        code, body = api(env, "POST", "/schema_migrations/%s/action" % mid,
                         {"set": {"nice_ratio": 0, "chunk_size": 1000}})
    assert code == 202, body
    wait_until(env, mid, lambda i: i["status"] == "POSTPONED", what="POSTPONED again")
    assert "extra" not in columns(env, "resumed")
    api(env, "POST", "/schema_migrations/%s/action" % mid, {"cut_over": {}})
    done, _ = wait_until(env, mid, lambda i: i["status"] in ("COMPLETED", "FAILED"),
                         what="COMPLETED")
    assert done["status"] == "COMPLETED", done["fail_reason"]
    assert "extra" in columns(env, "resumed")
    assert execute(env, "select count(*), sum(crc32(concat(id, v))) from resumed") == before
    assert leftovers(env) == ([], [])


def test_agent_killed_mid_migration_fails_it_cleanly_after_restart(env):
    """Never a RUNNING that nobody runs: a restarted agent with no checkpoint to resume
    from drops the ghost and changelog tables and reports FAILED; the table is as it
    was."""
    make_table(env, "killed")
    before = columns(env, "killed")
    code, body = create(env, table="killed", alter="add column lost int",
                        postpone_cut_over=True)
    assert code == 202, body
    mid = body["schema_migration"]["id"]
    wait_until(env, mid, lambda i: i["status"] == "POSTPONED", what="POSTPONED")
    assert leftovers(env)[0]            # the ghost and changelog tables exist now
    execute(env, "delete from _killed_ghk")  # as if killed before its first checkpoint
    os.kill(guest_agent_pid(env), signal.SIGKILL)
    env.cp.client("admin").mgmt_instances.reboot(env.inst.id)
    info, _ = wait_until(env, mid, lambda i: i["status"] not in ("POSTPONED", "RUNNING"),
                         timeout=120, what="settled after restart")
    assert info["status"] == "FAILED" and "restarted" in info["fail_reason"], info
    wait_for_status(env.trove, env.inst.id, {"ACTIVE"}, timeout=120)
    assert columns(env, "killed") == before
    assert leftovers(env) == ([], [])


def test_instance_not_active_is_409(env):
    env.trove.instances.restart(env.inst.id)
    code, body = create(env, alter="add column late int")
    assert code == 409 and "not available" in body["conflict"]["message"], body
    wait_for_status(env.trove, env.inst.id, {"ACTIVE"}, timeout=120)
