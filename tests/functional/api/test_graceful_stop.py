"""SIGTERM of a real all-in-one or API process: it exits within 2 s, idle clients or not."""

import os
import signal
import socket
import time

import pytest

from tests.support.controlplane import ControlPlane

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("process", ["aio", "api"])
def test_sigterm_with_idle_connections_exits_within_two_seconds(tmp_path, process):
    plane = ControlPlane(str(tmp_path))
    idle = []
    try:
        if process == "aio":
            plane.start_aio()
        else:
            plane.start_services(names=("api",))
        plane.client("t1").instances.list()  # the API, the database and the bus are in use
        idle = [socket.create_connection(("127.0.0.1", plane.port), timeout=5)
                for _ in range(8)]
        proc = plane.procs[process]
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        took = time.monotonic() - started
        assert proc.returncode == 0, plane.log_tail(process)
        assert took < 2.0, "SIGTERM took %.2f s:\n%s" % (took, plane.log_tail(process))
    finally:
        for s in idle:
            s.close()
        plane.stop()
