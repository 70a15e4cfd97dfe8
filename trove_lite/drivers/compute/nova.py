"""Nova compute through python-novaclient (API microversion 2.1).

Injected files travel as Nova personality files (``files=`` on create and
rebuild; paths become absolute, ``etc/x.conf`` -> ``/etc/x.conf``). That needs a
microversion below 2.57 (where personality was removed), hence 2.1, and a cloud
that delivers personality through the config drive or metadata service, which
cloud-init images read. Metadata becomes server metadata.

Every novaclient exception is turned into this package's DriverError subclasses
here; nothing above the driver sees novaclient types.
"""

import time

from keystoneauth1 import exceptions as ks_exc
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc

from trove_lite.drivers.compute import base

MICROVERSION = "2.1"


def make_client(session, endpoint_override=None, region_name=None):
    return nova_client.Client(MICROVERSION, session=session,
                              endpoint_override=endpoint_override,
                              region_name=region_name)


class NovaComputeDriver(base.ComputeDriver):
    """Servers in Nova. ``client`` is a novaclient Client (see ``make_client``)."""

    def __init__(self, client, network_id=None, availability_zone=None,
                 delete_timeout=300.0, poll_interval=2.0):
        self.client = client
        self.network_id = network_id
        self.availability_zone = availability_zone
        self.delete_timeout = delete_timeout
        self.poll_interval = poll_interval

    def create_server(self, name, image_id, flavor, files, metadata, volume_id=None):
        kwargs = {"meta": dict(metadata or {}), "files": _absolute(files)}
        if volume_id is not None:
            kwargs["block_device_mapping_v2"] = [{
                "uuid": volume_id, "source_type": "volume", "destination_type": "volume",
                "boot_index": -1, "delete_on_termination": False}]
        if self.network_id:
            kwargs["nics"] = [{"net-id": self.network_id}]
        if self.availability_zone:
            kwargs["availability_zone"] = self.availability_zone
        with _translated(image_id=image_id):
            created = self.client.servers.create(name, image_id, flavor.id, **kwargs)
        return self.get_server(created.id)

    def get_server(self, server_id):
        with _translated(server_id=server_id):
            return _to_server(self.client.servers.get(server_id))

    def list_servers(self):
        with _translated():
            return [_to_server(s) for s in self.client.servers.list()]

    def rebuild_server(self, server_id, image_id, files=None):
        kwargs = {} if files is None else {"files": _absolute(files)}
        with _translated(server_id=server_id, image_id=image_id):
            self.client.servers.rebuild(server_id, image_id, **kwargs)

    def reboot_server(self, server_id):
        with _translated(server_id=server_id):
            self.client.servers.reboot(server_id, reboot_type="SOFT")

    def delete_server(self, server_id):
        try:
            with _translated(server_id=server_id):
                self.client.servers.delete(server_id)
        except base.ServerNotFound:
            return
        deadline = time.monotonic() + self.delete_timeout
        while time.monotonic() < deadline:
            try:
                if self.get_server(server_id).status == "DELETED":
                    return
            except base.ServerNotFound:
                return
            time.sleep(self.poll_interval)
        raise base.DriverError(reason="server %s still exists %s s after delete" % (
            server_id, self.delete_timeout))


def _absolute(files):
    return {("/" + path.lstrip("/")): content for path, content in (files or {}).items()}


def _to_server(server):
    addresses = []
    for addrs in (getattr(server, "addresses", None) or {}).values():
        addresses += [a["addr"] for a in addrs if a.get("version") == 4]
    image = getattr(server, "image", None)
    fault = getattr(server, "fault", None) or {}
    return base.Server(id=server.id, name=server.name, status=server.status,
                       addresses=addresses,
                       image_id=image.get("id") if isinstance(image, dict) else None,
                       fault=fault.get("message"))


class _translated:
    """Map novaclient exceptions to ours (a context manager, so call sites stay flat)."""

    def __init__(self, server_id=None, image_id=None):
        self.server_id = server_id
        self.image_id = image_id

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if not isinstance(exc, (nova_exc.ClientException, ks_exc.ClientException)):
            return False
        if isinstance(exc, ks_exc.ClientException):
            # keystoneauth's own: wrong credentials, cloud unreachable, timeouts
            raise base.DriverError(reason="OpenStack API call failed: %s: %s" % (
                type(exc).__name__, exc)) from exc
        message = getattr(exc, "message", None) or str(exc)
        if isinstance(exc, nova_exc.NotFound) and self.server_id:
            raise base.ServerNotFound(id=self.server_id) from exc
        if self.image_id and "image" in message.lower() and "not be found" in message:
            raise base.ImageNotFound(id=self.image_id) from exc
        raise base.DriverError(reason="Nova: %s (HTTP %s)" % (
            message, getattr(exc, "code", "?"))) from exc
