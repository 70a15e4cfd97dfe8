"""Datastore logs against a real instance: one control plane (local store) and
one instance shared by the module.

What a user sees: a query appears in ``log-tail general``; ``log-save`` writes
the whole published log; the guest's own log publishes; SYS logs refuse enable
and disable; discard empties; unknown names and bad bodies are 4xx in Trove's
fault format; troveclient's and the OpenStack client's log commands work.
"""

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pymysql
import pytest
import requests

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, wait_for_status
from trove_lite.cli import main as cli

USER, PASSWORD = "app", "app-Pw-1"


@pytest.fixture(scope="module")
def env():
    base = tempfile.mkdtemp(prefix="trove-lite-logs-")
    cp = ControlPlane(base, heartbeat_interval=2,
                      extra_conf="[logs]\nobject_size = 4096\nmax_size = 65536\n").start_aio()
    try:
        trove = cp.client("demo")
        inst = trove.instances.create(
            "logs1", "1", volume={"size": 1}, datastore="mariadb",
            datastore_version="10.11", databases=[{"name": "shop"}],
            users=[{"name": USER, "password": PASSWORD, "databases": [{"name": "shop"}]}])
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=180)
        assert inst.status == "ACTIVE", getattr(inst, "fault", None)
        yield type("Env", (), {"cp": cp, "trove": trove, "inst": inst})
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


def cli_run(env, capsys, *args):
    rc = cli.main(["--endpoint", env.cp.endpoint("demo"), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def api(env, method, path, body=None):
    return requests.request(method, env.cp.endpoint("demo") + path,
                            data=None if body is None else json.dumps(body),
                            headers={"Content-Type": "application/json"}, timeout=60)


def assert_fault(resp, status, name):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert list(body) == [name] and body[name]["code"] == status, body
    return body[name]["message"]


def run_query(env, *sqls):
    conn = pymysql.connect(host=env.inst.ip[0], port=3306, user=USER, password=PASSWORD,
                           database="shop", autocommit=True)
    try:
        with conn.cursor() as cur:
            for sql in sqls:
                cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def test_list_shows_trove_logs_with_their_types(env):
    logs = {log.name: log for log in env.trove.instances.log_list(env.inst)}
    assert {n: logs[n].type for n in logs} == {"general": "USER", "slow_query": "USER",
                                               "error": "SYS", "guest": "SYS"}
    assert logs["general"].status == "Disabled"
    assert logs["error"].status == "Ready"  # mariadbd wrote its start-up lines
    assert logs["general"].container == "database_logs"
    assert logs["general"].prefix == "%s/general/" % env.inst.id


def test_query_run_by_a_user_appears_in_log_tail_general(env, capsys):
    rc, _, err = cli_run(env, capsys, "log-tail", env.inst.id, "general")
    assert rc == 1 and "disabled" in err  # publishing a disabled USER log says so
    rc, out, err = cli_run(env, capsys, "--json", "log-enable", env.inst.id, "general")
    assert rc == 0, err
    assert json.loads(out)["status"] in ("Enabled", "Ready")
    marker = "marker_%s" % uuid.uuid4().hex[:8]
    run_query(env, "SELECT '%s'" % marker)
    # the guest's health probe logs 4 lines every 2 s: --lines 12 holds the query
    rc, out, err = cli_run(env, capsys, "log-tail", env.inst.id, "general", "--lines", "12")
    assert rc == 0, err
    assert marker in out
    assert len(out.splitlines()) <= 12
    shown = env.trove.instances.log_show(env.inst, "general")
    assert shown.status == "Published" or shown.status == "Partial"
    assert shown.published > 0


def test_publish_never_reuploads_and_log_save_writes_the_whole_log(env, capsys):
    env.trove.instances.log_action(env.inst, "general", enable=True)
    for i in range(300):  # several 4 KiB objects
        run_query(env, "SELECT 'row_%04d', REPEAT('x', 20)" % i)
    first = env.trove.instances.log_action(env.inst, "general", publish=True)
    again = env.trove.instances.log_action(env.inst, "general", publish=True)
    # the second publish adds only what the first one's own reads did not see
    assert again.published - first.published < 4096
    path = os.path.join(tempfile.mkdtemp(prefix="trove-lite-logsave-"), "general.log")
    rc, out, err = cli_run(env, capsys, "--json", "log-save", env.inst.id, "general",
                           "--file", path)
    assert rc == 0, err
    saved = open(path, "rb").read()
    assert json.loads(out)["bytes"] == len(saved)
    text = saved.decode()
    for i in (0, 150, 299):
        assert "row_%04d" % i in text
    # the whole log: what the guest's file holds from its first byte
    assert text.startswith(("/usr/sbin/mariadbd", "mariadbd")) or "Time" in text[:300]
    assert len(saved) >= 300 * 30


def test_guest_log_publishes(env, capsys):
    log = env.trove.instances.log_action(env.inst, "guest", publish=True)
    assert log.type == "SYS" and log.published > 0 and log.status == "Published"
    rc, out, err = cli_run(env, capsys, "log-tail", env.inst.id, "guest", "--lines", "50")
    assert rc == 0, err
    assert "prepare finished" in out or "heartbeat" in out or "INFO" in out


def test_published_objects_are_encrypted_at_rest(env):
    root = os.path.join(env.cp.state_dir, "backups", "database_logs", env.inst.id,
                        "guest")
    names = [n for n in os.listdir(root) if not n.endswith(".meta.json")]
    assert names
    for n in names:
        data = open(os.path.join(root, n), "rb").read()
        assert b"INFO" not in data and b"guest" not in data


def test_sys_logs_refuse_enable_and_disable(env):
    for name in ("error", "guest"):
        for action in ("enable", "disable"):
            resp = api(env, "POST", "/instances/%s/log" % env.inst.id,
                       {"name": name, action: 1})
            message = assert_fault(resp, 400, "badRequest")
            assert "SYS" in message


def test_discard_empties(env, capsys):
    env.trove.instances.log_action(env.inst, "general", publish=True)
    log = env.trove.instances.log_action(env.inst, "general", discard=True)
    assert log.published == 0
    root = os.path.join(env.cp.state_dir, "backups", "database_logs", env.inst.id,
                        "general")
    assert os.path.isdir(root) and os.listdir(root) == []
    resp = api(env, "GET", "/instances/%s/log/general/objects" % env.inst.id)
    assert resp.json() == {"objects": []}
    # a later publish uploads only what is new
    marker = "after_discard_%s" % uuid.uuid4().hex[:6]
    run_query(env, "SELECT '%s'" % marker)
    rc, out, err = cli_run(env, capsys, "log-tail", env.inst.id, "general", "--lines", "0")
    assert rc == 0, err
    assert marker in out and "row_0000" not in out


def test_bad_names_and_bodies_are_4xx(env):
    iid = env.inst.id
    assert_fault(api(env, "POST", "/instances/%s/log" % iid, {"name": "nope"}), 404,
                 "itemNotFound")
    assert_fault(api(env, "GET", "/instances/%s/log/nope" % iid), 404, "itemNotFound")
    assert_fault(api(env, "POST", "/instances/%s/log" % iid,
                     {"name": "general", "publish": 1, "frobnicate": 1}), 400, "badRequest")
    assert_fault(api(env, "POST", "/instances/%s/log" % iid,
                     {"name": "general", "publish": 7}), 400, "badRequest")
    assert_fault(api(env, "POST", "/instances/%s/log" % iid,
                     {"name": "general", "enable": 1, "disable": 1}), 400, "badRequest")
    assert_fault(api(env, "GET", "/instances/%s/log/general/objects/x1" % iid), 400,
                 "badRequest")
    assert_fault(api(env, "GET", "/instances/%s/log" % uuid.uuid4()), 404, "itemNotFound")


def test_disable_turns_the_general_log_off(env):
    log = env.trove.instances.log_action(env.inst, "general", disable=True)
    assert log.status == "Disabled"
    before = env.trove.instances.log_show(env.inst, "general").pending
    run_query(env, "SELECT 'not_logged'")
    assert env.trove.instances.log_show(env.inst, "general").pending == before


def test_slow_query_log_uses_the_configuration_groups_threshold(env, capsys):
    group = env.trove.configurations.create(
        "slowlogs", json.dumps({"long_query_time": 0.3}), datastore="mariadb",
        datastore_version="10.11")
    env.trove.instances.update(env.inst, configuration=group.id)
    try:
        deadline = time.monotonic() + 30   # attach answers 202; the apply follows
        while env.trove.instances.get(env.inst).configuration["apply"]["state"] != "applied":
            assert time.monotonic() < deadline
            time.sleep(0.3)
        env.trove.instances.log_action(env.inst, "slow_query", enable=True)
        run_query(env, "SELECT 'quick_one'")
        run_query(env, "SELECT 'slow_one', SLEEP(0.6)")
        rc, out, err = cli_run(env, capsys, "log-tail", env.inst.id, "slow_query",
                               "--lines", "0")
        assert rc == 0, err
        assert "slow_one" in out and "quick_one" not in out
        assert "Query_time: 0.6" in out
    finally:
        env.trove.instances.update(env.inst, remove_configuration=True)


def test_a_filled_general_log_rotates_and_keeps_a_bounded_number(env, capsys):
    """[logs] max_size is 64 KiB here, keep 2: each round writes ~130 KiB."""
    env.trove.instances.log_action(env.inst, "general", enable=True)
    log_file = run_query(env, "SELECT @@general_log_file")[0][0]
    log_dir = os.path.dirname(log_file)
    env.trove.instances.log_action(env.inst, "general", publish=True)
    for round_ in range(4):
        run_query(env, *["SELECT 'rot_%d_%04d', '%s'" % (round_, i, "z" * 100)
                         for i in range(600)])
        env.trove.instances.log_action(env.inst, "general", publish=True)
        # the next publish finds the file read to its end: it rotates, loses nothing
        env.trove.instances.log_action(env.inst, "general", publish=True)
        names = sorted(n for n in os.listdir(log_dir) if n.startswith("general.log"))
        assert len(names) <= 3, names
        assert sum(os.path.getsize(os.path.join(log_dir, n)) for n in names) < 3 * 150000
    assert "general.log.2" in names
    path = os.path.join(tempfile.mkdtemp(prefix="trove-lite-logsave-"), "general.log")
    rc, _, err = cli_run(env, capsys, "log-save", env.inst.id, "general", "--file", path)
    assert rc == 0, err
    saved = open(path).read()
    for round_ in range(4):
        for i in (0, 599):
            assert "rot_%d_%04d" % (round_, i) in saved


def test_a_general_log_nobody_publishes_is_rotated_by_the_heartbeat(env):
    """Past 4 x max_size (256 KiB here) the guest's heartbeat rotates the log by
    itself: the files stay bounded and the volume keeps its room."""
    env.trove.instances.log_action(env.inst, "general", enable=True)
    log_file = run_query(env, "SELECT @@general_log_file")[0][0]
    log_dir = os.path.dirname(log_file)
    free_before = os.statvfs(log_dir).f_bavail * os.statvfs(log_dir).f_frsize
    for round_ in range(3):
        run_query(env, *["SELECT 'hb_%d_%04d', '%s'" % (round_, i, "y" * 200)
                         for i in range(1200)])
    deadline = time.monotonic() + 30
    while os.path.getsize(log_file) > 4 * 65536 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert os.path.getsize(log_file) <= 4 * 65536
    names = [n for n in os.listdir(log_dir) if n.startswith("general.log")]
    assert len(names) <= 3, names
    total = sum(os.path.getsize(os.path.join(log_dir, n)) for n in names)
    assert total < 3 * 5 * 65536
    free_after = os.statvfs(log_dir).f_bavail * os.statvfs(log_dir).f_frsize
    assert free_before - free_after < 3 * 5 * 65536


def test_openstack_client_lists_and_shows_logs(env):
    import contextlib
    import io

    from openstackclient import shell
    from osc_lib.clientmanager import ClientCache, ClientManager
    for attr in vars(ClientManager).values():
        if isinstance(attr, ClientCache):
            attr._handle = None

    def osc(*args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = shell.main(["--os-auth-type", "none", "--os-endpoint",
                             env.cp.endpoint("demo"), "database", *args, "-f", "json"])
        assert rc == 0, err.getvalue()
        return json.loads(out.getvalue())

    listed = {row["Name"]: row for row in osc("log", "list", env.inst.id)}
    assert listed["error"]["Type"] == "SYS" and listed["general"]["Type"] == "USER"
    shown = osc("log", "show", env.inst.id, "guest")
    assert shown["name"] == "guest" and shown["metafile"] == "%s/guest.metafile" % env.inst.id
    published = osc("log", "set", env.inst.id, "guest", "--publish")
    assert published["status"] == "Published" and published["pending"] == 0


def test_passwords_in_the_general_log_are_not_published(env, capsys):
    env.trove.instances.log_action(env.inst, "general", enable=True)
    # the user sets its own password to what it is: nothing changes but the log line
    run_query(env, "SET PASSWORD = PASSWORD('%s')" % PASSWORD)
    rc, out, err = cli_run(env, capsys, "log-tail", env.inst.id, "general", "--lines", "20")
    assert rc == 0, err
    assert "SET PASSWORD = PASSWORD('<secret>')" in out
    assert PASSWORD not in out


def test_log_tail_follow_prints_queries_as_they_come(env):
    env.trove.instances.log_action(env.inst, "general", enable=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trove_lite.cli.main", "--endpoint", env.cp.endpoint("demo"),
         "log-tail", env.inst.id, "general", "--lines", "1", "--follow", "--interval",
         "0.5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        marker = "followed_%s" % uuid.uuid4().hex[:8]
        # the query comes once the tail has printed its first line (a loaded machine
        # takes seconds to start the CLI: a query before that is only in --lines 1)
        seen, deadline = b"", time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 1)[0]:
                seen = os.read(proc.stdout.fileno(), 65536)
        run_query(env, "SELECT '%s'" % marker)
        deadline = time.monotonic() + 30
        while marker.encode() not in seen and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 1)[0]:
                seen += os.read(proc.stdout.fileno(), 65536)
        assert marker.encode() in seen, seen[-2000:]
    finally:
        proc.kill()  # by its PID: the process this test started
        proc.wait()
