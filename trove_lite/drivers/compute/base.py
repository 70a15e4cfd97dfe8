"""The compute interface: servers booted from images, as Nova offers them.

The taskmanager is the only caller. Every implementation keeps Nova's words for
server states so callers never translate: ``BUILD``, ``ACTIVE``, ``SHUTOFF``,
``REBOOT``, ``REBUILD``, ``ERROR``.

Implementations: ``local`` (a guest-agent process per server on its own loopback
address) and ``nova`` (python-novaclient). One contract suite
(``tests/functional/drivers/test_compute_contract.py``) runs against both.
"""

import abc
import time
from typing import Iterable, NamedTuple

from trove_lite import exceptions

STATUSES = ("BUILD", "ACTIVE", "SHUTOFF", "REBOOT", "REBUILD", "ERROR")


class DriverError(exceptions.DriverError):
    """A compute backend failed; ``message`` says what and why."""

    code = "compute_error"


class ServerNotFound(DriverError):
    http_status = 404
    code = "server_not_found"
    message_format = "Server %(id)s could not be found."


class ImageNotFound(DriverError):
    http_status = 400
    code = "image_not_found"
    message_format = "Image %(id)s could not be found."


class ServerFailed(DriverError):
    """The server went to ERROR while a caller waited for another state."""

    code = "server_failed"
    message_format = "Server %(id)s is in ERROR: %(fault)s"


class ServerTimeout(DriverError):
    code = "server_timeout"
    message_format = ("Server %(id)s did not reach %(statuses)s within %(timeout)s s "
                      "(it is %(status)s).")


class Flavor(NamedTuple):
    id: str
    name: str
    ram: int     # MB
    vcpus: int
    disk: int    # GB


class Server(NamedTuple):
    id: str
    name: str
    status: str            # one of STATUSES
    addresses: list        # IPv4 addresses (str); local: exactly one 127.x.y.z
    image_id: str | None   # None: a Nova server that names no image
    fault: str | None


class ComputeDriver(abc.ABC):
    """Create, rebuild, reboot and delete servers.

    Timing: ``create_server``, ``rebuild_server`` and ``reboot_server`` return as
    soon as the backend accepted the request (local: the guest process has been
    started, 0.02 s for create, 0.07 s for reboot; Nova: one API call). Callers
    then use ``wait_for_status`` (local: ACTIVE after ``boot_seconds``, 1 s by
    default). ``delete_server`` returns only when the server is gone (local:
    0.06-0.08 s plus however long the guest's processes take to exit on SIGTERM).

    Failures: every method raises a ``DriverError`` subclass with a message fit
    for a user: ``ServerNotFound`` for unknown ids (except ``delete_server``,
    which is idempotent), ``ImageNotFound`` for unknown images. A server that
    breaks after creation does not raise; it reports ``ERROR`` with ``fault``.
    """

    @abc.abstractmethod
    def create_server(self, name: str, image_id: str, flavor: Flavor, files: dict[str, str],
                      metadata: dict[str, str], volume_id: str | None = None) -> Server:
        """Boot a server; return it in BUILD (or already ACTIVE).

        ``files`` maps relative paths (as Nova file injection, e.g.
        ``etc/trove-lite/guest.conf``) to text content; ``metadata`` is a flat
        str->str dict stored as server metadata.

        ``volume_id``: attach this (available) volume at boot, like Nova's block
        device mapping, so the guest finds it when it starts; its device is then
        in the volume's ``device``.

        Timing: returns once the backend accepted it (local ~0.02 s; Nova: one
        API call). Failures: ``ImageNotFound``; ``DriverError`` when the request
        is refused (local: no free address, no volume driver for ``volume_id``).
        A volume that cannot be attached, or a guest that exits at boot, does not
        raise: the server goes to ERROR with a ``fault``.
        """

    @abc.abstractmethod
    def get_server(self, server_id: str) -> Server:
        """The server's current state.

        Timing: local reads a file and /proc (ms); Nova one API call. Failures:
        ``ServerNotFound``; ``DriverError`` if the backend cannot be asked.
        """

    @abc.abstractmethod
    def list_servers(self) -> list[Server]:
        """All servers this driver manages.

        Timing: as ``get_server`` once per server. A server vanishing meanwhile is
        left out, not raised; ``DriverError`` if the backend cannot be asked.
        """

    @abc.abstractmethod
    def rebuild_server(self, server_id: str, image_id: str,
                       files: dict[str, str] | None = None) -> None:
        """Replace the server's image, keeping id, addresses and attached volumes.

        ``files`` replaces the injected files when given; otherwise the ones
        from creation are kept. The server passes through REBUILD to ACTIVE.

        Timing: local blocks while the old processes stop (SIGTERM, SIGKILL after
        ``stop_timeout``, 30 s by default) and the guest is started again; Nova:
        one API call. Failures: ``ServerNotFound``, ``ImageNotFound``,
        ``DriverError``.
        """

    @abc.abstractmethod
    def reboot_server(self, server_id: str) -> None:
        """Restart the server (every process on it); addresses are kept.

        Timing: local blocks as ``rebuild_server`` does (0.07 s typical, at most
        ``stop_timeout`` plus 5 s); Nova: one API call (a SOFT reboot).
        Failures: ``ServerNotFound``, ``DriverError``.
        """

    @abc.abstractmethod
    def delete_server(self, server_id: str) -> None:
        """Delete the server and wait until it is gone; unknown ids are fine.

        Attached volumes are detached (they become ``available``), not deleted.

        Timing: local at most ``stop_timeout`` plus 5 s (SIGTERM, then SIGKILL);
        Nova polls until the server is gone, at most ``delete_timeout`` (300 s).
        Failures: ``DriverError`` if it is still there then (Nova) or the backend
        refuses; local raises ``VolumeBusy`` (volume driver) if an attached
        volume cannot be unmounted.
        """

    def wait_for_status(self, server_id: str, statuses: str | Iterable[str], timeout: float,
                        interval: float = 0.2) -> Server:
        """Poll until the server's status is one of ``statuses``; return it.

        Raises ServerFailed if it goes to ERROR (unless ERROR is wanted),
        ServerTimeout after ``timeout`` seconds, ServerNotFound if it vanishes.
        """
        statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
        deadline = time.monotonic() + timeout
        while True:
            server = self.get_server(server_id)
            if server.status in statuses:
                return server
            if server.status == "ERROR":
                raise ServerFailed(id=server_id, fault=server.fault or "no fault recorded")
            if time.monotonic() >= deadline:
                raise ServerTimeout(id=server_id, statuses="/".join(statuses),
                                    timeout=timeout, status=server.status)
            time.sleep(interval)
