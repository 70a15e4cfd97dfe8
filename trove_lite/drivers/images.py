"""Local images: for the local compute driver an image names a tree of binaries.

A datastore version points at an image id. Nova resolves it in Glance; the
local driver resolves it here, in a small JSON registry, to a spec whose keys are
the fields of ``trove_lite.datastores.base.Binaries`` plus
``version`` (what ``mariadbd --version`` printed when it was registered). The
local compute driver copies the spec into ``server.json`` so the guest agent
knows which binaries to run.
"""

import os
import re
import shutil
import subprocess
from typing import Any, Mapping

from trove_lite.drivers import localutil
from trove_lite.drivers.compute.base import DriverError, ImageNotFound
from trove_lite.datastores.base import (  # noqa: F401 (re-exported)
    BINARY_FIELDS, binaries_from_spec)

SYSTEM_MARIADB_IMAGE_ID = "mariadb-10.11"


def system_mariadb_image() -> dict[str, Any]:
    """The spec of the system's MariaDB (Debian bookworm: 10.11).

    Raises DriverError if a binary is missing or ``mariadbd --version`` fails.
    """
    def which(name: str, fallback_dirs: tuple[str, ...] = ("/usr/sbin", "/usr/bin")) -> str:
        found = shutil.which(name)
        if found:
            return found
        for d in fallback_dirs:
            if os.access(os.path.join(d, name), os.X_OK):
                return os.path.join(d, name)
        raise DriverError(reason="system MariaDB binary %s not found" % name)

    spec: dict[str, Any] = {
        "mariadbd": which("mariadbd"),
        "install_db": which("mariadb-install-db"),
        "backup_tool": which("mariadb-backup"),
        "mbstream": which("mbstream"),
        "upgrade_tool": which("mariadb-upgrade"),
        "basedir": None,
        "lib_dir": None,
        "lc_messages_dir": None,
    }
    try:
        out = binaries_from_spec(spec).version()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise DriverError(reason="mariadbd --version failed: %s" % exc)
    spec["version"] = parse_version(out) or out
    return spec


def parse_version(text: str) -> str | None:
    """'mariadbd  Ver 10.11.14-MariaDB-0+deb12u2 for ...' -> '10.11.14'."""
    m = re.search(r"Ver\s+(\d+\.\d+\.\d+)", text)
    return m.group(1) if m else None


class LocalImageRegistry:
    """Images in one JSON file ``{image_id: {id, name, binaries}}``.

    Writes are atomic (rename) and serialised with a lock file, so several
    processes (API, taskmanager) may share the registry.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)

    def register(self, image_id: str, name: str,
                 binaries: Mapping[str, Any]) -> dict[str, Any]:
        """Add or replace an image; ``binaries`` is a spec (see module docstring)."""
        unknown = set(binaries) - set(BINARY_FIELDS) - {"version"}
        if unknown:
            raise DriverError(reason="unknown image spec keys: %s" % ", ".join(sorted(unknown)))
        if not binaries.get("mariadbd"):
            raise DriverError(reason="an image spec needs at least 'mariadbd'")
        image = {"id": image_id, "name": name, "binaries": dict(binaries)}
        with self._locked():
            images = self._read()
            images[image_id] = image
            self._write(images)
        return image

    def get(self, image_id: str) -> dict[str, Any]:
        """``{id, name, binaries}``; raises ImageNotFound."""
        try:
            return self._read()[image_id]
        except KeyError:
            raise ImageNotFound(id=image_id) from None

    def list(self) -> list[dict[str, Any]]:
        return sorted(self._read().values(), key=lambda i: i["id"])

    def ensure_system_mariadb(self, image_id: str = SYSTEM_MARIADB_IMAGE_ID) -> dict[str, Any]:
        """Register the system's MariaDB under ``image_id`` unless already there."""
        try:
            return self.get(image_id)
        except ImageNotFound:
            spec = system_mariadb_image()
            return self.register(image_id, "MariaDB %s (system)" % spec["version"], spec)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            images: dict[str, dict[str, Any]] = localutil.read_json(self.path)
        except FileNotFoundError:
            return {}
        return images

    def _write(self, images: dict[str, dict[str, Any]]) -> None:
        localutil.write_json(self.path, images)

    def _locked(self) -> localutil.FileLock:
        return localutil.FileLock(self.path + ".lock")
