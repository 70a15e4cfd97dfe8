"""Local volumes: a sparse ext4 image file, loop-mounted when attached.

Layout of one volume, ``<state_dir>/volumes/<volume_id>/``::

    volume.json  {id, name, size, status, backing, attached_to, created_at}
    disk.img     sparse image of ``size`` GB, ext4 (mkfs -m 0: no reserved blocks)
    mnt/         the mount point; attach mounts disk.img here and returns this path

The mount point stays in the volume's directory (not the server's) so a rebuild,
which replaces the server's files, never touches it.

Where loop mounting is impossible (no root, no /dev/loop-control, a container
without the capability; probed once per process with a tiny image) volumes are
plain directories: ``backing='directory'``, ``mnt/`` holds the data directly,
sizes are recorded but not enforced, and the driver logs it once.

Grow is offline, the only way that works here (online resize2fs is refused):
umount, truncate, ``e2fsck -f -y``, ``resize2fs``, mount again. Callers stop the
database first. Every umount is retried for ``busy_timeout`` seconds; if the
mount is still busy, VolumeBusy names the processes that hold it.
"""

import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from typing import Any, Callable

from trove_lite.drivers import localutil
from trove_lite.drivers.volume import base

LOG = logging.getLogger(__name__)
GB = 1024 ** 3
_LOOP_PROBE: dict[str, bool] = {}   # result of the one-time loop mount probe, per process


def loop_mount_works(scratch_dir: str) -> bool:
    """True if ``mount -o loop`` works here; probed once (about 30 ms)."""
    if "ok" in _LOOP_PROBE:
        return _LOOP_PROBE["ok"]
    ok = False
    if os.geteuid() == 0 and os.path.exists("/dev/loop-control") and shutil.which("mkfs.ext4"):
        probe = tempfile.mkdtemp(prefix=".loop-probe-", dir=scratch_dir)
        img, mnt = os.path.join(probe, "probe.img"), os.path.join(probe, "mnt")
        try:
            os.mkdir(mnt)
            _run(["truncate", "-s", "8M", img])
            _run(["mkfs.ext4", "-q", "-F", img])
            _run(["mount", "-o", "loop", img, mnt])
            _run(["umount", mnt])
            ok = True
        except base.DriverError as exc:
            LOG.warning("loop mounts do not work here (%s); volumes will be plain "
                        "directories without size limits", exc)
        finally:
            _detach_loops(img)
            shutil.rmtree(probe, ignore_errors=True)
    _LOOP_PROBE["ok"] = ok
    return ok


class LocalVolumeDriver(base.VolumeDriver):
    """Volumes under ``<state_dir>/volumes``; see the module docstring.

    ``force_directory`` skips loop devices (tests of the fallback, or machines
    where the probe would be misleading). ``server_exists`` (optional callable)
    lets attach refuse unknown servers.
    """

    def __init__(self, state_dir: str, force_directory: bool = False, busy_timeout: float = 5.0,
                 server_exists: Callable[[str], bool] | None = None) -> None:
        self.volumes_dir = os.path.join(os.path.abspath(state_dir), "volumes")
        self.force_directory = force_directory
        self.busy_timeout = busy_timeout
        self.server_exists = server_exists
        os.makedirs(self.volumes_dir, exist_ok=True)

    # -- interface ----------------------------------------------------------------
    def create_volume(self, size_gb: int, name: str) -> base.Volume:
        size_gb = int(size_gb)
        if size_gb < 1:
            raise base.DriverError(reason="volume size must be at least 1 GB")
        backing = ("directory" if self.force_directory
                   or not loop_mount_works(self.volumes_dir) else "loop-ext4")
        volume_id = str(uuid.uuid4())
        vdir = self._dir(volume_id)
        os.makedirs(os.path.join(vdir, "mnt"))
        record = {"id": volume_id, "name": name, "size": size_gb, "status": "creating",
                  "backing": backing, "attached_to": None, "created_at": time.time()}
        localutil.write_json(self._json(volume_id), record)
        if backing == "loop-ext4":
            img = os.path.join(vdir, "disk.img")
            try:
                _run(["truncate", "-s", str(size_gb * GB), img])
                _run(["mkfs.ext4", "-q", "-F", "-m", "0", img])
            except base.DriverError as exc:
                self._set(volume_id, status="error")
                raise base.DriverError(reason="could not create volume %s: %s" % (
                    volume_id, exc.message)) from None
        self._set(volume_id, status="available")
        return self.get_volume(volume_id)

    def get_volume(self, volume_id: str) -> base.Volume:
        r = self._load(volume_id)
        device = self._mount_path(volume_id) if r["attached_to"] else None
        return base.Volume(id=r["id"], name=r["name"], size=r["size"], status=r["status"],
                           device=device, backing=r["backing"])

    def list_volumes(self) -> list[base.Volume]:
        out = []
        for vid in sorted(os.listdir(self.volumes_dir)):
            if not vid.startswith("."):
                try:
                    out.append(self.get_volume(vid))
                except base.VolumeNotFound:
                    pass
        return out

    def volumes_attached_to(self, server_id: str) -> list[str]:
        return [v.id for v in self.list_volumes()
                if self._load(v.id).get("attached_to") == server_id]

    def attach_volume(self, volume_id: str, server_id: str) -> str:
        with self._lock(volume_id):
            r = self._load(volume_id)
            if r["attached_to"] == server_id:
                # again after a host reboot (mounts gone): mount, same path
                if r["backing"] == "loop-ext4":
                    self._mount(volume_id)
                return self._mount_path(volume_id)
            if r["attached_to"] or r["status"] != "available":
                raise base.DriverError(reason="volume %s is %s (attached to %s), not available"
                                       % (volume_id, r["status"], r["attached_to"]))
            if self.server_exists is not None and not self.server_exists(server_id):
                raise base.DriverError(reason="server %s does not exist" % server_id)
            if r["backing"] == "loop-ext4":
                self._mount(volume_id)
            self._set(volume_id, status="in-use", attached_to=server_id)
            return self._mount_path(volume_id)

    def detach_volume(self, volume_id: str, server_id: str) -> None:
        with self._lock(volume_id):
            r = self._load(volume_id)
            if not r["attached_to"]:
                return
            if r["attached_to"] != server_id:
                raise base.DriverError(reason="volume %s is attached to %s, not %s" % (
                    volume_id, r["attached_to"], server_id))
            self._umount(volume_id)
            self._set(volume_id, status="available", attached_to=None)

    def extend_volume(self, volume_id: str, new_size_gb: int) -> None:
        new_size_gb = int(new_size_gb)
        with self._lock(volume_id):
            r = self._load(volume_id)
            if new_size_gb <= r["size"]:
                raise base.DriverError(reason="volume %s is %d GB; new size %d GB must be larger"
                                       % (volume_id, r["size"], new_size_gb))
            if r["status"] not in ("available", "in-use"):
                raise base.DriverError(reason="volume %s is %s; it cannot be extended now"
                                       % (volume_id, r["status"]))
            if r["backing"] == "directory":
                self._set(volume_id, size=new_size_gb)
                return
            self._set(volume_id, status="extending")
            try:
                self._umount(volume_id)
                self._grow_image(volume_id, new_size_gb)
            except base.DriverError:
                self._set(volume_id, status=r["status"])
                if r["attached_to"] and not self._mounted(volume_id):
                    self._mount(volume_id)   # leave it as we found it
                raise
            if r["attached_to"]:
                self._mount(volume_id)
            self._set(volume_id, size=new_size_gb, status=r["status"])

    def delete_volume(self, volume_id: str) -> None:
        try:
            self._load(volume_id)
        except base.VolumeNotFound:
            return
        with self._lock(volume_id):
            self._umount(volume_id)
            _detach_loops(os.path.join(self._dir(volume_id), "disk.img"))
            shutil.rmtree(self._dir(volume_id), ignore_errors=True)
        try:
            os.unlink(os.path.join(self.volumes_dir, ".%s.lock" % volume_id))
        except FileNotFoundError:
            pass

    # -- state ----------------------------------------------------------------------
    def _dir(self, volume_id: str) -> str:
        if not volume_id or "/" in volume_id or volume_id.startswith("."):
            raise base.VolumeNotFound(id=volume_id)
        return os.path.join(self.volumes_dir, volume_id)

    def _json(self, volume_id: str) -> str:
        return os.path.join(self._dir(volume_id), "volume.json")

    def _mount_path(self, volume_id: str) -> str:
        return os.path.join(self._dir(volume_id), "mnt")

    def _lock(self, volume_id: str) -> localutil.FileLock:
        return localutil.FileLock(os.path.join(self.volumes_dir, ".%s.lock" % volume_id))

    def _load(self, volume_id: str) -> dict[str, Any]:
        try:
            return localutil.read_json(self._json(volume_id))
        except (FileNotFoundError, NotADirectoryError):
            raise base.VolumeNotFound(id=volume_id) from None

    def _set(self, volume_id: str, **changes: Any) -> dict[str, Any]:
        record = self._load(volume_id)
        record.update(changes)
        localutil.write_json(self._json(volume_id), record)
        return record

    # -- mounts ---------------------------------------------------------------------
    def _mounted(self, volume_id: str) -> bool:
        return self._mount_path(volume_id) in mounted_paths()

    def _mount(self, volume_id: str) -> None:
        if self._mounted(volume_id):
            return
        _run(["mount", "-o", "loop", os.path.join(self._dir(volume_id), "disk.img"),
              self._mount_path(volume_id)])

    def _umount(self, volume_id: str) -> None:
        """Unmount, retrying while busy; VolumeBusy names the holders."""
        path = self._mount_path(volume_id)
        deadline = time.monotonic() + self.busy_timeout
        while self._mounted(volume_id):
            proc = subprocess.run(["umount", path], capture_output=True, text=True)
            if proc.returncode == 0:
                break
            if time.monotonic() >= deadline:
                holders = processes_using(path)
                raise base.VolumeBusy(id=volume_id, reason="umount %s failed: %s; in use by %s" % (
                    path, proc.stderr.strip(), ", ".join(holders) or "unknown processes"))
            time.sleep(0.2)
        try:
            os.mkdir(path)   # rmtree of a stale path never happens, but keep the mount point
        except FileExistsError:
            pass

    def _grow_image(self, volume_id: str, new_size_gb: int) -> None:
        img = os.path.join(self._dir(volume_id), "disk.img")
        _run(["truncate", "-s", str(new_size_gb * GB), img])
        fsck = subprocess.run(["e2fsck", "-f", "-y", img], capture_output=True, text=True)
        if fsck.returncode >= 4:   # 1 and 2 mean "errors corrected"
            raise base.DriverError(reason="e2fsck of volume %s failed (%d): %s" % (
                volume_id, fsck.returncode, (fsck.stdout + fsck.stderr)[-1000:]))
        _run(["resize2fs", img])


def mounted_paths() -> set[str]:
    """Mount points from /proc/mounts (octal escapes decoded)."""
    paths = set()
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 1:
                paths.add(parts[1].encode().decode("unicode_escape"))
    return paths


def processes_using(path: str) -> list[str]:
    """'name[pid]' of processes with their cwd or an open file under ``path``."""
    found = []
    prefix = path.rstrip("/") + "/"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        links = []
        try:
            links.append(os.readlink("/proc/%s/cwd" % entry))
            for fd in os.listdir("/proc/%s/fd" % entry):
                links.append(os.readlink("/proc/%s/fd/%s" % (entry, fd)))
        except OSError:
            pass
        if any(link == path or link.startswith(prefix) for link in links):
            found.append("%s[%s]" % (localutil.cmdline(int(entry)).split(" ")[0]
                                     .rsplit("/", 1)[-1], entry))
    return found


def _detach_loops(img: str) -> None:
    """Detach loop devices still backed by ``img`` (normally none: umount autoclears)."""
    proc = subprocess.run(["losetup", "-j", img], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        device = line.split(":", 1)[0]
        if device.startswith("/dev/loop"):
            subprocess.run(["losetup", "-d", device], capture_output=True)


def _run(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise base.DriverError(reason="%s: %s" % (cmd[0], exc)) from None
    if proc.returncode != 0:
        raise base.DriverError(reason="%s failed (%d): %s" % (
            " ".join(cmd[:2]), proc.returncode, (proc.stderr or proc.stdout).strip()[-1000:]))
    return proc.stdout
