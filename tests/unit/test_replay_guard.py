"""The replay record a guest keeps across restarts (rpc/sealed.py ReplayGuard)."""

import time

from cryptography.fernet import Fernet

from trove_lite.rpc import sealed


def _token(at):
    return Fernet(Fernet.generate_key()).encrypt_at_time(b"{}", int(at))


def test_a_restarted_guard_refuses_what_its_predecessor_accepted(tmp_path):
    path = str(tmp_path / "rpc_seen")
    fresh, old = _token(time.time()), _token(time.time() - 400)
    first = sealed.ReplayGuard(300, path)
    assert first.first_time(fresh) and first.first_time(old)
    with open(path, "a") as f:
        f.write("deadbeef")         # a torn line: the process died writing it
    again = sealed.ReplayGuard(300, path)
    assert not again.first_time(fresh)
    # past its window Fernet refuses the token anyway; the record forgets it
    assert again.first_time(old)
    assert sealed.ReplayGuard(300, None).first_time(fresh)    # no file: memory only


def test_the_record_file_stays_bounded(tmp_path):
    path = str(tmp_path / "rpc_seen")
    guard = sealed.ReplayGuard(1, path)
    for _ in range(300):
        assert guard.first_time(_token(time.time() - 5))   # all outside the window
    with open(path) as f:
        assert len(f.read().splitlines()) < 200
