"""The compute contract: what the taskmanager relies on, for every driver.

Runs against the local driver (real guest processes on 127.206.x.y:3306) and the
Nova driver (against the HTTP fake of Nova).
"""

import ipaddress

import pytest

from tests.functional.drivers.conftest import FLAVOR, GUEST_CONF
from trove_lite import exceptions
from trove_lite.drivers.compute import base

TIMEOUT = 15


def boot(backend, name="db1", image=None, files=None, metadata=None):
    files = {GUEST_CONF: "instance = %s\n" % name} if files is None else files
    server = backend.compute.create_server(name, image or backend.image_a, FLAVOR, files,
                                           metadata or {"instance": name})
    assert server.status in ("BUILD", "ACTIVE")
    return backend.compute.wait_for_status(server.id, "ACTIVE", TIMEOUT)


def test_create_reaches_active_with_one_ipv4_address(backend):
    server = boot(backend, "db1")
    assert server.name == "db1" and server.image_id == backend.image_a
    assert server.fault is None
    assert len(server.addresses) >= 1
    assert ipaddress.ip_address(server.addresses[0]).version == 4
    if backend.name == "local":
        assert server.addresses[0].startswith("127.206.")
        assert len(server.addresses) == 1
    assert backend.compute.get_server(server.id) == server
    assert server.id in [s.id for s in backend.compute.list_servers()]
    view = backend.guest_view(server)
    assert view["image_id"] == backend.image_a
    assert "instance = db1" in view["config"]


def test_two_servers_get_different_addresses(backend):
    a, b = boot(backend, "a"), boot(backend, "b")
    assert a.id != b.id
    assert set(a.addresses).isdisjoint(b.addresses)
    assert backend.guest_view(a)["server_id"] == a.id
    assert backend.guest_view(b)["server_id"] == b.id


def test_rebuild_keeps_id_and_address_and_changes_image_and_files(backend):
    server = boot(backend, "db1")
    backend.compute.rebuild_server(server.id, backend.image_b,
                                   files={GUEST_CONF: "instance = rebuilt\n"})
    after = backend.compute.wait_for_status(server.id, "ACTIVE", TIMEOUT)
    assert after.id == server.id
    assert after.addresses == server.addresses
    assert after.image_id == backend.image_b
    view = backend.guest_view(after)
    assert view["image_id"] == backend.image_b
    assert view["config"] == "instance = rebuilt\n"
    assert view["boot"] == 2


def test_rebuild_without_files_keeps_the_injected_files(backend):
    server = boot(backend, "db1")
    backend.compute.rebuild_server(server.id, backend.image_b)
    after = backend.compute.wait_for_status(server.id, "ACTIVE", TIMEOUT)
    assert after.image_id == backend.image_b
    assert "instance = db1" in backend.guest_view(after)["config"]


def test_reboot_restarts_the_guest_and_keeps_the_address(backend):
    server = boot(backend, "db1")
    assert backend.guest_view(server)["boot"] == 1
    backend.compute.reboot_server(server.id)
    after = backend.compute.wait_for_status(server.id, "ACTIVE", TIMEOUT)
    assert after.addresses == server.addresses
    assert after.image_id == server.image_id
    assert backend.guest_view(after)["boot"] == 2


def test_delete_is_idempotent_and_leaves_nothing(backend):
    server = boot(backend, "db1")
    backend.compute.delete_server(server.id)
    assert backend.server_leftovers(server) == []
    with pytest.raises(base.ServerNotFound):
        backend.compute.get_server(server.id)
    assert server.id not in [s.id for s in backend.compute.list_servers()]
    backend.compute.delete_server(server.id)   # again: no error


def test_unknown_image_is_refused_and_leaves_no_server(backend):
    with pytest.raises(base.ImageNotFound) as err:
        backend.compute.create_server("db1", "no-such-image", FLAVOR, {}, {})
    assert "no-such-image" in err.value.message
    assert backend.compute.list_servers() == []


def test_rebuild_with_unknown_image_leaves_the_server_as_it_was(backend):
    server = boot(backend, "db1")
    with pytest.raises(base.ImageNotFound):
        backend.compute.rebuild_server(server.id, "no-such-image")
    after = backend.compute.get_server(server.id)
    assert after.status == "ACTIVE" and after.image_id == backend.image_a
    assert backend.guest_view(after)["boot"] == 1


def test_unknown_server_ids_raise_not_found(backend):
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(base.ServerNotFound):
        backend.compute.get_server(missing)
    with pytest.raises(base.ServerNotFound):
        backend.compute.reboot_server(missing)
    with pytest.raises(base.ServerNotFound):
        backend.compute.rebuild_server(missing, backend.image_a)
    backend.compute.delete_server(missing)   # idempotent: no error


def test_a_server_that_fails_to_boot_reports_error_with_a_fault(backend):
    image, files = backend.broken_boot()
    server = backend.compute.create_server("bad", image, FLAVOR, files, {})
    with pytest.raises(base.ServerFailed) as err:
        backend.compute.wait_for_status(server.id, "ACTIVE", TIMEOUT)
    failed = backend.compute.get_server(server.id)
    assert failed.status == "ERROR"
    assert failed.fault and failed.fault in err.value.message
    backend.compute.delete_server(server.id)
    assert backend.server_leftovers(server) == []


def test_password_auth_finds_nova_and_cinder_in_the_catalog(tmp_state_dir):
    """The real-cloud configuration: keystone password auth, endpoints from the catalog."""
    from tests.support.openstack_fake import OpenStackFake
    from trove_lite import config
    from trove_lite.drivers import factory
    fake = OpenStackFake(delay=0.05).start()
    try:
        path = tmp_state_dir + "/cloud.conf"
        with open(path, "w") as f:
            f.write("[drivers]\ncompute = nova\nvolume = cinder\n"
                    "[openstack_auth]\nauth_type = password\nauth_url = %s\n"
                    "username = trove\npassword = secret\nproject_name = demo\n"
                    "user_domain_id = default\nproject_domain_id = default\n"
                    "[nova]\npoll_interval = 0.05\n[cinder]\npoll_interval = 0.05\n"
                    % fake.keystone_url)
        drivers = factory.build_drivers(config.make_conf(config_files=[path]))
        server = drivers.compute.create_server("db1", "img-a", FLAVOR, {}, {})
        volume = drivers.volume.create_volume(1, "v")
        assert drivers.compute.wait_for_status(server.id, "ACTIVE", TIMEOUT).image_id == "img-a"
        assert drivers.volume.get_volume(volume.id).status == "available"
        assert ("POST", "/identity/v3/auth/tokens") in fake.requests
    finally:
        fake.stop()


def test_wrong_credentials_and_an_unreachable_cloud_are_driver_errors(tmp_state_dir):
    from tests.support.openstack_fake import OpenStackFake
    from trove_lite import config
    from trove_lite.drivers import factory
    fake = OpenStackFake(password="right").start()
    path = tmp_state_dir + "/cloud.conf"
    with open(path, "w") as f:
        f.write("[drivers]\ncompute = nova\nvolume = cinder\n"
                "[openstack_auth]\nauth_type = password\nauth_url = %s\nusername = trove\n"
                "password = wrong\nproject_name = demo\nuser_domain_id = default\n"
                "project_domain_id = default\n" % fake.keystone_url)
    drivers = factory.build_drivers(config.make_conf(config_files=[path]))
    try:
        with pytest.raises(base.DriverError) as err:
            drivers.compute.list_servers()
        assert "Unauthorized" in err.value.message
    finally:
        fake.stop()
    with pytest.raises(exceptions.DriverError) as err:
        drivers.volume.create_volume(1, "v")   # nothing listens there any more
    assert "ConnectFailure" in err.value.message
