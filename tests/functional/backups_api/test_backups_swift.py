"""Backups and restores through python-troveclient into a real Swift (all-in-one);
Swift stopped in the middle of a backup.

Segments are 1 MiB, so every backup is a static large object with segments in
``trove_backups_segments``.
"""

import time

import pytest

from tests.functional.backups_api.conftest import (
    add_random_data, checksums, create_instance, run_sql, swift_objects, wait_active,
    wait_backup, wait_gone, wait_status)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(swift_cp):
    trove = swift_cp.client()
    inst = wait_active(trove, create_instance(trove, "sw-source").id)
    run_sql(inst, "CREATE TABLE orders (id INT PRIMARY KEY, note TEXT)",
            "INSERT INTO orders SELECT seq, REPEAT(MD5(seq), 4) FROM seq_1_to_30000")
    return inst


def test_chain_in_swift_restores_each_point_and_cascade_delete_empties_it(
        swift_cp, swift_aio, source):
    trove = swift_cp.client()
    points = []
    full = wait_backup(trove, trove.backups.create("sw-full", source.id).id)
    assert full.status == "COMPLETED", full.fail_reason
    assert full.locationRef.startswith("swift://trove_backups/")
    points.append((full, checksums(source)))
    parent = full
    for i in (1, 2):
        run_sql(source, "UPDATE orders SET note = CONCAT(note, '%d') WHERE id %% %d = 0"
                % (i, 3 + i), "INSERT INTO orders VALUES (%d, 'inc %d')" % (100000 + i, i))
        inc = wait_backup(trove, trove.backups.create("sw-inc%d" % i, source.id,
                                                      parent_id=parent.id).id)
        assert inc.status == "COMPLETED" and inc.parent_id == parent.id, inc.fail_reason
        points.append((inc, checksums(source)))
        parent = inc
    names = swift_objects(swift_aio)
    assert any(n.startswith("trove_backups_segments/") for n in names)
    assert len([n for n in names if n.startswith("trove_backups/")]) == 3

    restored = [create_instance(trove, "sw-from-" + b.name, backup=b.id, users=False)
                for b, _ in points]
    for inst, (backup, expected) in zip(restored, points):
        assert checksums(wait_active(trove, inst.id)) == expected, backup.name
    for inst in restored:
        trove.instances.delete(inst.id)

    trove.backups.delete(full.id)
    wait_gone(trove, [b.id for b, _ in points])
    assert swift_objects(swift_aio) == []


def test_backup_strategy_chooses_the_container(swift_cp, swift_aio, source):
    trove = swift_cp.client()
    trove.backup_strategies.create(swift_container="project_bk")
    trove.backup_strategies.create(instance_id=source.id, swift_container="source_bk")
    listed = {(s.instance_id, s.swift_container) for s in trove.backup_strategies.list()}
    assert listed == {(None, "project_bk"), (source.id, "source_bk")}
    backup = wait_backup(trove, trove.backups.create("sw-strategy", source.id).id)
    assert backup.locationRef.startswith("swift://source_bk/"), backup.locationRef
    assert swift_objects(swift_aio, "source_bk")
    trove.backup_strategies.delete(instance_id=source.id)
    trove.backup_strategies.delete()
    assert list(trove.backup_strategies.list()) == []
    trove.backups.delete(backup.id)
    wait_gone(trove, [backup.id])
    assert swift_objects(swift_aio, "source_bk") == []


def test_swift_stopped_mid_backup_fails_it_with_the_reason(swift_cp, swift_aio, source):
    trove = swift_cp.client()
    add_random_data(source)
    expected = checksums(source)
    backup = trove.backups.create("sw-cut", source.id)
    running = wait_status(trove, backup.id, {"SAVING", "COMPLETED", "FAILED"})
    assert running.status == "SAVING"
    # cut Swift off once the upload is under way (a segment stored), not before it
    deadline = time.monotonic() + 30
    while not any(n.startswith("trove_backups_segments/") for n in swift_objects(swift_aio)):
        assert time.monotonic() < deadline, "no segment reached Swift within 30 s"
        time.sleep(0.05)
    swift_aio.stop()
    try:
        failed = wait_backup(trove, backup.id, timeout=60)
        assert failed.status == "FAILED"
        assert "Swift failed while" in failed.fail_reason, failed.fail_reason
        assert trove.instances.get(source.id).status == "ACTIVE"
        assert checksums(source) == expected
    finally:
        swift_aio.start()
    # what the failed upload left is removed with the backup
    assert swift_objects(swift_aio)
    trove.backups.delete(backup.id)
    wait_gone(trove, [backup.id])
    assert swift_objects(swift_aio) == []
