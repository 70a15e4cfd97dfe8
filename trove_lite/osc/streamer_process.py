"""The binlog streamer in a process of its own.

Decoding row events in Python costs about 0.3 ms of CPU per event; in the
engine's process that time is taken from the row copy and the DML apply under
the same interpreter lock (measured: 1,000 writes/s slowed a 1M-row migration
by half). ``ProcessStreamer`` runs ``Streamer`` in a child interpreter and
forwards what it reads; to the migrator it looks the same as ``Streamer``:
``queue`` of ``Txn``, ``error``, ``heartbeat_lag``, ``coordinates``,
``events_seen``, ``start()``, ``stop()``.

Protocol: the parent writes one pickled settings dict (with the password, so
it is in neither argv nor the environment) to the child's stdin and keeps the
pipe open; the child answers with frames on stdout, each a 4-byte length and a
pickled list of ``("txn", Txn)``, ``("pos", file, pos, heartbeat, events)``
or ``("error", text)``. Under load one frame carries many transactions.

Failure: the child exits when its stdin reaches EOF (the engine stopped or was
killed); the parent reports a child that dies without a word as ``error``.
Backpressure: a full ``queue`` stops the parent's reader, the pipe fills, the
child's decoder blocks, and the server keeps the binlog.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from typing import Any, BinaryIO

from trove_lite.osc import conn as dbconn
from trove_lite.osc.errors import MigrationError
from trove_lite.osc.events import StreamState
from trove_lite.osc.conn import ConnectionConfig

_HEADER = struct.Struct("!I")
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class StreamerProcessError(MigrationError):
    """The binlog reader's child process failed or went away."""

    code = "osc_streamer_failed"


def spawn_child() -> subprocess.Popen:
    """Start the child interpreter, which waits for its settings on stdin. (Spawned
    ahead, during the inspection, its imports slowed the engine's own start-up by
    0.3-0.9 s on two cores: measured, and not done. Measured again once a connect
    cost under 1 ms: still 0.03 s later to the first chunk, for 0.06 s less after
    the copy of a 10k-row table only, where the cut-over waited for the reader.)
    End it with ``end_child``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return subprocess.Popen([sys.executable, "-m", "trove_lite.osc.streamer_process"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                            close_fds=True)


def end_child(proc: subprocess.Popen) -> None:
    """EOF on the child's stdin, then SIGKILL after 3 s."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:  # the child is already gone
        pass
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ProcessStreamer(StreamState):
    """Parent side; see the module docstring."""

    def __init__(self, conn_config: ConnectionConfig, database: str, table: str, changelog: str,
                 start_gtid: str, server_id: int, log: logging.Logger,
                 maxsize: int = 10000) -> None:
        super().__init__(log, maxsize)
        self._settings = {
            "conn": {"host": conn_config.host, "port": conn_config.port,
                     "user": conn_config.user, "password": conn_config.password,
                     "unix_socket": conn_config.unix_socket, "timeout": conn_config.timeout},
            "database": database, "table": table, "changelog": changelog,
            "start_gtid": start_gtid, "server_id": server_id}
        self._proc: subprocess.Popen[bytes] | None = None
        self._cpu_at_exit = 0.0

    def start(self) -> None:
        self._proc = spawn_child()
        assert self._proc.stdin is not None  # spawned with pipes
        self._proc.stdin.write(pickle.dumps(self._settings))
        self._proc.stdin.flush()
        self._thread = threading.Thread(target=self._run, name="osc-streamer", daemon=True)
        self._thread.start()

    def cpu_seconds(self) -> float:
        """CPU seconds the child (binlog reading and row-event decoding) has used so
        far; 0.0 once it is gone or where /proc is not available."""
        proc = self._proc
        if proc is None:
            return 0.0
        try:
            with open("/proc/%d/stat" % proc.pid) as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            return self._cpu_at_exit
        self._cpu_at_exit = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return self._cpu_at_exit

    def stop(self) -> None:
        """End the child (EOF on its stdin, then SIGKILL after 3 s) and the reader."""
        proc = self._proc
        if proc is None:
            self._stopping.set()
            return
        self.cpu_seconds()      # the last reading, for profile() after the child is gone
        self._stopping.set()
        end_child(proc)
        if self._thread is not None:
            self._thread.join(timeout=5)
        assert proc.stdout is not None  # spawned with pipes
        proc.stdout.close()

    def _run(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None  # start() spawned it
        out = self._proc.stdout
        try:
            while not self._stopping.is_set():
                header = out.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                (size,) = _HEADER.unpack(header)
                for item in pickle.loads(out.read(size)):
                    self._handle(item)
        except Exception as exc:  # a broken frame: report it like a dead child
            if not self._stopping.is_set():
                self.error = StreamerProcessError("binlog reader: %s" % exc)
            return
        if not self._stopping.is_set() and self.error is None:
            code = self._proc.wait()
            self.error = StreamerProcessError("binlog reader process exited with code %s"
                                              % code)
            self.log.error("binlog streamer failed: %s", self.error)

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "txn":
            self._put(item[1])
        elif kind == "pos":
            _, self.log_file, self.log_pos, self.last_heartbeat_value, self.events_seen = item
        elif kind == "error":
            self.error = StreamerProcessError(item[1])
            self.log.error("binlog streamer failed: %s", item[1])


# -- child side ------------------------------------------------------------------

def _write_frame(out: BinaryIO, items: list[tuple[Any, ...]]) -> None:
    data = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(data)) + data)
    out.flush()


def _exit_on_eof(stdin: BinaryIO) -> None:
    while stdin.read(65536):
        pass
    os._exit(0)


def child_main() -> None:
    # here only: the engine's own process never imports the binlog library
    from trove_lite.osc.streamer import Streamer

    stdin, out = sys.stdin.buffer, sys.stdout.buffer
    settings = pickle.load(stdin)
    threading.Thread(target=_exit_on_eof, args=(stdin,), daemon=True).start()
    log = logging.getLogger("trove_lite.osc")
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    streamer = Streamer(dbconn.ConnectionConfig(**settings["conn"]), settings["database"],
                        settings["table"], settings["changelog"], settings["start_gtid"],
                        settings["server_id"], log, maxsize=2000)
    streamer.start()
    sent = None
    while True:
        items: list[tuple[Any, ...]] = []
        try:
            items.append(("txn", streamer.queue.get(timeout=0.05)))
            while len(items) < 500:
                items.append(("txn", streamer.queue.get_nowait()))
        except queue.Empty:
            pass
        position = (streamer.log_file, streamer.log_pos, streamer.last_heartbeat_value,
                    streamer.events_seen)
        if position != sent:
            items.append(("pos",) + position)
            sent = position
        if streamer.error is not None and streamer.queue.empty():
            items.append(("error", str(streamer.error)))
            _write_frame(out, items)
            os._exit(1)
        if items:
            _write_frame(out, items)


if __name__ == "__main__":
    child_main()
