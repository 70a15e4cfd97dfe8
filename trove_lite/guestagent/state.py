"""What the guest agent remembers and knows about its server; light to import.

Kept apart from the RPC manager so that the agent can begin preparing its
database (``early.py``) before it has loaded oslo.messaging (0.5-0.8 s here).
"""

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from trove_lite.datastores.base import Binaries, binaries_from_spec
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer


_PATH_LOCKS: dict[str, threading.Lock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def _lock_for(path: str) -> threading.Lock:
    """One lock per state file in this process, whoever holds a GuestState on it."""
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(os.path.abspath(path), threading.Lock())


class GuestState:
    """A JSON file of facts the agent must remember across restarts.

    Several holders may update it at once (the early preparation and the RPC
    manager in one process, an upgrade helper in another): an update is a
    read-modify-write under a per-file lock and a ``flock`` on a lock file
    beside it, written through a temporary file of its own and renamed.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = _lock_for(path)

    def read(self) -> dict[str, Any]:
        try:
            with open(self.path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def update(self, **fields: Any) -> dict[str, Any]:
        with self._lock, open(self.path + ".lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            data = self.read()
            data.update(fields)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path),
                                       prefix=".guest-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(data, f)
                os.replace(tmp, self.path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            return data


def work_dir_of(server_dir: str | None) -> str:
    return os.path.abspath(server_dir or "/var/lib/trove-lite-guest")


def state_of(work_dir: str) -> GuestState:
    os.makedirs(os.path.join(work_dir, "state"), exist_ok=True)
    return GuestState(os.path.join(work_dir, "state", "guest.json"))


def read_server_info(server_dir: str | None) -> dict[str, Any]:
    """The local driver's metadata (address, image binaries, volume devices)."""
    if not server_dir:
        return {"address": "0.0.0.0", "image": {}}
    with open(os.path.join(server_dir, "server.json")) as f:
        return json.load(f)


def binaries_of(image: dict | None) -> Binaries:
    return binaries_from_spec(image)


def server_class(binaries: Binaries) -> type[MariaDBServer]:
    """The server runner of the image's datastore (MySQL's is imported only there)."""
    if binaries.datastore == "mysql":
        from trove_lite.guestagent.datastore.mysql.server import MySQLServer
        return MySQLServer
    return MariaDBServer


def server_factory(work_dir: str,
                   info: dict[str, Any]) -> Callable[[str | None], MariaDBServer]:
    """``make_server(datadir)`` for this instance's database server."""
    binaries = binaries_of(info.get("image"))
    cls = server_class(binaries)

    def make_server(datadir: str | None) -> MariaDBServer:
        return cls(os.path.join(work_dir, "mysql"),
                   bind_address=info.get("address") or "0.0.0.0", port=3306,
                   binaries=binaries, datadir=datadir)
    return make_server


def server_id_of(instance_id: str) -> int:
    """A stable 32-bit server_id for the instance (replication needs them unique)."""
    return (int(instance_id.replace("-", "")[:8], 16) % 4000000000) + 1


def failure_text(exc: BaseException, limit: int=1000) -> str:
    """What the user sees of a guest-side failure (it becomes the instance fault)."""
    msg = getattr(exc, "message", None) or str(exc)
    return ("%s: %s" % (type(exc).__name__, msg))[:limit]
