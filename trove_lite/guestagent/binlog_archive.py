"""The guest's continuous binlog archive: ship the instance's binary log, as it
grows, into the backup store (encrypted), and report each segment.

Why read the files on the volume rather than ``mariadb-binlog
--read-from-remote-server --raw --stop-never``: the agent runs beside mariadbd and
reads its binlog files directly, so it needs no account or password (nothing to
keep in a defaults file), no long-lived child process to supervise and reconnect,
and it resumes exactly where it stopped: its position (file, byte offset, always
an event boundary) is kept in GuestState and advanced only after the segment is
stored and the conductor confirmed its row: the report is a call
(``record_binlog_segments``), sent again until it is answered, so a report lost
on the way (a conductor killed after it took the message, or down) is neither a
hole in the archive nor an object in the store that no row records. Meanwhile
the archive waits (the binlog stays on the volume). A guest killed mid-upload
starts again from the last confirmed position (shipped again from there: the
row of that start is replaced, and the object the cut-off upload left under
another name, noted in GuestState before it, is removed once the new one is
confirmed), so a restart leaves no gap as long as the binlog files are still there. When the file
it stood in is gone (purged while the agent was down, a RESET MASTER), it reports
a ``gap`` segment and goes on from the next file: the control plane then knows
the restorable window has a hole.

Timing: every ``[backup] archive_interval`` (0.5 s) the archiver reads the
binlog index and the bytes after its position. The open file is shipped too:
only complete events are taken (a trailing partial event is read again next
time). A file that is no longer the last one in the index was closed by a
rotation (mariadbd writes the Rotate event before it adds the new file), so once
read to its end the archiver moves on. When everything is shipped it reports
``caught_up_at`` (the time the read started: everything committed before it is
archived; with ``sync_binlog = 1`` a commit is in the file before the client is
answered).

Key: the per-instance archive key (datastores/binlog.py ``archive_key``) arrives by
RPC (``start_binlog_archive``) sealed to the public key the archiver reports with
``needs_key`` (its private half lives only in this process), and is kept only in
memory; after an agent restart the archiver reports ``needs_key`` with a new
public key and the taskmanager sends the key again. The binlog files wait on the
volume meanwhile.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from trove_lite.datastores import binlog
from trove_lite.drivers.storage.base import StorageDriver

if TYPE_CHECKING:
    from trove_lite.guestagent.state import GuestState
    from trove_lite.rpc.conductor import ConductorAPI

LOG = logging.getLogger(__name__)
STATE_KEY = "binlog_archive"
STATUS_EVERY = 1.0     # seconds between status-only reports when idle
RESEND_WAIT = (0.2, 5.0)   # first and longest wait before an unconfirmed report goes again


def read_index(datadir: str, index_name: str = "mysql-bin.index") -> list[str]:
    """Base names of the binlog files the server lists, oldest first."""
    try:
        with open(os.path.join(datadir, index_name)) as f:
            return [os.path.basename(line.strip()) for line in f if line.strip()]
    except FileNotFoundError:
        return []


class BinlogArchiver:
    """One thread per agent. ``datadir_fn()`` gives the datadir (None before
    prepare), ``storage_fn()`` the backup store, ``conductor_fn()`` the conductor."""

    def __init__(self, instance_id: str, state: GuestState,
                 datadir_fn: Callable[[], str | None], storage_fn: Callable[[], StorageDriver],
                 conductor_fn: Callable[[], ConductorAPI], container: str,
                 interval: float = 0.5, max_segment: int = 16 << 20,
                 enabled: bool=True) -> None:
        self.instance_id = instance_id
        self.state = state
        self.datadir_fn, self.storage_fn, self.conductor_fn = (datadir_fn, storage_fn,
                                                               conductor_fn)
        self.container = container
        self.interval = interval
        self.max_segment = max_segment
        self.enabled = enabled
        self._cipher: binlog.SegmentCipher | None = None
        self._opener = binlog.KeyOpener()
        self._store: StorageDriver | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._held = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_status = 0.0
        self._last_sent = 0.0
        self.status: dict[str, Any] = {"state": "needs_key", "public_key": self._opener.public_hex}

    @property
    def public_key(self) -> str:
        return self._opener.public_hex

    def open_sealed(self, sealed: str) -> str:
        """A key sealed to this archiver's public key (a point-in-time restore's)."""
        return self._opener.open(sealed)

    # -- control ----------------------------------------------------------------
    def set_key(self, sealed: str) -> None:
        """The archive key, sealed to this archiver's public key."""
        self._cipher = binlog.SegmentCipher(self._opener.open(sealed))
        LOG.info("binlog archive: key received; archiving")
        self._wake.set()

    def start(self) -> None:
        """Start the thread; a disabled archiver only reports its public key."""
        if self._thread is not None:
            return
        thread = self._thread = threading.Thread(target=self._loop, name="binlog-archive",
                                                 daemon=True)
        thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def hold(self) -> None:
        """Ship nothing until ``release()``; the status (and so the public key a
        new agent needs its archive key sealed to) still goes out."""
        self._held.set()

    def release(self) -> None:
        self._held.clear()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            idle = True
            try:
                if not self.enabled:
                    self._report_status({"state": "disabled",
                                         "public_key": self._opener.public_hex})
                elif self._cipher is None:
                    self._report_status({"state": "needs_key",
                                         "public_key": self._opener.public_hex})
                elif not self._held.is_set():
                    idle = self.step()
            except Exception as e:
                LOG.exception("binlog archive step failed; retrying")
                self._report_status({"state": "error", "error": str(e)[:500]}, force=True)
                idle = True
            if idle:
                self._wake.wait(self.interval)
                self._wake.clear()

    # -- reports ------------------------------------------------------------------
    def _next_sent(self) -> float:
        sent = max(time.time(), self._last_sent + 1e-6)
        self._last_sent = sent
        return sent

    def _send(self, segments: list[dict[str, Any]], status: dict[str, Any]) -> None:
        self.conductor_fn().update_binlog_archive(self.instance_id, segments=segments,
                                                  status=status, sent=self._next_sent())

    def _confirm(self, segments: list[dict[str, Any]], status: dict[str, Any]) -> bool:
        """Report segments until the conductor confirms their rows; only then does
        the caller move its position on. Sending again is harmless (one row per
        segment). True when the conductor discarded them (their instance is
        deleted and nothing needs its archive). Raises if the archiver is stopped
        first."""
        wait = RESEND_WAIT[0]
        while True:
            try:
                answer = self.conductor_fn().record_binlog_segments(
                    self.instance_id, segments=segments, status=status,
                    sent=self._next_sent())
                return isinstance(answer, dict) and bool(answer.get("discarded"))
            except Exception as e:
                LOG.warning("binlog archive: report of %s not confirmed (%s: %s); sending "
                            "it again in %.1f s", ", ".join(
                                "%s:%s-%s" % (s["file"], s["start"], s["end"])
                                for s in segments), type(e).__name__, e, wait)
            if self._stop.wait(wait):
                raise RuntimeError("stopped before the conductor confirmed the segments")
            wait = min(wait * 2, RESEND_WAIT[1])

    def _report_status(self, status: dict[str, Any], force: bool=False) -> None:
        self.status = status
        now = time.monotonic()
        if force or now - self._last_status >= STATUS_EVERY:
            self._last_status = now
            try:
                self._send([], status)
            except Exception:
                LOG.exception("binlog archive: status report failed")

    # -- one pass -------------------------------------------------------------------
    def step(self) -> bool:
        """Ship what is new; True when everything was shipped (then wait)."""
        datadir = self.datadir_fn()
        if not datadir:
            return True
        read_started = time.time()
        files = read_index(datadir)
        if not files:
            return True
        pos = self.state.read().get(STATE_KEY) or {}
        current, offset = pos.get("file"), int(pos.get("pos") or 0)
        if current is None:
            current, offset = files[0], 0
        path = os.path.join(datadir, current)
        size = os.path.getsize(path) if os.path.exists(path) else None
        if current not in files or size is None or size < offset:
            return self._gap(files, current, offset, size)
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(min(self.max_segment, size - offset))
        events = binlog.parse_events(data, offset)
        last_file = current == files[-1]
        if events:
            end = events[-1].end
            at_eof = end >= size and last_file
            self._ship(current, offset, end, data[:end - offset], events,
                       read_started if at_eof else None, pos.get("shipping") or [])
            offset = end
            self.state.update(**{STATE_KEY: {"file": current, "pos": end}})
            if not at_eof:
                return False
        if offset >= size and not last_file:
            # closed by a rotation and read to its end: go on with the next file
            nxt = files[files.index(current) + 1]
            self.state.update(**{STATE_KEY: {"file": nxt, "pos": 0}})
            return False
        if events:
            return True
        self._report_status({"state": "running", "caught_up_at": read_started,
                             "lag_bytes": size - offset if last_file else None})
        return True

    def _ship(self, file: str, start: int, end: int, data: bytes,
              events: Sequence[binlog.Event], caught_up_at: float | None,
              earlier: Sequence[str]) -> None:
        """Store and report one segment. ``earlier``: names of segments at this
        position an agent killed before their confirmation stored; once this one
        (same start, so the same row) is confirmed, those objects are no row's
        and go (the file had grown meanwhile: the segment is longer now)."""
        assert self._cipher is not None     # step() runs only once the key came
        name = binlog.segment_name(self.instance_id, file, start, end)
        summary = binlog.summarize(events)
        if self._store is None:
            self._store = self.storage_fn()
        shipping = [n for n in earlier if n != name] + [name]
        self.state.update(**{STATE_KEY: {"file": file, "pos": start, "shipping": shipping}})
        stored = self._store.save(
            "%s/%s" % (self.container, name),
            io.BytesIO(self._cipher.encrypt(data, name)),
            {"binlog_file": file, "start": start, "end": end, "encrypted": "aes-256-gcm"})
        segment = {"kind": "data", "file": file, "start": start, "end": end,
                   "events": summary.events, "first_ts": summary.first_ts,
                   "last_ts": summary.last_ts, "first_gtid": summary.first_gtid,
                   "last_gtid": summary.last_gtid, "location": stored.location,
                   "name": name, "size": stored.size, "checksum": stored.checksum}
        status: dict[str, Any] = {"state": "running", "caught_up_at": caught_up_at,
                                  "lag_bytes": None}
        self.status = status
        discarded = self._confirm([segment], status)
        self._last_status = time.monotonic()
        # discarded: no row will ever name it, and the prune may have swept already
        for stale in shipping[:-1] + ([name] if discarded else []):
            try:
                self._store.delete(self._store.location_for("%s/%s" % (self.container, stale)))
                LOG.info("binlog archive: %s removed (%s)", stale,
                         "its instance is deleted" if stale == name
                         else "cut off before its report, replaced by %s" % name)
            except Exception:   # left for the sweep of a deleted instance's archive
                LOG.warning("binlog archive: %s not removed", stale, exc_info=True)

    def _gap(self, files: list[str], current: str, offset: int, size: int | None) -> bool:
        later = [f for f in files if binlog.file_seq(f) > binlog.file_seq(current)]
        if current in files and size is not None and size < offset:
            reason = "binlog %s is shorter (%d bytes) than the archived %d" % (
                current, size, offset)
            resume = current
        elif later:
            reason = "binlog %s was removed before it was archived past %d" % (
                current, offset)
            resume = later[0]
        else:
            reason = "binlog %s is gone and the server restarted its binlog at %s" % (
                current, files[0])
            resume = files[0]
        LOG.warning("binlog archive: GAP: %s; continuing at %s", reason, resume)
        segment = {"kind": "gap", "file": current, "start": offset, "end": offset,
                   "events": 0, "detail": "%s; archive resumed at %s" % (reason, resume)}
        self._confirm([segment], {"state": "running", "caught_up_at": None,
                                  "error": reason})
        self.state.update(**{STATE_KEY: {"file": resume, "pos": 0}})
        return False
