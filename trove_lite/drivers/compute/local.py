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
tiny ``sh`` wrapper that records the exit status. Its environment carries
``TROVE_LITE_SERVER_ID`` and ``TROVE_LITE_SERVER_DIR``; everything it starts
inherits them, which is how reboot, rebuild and delete find every process of the
server, also ones it forgot to register under pids/. A process is signalled only
when proven to belong to the server (marker in /proc/<pid>/environ or the server
dir on its command line, and an unchanged start time).

Addresses: the first free ``<prefix>.x.y`` (default 127.77) not held by another
server directory and with nothing listening on :3306; kept across reboot and
rebuild, freed by delete.

States: REBOOT/REBUILD while those run; then BUILD for the first
``boot_seconds`` while the guest lives, ACTIVE after; SHUTOFF once the guest
exited; ERROR when it exited non-zero within ``boot_seconds`` (fault: the tail
of guest.log) or could not be started at all. A reboot, like a VM's, stops every
process of the server (the guest's database too) and starts the guest again.
"""

import os
import shutil
import subprocess
import sys
import time
import uuid

from trove_lite.drivers import localutil
from trove_lite.drivers.compute import base

DB_PORT = 3306
WRAPPER = 'cd "$TROVE_LITE_SERVER_DIR" && rm -f guest.exit; "$@"; echo $? > guest.exit'


def default_guest_command():
    return [sys.executable, "-m", "trove_lite.cmd.guestagent"]


class LocalComputeDriver(base.ComputeDriver):
    """Servers as local guest processes; see the module docstring for the layout.

    ``images`` is a ``LocalImageRegistry``; ``volumes`` (optional) a
    ``LocalVolumeDriver`` whose volumes attached to a server are detached when
    the server is deleted, as Nova does.
    """

    def __init__(self, state_dir, images, guest_command=None, address_prefix="127.77",
                 boot_seconds=0.2, stop_timeout=30.0, volumes=None):
        self.servers_dir = os.path.join(os.path.abspath(state_dir), "servers")
        self.images = images
        self.guest_command = list(guest_command or default_guest_command())
        self.address_prefix = address_prefix.rstrip(".")
        self.boot_seconds = boot_seconds
        self.stop_timeout = stop_timeout
        self.volumes = volumes
        self._children = {}     # server_id -> Popen, only to reap our own children
        os.makedirs(self.servers_dir, exist_ok=True)

    # -- interface ----------------------------------------------------------------
    def create_server(self, name, image_id, flavor, files, metadata, volume_id=None):
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
            try:
                device = self.volumes.attach_volume(volume_id, server_id)
            except Exception as exc:
                self._set(server_id, status="ERROR",
                          fault="volume %s could not be attached at boot: %s" % (volume_id, exc))
                return self.get_server(server_id)
            self._set(server_id, volume_devices={volume_id: device})
        self._launch(server_id)
        return self.get_server(server_id)

    def get_server(self, server_id):
        return self._to_server(self._load(server_id))

    def list_servers(self):
        servers = []
        for sid in sorted(os.listdir(self.servers_dir)):
            try:
                servers.append(self.get_server(sid))
            except base.ServerNotFound:
                pass   # a directory being created or deleted right now
        return servers

    def rebuild_server(self, server_id, image_id, files=None):
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

    def reboot_server(self, server_id):
        self._load(server_id)
        self._set(server_id, status="REBOOT")
        self._halt(server_id)
        self._launch(server_id)

    def delete_server(self, server_id):
        sdir = self._dir(server_id)
        if not os.path.isdir(sdir):
            return
        self._halt(server_id)
        if self.volumes is not None:
            for volume_id in self.volumes.volumes_attached_to(server_id):
                self.volumes.detach_volume(volume_id, server_id)
        shutil.rmtree(sdir, ignore_errors=True)
        self._children.pop(server_id, None)

    def server_exists(self, server_id):
        return os.path.exists(self._json(server_id))

    def server_dir(self, server_id):
        """Where the server lives (tests and the AIO tooling look inside)."""
        return self._dir(server_id)

    # -- state ----------------------------------------------------------------------
    def _dir(self, server_id):
        if not server_id or "/" in server_id or server_id.startswith("."):
            raise base.ServerNotFound(id=server_id)
        return os.path.join(self.servers_dir, server_id)

    def _json(self, server_id):
        return os.path.join(self._dir(server_id), "server.json")

    def _load(self, server_id):
        try:
            return localutil.read_json(self._json(server_id))
        except (FileNotFoundError, NotADirectoryError):
            raise base.ServerNotFound(id=server_id) from None

    def _set(self, server_id, **changes):
        with localutil.FileLock(os.path.join(self._dir(server_id), ".lock")):
            record = self._load(server_id)
            record.update(changes)
            localutil.write_json(self._json(server_id), record)
        return record

    def _to_server(self, record):
        status, fault = self._status(record)
        return base.Server(id=record["id"], name=record["name"], status=status,
                           addresses=[record["address"]], image_id=record["image_id"],
                           fault=fault)

    def _status(self, record):
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
    def _allocate_address(self):
        """The first free address in the prefix; call with the servers lock held."""
        taken = set()
        for sid in os.listdir(self.servers_dir):
            try:
                taken.add(localutil.read_json(os.path.join(
                    self.servers_dir, sid, "server.json"))["address"])
            except (OSError, ValueError, KeyError):
                pass
        octets = self.address_prefix.split(".")
        ranges = [range(0, 256)] * (3 - len(octets)) + [range(1, 255)]
        for suffix in _product(ranges):
            address = ".".join(octets + [str(n) for n in suffix])
            if address not in taken and localutil.port_free(address, DB_PORT):
                return address
        raise base.DriverError(reason="no free address left in %s.*" % self.address_prefix)

    # -- processes ------------------------------------------------------------------
    def _launch(self, server_id):
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
        try:
            with open(os.path.join(sdir, "guest.log"), "ab") as log:
                proc = subprocess.Popen(
                    ["/bin/sh", "-c", WRAPPER, "guest-wrapper"] + cmd, cwd=sdir, env=env,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    start_new_session=True, close_fds=True)
        except OSError as exc:
            self._set(server_id, status="ERROR", fault="guest could not start: %s" % exc)
            return
        self._children[server_id] = proc
        st = localutil.start_time(proc.pid)
        with open(os.path.join(sdir, "guest.pid"), "w") as f:
            f.write("%d %s\n" % (proc.pid, st))
        self._set(server_id, status="ACTIVE", started_at=time.time(), fault=None)

    def _guest(self, server_id):
        """(pid, start_time) of the live guest wrapper (the group leader), or None."""
        try:
            with open(os.path.join(self._dir(server_id), "guest.pid")) as f:
                pid, st = f.read().split()
            pid, st = int(pid), int(st)
        except (OSError, ValueError):
            return None
        return (pid, st) if localutil.start_time(pid) == st else None

    def _halt(self, server_id):
        """Stop every process of the server: the guest's group, pids/, marked ones."""
        sdir = self._dir(server_id)
        leader = self._guest(server_id)
        procs = set(localutil.processes_marked(server_id))
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


def _checked_files(files):
    """Injected files must be relative paths inside the server's root."""
    for path in files:
        norm = os.path.normpath(path)
        if os.path.isabs(path) or norm.startswith("..") or norm == ".":
            raise base.DriverError(reason="injected file path %r must be relative" % path)
    return {os.path.normpath(p): c for p, c in files.items()}


def _write_files(sdir, files):
    for path, content in files.items():
        target = os.path.join(sdir, "root", path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # injected files carry credentials (transport URL, first passwords)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(content)


def _product(ranges):
    if not ranges:
        yield ()
        return
    for head in ranges[0]:
        for rest in _product(ranges[1:]):
            yield (head,) + rest


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass
