import os
import shutil
import tempfile

import pymysql
import pytest

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, wait_for_status
from trove_lite.drivers.endpoint.haproxy import remove_all


@pytest.fixture(scope="module", params=["gtid", "binlog"])
def cp(request):
    """A control plane whose replication strategy is the parameter."""
    base = tempfile.mkdtemp(prefix="trove-lite-repl-")
    plane = ControlPlane(base, heartbeat_interval=1, extra_conf=(
        "\n[replication]\nstrategy = %s\nsource_heartbeat_expiry = 6\n"
        "switchover_timeout = 20\n\n[backup_storage]\ndriver = local\n"
        # these tests eject by hand: no automatic failover (tests/functional/ha)
        "\n[ha]\nauto_failover = false\n"
        % request.param)).start_aio()
    plane.strategy = request.param
    yield plane
    if os.environ.get("REPLICATION_DEBUG"):
        print(plane.log_tail("aio", 300), plane.diagnose(lines=30))
    destroy_everything(plane)
    remove_all(plane.state_dir)    # the sets' HAProxies (tests/functional/ha)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def source(cp):
    inst = create_source(cp.client(), "src")
    with connect(inst) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, %s)",
                        [(i, "item-%d" % i) for i in range(1, 501)])
    return inst


def create_source(trove, name):
    """An ACTIVE instance with database shop, user alice and an empty orders table."""
    inst = trove.instances.create(
        name, "1", volume={"size": 1}, datastore="mariadb", datastore_version="10.11",
        databases=[{"name": "shop"}],
        users=[{"name": "alice", "password": "s3cret-Pw", "databases": [{"name": "shop"}]}])
    inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
    assert inst.status == "ACTIVE", getattr(inst, "fault", None)
    with connect(inst) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40))")
    return inst


def connect(inst, **kw):
    kw.setdefault("connect_timeout", 5)
    return pymysql.connect(host=inst.ip[0], port=3306, user="alice", password="s3cret-Pw",
                           database="shop", autocommit=True, **kw)


def server_socket(cp, trove, instance_id):
    """The mariadbd socket of an instance (to act as its operator would)."""
    import sqlite3
    db = sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite"))
    try:
        server_id = db.execute("SELECT server_id FROM instances WHERE id=?",
                               (instance_id,)).fetchone()[0]
    finally:
        db.close()
    return os.path.join(cp.state_dir, "servers", server_id, "mysql", "mysqld.sock"), server_id
