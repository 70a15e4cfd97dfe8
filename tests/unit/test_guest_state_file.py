"""The guest's state file stays whole when two holders update it at once.

The agent's early preparation and its RPC manager each hold a GuestState on
the same file; a replica once failed to build with FileNotFoundError because
both wrote through the same temporary name.
"""

import threading

from trove_lite.guestagent import state as guest_state


def test_two_holders_updating_at_once_lose_nothing(tmp_path):
    a = guest_state.state_of(str(tmp_path))
    b = guest_state.state_of(str(tmp_path))
    errors = []

    def hammer(holder, prefix):
        try:
            for i in range(300):
                holder.update(**{"%s%d" % (prefix, i): i})
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(a, "a")),
               threading.Thread(target=hammer, args=(b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    data = a.read()
    assert all("a%d" % i in data and "b%d" % i in data for i in range(300))
