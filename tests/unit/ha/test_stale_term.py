"""A guest refuses a role change carrying an older term than the one on its volume.

Every failover and planned promote starts a new term of the set (ha_sets.term);
the taskmanager sends it with each command that changes a member's role. A
taskmanager that lost its lease while frozen, or a command that sat in a dead
guest's queue, carries an older term: the server must not act on it (a stale
promote would make a second writable source)."""

import pytest

from tests.unit.ha.test_rejoin_after_fence import _Recording, _sub
from trove_lite.guestagent.datastore.mariadb import replication as repl
from trove_lite.taskmanager import ha

FLAVOR = {"ram": 512}


def _commands(r):
    """Each role-changing command of the agent, with the term given."""
    return {
        "promote": lambda term: r.promote(FLAVOR, term=term),
        "take_over": lambda term: r.take_over({"gtid": "0-1-5"}, 5, FLAVOR, term=term),
        "follow": lambda term: r.follow("127.0.0.9", 3306, None, "gtid", FLAVOR, "new",
                                        term=term),
        "fence": lambda term: r.fence("ejected", "new", term=term),
        "demote_begin": lambda term: r.demote_begin(term=term),
        "open_source": lambda term: r.open_source(FLAVOR, term=term),
    }


@pytest.mark.parametrize("command", sorted(_commands(None)))
def test_a_command_of_an_older_term_changes_nothing(tmp_path, command):
    r = _Recording(tmp_path, role="source", strategy="gtid", term=5)
    with pytest.raises(repl.StaleTerm) as caught:
        _commands(r)[command](4)
    assert "term 4" in str(caught.value) and "term 5" in str(caught.value)
    assert caught.value.code == "stale_term"
    assert r.ran == []                      # not one statement reached the server
    assert r.info["role"] == "source" and r.info["term"] == 5


def test_the_same_or_a_newer_term_is_taken_and_kept(tmp_path):
    r = _Recording(tmp_path, role="fenced", strategy="gtid", term=5)
    r.follow("127.0.0.9", 3306, None, "gtid", FLAVOR, "new", term=5)
    assert r.info["role"] == "replica"
    r.fence("ejected", "other", term=7)       # no-op on a replica, but term 7 is seen
    assert r.info["term"] == 7
    with pytest.raises(repl.StaleTerm):
        r.follow("127.0.0.9", 3306, None, "gtid", FLAVOR, "new", term=6)


def test_a_caller_sending_no_term_is_not_refused(tmp_path):
    r = _Recording(_sub(tmp_path), role="replica", strategy="gtid", term=3)
    r.follow("127.0.0.9", 3306, None, "gtid", FLAVOR, "new")
    assert r.info["term"] == 3 and r.info["role"] == "replica"


def test_the_next_term_is_above_every_member_s_term():
    # a set's row may be younger than its members (set ids change with the
    # endpoint driver off): the next term passes what any member reported
    assert ha.next_term(None, []) == 1
    assert ha.next_term(2, [None, 1]) == 3
    assert ha.next_term(2, [7, None, 3]) == 8
