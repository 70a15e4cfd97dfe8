"""Small helpers shared by the local drivers: locks, JSON state, owned processes.

Processes are only ever signalled after proving they are ours: the PID must
still have the start time we recorded (so a recycled PID is never hit), and a
process found by scanning must carry the server's marker in its environment.
"""

import fcntl
import json
import os
import signal
import socket
import time
from typing import IO, Any, Iterable

ENV_SERVER_ID = "TROVE_LITE_SERVER_ID"
ENV_SERVER_DIR = "TROVE_LITE_SERVER_DIR"
# Guests forked by the driver's fork server (cmd/guest_launcher.py) keep its
# command line and the environment it was started with; they are known by that
# command line and by their working directory, the server's directory.
LAUNCHER_MODULE = "trove_lite.cmd.guest_launcher"


class FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing), as a context manager."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.f: IO[str] | None = None

    def __enter__(self) -> "FileLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.f = open(self.path, "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.f is not None, "__exit__ without __enter__"
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def write_json(path: str, data: Any) -> None:
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def tail(path: str, lines: int = 20, limit: int = 2000) -> str:
    try:
        with open(path, errors="replace") as f:
            text = "".join(f.readlines()[-lines:])
    except OSError:
        return ""
    return text[-limit:].strip()


# -- processes ------------------------------------------------------------------

def start_time(pid: int) -> int | None:
    """The process start time (clock ticks since boot) or None if it is gone/zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def environ(pid: int) -> list[bytes]:
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def cmdline(pid: int) -> str:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cwd(pid: int) -> str | None:
    try:
        return os.readlink("/proc/%d/cwd" % pid).removesuffix(" (deleted)")
    except OSError:
        return None


def launched_in(pid: int, server_dir: str) -> bool:
    """True if ``pid`` is a guest process the fork server started for ``server_dir``."""
    return LAUNCHER_MODULE in cmdline(pid) and cwd(pid) == server_dir


def processes_marked(server_id: str, server_dir: str | None = None) -> list[tuple[int, int]]:
    """(pid, start_time) of every live process whose environment names ``server_id``
    (or, given ``server_dir``, that the fork server started for it)."""
    marker = ("%s=%s" % (ENV_SERVER_ID, server_id)).encode()
    found: list[tuple[int, int]] = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        if marker in environ(pid) or (server_dir and launched_in(pid, server_dir)):
            st = start_time(pid)
            if st is not None:
                found.append((pid, st))
    return found


def owned(pid: int, server_id: str, server_dir: str) -> tuple[int, int] | None:
    """(pid, start_time) if ``pid`` lives and provably belongs to the server, else None.

    Proof: the server's marker in its environment (inherited from the guest
    agent), the server directory on its command line, or the fork server's
    command line with the server directory as working directory.
    """
    st = start_time(pid)
    if st is None:
        return None
    marker = ("%s=%s" % (ENV_SERVER_ID, server_id)).encode()
    if (marker in environ(pid) or server_dir in cmdline(pid)
            or launched_in(pid, server_dir)):
        return (pid, st)
    return None


def terminate(procs: Iterable[tuple[int, int]], timeout: float,
              group_leaders: Iterable[tuple[int, int]] = ()) -> list[int]:
    """SIGTERM every (pid, start_time), wait up to ``timeout`` s, then SIGKILL the rest.

    ``group_leaders`` are signalled as process groups. Returns the PIDs that
    needed SIGKILL. A PID whose start time changed is never signalled.
    """
    group_leaders = set(group_leaders)
    procs = set(procs) | group_leaders
    _signal_all(procs, group_leaders, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(start_time(pid) == st for pid, st in procs):
            return []
        time.sleep(0.05)
    stubborn = [pid for pid, st in procs if start_time(pid) == st]
    _signal_all(procs, group_leaders, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(start_time(p) == st for p, st in procs):
        time.sleep(0.02)
    return stubborn


def _signal_all(procs: Iterable[tuple[int, int]], group_leaders: set[tuple[int, int]],
                sig: signal.Signals) -> None:
    for pid, st in procs:
        if start_time(pid) != st:
            continue
        try:
            if (pid, st) in group_leaders:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass


def port_free(address: str, port: int) -> bool:
    """True if nothing listens on ``address:port`` (a bind succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
        return True
