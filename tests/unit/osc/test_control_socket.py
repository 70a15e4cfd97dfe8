import os
import socket
import time

import pytest

from trove_lite.osc import server
from trove_lite.osc.context import MigrationRequest, Tunables


class _Migration:
    """Stands in for Migration: the control socket only dispatches to these calls."""

    def __init__(self, **req):
        self.request = MigrationRequest(database="d", table="t", alter="x", **req)
        self.tunables = Tunables()
        self.calls = []

    def status_text(self, detailed=True):
        return "detailed" if detailed else "Copy: 1/1"

    def coordinates(self):
        return "mysql-bin.000001:4"

    def throttle(self):
        self.calls.append("throttle")

    def no_throttle(self):
        self.calls.append("no-throttle")

    def unpostpone(self):
        self.calls.append("unpostpone")

    def panic(self):
        self.calls.append("panic")


def test_tunables_set_and_read_back():
    m = _Migration()
    server.handle("chunk-size=250", m)
    server.handle("dml-batch-size=500", m)
    server.handle("max-load=Threads_running=30", m)
    server.handle("nice-ratio=0.5", m)
    assert m.tunables.chunk_size == 250 and m.tunables.dml_batch_size == 100
    assert server.handle("chunk-size=?", m) == "250\n"
    assert server.handle("max-load=?", m) == "Threads_running=30\n"
    assert server.handle("nice-ratio=?", m) == "0.5\n"


def test_commands_reach_the_migration():
    m = _Migration()
    for cmd in ("throttle", "no-throttle", "unpostpone", "panic"):
        server.handle(cmd + "\n", m)
    assert m.calls == ["throttle", "no-throttle", "unpostpone", "panic"]
    assert server.handle("sup", m) == "Copy: 1/1\n"
    assert server.handle("status", m) == "detailed\n"
    assert server.handle("coordinates", m) == "mysql-bin.000001:4\n"
    assert "available commands" in server.handle("help", m)
    assert server.handle("bogus", m) == "Unknown command: bogus\n"


def test_force_named_cut_over_needs_the_table_name():
    m = _Migration(force_named_cut_over=True)
    assert "--force-named-cut-over" in server.handle("unpostpone", m)
    assert m.calls == []
    server.handle("unpostpone=t", m)
    assert m.calls == ["unpostpone"]


def test_unix_socket_round_trip(tmp_path):
    m = _Migration()
    path = str(tmp_path / "s.sock")
    open(path, "w").close()                  # a stale file: dropped on request
    srv = server.ControlServer(m, socket_file=path, drop_stale=True)
    srv.start()
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(b"chunk-size=123\n")
        s.recv(100)
        s.close()
        assert m.tunables.chunk_size == 123
    finally:
        srv.stop()
    assert not os.path.exists(path)


def test_stop_returns_at_once(tmp_path):
    """The engine stops its control socket on the way out: that must not add a poll
    interval to every migration's run time (it added up to 0.2 s, 0.1 s on average)."""
    srv = server.ControlServer(_Migration(), socket_file=str(tmp_path / "s.sock"),
                               tcp_port=0)
    srv.start()
    time.sleep(0.02)                          # the accept loop is waiting
    began = time.monotonic()
    srv.stop()
    assert time.monotonic() - began < 0.05
    s = socket.socket(socket.AF_UNIX)
    try:
        with pytest.raises(OSError):          # and it no longer answers
            s.connect(str(tmp_path / "s.sock"))
    finally:
        s.close()
