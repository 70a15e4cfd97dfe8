"""The volume interface: block storage for a server's data, as Cinder offers it.

Statuses keep Cinder's words: ``creating``, ``available``, ``in-use``,
``extending``, ``error``.

Implementations: ``local`` (a loop-mounted ext4 image file, or a plain directory
where loop devices are unavailable) and ``cinder`` (python-cinderclient, with
attachments through Nova). One contract suite
(``tests/functional/drivers/test_volume_contract.py``) runs against both.
"""

import abc
from typing import NamedTuple

from trove_lite import exceptions

STATUSES = ("creating", "available", "in-use", "extending", "error")


class DriverError(exceptions.DriverError):
    """A volume backend failed; ``message`` says what and why."""

    code = "volume_error"


class VolumeNotFound(DriverError):
    http_status = 404
    code = "volume_not_found"
    message_format = "Volume %(id)s could not be found."


class VolumeBusy(DriverError):
    """The volume could not be unmounted/detached because something uses it."""

    http_status = 409
    code = "volume_busy"
    message_format = "Volume %(id)s is busy: %(reason)s"


class VolumeTimeout(DriverError):
    code = "volume_timeout"
    message_format = ("Volume %(id)s did not reach %(statuses)s within %(timeout)s s "
                      "(it is %(status)s).")


class Volume(NamedTuple):
    id: str
    name: str
    size: int            # GB
    status: str          # one of STATUSES
    device: str | None   # local: absolute mount path; Nova: e.g. '/dev/vdb'
    backing: str         # 'loop-ext4' | 'directory' (local) | 'cinder'


class VolumeDriver(abc.ABC):
    """Create, attach, grow, detach and delete volumes.

    Timing: every method returns when its effect is visible. ``create_volume``
    returns an ``available`` volume (local: well under a second for a sparse
    image; Cinder: polls until available). ``attach_volume`` returns once the
    volume is ``in-use``; ``detach_volume`` once it is ``available`` again.
    ``extend_volume`` is an offline grow: callers stop the database first; the
    local driver unmounts, checks and resizes the filesystem and mounts it again,
    so the filesystem shows the new size. Measured here (local): create 5 GB
    0.03-0.08 s, attach 0.01-0.02 s, extend 5->10 GB 0.13-0.32 s, delete 0.03 s.

    Failures: ``VolumeNotFound`` for unknown ids (``delete_volume`` is
    idempotent and never raises it); ``VolumeBusy`` when a mount cannot be
    released because processes still use it (the message names them); other
    ``DriverError`` subclasses with the backend's reason.
    """

    @abc.abstractmethod
    def create_volume(self, size_gb: int, name: str) -> Volume:
        """Create an empty volume of ``size_gb`` GB, formatted where local.

        Timing: returns it ``available`` (local 0.03-0.08 s for a sparse image;
        Cinder polls, at most ``status_timeout``). Failures: ``DriverError`` for
        a size under 1 GB, a failed mkfs or a volume going to ``error``;
        ``VolumeTimeout`` (Cinder) when it is not available in time.
        """

    @abc.abstractmethod
    def get_volume(self, volume_id: str) -> Volume:
        """The volume's current state.

        Timing: local reads a file (ms); Cinder one API call. Failures:
        ``VolumeNotFound``; ``DriverError`` if the backend cannot be asked.
        """

    @abc.abstractmethod
    def attach_volume(self, volume_id: str, server_id: str) -> str:
        """Attach to a server; return the device (local: the mount path).

        Attaching again to the same server is fine (local: mounts it again after
        a host reboot). Timing: returns once ``in-use`` (local 0.01-0.02 s;
        Cinder polls, at most ``status_timeout``). Failures: ``VolumeNotFound``;
        ``DriverError`` when it is attached elsewhere, not ``available``, the
        server is unknown or the mount fails; ``VolumeTimeout`` (Cinder).
        """

    @abc.abstractmethod
    def detach_volume(self, volume_id: str, server_id: str) -> None:
        """Detach (local: unmount); a volume not attached is left as it is.

        Timing: returns once ``available`` (local: an unmount is retried for
        ``busy_timeout``, 5 s by default; Cinder polls, at most
        ``status_timeout``). Failures: ``VolumeNotFound``; ``VolumeBusy`` when
        processes still hold the mount (named in the message); ``DriverError``
        if it is attached to another server.
        """

    @abc.abstractmethod
    def extend_volume(self, volume_id: str, new_size_gb: int) -> None:
        """Grow to ``new_size_gb`` GB (must be larger than the current size).

        Offline: the caller has stopped the database. Timing: local unmounts,
        runs e2fsck and resize2fs and mounts again (0.13-0.32 s for 5->10 GB);
        Cinder polls, at most ``status_timeout``. Failures: ``VolumeNotFound``;
        ``DriverError`` for a size not larger, a volume in another state or a
        failed fsck/resize (local leaves it mounted as it was); ``VolumeBusy``;
        ``VolumeTimeout`` (Cinder).
        """

    @abc.abstractmethod
    def delete_volume(self, volume_id: str) -> None:
        """Delete (local: unmount and remove the image); unknown ids are fine.

        Timing: returns when it is gone (local 0.03 s plus any unmount retries;
        Cinder detaches first, then polls, at most ``status_timeout``).
        Failures: ``VolumeBusy`` when the mount cannot be released;
        ``DriverError`` when Cinder does not delete it (``error_deleting`` or
        timeout).
        """
