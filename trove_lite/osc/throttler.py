"""Throttler: collect metrics, then decide (purely) whether to pause or panic.

``decide(snapshot, tunables)`` is a pure function: a Metrics snapshot and the
tunables in, a Decision out (throttle?, reason, panic reason). The Throttler
thread collects a snapshot every 100 ms (the throttle query and status
variables at most once a second), calls ``decide`` and publishes the result;
the migrator reads ``current`` before each chunk and DML batch. Collection
errors are logged and count as "no signal", never as a reason to stop.
"""

import dataclasses
import os
import threading
import time

from trove_lite.osc import conn as dbconn
from trove_lite.osc import sql


@dataclasses.dataclass(frozen=True)
class Metrics:
    heartbeat_lag: float = 0.0
    status: dict = dataclasses.field(default_factory=dict)
    throttle_query_result: int | None = None
    flag_files: tuple = ()            # paths that exist
    panic_flag_exists: bool = False
    replica_lags: tuple = ()          # (host:port, seconds or None when it cannot be read)


@dataclasses.dataclass(frozen=True)
class Decision:
    throttle: bool
    reason: str = ""
    panic: str = ""


def decide(m, t):
    """Pure throttle decision. ``t`` is a Tunables snapshot dict."""
    if m.panic_flag_exists:
        return Decision(False, panic="Found panic-file; aborting")
    for name, limit in t.get("critical_load", {}).items():
        value = m.status.get(name)
        if value is not None and value >= limit:
            return Decision(False, panic="critical-load met: %s=%s, >=%s" % (name, value, limit))
    if t.get("user_throttle"):
        return Decision(True, "commanded by user")
    if m.flag_files:
        return Decision(True, "flag-file")
    if m.heartbeat_lag * 1000 > t.get("max_lag_millis", 1500):
        return Decision(True, "lag=%.6fs" % m.heartbeat_lag)
    for name, lag in m.replica_lags:
        if lag is None:
            return Decision(True, "%s replica-lag unknown" % name)
        if lag * 1000 > t.get("max_lag_millis", 1500):
            return Decision(True, "%s replica-lag=%.6fs" % (name, lag))
    if m.throttle_query_result is not None and m.throttle_query_result > 0:
        return Decision(True, "throttle-query")
    for name, limit in t.get("max_load", {}).items():
        value = m.status.get(name)
        if value is not None and value >= limit:
            return Decision(True, "max-load %s=%s >= %s" % (name, value, limit))
    return Decision(False)


class Throttler:
    def __init__(self, conn_config, database, tunables, streamer_lag, panic_flag_file, log,
                 changelog=None):
        self.cfg = conn_config
        self.database = database
        self.changelog = changelog
        self._replica_conns = {}
        self.tunables = tunables
        self.streamer_lag = streamer_lag
        self.panic_flag_file = panic_flag_file
        self.log = log
        self.current = Decision(False)
        self._stop = threading.Event()
        self._thread = None
        self._conn = None
        self._slow = Metrics()
        self._slow_at = 0.0

    def start(self):
        self._conn = dbconn.connect(self.cfg, self.database)
        self.current = decide(self.collect(), self.tunables.snapshot())
        self._thread = threading.Thread(target=self._run, name="osc-throttler", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=3)
        for c in self._replica_conns.values():
            try:
                c.close()
            except Exception:  # best effort
                pass
        try:
            self._conn.close()
        except Exception:  # best effort
            pass

    def _run(self):
        while not self._stop.wait(0.1):
            try:
                self.current = decide(self.collect(), self.tunables.snapshot())
            except Exception as exc:  # no signal this cycle; keep going
                self.log.debug("throttler collection failed: %s", exc)

    def collect(self):
        t = self.tunables.snapshot()
        now = time.monotonic()
        if now - self._slow_at >= 1.0 or not self._slow_at:
            self._slow_at = now
            self._slow = self._collect_server(t)
        files = tuple(f for f in (t["throttle_flag_file"], t["throttle_additional_flag_file"])
                      if f and os.path.exists(f))
        return dataclasses.replace(
            self._slow, heartbeat_lag=self.streamer_lag(), flag_files=files,
            panic_flag_exists=bool(self.panic_flag_file and os.path.exists(self.panic_flag_file)))

    def _collect_server(self, t):
        status = {}
        names = set(t["max_load"]) | set(t["critical_load"])
        if names:
            rows = dbconn.query_all(self._conn, "show global status where variable_name in (%s)"
                                    % ", ".join(["%s"] * len(names)), list(names))
            for name, value in rows:
                try:
                    status[name] = float(value)
                except ValueError:
                    pass
            # status variable names are case-insensitive; map back to the operator's spelling
            lower = {k.lower(): v for k, v in status.items()}
            status = {n: lower[n.lower()] for n in names if n.lower() in lower}
        result = None
        if t["throttle_query"]:
            try:
                row = dbconn.query_one(self._conn, t["throttle_query"])
                result = int(row[0]) if row and row[0] is not None else 0
            except Exception as exc:  # a broken query does not throttle (gh-ost logs it)
                self.log.warning("throttle-query failed: %s", exc)
        return Metrics(status=status, throttle_query_result=result,
                       replica_lags=self._replica_lags(t["throttle_control_replicas"]))

    def _replica_lags(self, replicas):
        """--throttle-control-replicas: the age of our newest heartbeat on each replica
        (gh-ost's measure), on a connection kept per replica."""
        out = []
        for host, port in replicas:
            name = "%s:%d" % (host, port)
            try:
                c = self._replica_conns.get(name)
                if c is None:
                    c = self._replica_conns[name] = dbconn.connect(
                        self.cfg.with_host(host, port), self.database)
                row = dbconn.query_one(c, "select value from %s where hint = 'heartbeat'"
                                       % sql.qualified(self.database, self.changelog))
                out.append((name, max(0.0, time.time() - int(row[0]) / 1e9) if row else None))
            except Exception as exc:  # unreachable or not replicated yet: lag unknown
                self.log.debug("replica %s lag check failed: %s", name, exc)
                bad = self._replica_conns.pop(name, None)
                try:
                    if bad is not None:
                        bad.close()
                except Exception:  # already broken
                    pass
                out.append((name, None))
        return tuple(out)
