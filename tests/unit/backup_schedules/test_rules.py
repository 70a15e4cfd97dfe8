"""Pure rules of scheduled backups: patterns, catch-up-once, chains, retention."""

import datetime

import pytest

from trove_lite.backup import schedule_rules as rules
from trove_lite.backup.schedule_rules import Item

T0 = datetime.datetime(2026, 12, 6, 6, 0, 0)


def at(minutes):
    return T0 + datetime.timedelta(minutes=minutes)


# -- patterns ---------------------------------------------------------------------

def test_a_valid_pattern_gives_its_first_run():
    assert rules.check_pattern("*/15 * * * *", at(1)) == at(15)
    assert rules.check_pattern("  0   3 * * MON ", T0) == datetime.datetime(2026, 12, 7, 3, 0)


@pytest.mark.parametrize("pattern, words", [
    ("* * * *", "4 field(s)"),
    ("* * * * * *", "6 field(s)"),
    ("61 * * * *", "not a valid cron pattern"),
    ("* * * * 8", "not a valid cron pattern"),
    ("@hourly", "1 field(s)"),
    ("0 0 31 2 *", "never matches"),
    ("", "empty"),
    ("a b c d e", "not a valid cron pattern"),
])
def test_bad_patterns_say_why(pattern, words):
    with pytest.raises(rules.PatternError) as e:
        rules.check_pattern(pattern, T0)
    assert words in str(e.value)


def test_a_seconds_field_only_when_allowed():
    with pytest.raises(rules.PatternError):
        rules.check_pattern("* * * * * */5", T0)
    assert rules.check_pattern("* * * * * */5", T0, allow_seconds=True) == \
        T0 + datetime.timedelta(seconds=5)


# -- due runs ---------------------------------------------------------------------

def test_nothing_due_before_next_run():
    assert rules.due_time("*/5 * * * *", at(5), at(4)) is None


def test_a_run_due_exactly_now_is_due():
    assert rules.due_time("*/5 * * * *", at(5), at(5)) == at(5)


def test_runs_missed_while_down_collapse_into_the_newest():
    # next_run was 06:05; the taskmanager comes back at 08:07: one run, for 08:05
    assert rules.due_time("*/5 * * * *", at(5), at(127)) == at(125)


# -- chains -----------------------------------------------------------------------

def chain(prefix, start, length, status="COMPLETED"):
    items, parent = [], None
    for n in range(length):
        item = Item("%s%d" % (prefix, n), parent, status, at(start + n))
        items.append(item)
        parent = item.id
    return items


def test_full_schedule_never_chains():
    assert rules.choose_parent(chain("a", 0, 2), False, 5)[0] is None


def test_incremental_starts_with_a_full_then_chains_until_the_length():
    assert rules.choose_parent([], True, 3)[0] is None
    assert rules.choose_parent(chain("a", 0, 1), True, 3)[0] == "a0"
    assert rules.choose_parent(chain("a", 0, 2), True, 3)[0] == "a1"
    parent, reason = rules.choose_parent(chain("a", 0, 3), True, 3)
    assert parent is None and "holds 3" in reason
    assert rules.choose_parent(chain("a", 0, 3) + chain("b", 10, 1), True, 3)[0] == "b0"


def test_incremental_skips_a_failed_newest():
    items = chain("a", 0, 2) + [Item("f", "a1", "FAILED", at(5))]
    assert rules.choose_parent(items, True, 5)[0] == "a1"


# -- retention --------------------------------------------------------------------

def test_count_keeps_whole_chains_and_deletes_the_oldest_roots():
    items = chain("a", 0, 3) + chain("b", 10, 3) + chain("c", 20, 1)
    # newest 2: c0 and b2 -> b2 keeps b1 and b0; chain a goes, by its root
    doomed, reason = rules.retention(items, 2, None, at(30))
    assert doomed == ["a0"] and "1 chain(s)" in reason


def test_never_a_parent_whose_child_is_kept():
    items = chain("a", 0, 4)
    assert rules.retention(items, 1, None, at(30)) == ([], "nothing to trim (4 kept)")


def test_a_running_backup_keeps_its_chain():
    items = chain("a", 0, 2) + chain("b", 10, 1) + [Item("r", "a1", "BUILDING", at(12))]
    assert rules.retention(items, 1, None, at(30))[0] == []
    items[-1] = Item("r", "a1", "COMPLETED", at(12))
    assert rules.retention(items, 1, None, at(30))[0] == ["b0"]


def test_a_parent_of_a_backup_the_schedule_did_not_make_stays():
    items = chain("a", 0, 2) + chain("b", 10, 1)
    assert rules.retention(items, 1, None, at(30), pinned=frozenset({"a1"}))[0] == []


def test_days_keep_young_backups_and_always_the_newest():
    day = 24 * 60
    items = chain("a", 0, 2) + chain("b", 3 * day, 1)
    assert rules.retention(items, None, 2, at(3 * day + 1))[0] == ["a0"]
    # all older than the horizon: the newest chain still stays
    assert rules.retention(items, None, 1, at(30 * day))[0] == ["a0"]


def test_failed_backups_older_than_the_newest_completed_go():
    items = chain("a", 0, 1) + [Item("f1", None, "FAILED", at(1)),
                                Item("f2", "a0", "FAILED", at(2))] + chain("b", 5, 1) + \
        [Item("f3", None, "FAILED", at(9))]
    doomed, _ = rules.retention(items, 2, None, at(30))
    assert doomed == ["f1", "f2"]   # f3 is newer than every completed backup: kept
