"""What only the local drivers do: processes, addresses, mounts, images on this machine."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.functional.drivers.conftest import GUEST_CONF, LocalBackend
from tests.functional.drivers.test_compute_contract import TIMEOUT, boot
from trove_lite.drivers import images, localutil
from trove_lite.drivers.volume import base as vbase

pytestmark = pytest.mark.slow


def alive(pid):
    return localutil.start_time(pid) is not None


def db_pids(backend, server):
    """(registered db pid, every pid carrying the server's marker)."""
    sdir = backend.compute.server_dir(server.id)
    with open(os.path.join(sdir, "pids", "db.pid")) as f:
        registered = int(f.read())
    return registered, [pid for pid, _ in localutil.processes_marked(server.id)]


def test_delete_stops_the_guests_own_session_processes_but_no_foreign_one(local_backend):
    server = boot(local_backend, "db1")
    registered, marked = db_pids(local_backend, server)
    assert os.getsid(registered) == registered            # its own session, like mariadbd
    assert len(marked) >= 4                               # wrapper, guest, db, stray
    foreign = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               env={k: v for k, v in os.environ.items()
                                    if not k.startswith("TROVE_LITE_SERVER")})
    try:
        pids_dir = os.path.join(local_backend.compute.server_dir(server.id), "pids")
        with open(os.path.join(pids_dir, "foreign.pid"), "w") as f:
            f.write("%d\n" % foreign.pid)              # a lie: not the server's process
        local_backend.compute.delete_server(server.id)
        assert not any(alive(pid) for pid in marked)
        assert foreign.poll() is None, "a process the server could not own was killed"
    finally:
        foreign.kill()
        foreign.wait()


def test_reboot_stops_every_old_process_and_starts_new_ones(local_backend):
    server = boot(local_backend, "db1")
    old_registered, old_marked = db_pids(local_backend, server)
    local_backend.compute.reboot_server(server.id)
    local_backend.compute.wait_for_status(server.id, "ACTIVE", TIMEOUT)
    new_registered, new_marked = db_pids(local_backend, server)
    assert not any(alive(pid) for pid in old_marked)
    assert new_registered != old_registered and alive(new_registered)
    assert set(new_marked).isdisjoint(old_marked)


def test_a_guest_that_exits_later_is_shutoff_and_reboot_brings_it_back(local_backend):
    server = boot(local_backend, "db1")
    with open(os.path.join(local_backend.compute.server_dir(server.id), "guest.pid")) as f:
        wrapper = int(f.read().split()[0])
    guest = [pid for pid, _ in localutil.processes_marked(server.id)
             if "stand_in_guest" in localutil.cmdline(pid) and pid != wrapper]
    os.kill(guest[0], signal.SIGTERM)
    assert local_backend.compute.wait_for_status(server.id, "SHUTOFF", TIMEOUT).fault is None
    local_backend.compute.reboot_server(server.id)
    assert local_backend.compute.wait_for_status(server.id, "ACTIVE", TIMEOUT)
    assert local_backend.guest_view(server)["boot"] == 2


def test_boot_failure_fault_is_the_tail_of_the_guest_log(local_backend):
    server = local_backend.compute.create_server(
        "bad", local_backend.image_a, None, {GUEST_CONF: "fail_at_boot = true\n"}, {})
    failed = local_backend.compute.wait_for_status(server.id, "ERROR", TIMEOUT)
    assert "status 3" in failed.fault and "fail_at_boot" in failed.fault


def test_guest_gets_server_dir_and_only_conf_files_as_config(local_backend):
    server = boot(local_backend, "db1", files={GUEST_CONF: "a = 1\n", "etc/extra.conf": "b = 2\n",
                                               "etc/motd": "hello\n"})
    view = local_backend.guest_view(server)
    assert "a = 1" in view["config"] and "b = 2" in view["config"]
    assert "hello" not in view["config"]
    root = os.path.join(local_backend.compute.server_dir(server.id), "root")
    with open(os.path.join(root, "etc", "motd")) as f:
        assert f.read() == "hello\n"


def test_addresses_skip_busy_ones_and_are_freed_by_delete(local_backend):
    first = boot(local_backend, "a")
    delete_me = boot(local_backend, "b")
    local_backend.compute.delete_server(delete_me.id)
    again = boot(local_backend, "c")
    assert again.addresses == delete_me.addresses     # freed and handed out again
    # something else listening on the next address's :3306 makes the driver skip it
    taken = {first.addresses[0], again.addresses[0]}
    prefix = local_backend.address_prefix
    nxt = next("%s.%d" % (prefix, n) for n in range(1, 255) if "%s.%d" % (prefix, n) not in taken)
    squatter = socket.create_server((nxt, 3306))
    try:
        other = boot(local_backend, "d")
        assert other.addresses[0] not in taken | {nxt}
    finally:
        squatter.close()


def test_injected_paths_must_stay_inside_the_server(local_backend):
    from trove_lite.drivers.compute.base import DriverError
    for path in ("/etc/passwd", "../escape.conf"):
        with pytest.raises(DriverError):
            local_backend.compute.create_server("x", local_backend.image_a, None,
                                                {path: "x"}, {})
    assert local_backend.compute.list_servers() == []


def test_detach_of_a_busy_mount_names_the_holder(local_backend):
    server = boot(local_backend, "db1")
    volume = local_backend.volume.create_volume(1, "v")
    path = local_backend.volume.attach_volume(volume.id, server.id)
    holder = subprocess.Popen(["sleep", "60"], cwd=path)
    try:
        with pytest.raises(vbase.VolumeBusy) as err:
            local_backend.volume.detach_volume(volume.id, server.id)
        assert "sleep[%d]" % holder.pid in err.value.message
        assert local_backend.volume.get_volume(volume.id).status == "in-use"
    finally:
        holder.kill()
        holder.wait()
    local_backend.volume.detach_volume(volume.id, server.id)
    assert local_backend.volume.get_volume(volume.id).status == "available"


def test_directory_volumes_where_loop_devices_are_not_used(tmp_state_dir):
    backend = LocalBackend(tmp_state_dir, **{"local_volume.force_directory": True})
    try:
        volume = backend.volume.create_volume(1, "v")
        assert volume.backing == "directory"
        server = boot(backend, "db1")
        path = backend.volume.attach_volume(volume.id, server.id)
        with open(os.path.join(path, "f"), "w") as f:
            f.write("x")
        backend.volume.extend_volume(volume.id, 3)
        assert backend.volume.get_volume(volume.id).size == 3
        assert path not in open("/proc/mounts").read()
        backend.volume.delete_volume(volume.id)
        assert not os.path.exists(path)
    finally:
        backend.close()


def test_system_mariadb_is_registered_as_an_image(local_backend):
    image = local_backend.images.get(images.SYSTEM_MARIADB_IMAGE_ID)
    spec = image["binaries"]
    assert spec["version"].startswith("10.11.")
    for key in ("mariadbd", "install_db", "backup_tool", "mbstream", "upgrade_tool"):
        assert os.access(spec[key], os.X_OK), key
    assert images.binaries_from_spec(spec).version().find(spec["version"]) > 0
    ids = [i["id"] for i in local_backend.images.list()]
    assert ids == sorted(["img-a", "img-b", images.SYSTEM_MARIADB_IMAGE_ID])
    with pytest.raises(images.DriverError):
        local_backend.images.register("bad", "bad", {"mariadbd": "/x", "colour": "red"})


def test_reboot_after_a_host_restart_mounts_the_servers_volume_again(local_backend):
    server = boot(local_backend, "db1")
    volume = local_backend.volume.create_volume(1, "v")
    path = local_backend.volume.attach_volume(volume.id, server.id)
    with open(os.path.join(path, "ibdata1"), "w") as f:
        f.write("data")
    subprocess.run(["umount", path], check=True)      # what a host restart does to mounts
    assert not os.path.exists(os.path.join(path, "ibdata1"))
    local_backend.compute.reboot_server(server.id)
    local_backend.compute.wait_for_status(server.id, "ACTIVE", TIMEOUT)
    with open(os.path.join(path, "ibdata1")) as f:
        assert f.read() == "data"
