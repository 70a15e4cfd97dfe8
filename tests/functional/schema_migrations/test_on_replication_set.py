"""A schema migration on a replication set (issue 18): it runs on the source while
the taskmanager sends it the replica's lag, the replica refuses one (400: migrate the
source), and the migrated table reaches the replica with every row."""

import json
import shutil
import tempfile
import time

import pytest
import requests

from tests.functional.controlplane.conftest import destroy_everything
from tests.functional.replication.conftest import connect, create_source
from tests.support.controlplane import ControlPlane, wait_for_status
from trove_lite.drivers.endpoint.haproxy import remove_all


@pytest.fixture(scope="module")
def env():
    base = tempfile.mkdtemp(prefix="trove-lite-osc-set-")
    cp = ControlPlane(base, heartbeat_interval=1, extra_conf=(
        "\n[ha]\nendpoint_refresh_interval = 1\n")).start_aio()
    try:
        trove = cp.client()
        src = create_source(trove, "osc-src")
        rep = trove.instances.create("osc-rep", "1", volume={"size": 1}, replica_of=src.id)
        rep = wait_for_status(trove, rep.id, {"ACTIVE", "ERROR"}, timeout=120)
        assert rep.status == "ACTIVE", getattr(rep, "fault", None)
        yield type("Env", (), {"cp": cp, "trove": trove, "src": src, "rep": rep})
    finally:
        destroy_everything(cp)
        remove_all(cp.state_dir)
        shutil.rmtree(base, ignore_errors=True)


def api(env, inst, method, path, body=None):
    r = requests.request(method, env.cp.endpoint() + "/instances/%s%s" % (inst.id, path),
                         data=None if body is None else json.dumps(body),
                         headers={"Content-Type": "application/json"}, timeout=60)
    return r.status_code, r.json() if r.content else None


def rows(inst, sql):
    with connect(inst) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def wait_status(env, mid, wanted, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = api(env, env.src, "GET", "/schema_migrations/" + mid)[1]["schema_migration"]
        if info["status"] in wanted:
            return info
        time.sleep(0.3)
    raise AssertionError("status %s not reached: %s" % (wanted, info))


def test_migration_runs_on_the_source_and_reaches_the_replica(env):
    with connect(env.src) as conn, conn.cursor() as cur:
        cur.execute("insert into orders select seq, concat('item-', seq) from seq_1_to_5000")
    body = {"schema_migration": {"database": "shop", "table": "orders",
                                 "alter": "add column qty int not null default 1",
                                 "postpone_cut_over": True}}
    code, out = api(env, env.rep, "POST", "/schema_migrations", body)
    assert code == 400 and "replica" in out["badRequest"]["message"], out
    code, out = api(env, env.src, "POST", "/schema_migrations", body)
    assert code == 202, out
    mid = out["schema_migration"]["id"]
    wait_status(env, mid, {"POSTPONED"})
    deadline = time.monotonic() + 30   # the HA pass sends the replica's lag to the source
    while env.rep.id not in (wait_status(env, mid, {"POSTPONED"})["progress"].get(
            "replica_lags") or {}):
        assert time.monotonic() < deadline, "the source never got the replica's lag"
        time.sleep(0.5)
    api(env, env.src, "POST", "/schema_migrations/%s/action" % mid, {"cut_over": {}})
    done = wait_status(env, mid, {"COMPLETED", "FAILED", "ABORTED"})
    assert done["status"] == "COMPLETED", done["fail_reason"]
    checksum = "select count(*), sum(crc32(concat(id, item, qty))) from orders"
    expected = rows(env.src, checksum)
    assert expected[0][0] == 5000
    deadline = time.monotonic() + 30
    while rows(env.rep, checksum) != expected:
        assert time.monotonic() < deadline, (rows(env.rep, checksum), expected)
        time.sleep(0.5)
    log = env.cp.log_tail("aio", 2000)
    assert "replica lags not sent" not in log, log
