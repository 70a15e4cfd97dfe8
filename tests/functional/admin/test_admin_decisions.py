"""Pure pieces of the admin path: when a guest may be asked, how user paths parse."""

import pytest

from trove_lite.exceptions import BadRequest, InvalidName
from trove_lite.instance import guest_admin


@pytest.mark.parametrize("task,service,allowed", [
    ("NONE", "HEALTHY", True),
    ("NONE", "RUNNING", True),
    ("RESTART_REQUIRED", "RESTART_REQUIRED", True),
    ("BUILDING", "NEW", False),
    ("NONE", "NEW", False),
    ("REBOOTING", "HEALTHY", False),
    ("RESIZING", "HEALTHY", False),
    ("DELETING", "HEALTHY", False),
    ("NONE", "SHUTDOWN", False),
    ("NONE", "FAILED", False),
    ("BUILDING_ERROR", "FAILED", False),
])
def test_refuse_guest_call(task, service, allowed):
    reason = guest_admin.refuse_guest_call(task, service)
    assert (reason is None) == allowed
    if not allowed:
        assert task in reason or service in reason


@pytest.mark.parametrize("path,expected", [
    ("alice", ("alice", "%")),
    ("alice@%", ("alice", "%")),
    ("bob@127.%", ("bob", "127.%")),
    ("bob@10.0.0.1", ("bob", "10.0.0.1")),
])
def test_parse_user_path(path, expected):
    assert guest_admin.parse_user_path(path) == expected


@pytest.mark.parametrize("path", ["root", "root@%", "a`b", "x" * 100 + "@%", "café",
                                  "bob@local`host", "bob@localhost"])
def test_parse_user_path_refuses(path):
    with pytest.raises(InvalidName):
        guest_admin.parse_user_path(path)


def test_database_names_refuse_duplicates_and_empty():
    assert guest_admin.database_names([{"name": "a"}, "b"]) == ["a", "b"]
    for bad in ([], [{"name": "a"}, {"name": "a"}], "a", [{"name": "mysql"}]):
        with pytest.raises(BadRequest):
            guest_admin.database_names(bad)
