"""A live writer for switchover tests and benchmarks."""

import threading
import time

import pymysql


class Writer:
    """Inserts ids one by one into the first of ``instances`` that is writable;
    ``acked`` holds the ids whose COMMIT returned (those must never be lost).
    ``connect(inst)`` opens a connection to an instance's database."""

    def __init__(self, instances, connect, table="orders", start_id=1):
        self.instances, self.connect, self.table = instances, connect, table
        self.next_id = start_id
        self.acked = []
        self.acked_at = []   # time.monotonic() of each acknowledged commit
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self._writable()
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO %s (id) VALUES (%%s)" % self.table,
                                (self.next_id,))
                self.acked.append(self.next_id)
                self.acked_at.append(time.monotonic())
                self.next_id += 1
            except pymysql.err.IntegrityError:
                # the row is there: its commit reached a replica but the source died
                # before acknowledging it (not acked, so not counted); go on
                self.next_id += 1
                conn = None
            except pymysql.MySQLError:
                conn = None
                time.sleep(0.02)

    def _writable(self):
        for inst in self.instances:
            conn = self.connect(inst)
            with conn.cursor() as cur:
                cur.execute("SELECT @@read_only")
                if not cur.fetchone()[0]:
                    return conn
            conn.close()
        raise pymysql.err.OperationalError(0, "no writable server")

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time between start and end with no acknowledged commit."""
        times = [start] + [t for t in self.acked_at if start <= t <= end] + [end]
        return max(b - a for a, b in zip(times, times[1:]))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)
