"""Cinder volumes through python-cinderclient (API 3.42), attached through Nova.

3.42 is the first microversion that extends ``in-use`` volumes, which an
attached database volume is. Attach and detach go through Nova's
``os-volume_attachments`` (as a server's volumes must: Nova tells the hypervisor),
with a novaclient Client passed in. Every call returns when Cinder shows the
result (``available``, ``in-use``, new size, gone), polling every
``poll_interval`` seconds for at most ``status_timeout``. The filesystem on an
extended volume is grown by the guest (resize2fs), not here.
"""

import time
from types import TracebackType
from typing import Any, Literal

from keystoneauth1 import exceptions as ks_exc
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc
from novaclient import exceptions as nova_exc

from trove_lite.drivers.volume import base

MICROVERSION = "3.42"


def make_client(session: Any, endpoint_override: str | None = None,
                region_name: str | None = None) -> Any:
    return cinder_client.Client(MICROVERSION, session=session,
                                endpoint_override=endpoint_override,
                                region_name=region_name)


class CinderVolumeDriver(base.VolumeDriver):
    """Volumes in Cinder; ``cinder`` and ``nova`` are the two API clients."""

    def __init__(self, cinder: Any, nova: Any, volume_type: str | None = None,
                 availability_zone: str | None = None, status_timeout: float = 300.0,
                 poll_interval: float = 2.0) -> None:
        self.cinder = cinder
        self.nova = nova
        self.volume_type = volume_type
        self.availability_zone = availability_zone
        self.status_timeout = status_timeout
        self.poll_interval = poll_interval

    def create_volume(self, size_gb: int, name: str) -> base.Volume:
        with _translated():
            volume = self.cinder.volumes.create(int(size_gb), name=name,
                                                volume_type=self.volume_type,
                                                availability_zone=self.availability_zone)
        return self._wait(volume.id, ("available",))

    def get_volume(self, volume_id: str) -> base.Volume:
        with _translated(volume_id):
            return _to_volume(self.cinder.volumes.get(volume_id))

    def attach_volume(self, volume_id: str, server_id: str) -> str:
        with _translated(volume_id):
            attachment = self.nova.volumes.create_server_volume(server_id, volume_id)
        volume = self._wait(volume_id, ("in-use",))
        device: str | None = volume.device or getattr(attachment, "device", None)
        if device is None:   # Nova names the device of every attachment it makes
            raise base.DriverError(reason="volume %s is in-use but has no device" % volume_id)
        return device

    def detach_volume(self, volume_id: str, server_id: str) -> None:
        with _translated(volume_id):
            volume = self.cinder.volumes.get(volume_id)
        if not any(a.get("server_id") == server_id for a in volume.attachments or []):
            return
        with _translated(volume_id):
            self.nova.volumes.delete_server_volume(server_id, volume_id)
        self._wait(volume_id, ("available",))

    def extend_volume(self, volume_id: str, new_size_gb: int) -> None:
        with _translated(volume_id):
            before = self.cinder.volumes.get(volume_id)
            self.cinder.volumes.extend(volume_id, int(new_size_gb))
        volume = self._wait(volume_id, (before.status,))
        if volume.size != int(new_size_gb):
            raise base.DriverError(reason="volume %s is %d GB after extending to %d GB" % (
                volume_id, volume.size, new_size_gb))

    def delete_volume(self, volume_id: str) -> None:
        try:
            with _translated(volume_id):
                raw = self.cinder.volumes.get(volume_id)
                for attachment in raw.attachments or []:
                    self.detach_volume(volume_id, attachment["server_id"])
                self.cinder.volumes.delete(volume_id)
        except base.VolumeNotFound:
            return
        deadline = time.monotonic() + self.status_timeout
        while True:
            try:
                volume = self.get_volume(volume_id)
            except base.VolumeNotFound:
                return
            if volume.status == "error_deleting" or time.monotonic() >= deadline:
                break
            time.sleep(self.poll_interval)
        raise base.DriverError(reason="volume %s was not deleted (it is %s)" % (
            volume_id, volume.status))

    def _wait(self, volume_id: str, statuses: tuple[str, ...]) -> base.Volume:
        deadline = time.monotonic() + self.status_timeout
        while True:
            volume = self.get_volume(volume_id)
            if volume.status in statuses:
                return volume
            if volume.status.startswith("error"):
                raise base.DriverError(reason="volume %s went to %s" % (volume_id, volume.status))
            if time.monotonic() >= deadline:
                raise base.VolumeTimeout(id=volume_id, statuses="/".join(statuses),
                                         timeout=self.status_timeout, status=volume.status)
            time.sleep(self.poll_interval)


def _to_volume(volume: Any) -> base.Volume:
    attachments = volume.attachments or []
    return base.Volume(id=volume.id, name=volume.name, size=volume.size,
                       status=volume.status,
                       device=attachments[0].get("device") if attachments else None,
                       backing="cinder")


class _translated:
    """Map cinderclient/novaclient exceptions to ours."""

    def __init__(self, volume_id: str | None = None) -> None:
        self.volume_id = volume_id

    def __enter__(self) -> "_translated":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if not isinstance(exc, (cinder_exc.ClientException, nova_exc.ClientException,
                                ks_exc.ClientException)):
            return False
        if isinstance(exc, ks_exc.ClientException):
            # keystoneauth's own: wrong credentials, cloud unreachable, timeouts
            raise base.DriverError(reason="OpenStack API call failed: %s: %s" % (
                type(exc).__name__, exc)) from exc
        message = getattr(exc, "message", None) or str(exc)
        if self.volume_id and getattr(exc, "code", None) == 404 and "olume" in message:
            raise base.VolumeNotFound(id=self.volume_id) from exc
        raise base.DriverError(reason="%s (HTTP %s)" % (
            message, getattr(exc, "code", "?"))) from exc
