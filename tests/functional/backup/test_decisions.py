"""The deciding parts of the backup engine: chain checks, key checks, parsing,
and how a pipeline names the stage that failed (with real, tiny processes)."""

import pytest

from trove_lite import exceptions
from trove_lite.guestagent.backup import runner
from trove_lite.guestagent.backup.pipeline import Pipeline, Stage
from trove_lite.guestagent.backup.strategies import get_strategy, parse_binlog_info


def backup(bid, kind, parent=None, from_lsn=0, to_lsn=100, key="k"):
    meta = {"backup_id": bid, "type": kind, "strategy": "mariabackup", "codec": "zstd",
            "from_lsn": from_lsn, "to_lsn": to_lsn, "encrypted": key is not None,
            "parent_location": parent["location"] if parent else None}
    if key:
        meta["key_check"] = runner.key_check_value(key)
    return {"location": "file:///b/%s" % bid, "metadata": meta}


def test_a_sound_chain_passes_and_broken_ones_say_why():
    full = backup("f", "full")
    inc1 = backup("i1", "incremental", full, 100, 150)
    inc2 = backup("i2", "incremental", inc1, 150, 170)
    runner.check_chain([full, inc1, inc2], "k")
    cases = [([], "empty"),
             ([inc1], "must be a full backup"),
             ([full, inc2], "is not an incremental of f"),
             ([full, backup("x", "incremental", full, 90, 120)], "starts at LSN 90"),
             ([full, inc1], None)]
    for chain, reason in cases:
        if reason is None:
            with pytest.raises(exceptions.RestoreError, match="wrong encryption key"):
                runner.check_chain(chain, "K")
        else:
            with pytest.raises(exceptions.RestoreError, match=reason):
                runner.check_chain(chain, "k")


def test_key_check_value_is_salted_and_hides_the_key():
    a, b = runner.key_check_value("secret"), runner.key_check_value("secret")
    assert a != b and "secret" not in a
    assert runner.key_matches("secret", a) and not runner.key_matches("secreT", a)
    with pytest.raises(exceptions.BackupError, match="newline"):
        runner.key_check_value("two\nlines")


def test_plan_names_the_object_after_codec_and_encryption():
    hint, meta = runner.plan_backup("b7", None, None, "gzip", "mariabackup", "bk")
    assert hint == "bk/b7.xbstream.gz" and meta["encrypted"] is False
    assert "key_check" not in meta
    parent = {"id": "b7", "location": "file:///x", "lsn": {"to_lsn": 5}}
    hint, meta = runner.plan_backup("b8", parent, "k", "zstd", "mariabackup", "bk")
    assert hint == "bk/b8.xbstream.zst.enc"
    assert meta["type"] == "incremental" and meta["parent_location"] == "file:///x"
    with pytest.raises(exceptions.BackupError, match="no LSN metadata"):
        runner.plan_backup("b9", {"id": "old", "location": "x"}, None, "zstd",
                           "mariabackup", "bk")
    with pytest.raises(ValueError, match="unknown codec"):
        runner.plan_backup("b9", None, None, "brotli", "mariabackup", "bk")


def test_binlog_info_parsing():
    text = ("tool_name = mariadb-backup\nbinlog_pos = filename 'mysql-bin.000003', "
            "position '4567', GTID of the last change '0-1-42'\n")
    assert parse_binlog_info(text) == {"binlog_file": "mysql-bin.000003",
                                       "binlog_position": 4567, "gtid": "0-1-42"}
    assert parse_binlog_info("binlog_pos = filename 'b.1', position '9'") == {
        "binlog_file": "b.1", "binlog_position": 9}
    assert parse_binlog_info("nothing here") == {}


def test_strategies_differ_only_in_tools_and_apply_log_only():
    maria, xtra = get_strategy("mariabackup"), get_strategy("xtrabackup")
    assert maria.tool.endswith("mariadb-backup") and xtra.tool.endswith("xtrabackup")
    assert maria._prepare_extra(last=False) == []
    assert xtra._prepare_extra(last=False) == ["--apply-log-only"]
    with pytest.raises(ValueError):
        get_strategy("nosuch")


def test_secret_reaches_the_process_through_a_pipe_not_argv():
    p = Pipeline([Stage("show", ("sh", "-c", "cat /dev/fd/{secret_fd}"),
                        secret=b"hunter2")]).start()
    out = p.read(100)
    p.wait()
    assert out == b"hunter2\n"
    assert not any("hunter2" in " ".join(argv) for argv in p.argvs)
    assert p.failure() is None


def test_failure_names_the_cause_not_the_broken_pipe():
    p = Pipeline([Stage("producer", ("head", "-c", "50000000", "/dev/zero")),
                  Stage("consumer", ("sh", "-c", "head -c 10 >/dev/null; "
                                     "echo 'disk on fire' >&2; exit 3"))]).start()
    while p.read(1 << 20):
        pass
    p.wait()
    stage, code, detail = p.failure()
    assert (stage, code) == ("consumer", 3) and "disk on fire" in detail


def test_missing_ok_marker_is_a_failure():
    p = Pipeline([Stage("tool", ("sh", "-c", "echo 'half done' >&2"),
                        ok_marker="completed OK!")]).start()
    p.read(10)
    p.wait()
    assert p.failure()[0] == "tool"
