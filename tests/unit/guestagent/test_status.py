"""The service-status decision: one snapshot of facts in, a status and a reason out."""

import pytest

from trove_lite.guestagent.datastore.mariadb.app import decide_status


@pytest.mark.parametrize("prepared, alive, marker, ping, expected", [
    (False, False, False, None, "BUILDING"),
    (False, True, False, True, "BUILDING"),
    (True, True, False, True, "HEALTHY"),
    (True, True, True, True, "HEALTHY"),       # started outside the agent: it serves
    (True, True, False, False, "BLOCKED"),
    (True, True, True, False, "SHUTDOWN"),     # stopping on request
    (True, False, True, None, "SHUTDOWN"),
    (True, False, False, None, "CRASHED"),
])
def test_decision_table(prepared, alive, marker, ping, expected):
    decision = decide_status(prepared, alive, marker, ping)
    assert decision.status == expected
    assert decision.reason


def test_crash_and_stop_have_different_reasons():
    assert "not stopped on request" in decide_status(True, False, False, None).reason
    assert "stopped on request" in decide_status(True, False, True, None).reason
