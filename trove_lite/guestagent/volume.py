"""Making the instance's volume available to the datastore.

A local volume arrives already mounted: its "device" is a directory. A Nova
volume arrives as a block device (``/dev/vdb``): format it once (ext4) and mount
it at ``mount_point``.
"""

import os
import subprocess


def mount(device: str | None, mount_point: str) -> str:
    """Return the directory where the volume's files live."""
    if not device:
        os.makedirs(mount_point, exist_ok=True)
        return mount_point
    if os.path.isdir(device):
        return device
    os.makedirs(mount_point, exist_ok=True)
    if _is_mounted(mount_point):
        return mount_point
    probe = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", device],
                           capture_output=True, text=True)
    if not probe.stdout.strip():
        subprocess.run(["mkfs.ext4", "-q", "-F", device], check=True)
    subprocess.run(["mount", device, mount_point], check=True)
    return mount_point


def unmount(device: str | None, mount_point: str | None) -> None:
    if not device or os.path.isdir(device) or not mount_point:
        return  # local volumes are unmounted by their driver
    if _is_mounted(mount_point):
        subprocess.run(["umount", mount_point], check=True)


def _is_mounted(path: str) -> bool:
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f)
