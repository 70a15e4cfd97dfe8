"""What the engine's process knows of the binlog stream: row change kinds, ``Txn``,
GTID state text and ``StreamState`` (the queue, position and lag a streamer exposes).

Kept apart from streamer.py so the engine's process does not import the binlog
library (python-mysql-replication, 0.1-0.2 s of start-up): only the reader
process decodes events (streamer_process.py).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
import logging
from typing import Any

INSERT, UPDATE, DELETE, STATE = "insert", "update", "delete", "state"

# one row change: (kind, before dict|None, after dict|None), or (STATE, value, None)
Change = tuple[str, Any, Any]


@dataclasses.dataclass
class Txn:
    coords: str                      # GTID state after this transaction
    # [(kind, before dict|None, after dict|None)] or [(STATE, value, None)]
    changes: list[Change]


def parse_gtid_state(text: str | None) -> dict[int, str]:
    """'0-1-5,1-1-9' -> {0: '0-1-5', 1: '1-1-9'}."""
    state = {}
    for part in (text or "").split(","):
        part = part.strip()
        if part:
            state[int(part.split("-")[0])] = part
    return state


def format_gtid_state(state: dict[int, str]) -> str:
    return ",".join(state[d] for d in sorted(state))


class StreamState:
    """What the migrator reads of a streamer: its queue of ``Txn``, its failure, and
    where it is (binlog position, newest heartbeat, events seen)."""

    def __init__(self, log: logging.Logger, maxsize: int) -> None:
        self.log = log
        self.queue: queue.Queue[Txn] = queue.Queue(maxsize=maxsize)
        self.error: BaseException | None = None
        self.last_heartbeat_value = time.time()
        self.log_file, self.log_pos = "", 0
        self.events_seen = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def heartbeat_lag(self) -> float:
        """Seconds since the newest heartbeat seen was written (grows if events stall)."""
        return max(0.0, time.time() - self.last_heartbeat_value)

    @property
    def coordinates(self) -> str:
        return "%s:%d" % (self.log_file, self.log_pos)

    def _put(self, txn: Txn) -> None:
        """Queue a transaction, waiting while the queue is full, unless stopping."""
        while not self._stopping.is_set():
            try:
                self.queue.put(txn, timeout=0.2)
                return
            except queue.Full:
                continue
