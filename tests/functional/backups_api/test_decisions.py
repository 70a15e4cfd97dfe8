"""The pure decisions of backups in the control plane, and the tenant keys."""

import os

import pytest

from trove_lite import config
from trove_lite.backup import keys as backup_keys
from trove_lite.backup.service import choose_container, descendants, refuse_backup
from trove_lite.common.master_key import MASTER_FILE
from trove_lite.db.session import Database
from trove_lite.taskmanager.backup_flows import FAIL, NOTHING, decide_stalled, guest_storage_conf


def test_only_an_active_instance_without_a_running_backup_may_be_backed_up():
    assert refuse_backup("ACTIVE") is None
    assert refuse_backup("BACKUP") == "a backup of it is running"
    assert refuse_backup("BUILD") == "it is BUILD"
    assert refuse_backup("ERROR") == "it is ERROR"


def test_container_request_then_parent_then_strategies_then_default():
    strategies = {"instance": "inst-c", "project": "proj-c"}
    assert choose_container("mine", "parent-c", strategies, "dflt") == "mine"
    assert choose_container(None, "parent-c", strategies, "dflt") == "parent-c"
    assert choose_container(None, None, strategies, "dflt") == "inst-c"
    assert choose_container(None, None, {"project": "proj-c"}, "dflt") == "proj-c"
    assert choose_container(None, None, {}, "dflt") == "dflt"


def test_delete_order_is_deepest_child_first_and_leaves_other_chains():
    rows = [("full", None), ("inc1", "full"), ("inc2", "inc1"), ("inc1b", "full"),
            ("other", None), ("other-inc", "other")]
    order = descendants(rows, "full")
    assert set(order) == {"full", "inc1", "inc2", "inc1b"}
    assert order[-1] == "full" and order.index("inc2") < order.index("inc1")
    assert descendants(rows, "inc2") == ["inc2"]


@pytest.mark.parametrize("status,age,action", [
    ("BUILDING", 9.0, FAIL), ("SAVING", 9.0, FAIL), ("NEW", 9.0, FAIL),
    ("SAVING", 7.0, NOTHING), ("COMPLETED", 500.0, NOTHING), ("FAILED", 500.0, NOTHING)])
def test_a_running_backup_fails_only_after_the_progress_timeout(status, age, action):
    decided, reason = decide_stalled(status, age, 8)
    assert decided == action
    if action == FAIL:
        assert "no progress for 9 s" in reason and status in reason


def _conf(tmp_path, *extra):
    path = tmp_path / "tl.conf"
    path.write_text("\n".join(("[DEFAULT]", "state_dir = %s" % tmp_path) + extra) + "\n")
    return config.make_conf([], config_files=[str(path)])


def test_guest_config_carries_the_store_with_an_absolute_local_root(tmp_path):
    text = guest_storage_conf(_conf(tmp_path))
    assert "driver = local" in text
    assert "root = %s" % os.path.join(str(tmp_path), "backups") in text
    swift = guest_storage_conf(_conf(tmp_path, "[backup_storage]", "driver = swift",
                                     "[storage_swift]", "auth_url = http://s/auth/v1.0",
                                     "user = a:b", "key = sekrit"))
    assert "[storage_swift]" in swift and "key = sekrit" in swift
    assert "auth_url = http://s/auth/v1.0" in swift


def test_tenant_keys_are_stored_encrypted_and_need_the_master_key(tmp_path):
    conf = _conf(tmp_path)
    db = Database("sqlite:///%s" % (tmp_path / "cp.sqlite"))
    db.sync()
    keys = backup_keys.TenantKeys(conf, db)
    key = keys.get("t1")
    assert key == keys.get("t1") != keys.get("t2")
    with db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT encrypted_key FROM backup_keys").scalars().all()
    assert len(stored) == 2 and all(key not in s for s in stored)
    assert oct(os.stat(tmp_path / MASTER_FILE).st_mode & 0o777) == "0o600"
    with pytest.raises(backup_keys.BackupKeyError, match="no backup encryption key"):
        keys.get("t3", create=False)
    other = _conf(tmp_path, "[backup]", "master_key = another-master")
    with pytest.raises(backup_keys.BackupKeyError, match="cannot be decrypted"):
        backup_keys.TenantKeys(other, db).get("t1")
    db.dispose()


class RecordingConductor:
    def __init__(self):
        self.calls = []

    def update_backup(self, instance_id, backup_id, sent=None, **fields):
        self.calls.append((backup_id, fields))


def test_a_restarted_agent_removes_the_partial_backup_it_was_running(tmp_path):
    from trove_lite.drivers.storage.local import LocalStorage
    from trove_lite.guestagent.backup.agent import BackupAgent
    from trove_lite.guestagent.manager import GuestState
    conf = _conf(tmp_path, "[storage_local]", "root = %s" % (tmp_path / "store"))
    store = LocalStorage(str(tmp_path / "store"))
    location = store.location_for("c/b1.xbstream.zst.enc")
    partial = location[len("file://"):] + ".partial"
    os.makedirs(os.path.dirname(partial))
    with open(partial, "wb") as f:
        f.write(b"x" * 1000)
    state = GuestState(str(tmp_path / "guest.json"))
    state.update(running_backup={"id": "b1", "location": location})
    conductor = RecordingConductor()
    BackupAgent(conf, "inst", state, lambda: conductor).recover()
    assert not os.path.exists(partial)
    assert state.read()["running_backup"] is None
    (bid, fields), = conductor.calls
    assert bid == "b1" and fields["status"] == "FAILED"
    assert "restarted" in fields["fail_reason"] and "partial data removed" in fields[
        "fail_reason"]
