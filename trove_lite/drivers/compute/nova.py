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
from types import TracebackType
from typing import Any, Literal

from keystoneauth1 import exceptions as ks_exc
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc

from trove_lite.drivers.compute import base

MICROVERSION = "2.1"


def make_client(session: Any, endpoint_override: str | None = None,
                region_name: str | None = None) -> Any:
    return nova_client.Client(MICROVERSION, session=session,
                              endpoint_override=endpoint_override,
                              region_name=region_name)


class NovaComputeDriver(base.ComputeDriver):
    """Servers in Nova. ``client`` is a novaclient Client (see ``make_client``)."""

    def __init__(self, client: Any, network_id: str | None = None,
                 availability_zone: str | None = None, delete_timeout: float = 300.0,
                 poll_interval: float = 2.0) -> None:
        self.client = client
        self.network_id = network_id
        self.availability_zone = availability_zone
        self.delete_timeout = delete_timeout
        self.poll_interval = poll_interval

    def create_server(self, name: str, image_id: str, flavor: base.Flavor,
                      files: dict[str, str], metadata: dict[str, str],
                      volume_id: str | None = None) -> base.Server:
        kwargs: dict[str, Any] = {"meta": dict(metadata or {}), "files": _absolute(files)}
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

    def get_server(self, server_id: str) -> base.Server:
        with _translated(server_id=server_id):
            return _to_server(self.client.servers.get(server_id))

    def list_servers(self) -> list[base.Server]:
        with _translated():
            return [_to_server(s) for s in self.client.servers.list()]

    def rebuild_server(self, server_id: str, image_id: str,
                       files: dict[str, str] | None = None) -> None:
        kwargs = {} if files is None else {"files": _absolute(files)}
        with _translated(server_id=server_id, image_id=image_id):
            self.client.servers.rebuild(server_id, image_id, **kwargs)

    def reboot_server(self, server_id: str) -> None:
        with _translated(server_id=server_id):
            self.client.servers.reboot(server_id, reboot_type="SOFT")

    def delete_server(self, server_id: str) -> None:
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


def _absolute(files: dict[str, str] | None) -> dict[str, str]:
    return {("/" + path.lstrip("/")): content for path, content in (files or {}).items()}


def _to_server(server: Any) -> base.Server:
    addresses: list[str] = []
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

    def __init__(self, server_id: str | None = None, image_id: str | None = None) -> None:
        self.server_id = server_id
        self.image_id = image_id

    def __enter__(self) -> "_translated":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
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
