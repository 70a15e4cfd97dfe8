"""Backups and restores through python-troveclient, local store; faults.

One control plane for the module (local store, [backup] progress_timeout 8 s).
"""

import glob
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.functional.backups_api.conftest import (
    TIMEOUT, add_random_data, checksums, create_instance, expect_restore_error,
    local_objects, run_sql, server_dir, tenant_keys, wait_active, wait_backup, wait_gone,
    wait_status)
from trove_lite.backup.keys import new_key

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(local_cp):
    trove = local_cp.client()
    inst = wait_active(trove, create_instance(trove, "bk-source").id)
    run_sql(inst, "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(40), "
                  "amount DECIMAL(10,2), note TEXT)",
            "INSERT INTO orders SELECT seq, CONCAT('c-', seq MOD 977), seq * 1.25, "
            "REPEAT(MD5(seq), 3) FROM seq_1_to_20000")
    return inst


def test_full_and_incrementals_restore_each_point_then_cascade_delete(local_cp, source):
    trove = local_cp.client()
    points = []
    full = trove.backups.create("full", source.id, description="first")
    assert full.status == "NEW" and full.instance_id == source.id
    # the instance shows BACKUP while it runs, and a second backup is refused
    assert trove.instances.get(source.id).status == "BACKUP"
    with pytest.raises(Exception) as refused:
        trove.backups.create("again", source.id)
    assert getattr(refused.value, "http_status", None) == 409
    full = wait_backup(trove, full.id)
    assert full.status == "COMPLETED", full.fail_reason
    assert full.progress == 100.0 and full.size > 0 and len(full.checksum) == 64
    assert full.locationRef.startswith("file://")
    assert full.datastore["type"] == "mariadb"
    points.append((full, checksums(source)))

    run_sql(source, "UPDATE orders SET amount = amount + 1 WHERE id % 7 = 0",
            "INSERT INTO orders SELECT seq, 'late', 1, 'x' FROM seq_20001_to_25000")
    inc1 = wait_backup(trove, trove.backups.create("inc1", source.id,
                                                   parent_id=full.id).id)
    assert inc1.status == "COMPLETED", inc1.fail_reason
    assert inc1.parent_id == full.id and inc1.backup_type == "incremental"
    points.append((inc1, checksums(source)))

    run_sql(source, "DELETE FROM orders WHERE id % 5 = 0",
            "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)",
            "INSERT INTO notes VALUES (1, 'after the second incremental')")
    # --incremental without a parent: the newest completed backup is the parent
    inc2 = wait_backup(trove, trove.backups.create("inc2", source.id, incremental=True).id)
    assert inc2.status == "COMPLETED", inc2.fail_reason
    assert inc2.parent_id == inc1.id
    points.append((inc2, checksums(source)))
    assert len({tuple(sorted(c.items())) for _, c in points}) == 3
    assert trove.instances.get(source.id).status == "ACTIVE"
    listed = {b.id for b in trove.instances.backups(source.id)}
    assert listed == {full.id, inc1.id, inc2.id}

    restored = [create_instance(trove, "from-" + b.name, backup=b.id, users=False)
                for b, _ in points]
    for inst, (backup, expected) in zip(restored, points):
        inst = wait_active(trove, inst.id)
        assert checksums(inst) == expected, backup.name  # users came with the data
    assert_key_never_shown(local_cp, trove)
    for inst in restored:
        trove.instances.delete(inst.id)

    assert len(local_objects(local_cp)) == 6   # object + metadata of each
    trove.backups.delete(full.id)
    wait_gone(trove, [full.id, inc1.id, inc2.id])
    assert local_objects(local_cp) == []


def assert_key_never_shown(cp, trove):
    """The tenant's key is in no API answer, no log and no stored metadata."""
    key = tenant_keys(cp).get("demo", create=False)
    shown = json.dumps([b._info for b in trove.backups.list()])
    assert key not in shown
    logs = [os.path.join(cp.base_dir, "aio.log")] + glob.glob(
        os.path.join(cp.state_dir, "servers", "*", "guest.log"))
    files = [os.path.join(d, f) for d, _, names in os.walk(os.path.join(
        cp.state_dir, "servers")) for f in names if f.endswith((".json", ".conf"))]
    for path in logs + files + glob.glob(os.path.join(cp.state_dir, "backups", "*",
                                                      "*.json")):
        with open(path, errors="replace") as f:
            assert key not in f.read(), path
    with sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite")) as conn:
        assert key not in json.dumps(conn.execute("SELECT * FROM backups").fetchall())


def test_backup_of_an_instance_that_is_not_active_is_refused(local_cp):
    trove = local_cp.client()
    building = create_instance(trove, "bk-building", users=False)
    with pytest.raises(Exception) as refused:
        trove.backups.create("too-early", building.id)
    assert getattr(refused.value, "http_status", None) == 409
    assert "BUILD" in str(refused.value)
    assert not [b for b in trove.backups.list() if b.name == "too-early"]
    wait_active(trove, building.id)
    trove.instances.delete(building.id)


def test_backup_quota_is_enforced_and_given_back_on_delete(local_cp, source):
    trove, admin = local_cp.client(), local_cp.client("admin")
    assert not list(trove.backups.list())
    admin.quota.update("demo", {"backups": 1})
    try:
        first = wait_backup(trove, trove.backups.create("quota-1", source.id).id)
        with pytest.raises(Exception) as refused:
            trove.backups.create("quota-2", source.id)
        assert getattr(refused.value, "http_status", None) == 413
        assert "backups" in str(refused.value)
        trove.backups.delete(first.id)
        wait_gone(trove, [first.id])
        second = wait_backup(trove, trove.backups.create("quota-2", source.id).id)
        trove.backups.delete(second.id)
        wait_gone(trove, [second.id])
    finally:
        admin.quota.update("demo", {"backups": -1})


def test_corrupted_object_fails_the_restore_cleanly(local_cp, source):
    trove = local_cp.client()
    backup = wait_backup(trove, trove.backups.create("to-corrupt", source.id).id)
    path = backup.locationRef[len("file://"):]
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        chunk = f.read(64)
        f.seek(-len(chunk), os.SEEK_CUR)
        f.write(bytes(b ^ 0xFF for b in chunk))
    inst = create_instance(trove, "from-corrupt", backup=backup.id, users=False)
    expect_restore_error(local_cp, trove, inst.id, ["corrupted", backup.id])
    trove.instances.delete(inst.id)
    trove.backups.delete(backup.id)


def test_wrong_key_fails_the_restore_cleanly(local_cp, source):
    trove = local_cp.client()
    backup = wait_backup(trove, trove.backups.create("keyed", source.id).id)
    keys = tenant_keys(local_cp)
    original = keys.get("demo", create=False)
    keys.replace("demo", new_key())   # e.g. a key lost and made again
    try:
        inst = create_instance(trove, "from-wrong-key", backup=backup.id, users=False)
        expect_restore_error(local_cp, trove, inst.id, ["wrong encryption key"])
    finally:
        keys.replace("demo", original)
    trove.instances.delete(inst.id)
    trove.backups.delete(backup.id)


def cli(cp, *args):
    exe = os.path.join(os.path.dirname(sys.executable), "trove-lite")
    proc = subprocess.run([exe, "--endpoint", cp.endpoint(), *args], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_backup_commands_and_create_from_backup(local_cp, source):
    trove = local_cp.client()
    shown = json.loads(cli(local_cp, "--json", "backup-create", "cli-full", source.id,
                           "--description", "from the CLI"))
    assert shown["name"] == "cli-full" and shown["status"] == "NEW"
    done = wait_backup(trove, shown["id"])
    assert done.status == "COMPLETED"
    inc = json.loads(cli(local_cp, "--json", "backup-create", source.name, "cli-inc",
                         "--incremental"))
    assert inc["parent_id"] == done.id
    wait_backup(trove, inc["id"])
    table = cli(local_cp, "backup-list")
    assert "cli-full" in table and "cli-inc" in table and "COMPLETED" in table
    assert "cli-inc" in cli(local_cp, "backup-list-instance", source.id)
    show = cli(local_cp, "backup-show", "cli-inc")
    assert "| progress" in show and "100.0" in show and done.id in show
    created = json.loads(cli(local_cp, "--json", "create", "cli-restored", "1", "--size",
                             "1", "--backup", "cli-inc"))
    restored = wait_active(trove, created["id"])
    assert checksums(restored) == checksums(source)
    trove.instances.delete(restored.id)
    assert "accepted" in cli(local_cp, "backup-delete", "cli-full")
    wait_gone(trove, [done.id, inc["id"]])


def guest_agent_pid(cp, inst_id):
    """The guest agent's PID: the child of the wrapper shell named in guest.pid."""
    with open(os.path.join(server_dir(cp, inst_id), "guest.pid")) as f:
        leader = int(f.read().split()[0])
    with open("/proc/%d/task/%d/children" % (leader, leader)) as f:
        children = [int(p) for p in f.read().split()]
    assert len(children) == 1, children
    return children[0]


def test_guest_killed_mid_backup_ends_failed_and_removes_partial_data(local_cp, source):
    """Last in the module: the source's agent stays dead (its database runs on)."""
    trove = local_cp.client()
    add_random_data(source)
    expected = checksums(source)
    backup = trove.backups.create("killed", source.id)
    running = wait_status(trove, backup.id, {"SAVING", "COMPLETED", "FAILED"})
    assert running.status == "SAVING" and 0 < running.progress < 100
    assert any(backup.id in name for name in local_objects(local_cp))   # partial data
    os.kill(guest_agent_pid(local_cp, source.id), signal.SIGKILL)
    killed_at = time.monotonic()
    failed = wait_backup(trove, backup.id, timeout=TIMEOUT + 20)
    assert failed.status == "FAILED"
    assert time.monotonic() - killed_at < TIMEOUT + 6    # heartbeat timeout + a pass
    assert "no progress" in failed.fail_reason and "partial data removed" in \
        failed.fail_reason, failed.fail_reason
    assert not [n for n in local_objects(local_cp) if backup.id in n]
    assert trove.instances.get(source.id).status == "ACTIVE"
    assert checksums(source) == expected      # the database never noticed
