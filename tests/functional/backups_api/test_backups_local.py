"""Backups and restores through python-troveclient, local store; faults.

One control plane for the module (local store, [backup] progress_timeout 8 s).
"""

import os
import signal
import time

import pytest

from tests.functional.backups_api.conftest import (
    checksums, create_instance, local_objects, mariadbd_running, run_sql, server_dir,
    wait_active, wait_backup, wait_for_status, wait_gone)

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
    for inst in restored:
        trove.instances.delete(inst.id)

    assert len(local_objects(local_cp)) == 6   # object + metadata of each
    trove.backups.delete(full.id)
    wait_gone(trove, [full.id, inc1.id, inc2.id])
    assert local_objects(local_cp) == []
