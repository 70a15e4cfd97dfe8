"""Contract of the endpoint drivers (drivers/endpoint/base.py), run against the
local one (a real HAProxy) and the Octavia one (against the HTTP fake of
tests/support/octavia_fake.py, whose listeners pipe TCP as an amphora does), in
front of small TCP servers that name themselves."""

import socket
import threading
import time

import pytest

from tests.support.net import reserve_subnet
from tests.support.octavia_fake import OctaviaFake
from trove_lite import config
from trove_lite.drivers.endpoint.base import Layout, Member
from trove_lite.drivers.endpoint.haproxy import LocalHAProxy
from trove_lite.drivers.endpoint.octavia import OctaviaEndpoints
from trove_lite.taskmanager import ha


class NamedServer:
    """Accepts connections and sends its name; keeps each open until closed."""

    def __init__(self, name):
        self.name = name.encode()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.sendall(self.name)
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    @staticmethod
    def _hold(conn):
        try:
            while conn.recv(100):
                conn.sendall(b"+")
        except OSError:
            pass

    def member(self):
        return Member(self.name.decode(), "127.0.0.1", self.port)


def dial(endpoint):
    host, port = endpoint.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=3)
    return s, s.recv(10).decode()


def alive(s):
    try:
        s.sendall(b"?")
        return s.recv(10) == b"+"
    except OSError:
        return False


@pytest.fixture(params=["local", "octavia"])
def driver(request, tmp_path):
    prefix, lock = reserve_subnet(206)     # the drivers contract area
    fake = None
    if request.param == "local":
        d = LocalHAProxy(str(tmp_path), lambda: prefix, "templates/haproxy")
    else:
        fake = OctaviaFake(prefix, delay=0.05).start()
        path = tmp_path / "octavia.conf"
        path.write_text("[openstack_auth]\nauth_type = admin_token\nendpoint = %s\n"
                        "token = %s\n[ha]\nendpoint_driver = octavia\n[octavia]\n"
                        "endpoint_override = %s\nvip_subnet_id = subnet-1\n"
                        "poll_interval = 0.02\n" % (fake.url, fake.token, fake.url))
        conf = config.make_conf(config_files=[str(path)],
                                overrides={"state_dir": str(tmp_path)})
        d = ha.build_endpoints(conf, None)
        assert isinstance(d, OctaviaEndpoints)
    yield d
    d.remove("set1")
    if fake is not None:
        fake.stop()
    lock.close()


def test_endpoint_contract(driver):
    a, b, c = NamedServer("a"), NamedServer("b"), NamedServer("c")
    eps = driver.ensure("set1", Layout(a.member(), (b.member(), c.member())))
    assert driver.get("set1") == eps and driver.get("other") is None
    writer, name = dial(eps.rw)
    assert name == "a"
    assert sorted(dial(eps.ro)[1] for _ in range(4)) == ["b", "b", "c", "c"]
    reader, name = dial(eps.ro)
    assert name in ("b", "c")
    # rw moves to b: a's sessions are cut, a surviving ro session is untouched
    started = time.monotonic()
    survivor = c if name == "c" else b
    layout = Layout(b.member(), (survivor.member(),))
    assert driver.ensure("set1", layout) == eps            # same addresses
    assert time.monotonic() - started < 1.0
    if driver.cuts_sessions:
        assert not alive(writer), "a session to the demoted source stayed open"
    assert dial(eps.rw)[1] == "b"
    assert alive(reader), "a session to a surviving replica was dropped"
    assert driver.ensure("set1", layout) == eps            # idempotent
    # no replica: ro falls back to the source
    driver.ensure("set1", Layout(b.member(), ()))
    assert {dial(eps.ro)[1] for _ in range(3)} == {"b"}
    driver.remove("set1")
    driver.remove("set1")
    assert driver.get("set1") is None
    with pytest.raises(OSError):
        dial(eps.rw)
