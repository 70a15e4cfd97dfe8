"""Point-in-time restore, guest side: replay archived binlog events into the
freshly restored server, up to the exact end of the last qualifying transaction.

The request (taskmanager backup_flows.pitr_request) names the source's archived
segments from the start of the backup's binlog file, the backup's binlog
position, the stop second and the source's archive key. The segments are
downloaded (verified), decrypted and joined into the binlog files in a private
work directory on the volume; their events are parsed (backup/binlog.py) to find
the exact stop position (the start of the first transaction newer than the stop
second: no ``--stop-datetime``, which has second granularity in the local time
zone), and ``mariadb-binlog --start-position --stop-position | mariadb`` applies
them as root over the server's socket (no password). The Python pump between the
two reads the ``# at N`` markers to report the percent of events applied.
"""

import logging
import os
import shutil
import time
from bisect import bisect_right

from trove_lite import exceptions
from trove_lite.backup import binlog
from trove_lite.drivers.storage import base as storage_base
from trove_lite.guestagent.backup.pipeline import Pipeline, PipelineError, Stage

LOG = logging.getLogger(__name__)
CHUNK = 1 << 20
PROGRESS_INTERVAL = 0.5


def download(request: dict, storage, workdir: str, progress=None) -> list[str]:
    """Decrypt the request's segments into ``workdir``; the files in order."""
    cipher = binlog.SegmentCipher(request["key"])
    files: list[str] = []
    segments = request["segments"]
    start = request["start"]
    for i, seg in enumerate(segments):
        path = os.path.join(workdir, seg["file"])
        if seg["file"] not in files:
            files.append(seg["file"])
            open(path, "wb").close()
        size = os.path.getsize(path)
        # the backup's file is sparse: its header (first segment), then from the
        # segment holding the backup's position (mariadb-binlog seeks there)
        skipped = seg["file"] == start["file"] and size < seg["start"] <= int(start["pos"])
        if size != seg["start"] and not skipped:
            raise exceptions.RestoreError(reason="archived binlog %s is not contiguous at "
                                                 "%d" % (seg["file"], seg["start"]))
        reader = storage.load(seg["location"])
        try:
            blob = b"".join(iter(lambda: reader.read(CHUNK), b""))
        finally:
            close = getattr(reader, "close", None)
            if close:
                close()
        name = binlog.segment_name(request["source_id"], seg["file"], seg["start"],
                                   seg["end"])
        try:
            data = cipher.decrypt(blob, name)
        except Exception:
            raise exceptions.RestoreError(reason="archived binlog segment %s does not "
                                                 "decrypt (wrong key or damaged)" % name)
        with open(path, "r+b") as f:
            f.seek(seg["start"])
            f.write(data)
        if progress:
            progress({"phase": "downloading binlog",
                      "percent": round(100.0 * (i + 1) / len(segments), 1)})
    return files


def replay_plan(workdir: str, files: list[str], start: dict, stop_ts: int):
    """(files to give mariadb-binlog, start position, stop position or None,
    [(file, sorted event starts)] of the events to apply)."""
    if start["file"] not in files:
        raise exceptions.RestoreError(reason="the archive does not hold the backup's "
                                             "binlog file %s" % start["file"])
    chosen = files[files.index(start["file"]):]
    out, events_by_file, stop = [], [], None
    for name in chosen:
        with open(os.path.join(workdir, name), "rb") as f:
            if name == start["file"]:
                f.seek(int(start["pos"]))
                events = binlog.parse_events(f.read(), int(start["pos"]))
            else:
                events = binlog.parse_events(f.read(), 0)
        stop = binlog.stop_position(events, stop_ts)
        out.append(name)
        kept = [e.start for e in events if stop is None or e.start < stop]
        events_by_file.append((name, kept))
        if stop is not None:
            break
    return out, int(start["pos"]), stop, events_by_file


class _EventProgress:
    """Counts applied events from the ``# at N`` lines mariadb-binlog writes."""

    MARK = b"\n# at "

    def __init__(self, events_by_file, callback):
        self.starts = [starts for _, starts in events_by_file]
        self.total = max(sum(len(s) for s in self.starts), 1)
        self.callback = callback
        self.file_index, self.last_pos, self.tail = 0, -1, b""
        self._last = 0.0

    def feed(self, data):
        buf = self.tail + data
        i = buf.find(self.MARK)
        while i >= 0:
            j = buf.find(b"\n", i + len(self.MARK))
            if j < 0:
                break
            try:
                pos = int(buf[i + len(self.MARK):j])
            except ValueError:
                pos = None
            if pos is not None:
                if pos < self.last_pos and self.file_index + 1 < len(self.starts):
                    self.file_index += 1
                self.last_pos = pos
            i = buf.find(self.MARK, j)
        self.tail = buf[-64:]
        self.report()

    def done(self):
        return sum(len(s) for s in self.starts[:self.file_index]) + bisect_right(
            self.starts[self.file_index], self.last_pos) if self.starts else 0

    def report(self, force=False):
        now = time.monotonic()
        if self.callback and (force or now - self._last >= PROGRESS_INTERVAL):
            self._last = now
            self.callback({"phase": "replaying binlog", "events_total": self.total,
                           "events_applied": min(self.done(), self.total),
                           "percent": round(min(99.9, 100.0 * self.done() / self.total), 1)})


def apply(server, workdir, files, start_pos, stop_pos, events_by_file, progress=None,
          binlog_tool="mariadb-binlog", client="mariadb"):
    """Run ``mariadb-binlog | mariadb`` over the server's socket as root."""
    argv = [binlog_tool, "--start-position=%d" % start_pos]
    if stop_pos is not None:
        argv.append("--stop-position=%d" % stop_pos)
    argv += files
    env = server.binaries.env()
    reader = Pipeline([Stage("mariadb-binlog", tuple(argv), env=env)], cwd=workdir)
    writer = Pipeline([Stage("mariadb", (client, "--defaults-file=%s" % server.config_file,
                                         "--binary-mode", "--max-allowed-packet=1G"),
                             env=env)], feed=True, collect=False)
    counter = _EventProgress(events_by_file, progress)
    try:
        reader.start()
        writer.start()
        try:
            while True:
                data = reader.read(CHUNK)
                if not data:
                    break
                writer.write(data)
                counter.feed(data)
        except BrokenPipeError:
            pass
        reader.wait()
        writer.wait()
        found = reader.failure() or writer.failure()
        if found:
            raise PipelineError(*found)
    except PipelineError as e:
        raise exceptions.RestoreError(reason="binlog replay failed: %s" % e)
    finally:
        reader.kill()
        writer.kill()
    counter.last_pos, counter.file_index = 1 << 62, len(counter.starts) - 1
    counter.report(force=True)
    return counter.total


def run(request: dict, server, storage, workdir: str, progress=None) -> dict:
    """Download, plan and apply; the work directory is removed afterwards."""
    started = time.monotonic()
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    try:
        files = download(request, storage, workdir, progress)
        chosen, start_pos, stop_pos, events_by_file = replay_plan(
            workdir, files, request["start"], int(request["stop_ts"]))
        downloaded = time.monotonic()
        count = sum(len(s) for _, s in events_by_file)
        conn = server.connect()
        try:
            with conn.cursor() as cur:
                # the replayed GTIDs continue the source's sequence, not this server's
                cur.execute("SET GLOBAL gtid_strict_mode = 0")
            if count:
                apply(server, workdir, chosen, start_pos, stop_pos, events_by_file,
                      progress, _tool(server, "mariadb-binlog"), _tool(server, "mariadb"))
            with conn.cursor() as cur:
                cur.execute("SET GLOBAL gtid_strict_mode = 1")
        finally:
            conn.close()
    except storage_base.StorageError as e:
        raise exceptions.RestoreError(reason="archived binlog unreadable: %s" % e.message)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {"events": count, "stop_file": chosen[-1], "stop_position": stop_pos,
              "download_s": round(downloaded - started, 3),
              "duration_s": round(time.monotonic() - started, 3)}
    LOG.info("point-in-time replay: %s", result)
    return result


def _tool(server, name):
    """The client tool next to the image's mariadbd (an image tree), else the system's."""
    candidate = os.path.join(os.path.dirname(server.binaries.mariadbd), name)
    if server.binaries.basedir and os.path.exists(candidate):
        return candidate
    for d in ("/usr/bin", os.path.dirname(server.binaries.mariadbd)):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    return shutil.which(name) or name
