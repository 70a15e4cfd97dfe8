"""The pure decisions of an upgrade: which requests are refused, what counts as major,
whether the server answers with the version asked for."""

import pytest

from trove_lite.instance.upgrade import refuse_upgrade, version_key
from trove_lite.taskmanager.upgrade_flows import answers_as, is_major


def v(version, datastore="ds-mariadb", active=True, name=None):
    return {"datastore_id": datastore, "name": name or version, "version": version,
            "active": active}


def test_newer_version_of_the_same_datastore_is_accepted():
    assert refuse_upgrade(v("10.5"), v("10.11")) is None
    assert refuse_upgrade(v("10.11"), v("11.8")) is None
    assert refuse_upgrade(v("10.5"), v("11.8")) is None


@pytest.mark.parametrize("old,new,words", [
    (v("10.11"), v("10.5"), "downgrades are not supported"),
    (v("11.8"), v("10.11"), "downgrades are not supported"),
    (v("10.11"), v("10.11"), "already runs"),
    (v("10.5"), v("12.0", active=False), "not active"),
    (v("10.5"), v("12.0", datastore="ds-other"), "another datastore"),
    (v("10.5"), v("latest"), "cannot be compared"),
])
def test_refusals_say_why(old, new, words):
    assert words in refuse_upgrade(old, new)


def test_versions_compare_as_numbers_not_text():
    assert version_key("10.11") > version_key("10.5")
    assert version_key("10.5") < version_key("10.5.1")
    assert version_key("x.y") is None


def test_a_change_of_major_or_minor_is_major():
    assert is_major("10.5", "10.11")
    assert is_major("10.11", "11.8")
    assert not is_major("10.11.6", "10.11.14")


def test_answers_as_matches_whole_version_components():
    assert answers_as("11.8.9-MariaDB-0+deb13u1 from Debian", "11.8")
    assert answers_as("10.11.14-MariaDB-0+deb12u2-log", "10.11.14")
    assert not answers_as("11.80.1-MariaDB", "11.8")
    assert not answers_as("10.11.14-MariaDB", "11.8")


def replica(version, status="ACTIVE", task="NONE", rid="r1"):
    return {"id": rid, "status": status, "task_status": task, "version": version,
            "name": version}


def test_a_set_whose_replicas_are_on_the_old_or_the_new_version_may_upgrade():
    from trove_lite.instance.upgrade import refuse_set_upgrade
    assert refuse_set_upgrade(v("10.11"), []) is None
    assert refuse_set_upgrade(v("10.11"), [replica("10.5"), replica("10.11", rid="r2")]) is None


@pytest.mark.parametrize("replicas,words", [
    ([replica("11.8")], "newer than 10.11"),
    ([replica("10.5", status="BACKUP")], "is BACKUP"),
    ([replica("10.5", task="RESIZING", status="RESIZE")], "every member is ACTIVE"),
])
def test_a_set_is_refused_when_a_replica_is_busy_or_newer_than_the_target(replicas, words):
    from trove_lite.instance.upgrade import refuse_set_upgrade
    assert words in refuse_set_upgrade(v("10.11"), replicas)


def test_a_shared_groups_copy_is_named_for_its_version_within_the_column():
    from trove_lite.taskmanager.upgrade_flows import copy_name
    assert copy_name("setgrp", "11.8") == "setgrp (11.8)"
    long = copy_name("g" * 255, "10.11")
    assert len(long) == 255 and long.endswith(" (10.11)")


def test_the_new_version_starts_relaxed_and_gets_the_old_servers_durability_back():
    from trove_lite.guestagent.upgrade import relaxed_args, restore_durability_sql
    old = {"sync_binlog": 1, "innodb_flush_log_at_trx_commit": 2}
    assert relaxed_args(old) == ("--sync-binlog=0", "--innodb-flush-log-at-trx-commit=0")
    assert restore_durability_sql(old) == \
        "SET GLOBAL sync_binlog = 1, innodb_flush_log_at_trx_commit = 2"
    # the old server was not running at pre_upgrade: its settings are unknown, the new
    # one starts as its files say
    assert relaxed_args(None) == ()
