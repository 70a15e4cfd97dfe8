"""``--wait``: follow an instance task or a backup until it ends, with a progress bar.

One line, redrawn in place on a terminal (a new line per change otherwise), on
stderr so ``--json`` output stays clean::

    [##########----------]  52%  SAVING  3.1 %/s  ETA 15 s

A backup's percent is the one its guest reports. An instance task reports no
percent, so it is the stage the API shows (create: server, address, database
starting; restart and resize: database going down, coming back; upgrade:
stopping, rebuilt and starting the new version, checking it). A restore (a
create from a backup or to a point in time) also shows the guest's
``restore_progress``: its phase beside the status, and its percent within the
create's stages (``RESTORE_STAGES``), so the bar never goes back. The wait ends
with a ``CommandError`` (the CLI prints it and exits 1) naming the fault when the
task fails, or after ``timeout`` seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from troveclient import exceptions as trove_exceptions

if TYPE_CHECKING:
    from troveclient.v1.client import Client

WIDTH = 20
POLL = 0.5
BACKUP_RUNNING = ("NEW", "BUILDING", "SAVING")
INSTANCE_FAILED = ("ERROR", "FAILED", "SHUTDOWN")
SERVING = ("HEALTHY", "RUNNING", None)   # None: an older API that shows no status


class Bar:
    """Draws status, percent, rate (percent per second) and ETA."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.last: tuple[str, int] | None = None

    def draw(self, status: str, percent: float) -> str:
        percent = max(0.0, min(100.0, percent))
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = percent / elapsed
        eta = "ETA %d s" % round((100 - percent) / rate) if 0 < percent < 100 else ""
        filled = int(WIDTH * percent / 100)
        line = "[%s%s] %3d%%  %s  %.1f %%/s  %s" % ("#" * filled, "-" * (WIDTH - filled),
                                                  percent, status, rate, eta)
        key = (status, int(percent))
        if self.tty:
            self.stream.write("\r" + line.rstrip().ljust(72))
        elif key != self.last:
            self.stream.write(line.rstrip() + "\n")
        self.stream.flush()
        self.last = key
        return line

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# a restore's phases, as the guest reports them, and the span of the bar each takes
RESTORE_STAGES = {"restoring backup": (40.0, 80.0), "downloading binlog": (80.0, 85.0),
                  "replaying binlog": (85.0, 95.0)}


def restore_stage(info: dict) -> tuple[str, float] | None:
    """(phase, overall percent) while the guest restores; None otherwise (pure)."""
    restore = info.get("restore_progress") or {}
    span = RESTORE_STAGES.get(str(restore.get("phase")))
    if info.get("status") != "BUILD" or span is None:
        return None
    done = max(0.0, min(100.0, float(restore.get("percent") or 0.0)))
    return restore["phase"], span[0] + (span[1] - span[0]) * done / 100.0


def instance_percent(action: str, info: dict, stopped: bool = False) -> float:
    """The stage an instance's task has reached, as a percent (100 once ACTIVE).

    ``stopped``: the database was seen down since the wait began (an upgrade:
    stopping and saving, then the rebuild and the new version starting, then
    mariadb-upgrade and the version check once it serves again)."""
    status, operating = info.get("status"), info.get("operating_status")
    if status == "ACTIVE":
        return 100.0
    if action == "upgrade":
        return 85.0 if stopped and operating in SERVING else 50.0 if stopped else 15.0
    restoring = restore_stage(info) if action == "create" else None
    if restoring:
        return restoring[1]
    if action == "create":
        return 10.0 + (30.0 if info.get("ip") else 0.0) + (
            30.0 if operating not in (None, "NEW", "BUILDING") else 0.0)
    return 60.0 if operating in ("RESTARTING", "SHUTDOWN", "BUILDING") else 30.0


def _poll(fetch: Callable[[], tuple[str, float, str | None, bool]], timeout: float,
          what: str, bar: Bar | None) -> None:
    """``fetch()`` -> (status, percent, fault or None, finished) until finished."""
    bar = bar or Bar()
    deadline = time.monotonic() + timeout
    try:
        while True:
            status, percent, fault, finished = fetch()
            bar.draw(status, percent)
            if fault:
                raise trove_exceptions.CommandError("%s failed: %s" % (what, fault))
            if finished:
                return
            if time.monotonic() > deadline:
                raise trove_exceptions.CommandError("%s did not finish within %d s (still %s)"
                                                    % (what, timeout, status))
            time.sleep(POLL)
    finally:
        bar.done()


def wait_instance(cs: Client, instance_id: str, action: str, timeout: float = 600.0,
                  bar: Bar | None = None) -> dict:
    """Until the instance is ACTIVE again; a fault recorded since the wait began (or
    an ERROR status) fails it. Returns the instance's last ``_info``."""
    seen: dict = {}
    high = {"percent": 0.0}
    stopped = [False]
    before = (cs.instances.get(instance_id)._info.get("fault") or {}).get("created")

    def fetch() -> tuple[str, float, str | None, bool]:
        info = cs.instances.get(instance_id)._info
        seen.update(info)
        stopped[0] = stopped[0] or info.get("operating_status") not in SERVING
        fault = info.get("fault") or {}
        new_fault = fault.get("message") if fault.get("created") != before else None
        if new_fault is None and info.get("status") in INSTANCE_FAILED:
            new_fault = fault.get("message") or "the instance is %s" % info["status"]
        restoring = restore_stage(info) if action == "create" else None
        shown = "%s (%s)" % (info.get("status"), restoring[0]) if restoring else \
            info.get("status")
        # the stages only go forward (a restore's phase ends before the server runs)
        high["percent"] = max(high["percent"], instance_percent(action, info, stopped[0]))
        return shown, high["percent"], new_fault, info.get("status") == "ACTIVE"

    if action == "create":
        before = None  # any fault of a new instance is this create's
    _poll(fetch, timeout, "%s of instance %s" % (action, instance_id), bar)
    return seen


def wait_backup(cs: Client, backup_id: str, timeout: float = 3600.0,
                bar: Bar | None = None) -> Any:
    """Until the backup is COMPLETED (FAILED raises with its reason); returns
    troveclient's backup resource."""
    last: dict[str, Any] = {}

    def fetch() -> tuple[str, float, str | None, bool]:
        b = cs.backups.get(backup_id)
        last["backup"] = b
        failed = b.status not in BACKUP_RUNNING and b.status != "COMPLETED"
        return (b.status, 100.0 if b.status == "COMPLETED" else float(b.progress or 0),
                (getattr(b, "fail_reason", None) or b.status) if failed else None,
                b.status == "COMPLETED")

    _poll(fetch, timeout, "backup %s" % backup_id, bar)
    return last["backup"]
