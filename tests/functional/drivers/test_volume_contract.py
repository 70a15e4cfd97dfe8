"""The volume contract: what the taskmanager relies on, for every driver.

Runs against the local driver (loop-mounted ext4 images, for real) and the Cinder
driver (against the HTTP fake of Cinder and Nova's os-volume_attachments).
"""

import os
import time

import pytest

from tests.functional.drivers.test_compute_contract import (FLAVOR, GUEST_CONF, TIMEOUT,
                                                            boot)
from trove_lite.drivers.volume import base

GIB = 1024 ** 3


def test_create_gives_an_available_volume_of_the_size_asked(backend):
    volume = backend.volume.create_volume(1, "data-db1")
    assert (volume.name, volume.size, volume.status, volume.device) == (
        "data-db1", 1, "available", None)
    assert volume.backing == ("loop-ext4" if backend.name == "local" else "cinder")
    assert backend.volume.get_volume(volume.id) == volume


def test_attach_and_detach(backend):
    server = boot(backend, "db1")
    volume = backend.volume.create_volume(1, "data-db1")
    device = backend.volume.attach_volume(volume.id, server.id)
    attached = backend.volume.get_volume(volume.id)
    assert attached.status == "in-use" and attached.device == device
    assert backend.volume_attached(attached)
    if backend.name == "local":
        assert os.path.isabs(device)
        with open(os.path.join(device, "marker"), "w") as f:
            f.write("kept")
    else:
        assert device.startswith("/dev/vd")
    backend.volume.detach_volume(volume.id, server.id)
    detached = backend.volume.get_volume(volume.id)
    assert detached.status == "available" and detached.device is None
    assert not backend.volume_attached(detached)
    if backend.name == "local":
        assert not os.path.exists(os.path.join(device, "marker"))   # it is unmounted
        again = backend.volume.attach_volume(volume.id, server.id)
        with open(os.path.join(again, "marker")) as f:
            assert f.read() == "kept"


def test_extend_grows_the_volume_and_keeps_the_data(backend):
    server = boot(backend, "db1")
    volume = backend.volume.create_volume(1, "data-db1")
    path = backend.volume.attach_volume(volume.id, server.id)
    if backend.name == "local":
        with open(os.path.join(path, "ibdata1"), "wb") as f:
            f.write(b"x" * 1024 * 1024)
        assert os.statvfs(path).f_blocks * os.statvfs(path).f_frsize < 1.01 * GIB
    backend.volume.extend_volume(volume.id, 2)
    grown = backend.volume.get_volume(volume.id)
    assert grown.size == 2 and grown.status == "in-use" and grown.device == path
    if backend.name == "local":
        st = os.statvfs(path)   # what df shows
        assert 1.9 * GIB < st.f_blocks * st.f_frsize <= 2 * GIB
        with open(os.path.join(path, "ibdata1"), "rb") as f:
            assert f.read() == b"x" * 1024 * 1024


def test_extend_to_a_smaller_size_is_refused(backend):
    volume = backend.volume.create_volume(2, "data-db1")
    with pytest.raises(base.DriverError):
        backend.volume.extend_volume(volume.id, 1)
    assert backend.volume.get_volume(volume.id).size == 2


def test_delete_is_idempotent_and_leaves_nothing(backend):
    server = boot(backend, "db1")
    volume = backend.volume.create_volume(1, "data-db1")
    backend.volume.attach_volume(volume.id, server.id)
    backend.volume.delete_volume(volume.id)
    assert backend.volume_leftovers(volume) == []
    with pytest.raises(base.VolumeNotFound):
        backend.volume.get_volume(volume.id)
    backend.volume.delete_volume(volume.id)   # again: no error


def test_deleting_the_server_detaches_its_volume(backend):
    server = boot(backend, "db1")
    volume = backend.volume.create_volume(1, "data-db1")
    backend.volume.attach_volume(volume.id, server.id)
    backend.compute.delete_server(server.id)
    after = backend.volume.get_volume(volume.id)
    assert after.status == "available" and after.device is None
    assert not backend.volume_attached(after)


def test_unknown_volume_ids_raise_not_found(backend):
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(base.VolumeNotFound):
        backend.volume.get_volume(missing)
    with pytest.raises(base.VolumeNotFound):
        backend.volume.extend_volume(missing, 5)
    server = boot(backend, "db1")
    with pytest.raises(base.VolumeNotFound):
        backend.volume.attach_volume(missing, server.id)
    backend.volume.delete_volume(missing)   # idempotent: no error


def test_a_volume_given_at_create_is_attached_when_the_server_boots(backend):
    volume = backend.volume.create_volume(1, "data-boot")
    server = backend.compute.create_server("db-boot", backend.image_a, FLAVOR,
                                           {GUEST_CONF: "x = 1\n"}, {}, volume_id=volume.id)
    backend.compute.wait_for_status(server.id, "ACTIVE", TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    attached = backend.volume.get_volume(volume.id)
    while attached.status != "in-use" and time.monotonic() < deadline:
        time.sleep(0.05)
        attached = backend.volume.get_volume(volume.id)
    assert attached.status == "in-use" and attached.device
    assert backend.volume_attached(attached)
    backend.compute.delete_server(server.id)
    assert backend.volume.get_volume(volume.id).status in ("available", "detaching")
