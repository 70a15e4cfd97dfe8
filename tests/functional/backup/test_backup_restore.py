"""Full and incremental backups of a real mariadbd, restored into new servers."""

import os
import subprocess

import pytest

from tests.functional.backup.conftest import AREA, load_shop, snapshot, stored_names
from trove_lite import exceptions
from trove_lite.drivers.storage.local import LocalStorage
from trove_lite.guestagent.backup import runner

pytestmark = pytest.mark.slow
KEY = "s3cret-backup-key-4f9a"


def write_more(server, start, rows=3000):
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO shop.orders SELECT seq, 'later', seq, 'x' "
                    "FROM shop.seq_%d_to_%d" % (start, start + rows - 1))
        cur.execute("UPDATE shop.orders SET amount = amount + 1 WHERE id MOD 10 = %d"
                    % (start % 10))


def children_cmdlines():
    """Command lines of every descendant of this process."""
    out, pids = [], [str(os.getpid())]
    while pids:
        pid = pids.pop()
        try:
            with open("/proc/%s/task/%s/children" % (pid, pid)) as f:
                kids = f.read().split()
        except OSError:
            continue
        for kid in kids:
            try:
                with open("/proc/%s/cmdline" % kid, "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode())
            except OSError:
                pass
        pids += kids
    return out


def test_full_and_incrementals_restore_each_point(store, mariadb_factory, restored_server,
                                                  tmp_state_dir, caplog, monkeypatch):
    storage, container = store
    monkeypatch.setattr(runner, "PROGRESS_INTERVAL", 0)    # a report for every chunk
    caplog.set_level("DEBUG")
    source = mariadb_factory(area=AREA)
    load_shop(source)
    reports, cmdlines = [], []

    def progress(report):
        reports.append(report)
        cmdlines.extend(children_cmdlines())

    chain, expected = [], []
    for i in range(3):
        if i:
            write_more(source, 100000 * i)
        expected.append(snapshot(source))
        parent = chain[-1] if chain else None
        result = runner.run_backup(source, storage, "bk%d" % i, parent=parent, key=KEY,
                                   progress_cb=progress, container=container)
        assert result["type"] == ("incremental" if i else "full")
        assert result["size"] > 0 and len(result["checksum"]) == 64
        assert storage.exists(result["location"])
        if parent:
            assert result["lsn"]["from_lsn"] == parent["lsn"]["to_lsn"]
            assert result["metadata"]["parent_location"] == parent["location"]
            assert result["raw_size"] < chain[0]["raw_size"]   # only changed pages
        assert result["binlog"]["binlog_file"].startswith("mysql-bin.")
        chain.append(result)
    assert expected[0] != expected[1] != expected[2]

    # progress per backup: BUILDING, SAVING..., COMPLETED at 100 %, never decreasing;
    # an incremental streams little but its progress follows the pages it scans
    per_backup, current = [], []
    for r in reports:
        current.append(r)
        if r["phase"] == "COMPLETED":
            per_backup.append(current)
            current = []
    assert len(per_backup) == 3
    for i, runs in enumerate(per_backup):
        assert runs[0]["phase"] == "BUILDING" and runs[0]["estimated_total"] > 0
        percents = [r["percent"] for r in runs]
        assert percents == sorted(percents) and percents[-1] == 100.0
        saving = [r["percent"] for r in runs if r["phase"] == "SAVING"]
        assert saving and 0 < saving[-1] < 100
        if i:
            assert saving[-1] >= 50, runs
    # the key is in no argv of the pipeline, no log line, no result
    assert any("openssl" in c for c in cmdlines)
    assert not any(KEY in c for c in cmdlines)
    assert KEY not in caplog.text
    assert KEY not in repr(chain)

    for point in range(3):
        target = os.path.join(tmp_state_dir, "restore-%d" % point, "data")
        done = runner.run_restore(chain[:point + 1], storage, KEY, target)
        assert done["restored"] == ["bk%d" % i for i in range(point + 1)]
        assert done["binlog"]["gtid"] == chain[point]["binlog"]["gtid"]
        assert not os.path.exists(os.path.join(target, ".trove-restore"))
        server = restored_server(target)
        assert snapshot(server) == expected[point]
        with server.connect(user="app", password="app-pw") as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM shop.orders")
            assert cur.fetchone()[0] == expected[point]["orders"]
        server.destroy()

    if isinstance(storage, LocalStorage):
        # the stored bytes are plain `openssl enc -aes-256-cbc -pbkdf2` of zstd of xbstream
        out = os.path.join(tmp_state_dir, "by-hand")
        os.makedirs(out)
        path = chain[0]["location"][len("file://"):]
        subprocess.run("openssl enc -d -aes-256-cbc -pbkdf2 -pass env:K < %s | zstd -d -q "
                       "| mbstream -x -C %s" % (path, out), shell=True, check=True,
                       env=dict(os.environ, K=KEY))
        assert os.path.exists(os.path.join(out, "shop", "orders.frm"))
        assert os.path.exists(os.path.join(out, "xtrabackup_checkpoints"))

    for result in reversed(chain):
        assert storage.delete(result["location"])
    assert stored_names(storage, container) == []


@pytest.fixture
def one_backup(request, mariadb_factory, tmp_state_dir):
    """A source with data and one full encrypted backup in the local store."""
    storage = LocalStorage(os.path.join(tmp_state_dir, "store"))
    source = mariadb_factory(area=AREA)
    load_shop(source, rows=5000)
    return storage, runner.run_backup(source, storage, "one", key=KEY, container="c")


def test_wrong_key_is_refused_before_anything_starts(one_backup, tmp_state_dir):
    storage, backup = one_backup
    target = os.path.join(tmp_state_dir, "target")
    with pytest.raises(exceptions.RestoreError, match="wrong encryption key"):
        runner.run_restore([backup], storage, "not-the-key", target)
    assert not os.path.exists(target)
    with pytest.raises(exceptions.RestoreError, match="no key was given"):
        runner.run_restore([backup], storage, None, target)


def test_wrong_key_past_the_check_fails_in_decryption(one_backup, tmp_state_dir):
    # metadata copied from an untrusted place could carry a forged key check:
    # openssl/zstd still refuse the data, and nothing is left behind
    storage, backup = one_backup
    forged = dict(backup, metadata=dict(backup["metadata"],
                                        key_check=runner.key_check_value("other")))
    target = os.path.join(tmp_state_dir, "empty-dir")
    os.makedirs(target)
    with pytest.raises(exceptions.RestoreError) as err:
        runner.run_restore([forged], storage, "other", target)
    assert "decrypt" in err.value.message or "decompress" in err.value.message
    assert os.listdir(target) == []


def test_corrupted_object_fails_clearly_and_leaves_nothing(one_backup, tmp_state_dir):
    storage, backup = one_backup
    path = backup["location"][len("file://"):]
    with open(path, "r+b") as f:
        f.seek(backup["size"] // 2)
        f.write(b"\x00" * 64)
    target = os.path.join(tmp_state_dir, "target")
    with pytest.raises(exceptions.RestoreError, match="corrupted: sha256 is") as err:
        runner.run_restore([backup], storage, KEY, target)
    assert backup["location"] in err.value.message
    assert not os.path.exists(target)


def test_restore_refuses_a_non_empty_datadir_and_a_broken_chain(one_backup, tmp_state_dir):
    storage, backup = one_backup
    target = os.path.join(tmp_state_dir, "busy")
    os.makedirs(target)
    open(os.path.join(target, "ibdata1"), "w").close()
    with pytest.raises(exceptions.RestoreError, match="not empty"):
        runner.run_restore([backup], storage, KEY, target)
    assert os.listdir(target) == ["ibdata1"]
    with pytest.raises(exceptions.RestoreError, match="is not an incremental of"):
        runner.run_restore([backup, backup], storage, KEY, os.path.join(tmp_state_dir, "x"))


def test_failing_backup_tool_stores_nothing(store, mariadb_factory):
    storage, container = store
    source = mariadb_factory(area=AREA)
    with pytest.raises(exceptions.BackupError, match="mariabackup exited") as err:
        runner.run_backup(source, storage, "nouser", key=KEY, container=container,
                          user="no_such_user")
    assert "Access denied" in err.value.message
    assert not storage.exists(err.value.kwargs["location"])
    assert stored_names(storage, container) == []


def test_restore_of_a_missing_object_fails_cleanly(one_backup, tmp_state_dir):
    storage, backup = one_backup
    storage.delete(backup["location"])
    target = os.path.join(tmp_state_dir, "target")
    with pytest.raises(exceptions.RestoreError, match="does not exist"):
        runner.run_restore([backup], storage, KEY, target)
    assert not os.path.exists(target)
