"""Backends for the driver contract suite: the local drivers for real, and the
Nova/Cinder drivers against the HTTP fake (tests/support/openstack_fake.py).

Both are built through ``trove_lite.drivers.factory.build_drivers`` from a
ConfigOpts, as the taskmanager builds them. A ``Backend`` also answers what the
contract tests need to look behind the interface: what the guest saw
(``guest_view``) and what a deleted object left behind (``leftovers``).
"""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.support.net import reserve_subnet
from tests.support.openstack_fake import OpenStackFake
from trove_lite import config
from trove_lite.drivers import factory, images, localutil
from trove_lite.drivers.compute.base import Flavor
from trove_lite.drivers.volume.local import mounted_paths

STAND_IN_GUEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stand_in_guest.py")
FLAVOR = Flavor(id="1", name="small", ram=512, vcpus=1, disk=1)
GUEST_CONF = "etc/trove-lite/guest.conf"


class LocalBackend:
    name = "local"
    image_a, image_b = "img-a", "img-b"

    def __init__(self, state_dir, **overrides):
        self.address_prefix, self._subnet_lock = reserve_subnet(206)
        opts = {"state_dir": state_dir,
                "local_compute.address_prefix": self.address_prefix,
                "local_compute.guest_command": [sys.executable, STAND_IN_GUEST],
                "local_compute.stop_timeout": 5.0,
                "local_volume.busy_timeout": 0.5}
        opts.update(overrides)
        self.conf = config.make_conf(overrides=opts)
        self.compute, self.volume, self.images = factory.build_drivers(self.conf)
        spec = images.system_mariadb_image()
        self.images.register(self.image_a, "image A", spec)
        self.images.register(self.image_b, "image B", dict(spec, version="10.11.99-test"))

    def broken_boot(self):
        return self.image_a, {GUEST_CONF: "fail_at_boot = true\n"}

    def guest_view(self, server, timeout=20.0):
        """What the guest reports over its own address at :3306. ACTIVE means the
        server booted, as with Nova, not that its guest listens yet: a loaded
        machine may take a few seconds more, so refused connections are retried."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((server.addresses[0], 3306), timeout=5) as conn:
                    return json.loads(conn.makefile().readline())
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def server_leftovers(self, server):
        left = ["process %d" % pid for pid, _ in localutil.processes_marked(server.id)]
        sdir = self.compute.server_dir(server.id)
        if os.path.exists(sdir):
            left.append("directory " + sdir)
        return left

    def volume_attached(self, volume):
        return volume.device is not None and volume.device in mounted_paths()

    def volume_leftovers(self, volume):
        vdir = os.path.join(self.volume.volumes_dir, volume.id)
        left = ["mount " + p for p in mounted_paths() if volume.id in p]
        losetup = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        left += ["loop " + line for line in losetup.splitlines() if volume.id in line]
        if os.path.exists(vdir):
            left.append("directory " + vdir)
        return left

    def close(self):
        for server in self.compute.list_servers():
            self.compute.delete_server(server.id)
        for volume in self.volume.list_volumes():
            self.volume.delete_volume(volume.id)


class OpenStackBackend:
    name = "openstack"
    image_a, image_b = "img-a", "img-b"

    def __init__(self, state_dir):
        self.fake = OpenStackFake(delay=0.15).start()
        path = os.path.join(state_dir, "openstack.conf")
        with open(path, "w") as f:
            f.write("[drivers]\ncompute = nova\nvolume = cinder\n"
                    "[openstack_auth]\nauth_type = admin_token\nendpoint = %s\ntoken = %s\n"
                    "[nova]\nendpoint_override = %s\npoll_interval = 0.05\n"
                    "[cinder]\nendpoint_override = %s\npoll_interval = 0.05\n"
                    % (self.fake.url, self.fake.token, self.fake.nova_url,
                       self.fake.cinder_url))
        self.conf = config.make_conf(config_files=[path],
                                     overrides={"state_dir": state_dir})
        self.compute, self.volume, self.images = factory.build_drivers(self.conf)

    def broken_boot(self):
        return "img-broken", {}

    def guest_view(self, server):
        """What Nova would hand the guest: its image, personality files, boot count."""
        with self.fake.lock:
            s = self.fake.servers[server.id]
            return {"server_id": s["id"], "image_id": s["image"], "boot": s["boots"],
                    "config": "".join(s["files"].values())}

    def server_leftovers(self, server):
        return ["server %s in Nova" % server.id] if server.id in self.fake.servers else []

    def volume_attached(self, volume):
        return bool(self.fake.volumes[volume.id]["attachments"])

    def volume_leftovers(self, volume):
        return ["volume %s in Cinder" % volume.id] if volume.id in self.fake.volumes else []

    def close(self):
        self.fake.stop()


@pytest.fixture(params=[pytest.param("local", marks=pytest.mark.slow), "openstack"])
def backend(request, tmp_state_dir):
    b = LocalBackend(tmp_state_dir) if request.param == "local" else OpenStackBackend(
        tmp_state_dir)
    yield b
    b.close()


@pytest.fixture
def local_backend(tmp_state_dir):
    b = LocalBackend(tmp_state_dir)
    yield b
    b.close()
