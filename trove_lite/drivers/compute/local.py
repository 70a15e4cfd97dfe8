"""Local compute: a "server" is a guest-agent process with its own loopback address.

Layout of one server, ``<state_dir>/servers/<server_id>/``::

    server.json   {id, name, address, image_id, image (binaries spec), flavor,
                   metadata, status, files, created_at, started_at, fault}
    root/         injected files: files['etc/trove-lite/guest.conf'] lands at
                  root/etc/trove-lite/guest.conf
    guest.log     the guest's stdout and stderr
    guest.pid     "<pid> <start time>" of the guest's process group leader
    guest.exit    exit status of the last guest run (written by the wrapper shell)
    pids/         processes the guest starts that must die with the server (its
                  mariadbd, which runs in its own session to survive an agent
                  restart) write their PID to pids/<name>.pid

The guest is started detached (its own session and process group) as
``<guest_command> --server-dir <dir> [--config-file root/<x>.conf ...]`` under a
tiny ``sh`` wrapper that records the exit status; the default agent is forked
instead by a fork server with its modules loaded (launcher.py), whose session
leader plays the wrapper's part. Its environment carries
``TROVE_LITE_SERVER_ID`` and ``TROVE_LITE_SERVER_DIR``; everything it starts
inherits them, which is how reboot, rebuild and delete find every process of the
server, also ones it forgot to register under pids/. A process is signalled only
when proven to belong to the server (marker in /proc/<pid>/environ or the server
dir on its command line, and an unchanged start time).

Addresses: the first free address of the driver's /24 not held by another
server directory and with nothing listening on :3306; kept across reboot and
rebuild, freed by delete. A prefix of three octets (``127.204.7``) is that /24.
A shorter one (the default ``127.77``) is a range the driver claims a /24 of
for itself, once: a claim is a file ``<claims_dir>/<prefix>`` naming the claiming
servers directory, made under a machine-wide lock, and the search starts at a
/24 derived from the deployment id. So two deployments (or test runs) on one
machine never hand out the same address, even when both start at once. A claim
whose servers directory is gone is stale and may be taken; the chosen /24 is
also kept in ``servers/.address_prefix`` and preferred at the next start.

States: REBOOT/REBUILD while those run; then BUILD for the first
``boot_seconds`` while the guest lives, ACTIVE after; SHUTOFF once the guest
exited; ERROR when it exited non-zero within ``boot_seconds`` (fault: the tail
of guest.log) or could not be started at all. A reboot, like a VM's, stops every
process of the server (the guest's database too) and starts the guest again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from trove_lite.drivers import localutil
from trove_lite.drivers.compute import base, launcher

if TYPE_CHECKING:
    from trove_lite.drivers.images import LocalImageRegistry
    from trove_lite.drivers.volume.local import LocalVolumeDriver

LOG = logging.getLogger(__name__)

DB_PORT = 3306
DEFAULT_CLAIMS_DIR = os.path.join(tempfile.gettempdir(), "trove-lite-address-claims")
WRAPPER = 'cd "$TROVE_LITE_SERVER_DIR" && rm -f guest.exit; "$@"; echo $? > guest.exit'


def default_guest_command() -> list[str]:
    return [sys.executable, "-m", "trove_lite.cmd.guestagent"]


class LocalComputeDriver(base.ComputeDriver):
    """Servers as local guest processes; see the module docstring for the layout.

    ``images`` is a ``LocalImageRegistry``; ``volumes`` (optional) a
    ``LocalVolumeDriver`` whose volumes attached to a server are detached when
    the server is deleted, as Nova does.
    """

    def __init__(self, state_dir: str, images: LocalImageRegistry,
                 guest_command: Sequence[str] | None = None, address_prefix: str = "127.77",
                 boot_seconds: float = 0.2, stop_timeout: float = 30.0,
                 volumes: LocalVolumeDriver | None = None, deployment_id: str | None = None,
                 claims_dir: str | None = None, preload_guests: bool = True) -> None:
        self.servers_dir = os.path.join(os.path.abspath(state_dir), "servers")
        self.images = images
        # the default agent boots from a pre-loaded fork server (launcher.py)
        self._launcher = (launcher.Launcher() if preload_guests and not guest_command
                          else None)
        self.guest_command = list(guest_command or default_guest_command())
        self.address_prefix = address_prefix.rstrip(".")
        self.deployment_id = deployment_id
        self.claims_dir = claims_dir or DEFAULT_CLAIMS_DIR
        self._subnet: str | None = None     # the /24 this driver hands addresses out of
        self.boot_seconds = boot_seconds
        self.stop_timeout = stop_timeout
        self.volumes = volumes
        # server_id -> Popen, only to reap our own children
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        os.makedirs(self.servers_dir, exist_ok=True)

    # -- interface ----------------------------------------------------------------
    def create_server(self, name: str, image_id: str, flavor: base.Flavor,
                      files: dict[str, str], metadata: dict[str, str],
                      volume_id: str | None = None) -> base.Server:
        image = self.images.get(image_id)
        if volume_id is not None and self.volumes is None:
            raise base.DriverError(reason="this compute driver has no volume driver to "
                                          "attach %s at boot" % volume_id)
        files = _checked_files(files or {})
        server_id = str(uuid.uuid4())
        sdir = self._dir(server_id)
        with localutil.FileLock(os.path.join(self.servers_dir, ".lock")):
            address = self._allocate_address()
            os.makedirs(os.path.join(sdir, "pids"))
            localutil.write_json(self._json(server_id), {
                "id": server_id, "name": name, "address": address,
                "image_id": image_id, "image": image["binaries"],
                "flavor": dict(flavor._asdict()) if flavor else None,
                "metadata": dict(metadata or {}), "status": "BUILD",
                "files": sorted(files), "created_at": time.time(),
                "started_at": None, "fault": None})
        _write_files(sdir, files)
        if volume_id is not None:
            assert self.volumes is not None   # checked above
            try:
                device = self.volumes.attach_volume(volume_id, server_id)
            except Exception as exc:
                self._set(server_id, status="ERROR",
                          fault="volume %s could not be attached at boot: %s" % (volume_id, exc))
                return self.get_server(server_id)
            self._set(server_id, volume_devices={volume_id: device})
        self._launch(server_id)
        return self.get_server(server_id)

    def get_server(self, server_id: str) -> base.Server:
        return self._to_server(self._load(server_id))

    def list_servers(self) -> list[base.Server]:
        servers = []
        for sid in sorted(os.listdir(self.servers_dir)):
            try:
                servers.append(self.get_server(sid))
            except base.ServerNotFound:
                pass   # a directory being created or deleted right now
        return servers

    def rebuild_server(self, server_id: str, image_id: str,
                       files: dict[str, str] | None = None) -> None:
        record = self._load(server_id)
        image = self.images.get(image_id)
        files = None if files is None else _checked_files(files)
        self._set(server_id, status="REBUILD")
        self._halt(server_id)
        sdir = self._dir(server_id)
        if files is not None:
            shutil.rmtree(os.path.join(sdir, "root"), ignore_errors=True)
            _write_files(sdir, files)
            record["files"] = sorted(files)
        self._set(server_id, image_id=image_id, image=image["binaries"],
                  files=record["files"])
        self._launch(server_id)

    def reboot_server(self, server_id: str) -> None:
        self._load(server_id)
        self._set(server_id, status="REBOOT")
        self._halt(server_id)
        self._launch(server_id)

    def restart_guest(self, server_id: str) -> None:
        """Start the guest agent again after it died, as the init of a VM would;
        its mariadbd (own session) and volumes are left as they are."""
        self._load(server_id)
        self._launch(server_id)

    def delete_server(self, server_id: str) -> None:
        sdir = self._dir(server_id)
        if not os.path.isdir(sdir):
            return
        self._halt(server_id)
        if self.volumes is not None:
            for volume_id in self.volumes.volumes_attached_to(server_id):
                self.volumes.detach_volume(volume_id, server_id)
        shutil.rmtree(sdir, ignore_errors=True)
        self._children.pop(server_id, None)

    def server_exists(self, server_id: str) -> bool:
        return os.path.exists(self._json(server_id))

    def server_dir(self, server_id: str) -> str:
        """Where the server lives (tests and the AIO tooling look inside)."""
        return self._dir(server_id)

    # -- state ----------------------------------------------------------------------
    def _dir(self, server_id: str) -> str:
        if not server_id or "/" in server_id or server_id.startswith("."):
            raise base.ServerNotFound(id=server_id)
        return os.path.join(self.servers_dir, server_id)

    def _json(self, server_id: str) -> str:
        return os.path.join(self._dir(server_id), "server.json")

    def _load(self, server_id: str) -> dict[str, Any]:
        try:
            return localutil.read_json(self._json(server_id))
        except (FileNotFoundError, NotADirectoryError):
            raise base.ServerNotFound(id=server_id) from None

    def _set(self, server_id: str, **changes: Any) -> dict[str, Any]:
        with localutil.FileLock(os.path.join(self._dir(server_id), ".lock")):
            record = self._load(server_id)
            record.update(changes)
            localutil.write_json(self._json(server_id), record)
        return record

    def _to_server(self, record: dict[str, Any]) -> base.Server:
        status, fault = self._status(record)
        return base.Server(id=record["id"], name=record["name"], status=status,
                           addresses=[record["address"]], image_id=record["image_id"],
                           fault=fault)

    def _status(self, record: dict[str, Any]) -> tuple[str, str | None]:
        """Derive Nova's status from the stored intent and the guest process."""
        if record["status"] in ("REBOOT", "REBUILD", "ERROR"):
            return record["status"], record.get("fault")
        child = self._children.get(record["id"])
        if child is not None:
            child.poll()   # reap our own exited child so it does not linger as a zombie
        sdir = self._dir(record["id"])
        started = record.get("started_at") or 0
        if self._guest(record["id"]) is not None:
            booting = time.time() - started < self.boot_seconds
            return ("BUILD" if booting else "ACTIVE"), None
        exit_file = os.path.join(sdir, "guest.exit")
        try:
            with open(exit_file) as f:
                code = int(f.read().strip() or 0)
            ended = os.stat(exit_file).st_mtime
        except (OSError, ValueError):
            return "SHUTOFF", None
        if code != 0 and ended - started < self.boot_seconds:
            return "ERROR", "guest exited with status %d at boot: %s" % (
                code, localutil.tail(os.path.join(sdir, "guest.log")))
        return "SHUTOFF", None

    # -- addresses ------------------------------------------------------------------
    def _allocate_address(self) -> str:
        """The first free address of our /24; call with the servers lock held."""
        taken = set()
        for sid in os.listdir(self.servers_dir):
            try:
                taken.add(localutil.read_json(os.path.join(
                    self.servers_dir, sid, "server.json"))["address"])
            except (OSError, ValueError, KeyError):
                pass
        subnet = self.subnet()
        for n in range(1, 255):
            address = "%s.%d" % (subnet, n)
            if address not in taken and localutil.port_free(address, DB_PORT):
                return address
        raise base.DriverError(reason="no free address left in %s.*" % subnet)

    def subnet(self) -> str:
        """The /24 (``a.b.c``) addresses come from; claimed on first use."""
        if self._subnet is None:
            octets = self.address_prefix.split(".")
            if len(octets) >= 3:
                self._subnet = ".".join(octets[:3])
            else:
                self._subnet = self._claim_subnet(octets)
        return self._subnet

    def _claim_subnet(self, octets: list[str]) -> str:
        """Claim a /24 of the ``octets`` range for this servers directory (see the
        module docstring); DriverError when every one is held."""
        candidates = ["%s.%d" % (".".join(octets + ["%d" % a for a in head]), c)
                      for head in _product([range(0, 256)] * (2 - len(octets)))
                      for c in range(0, 256)]
        seed = self.deployment_id or self.servers_dir
        start = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(candidates)
        ordered = candidates[start:] + candidates[:start]
        kept = os.path.join(self.servers_dir, ".address_prefix")
        try:
            with open(kept) as f:
                ordered.insert(0, f.read().strip())
        except OSError:
            pass
        with localutil.FileLock(os.path.join(self.claims_dir, ".lock")):
            for subnet in ordered:
                if subnet in candidates and self._take_claim(subnet):
                    with open(kept, "w") as f:
                        f.write(subnet + "\n")
                    return subnet
        raise base.DriverError(reason="every /24 of %s.* is claimed by another deployment "
                                      "(see %s)" % (self.address_prefix, self.claims_dir))

    def _take_claim(self, subnet: str) -> bool:
        """True if ``subnet`` is ours now: claimed by us before, or free (no claim, or
        a stale one) with nothing of anyone else listening in it."""
        path = os.path.join(self.claims_dir, subnet)
        try:
            owner = localutil.read_json(path).get("servers_dir")
        except (OSError, ValueError, AttributeError):
            owner = None
        if owner == self.servers_dir:
            return True
        if owner and os.path.isdir(owner):
            return False
        # unclaimed: still skip one in use by something that does not claim
        if not all(localutil.port_free("%s.%d" % (subnet, n), DB_PORT) for n in (1, 2, 3)):
            return False
        localutil.write_json(path, {"servers_dir": self.servers_dir,
                                    "deployment_id": self.deployment_id,
                                    "claimed_at": time.time()})
        return True

    # -- processes ------------------------------------------------------------------
    def _launch(self, server_id: str) -> None:
        record = self._load(server_id)
        sdir = self._dir(server_id)
        if self.volumes is not None:
            # a VM finds its volumes attached when it boots, even after a host reboot
            for volume_id in self.volumes.volumes_attached_to(server_id):
                self.volumes.attach_volume(volume_id, server_id)
        cmd = self.guest_command + ["--server-dir", sdir]
        for path in record["files"]:
            if path.endswith(".conf"):
                cmd += ["--config-file", os.path.join(sdir, "root", path)]
        env = dict(os.environ)
        env[localutil.ENV_SERVER_ID] = server_id
        env[localutil.ENV_SERVER_DIR] = sdir
        log_path = os.path.join(sdir, "guest.log")
        pid: int | None = None
        if self._launcher is not None:
            try:
                pid = self._launcher.spawn(cmd[len(self.guest_command):], env, sdir,
                                           log_path)
            except OSError as exc:
                LOG.warning("starting guest %s the plain way: %s", server_id, exc)
        if pid is None:
            try:
                with open(log_path, "ab") as log:
                    proc = subprocess.Popen(
                        ["/bin/sh", "-c", WRAPPER, "guest-wrapper"] + cmd, cwd=sdir,
                        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        start_new_session=True, close_fds=True)
            except OSError as exc:
                self._set(server_id, status="ERROR", fault="guest could not start: %s" % exc)
                return
            self._children[server_id] = proc
            pid = proc.pid
        st = localutil.start_time(pid)
        with open(os.path.join(sdir, "guest.pid"), "w") as f:
            f.write("%d %s\n" % (pid, st))
        self._set(server_id, status="ACTIVE", started_at=time.time(), fault=None)

    def _guest(self, server_id: str) -> tuple[int, int] | None:
        """(pid, start_time) of the live guest wrapper (the group leader), or None."""
        try:
            with open(os.path.join(self._dir(server_id), "guest.pid")) as f:
                pid_text, st_text = f.read().split()
            pid, st = int(pid_text), int(st_text)
        except (OSError, ValueError):
            return None
        return (pid, st) if localutil.start_time(pid) == st else None

    def _halt(self, server_id: str) -> None:
        """Stop every process of the server: the guest's group, pids/, marked ones."""
        sdir = self._dir(server_id)
        leader = self._guest(server_id)
        procs = set(localutil.processes_marked(server_id, sdir))
        pids_dir = os.path.join(sdir, "pids")
        for name in _listdir(pids_dir):
            try:
                with open(os.path.join(pids_dir, name)) as f:
                    pid = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            proof = localutil.owned(pid, server_id, sdir)
            if proof:
                procs.add(proof)
        localutil.terminate(procs, self.stop_timeout,
                            group_leaders=[leader] if leader else [])
        child = self._children.pop(server_id, None)
        if child is not None:
            child.poll()
        for name in _listdir(pids_dir):
            _unlink(os.path.join(pids_dir, name))


def _checked_files(files: Mapping[str, str]) -> dict[str, str]:
    """Injected files must be relative paths inside the server's root."""
    for path in files:
        norm = os.path.normpath(path)
        if os.path.isabs(path) or norm.startswith("..") or norm == ".":
            raise base.DriverError(reason="injected file path %r must be relative" % path)
    return {os.path.normpath(p): c for p, c in files.items()}


def _write_files(sdir: str, files: Mapping[str, str]) -> None:
    for path, content in files.items():
        target = os.path.join(sdir, "root", path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # injected files carry credentials (transport URL, first passwords)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(content)


def _product(ranges: Sequence[range]) -> Iterator[tuple[int, ...]]:
    if not ranges:
        yield ()
        return
    for head in ranges[0]:
        for rest in _product(ranges[1:]):
            yield (head,) + rest


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
