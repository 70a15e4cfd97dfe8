"""Backups through the API: control planes with the local store and with Swift.

Helpers shared by the two modules: an instance with data, table checksums as a
user sees them, waiting for backup states, what a store holds.
"""

import os
import shutil
import tempfile
import time

import pymysql
import pytest
import swiftclient

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, wait_for_status
from tests.support.swift_aio import swift_aio  # noqa: F401  (fixture)

USER, PASSWORD = "app", "app-Pw-1"
# Guests report every second and write at most 2 MB/s into the store, so a backup
# of ~20 MB of random data runs for ~10 s: long enough to cut it off mid-way. The
# other backups (about 1 MB compressed) take half a second more.
FAST = """
[backup]
progress_timeout = 8
progress_interval = 1
max_rate_mb = 2
"""
TIMEOUT = 8


def make_cp(extra):
    base = tempfile.mkdtemp(prefix="trove-lite-bk-")
    cp = ControlPlane(base, heartbeat_interval=2, extra_conf=FAST + extra).start_aio()
    return cp, base


def tenant_keys(cp):
    """The control plane's TenantKeys (to replace a tenant's key in a test)."""
    from trove_lite import config
    from trove_lite.backup.keys import TenantKeys
    from trove_lite.cmd import aio as aio_cmd
    from trove_lite.db.session import Database
    conf = aio_cmd.make_aio_conf(cp.state_dir, config_files=[cp.conf_file])
    return TenantKeys(conf, Database(config.database_url(conf)))


def add_random_data(inst, megabytes=20):
    """Incompressible rows, so the stored backup is as big as the data."""
    run_sql(inst, "CREATE TABLE IF NOT EXISTS noise (id INT PRIMARY KEY, b BLOB)",
            "INSERT INTO noise SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_%d"
            % (megabytes * 1024))


def wait_status(trove, backup_id, statuses, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = trove.backups.get(backup_id)
        if b.status in statuses:
            return b
        time.sleep(0.2)
    raise AssertionError("backup %s never reached %s (last %s)" % (backup_id, statuses,
                                                                    b.status))


def expect_restore_error(cp, trove, inst_id, words):
    """The restore instance ends in ERROR with a fault naming the cause, and no
    mariadbd was left running for it."""
    inst = wait_for_status(trove, inst_id, {"ACTIVE", "ERROR"}, timeout=90)
    assert inst.status == "ERROR"
    message = inst.fault["message"]
    assert "Restore failed" in message and all(w in message for w in words), message
    assert not mariadbd_running(cp, inst_id)
    return message


def teardown_cp(cp, base):
    destroy_everything(cp)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def local_cp():
    cp, base = make_cp("[backup_storage]\ndriver = local\n")
    yield cp
    teardown_cp(cp, base)


@pytest.fixture(scope="module")
def swift_cp(swift_aio):  # noqa: F811
    cp, base = make_cp(
        "[backup_storage]\ndriver = swift\ncontainer = trove_backups\n\n"
        "[storage_swift]\nauth_url = %s\nuser = %s\nkey = %s\nsegment_size = 1048576\n"
        "retries = 1\ntimeout = 10\n" % (swift_aio.auth_url, swift_aio.user, swift_aio.key))
    yield cp
    teardown_cp(cp, base)


def create_instance(trove, name, backup=None, users=True):
    kwargs = {}
    if users:
        kwargs.update(databases=[{"name": "shop"}],
                      users=[{"name": USER, "password": PASSWORD,
                              "databases": [{"name": "shop"}]}])
    if backup:
        kwargs["restorePoint"] = {"backupRef": backup}
    return trove.instances.create(name, "1", volume={"size": 1}, datastore="mariadb",
                                  datastore_version="10.11", **kwargs)


def wait_active(trove, inst_id, timeout=120):
    inst = wait_for_status(trove, inst_id, {"ACTIVE", "ERROR"}, timeout=timeout)
    assert inst.status == "ACTIVE", getattr(inst, "fault", None)
    return inst


def connect(inst):
    return pymysql.connect(host=inst.ip[0], port=3306, user=USER, password=PASSWORD,
                           database="shop", autocommit=True)


def run_sql(inst, *statements):
    conn = connect(inst)
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


def checksums(inst):
    """{table: CHECKSUM TABLE} of every table of shop, as the app user sees them."""
    conn = connect(inst)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            tables = sorted(r[0] for r in cur.fetchall())
            cur.execute("CHECKSUM TABLE " + ", ".join("shop.`%s`" % t for t in tables))
            return dict(cur.fetchall())
    finally:
        conn.close()


def wait_backup(trove, backup_id, statuses=("COMPLETED", "FAILED"), timeout=120):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        b = trove.backups.get(backup_id)
        if not seen or seen[-1] != b.status:
            seen.append(b.status)
        if b.status in statuses:
            b.seen = seen
            return b
        time.sleep(0.3)
    raise AssertionError("backup %s stayed %s (seen %s)" % (backup_id, seen[-1], seen))


def wait_gone(trove, backup_ids, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = {b.id for b in trove.backups.list()} & set(backup_ids)
        if not left:
            return
        time.sleep(0.3)
    raise AssertionError("backups %s were not deleted" % left)


def local_objects(cp, archive=False):
    """Objects in the local store; the binlog archive's only with ``archive``."""
    root = os.path.join(cp.state_dir, "backups")
    names = sorted(os.path.relpath(os.path.join(d, f), root)
                   for d, _, files in os.walk(root) for f in files)
    return names if archive else [n for n in names if "/binlog/" not in n]


def swift_objects(aio, container="trove_backups", archive=False):
    """Objects (and segments) in the container; the binlog archive's only with
    ``archive``."""
    conn = swiftclient.Connection(authurl=aio.auth_url, user=aio.user, key=aio.key)
    names = []
    for c in (container, container + "_segments"):
        try:
            names += [c + "/" + o["name"] for o in conn.get_container(
                c, full_listing=True)[1]]
        except swiftclient.ClientException as exc:
            if exc.http_status != 404:
                raise
    return sorted(n for n in names if archive or "/binlog/" not in n)


def server_dir(cp, inst_id):
    import sqlite3
    conn = sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite"))
    try:
        server_id = conn.execute("SELECT server_id FROM instances WHERE id=?",
                                 (inst_id,)).fetchone()[0]
    finally:
        conn.close()
    return os.path.join(cp.state_dir, "servers", server_id)


def mariadbd_running(cp, inst_id):
    """True if a mariadbd of this instance's server is alive."""
    sdir = server_dir(cp, inst_id)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"mariadbd") and any(sdir.encode() in a for a in cmd):
            return True
    return False
