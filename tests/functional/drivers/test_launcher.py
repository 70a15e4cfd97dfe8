"""The real guest agent booted by the local driver's fork server (launcher.py):
a guest that fails at boot is ERROR with its log, a running one is stopped
whole by delete, and the exit status reaches guest.exit as the shell wrapper's
did."""

import os
import time

import pytest
from cryptography.fernet import Fernet

from tests.support.net import reserve_subnet
from trove_lite.drivers import images, localutil
from trove_lite.drivers.compute.base import Flavor
from trove_lite.drivers.compute.local import LocalComputeDriver

FLAVOR = Flavor(id="1", name="small", ram=512, vcpus=1, disk=1)
CONF = "etc/trove-lite/guest.conf"


@pytest.fixture
def driver(tmp_path):
    prefix, lock = reserve_subnet(206)
    registry = images.LocalImageRegistry(str(tmp_path / "images.json"))
    registry.register("img", "image", images.system_mariadb_image())
    d = LocalComputeDriver(str(tmp_path), registry, address_prefix=prefix, boot_seconds=3)
    yield d
    for server in d.list_servers():
        d.delete_server(server.id)
    d._launcher.stop()
    lock.close()


def _wait(driver, server_id, statuses, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        server = driver.get_server(server_id)
        if server.status in statuses or time.monotonic() > deadline:
            return server
        time.sleep(0.1)


def _group(pid):
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == pid]


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_guest_failing_at_boot_is_error_with_its_log(driver):
    server = driver.create_server("bad", "img", FLAVOR, files={
        CONF: "[guest]\nheartbeat_interval = not-a-number\n"
              "rpc_key = %s\n" % Fernet.generate_key().decode()}, metadata={})
    server = _wait(driver, server.id, {"ERROR", "SHUTOFF"})
    assert server.status == "ERROR", server
    assert "heartbeat_interval" in server.fault
    with open(os.path.join(driver.server_dir(server.id), "guest.exit")) as f:
        assert int(f.read()) != 0


def test_guest_without_its_rpc_key_is_error_saying_so(driver):
    # every message to and from a guest is sealed with its key (rpc/sealed.py)
    server = driver.create_server("keyless", "img", FLAVOR, files={
        CONF: "[guest]\ninstance_id = i-2\n"}, metadata={})
    server = _wait(driver, server.id, {"ERROR", "SHUTOFF"})
    assert server.status == "ERROR" and "rpc_key" in server.fault


def test_running_guest_is_stopped_whole_by_delete(driver):
    # a guest whose bus is unreachable keeps retrying: it runs until stopped
    server = driver.create_server("runs", "img", FLAVOR, files={
        CONF: "[DEFAULT]\ntransport_url = rabbit://nobody:x@127.0.0.1:9/\n"
              "[guest]\ninstance_id = i-1\n"
              "rpc_key = %s\n" % Fernet.generate_key().decode()}, metadata={})
    assert _wait(driver, server.id, {"ACTIVE", "ERROR", "SHUTOFF"}).status == "ACTIVE"
    with open(os.path.join(driver.server_dir(server.id), "guest.pid")) as f:
        leader = int(f.read().split()[0])
    members = _group(leader)
    assert len(members) >= 2, members          # the session leader and the agent
    assert "trove_lite.cmd.guest_launcher" in localutil.cmdline(leader)
    # as if the driver had died before recording the guest: delete still finds it
    os.unlink(os.path.join(driver.server_dir(server.id), "guest.pid"))
    driver.delete_server(server.id)
    assert not [p for p in members if localutil.start_time(p) is not None]


def test_guest_is_on_record_as_soon_as_it_is_forked(driver, tmp_path):
    sdir = tmp_path / "lone"
    sdir.mkdir()
    pid = driver._launcher.spawn(["--server-dir", str(sdir)], {}, str(sdir),
                                 str(sdir / "guest.log"))
    try:
        deadline = time.monotonic() + 10
        while not (sdir / "guest.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (sdir / "guest.pid").read_text().split()[0] == str(pid)
    finally:
        localutil.terminate([(pid, localutil.start_time(pid))], 5, group_leaders=[
            (pid, localutil.start_time(pid))])
