"""Throttler: collect metrics, then decide (purely) whether to pause or panic.

``decide(snapshot, tunables)`` is a pure function: a Metrics snapshot and the
tunables in, a Decision out (throttle?, reason, panic reason, critical-load
met). The Throttler thread collects a snapshot every 100 ms (the throttle query
and status variables at most once a second), calls ``decide``, lets
``CriticalLoad`` turn a met critical-load into a panic, a second look or a
hibernation (gh-ost's three ways), and publishes the result; the migrator reads
``current`` before each chunk and DML batch. ``--throttle-http`` is polled on
its own thread (a slow endpoint must not stall the 100 ms loop). Collection
errors are logged and count as "no signal", never as a reason to stop.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import threading
import time
import logging
from collections.abc import Callable, Sequence
from typing import Any

from trove_lite.osc import conn as dbconn
from trove_lite.osc import sql
from trove_lite.osc.context import fresh_replica_lags, Tunables
from trove_lite.osc.conn import Connection, ConnectionConfig


@dataclasses.dataclass(frozen=True)
class Metrics:
    heartbeat_lag: float = 0.0
    # the heartbeat is written to and read back from the same server: its lag is this
    # engine's own binlog reader's, not a replica's
    own_reader_lag: bool = False
    status: dict = dataclasses.field(default_factory=dict)
    throttle_query_result: int | None = None
    flag_files: tuple = ()            # paths that exist
    panic_flag_exists: bool = False
    replica_lags: tuple = ()          # (host:port, seconds or None when it cannot be read)
    http_status: int = 0              # --throttle-http: last status, -1 unreachable, 0 none


@dataclasses.dataclass(frozen=True)
class Decision:
    throttle: bool
    reason: str = ""
    panic: str = ""
    critical: str = ""                # "name=value, >=limit" when critical-load is met
    # "lag=...s" when this engine's own binlog reader is behind by more than max-lag-millis:
    # not a throttle (the row copy goes on at a reduced rate while the backlog is applied
    # first, as gh-ost's applier does), but the cut-over waits for it
    reader_lag: str = ""


def decide(m: Metrics, t: dict[str, Any]) -> Decision:
    """Pure throttle decision. ``t`` is a Tunables snapshot dict."""
    if m.panic_flag_exists:
        return Decision(False, panic="Found panic-file; aborting")
    critical = ""
    for name, limit in t.get("critical_load", {}).items():
        value = m.status.get(name)
        if value is not None and value >= limit:
            critical = "%s=%s, >=%s" % (name, _number(value), _number(limit))
            break
    reader_lag = ""
    if m.own_reader_lag and m.heartbeat_lag * 1000 > t.get("max_lag_millis", 1500):
        reader_lag = "lag=%.6fs" % m.heartbeat_lag
    return dataclasses.replace(_throttle_reason(m, t), critical=critical, reader_lag=reader_lag)


def _number(v: float) -> str:
    return "%d" % v if float(v).is_integer() else "%s" % v


def _throttle_reason(m: Metrics, t: dict[str, Any]) -> Decision:
    if t.get("user_throttle"):
        return Decision(True, "commanded by user")
    if m.flag_files:
        return Decision(True, "flag-file")
    if not m.own_reader_lag and m.heartbeat_lag * 1000 > t.get("max_lag_millis", 1500):
        return Decision(True, "lag=%.6fs" % m.heartbeat_lag)
    for name, lag in m.replica_lags:
        if lag is None:
            return Decision(True, "%s replica-lag unknown" % name)
        if lag * 1000 > t.get("max_lag_millis", 1500):
            return Decision(True, "%s replica-lag=%.6fs" % (name, lag))
    if m.throttle_query_result is not None and m.throttle_query_result > 0:
        return Decision(True, "throttle-query")
    if m.http_status not in (0, 200):
        return Decision(True, "http=%d" % m.http_status)
    for name, limit in t.get("max_load", {}).items():
        value = m.status.get(name)
        if value is not None and value >= limit:
            return Decision(True, "max-load %s=%s >= %s" % (name, value, limit))
    return Decision(False)


def _wall(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


class CriticalLoad:
    """What a met ``--critical-load`` does, as gh-ost decides it:

    - by default the migration panics at once: ``critical-load met: name=v, >=limit``;
    - with ``--critical-load-interval-millis=N`` it logs ``critical-load met once``
      and looks again N ms later; only if it is still met does it panic
      (``critical-load met again after N millis: ...``);
    - with ``--critical-load-hibernate-seconds=S`` it never panics: everything
      that touches the server (copy, apply, heartbeat, throttle checks) stops for
      S seconds (``critical-load-hibernate until <time>``), then the migration
      goes on and the load is checked again.

    ``react(met, now)`` takes this collection's finding ("" when not met) and
    returns a Decision that overrides the plain one, or None.
    """

    def __init__(self, interval_millis: int, hibernate_seconds: int, log: logging.Logger) -> None:
        self.interval_millis = max(0, int(interval_millis or 0))
        self.hibernate_seconds = max(0, int(hibernate_seconds or 0))
        self.log = log
        self.hibernate_until = 0.0
        self.recheck_at: float | None = None

    def hibernating(self, now: float) -> bool:
        return now < self.hibernate_until

    def recheck_due(self, now: float) -> bool:
        return self.recheck_at is not None and now >= self.recheck_at

    def react(self, met: str, now: float) -> Decision | None:
        if self.hibernating(now):
            return Decision(True, "critical-load-hibernate until %s" % _wall(self.hibernate_until))
        if self.recheck_due(now):
            self.recheck_at = None
            if met:
                return Decision(False, panic="critical-load met again after %d millis: %s"
                                % (self.interval_millis, met))
            self.log.info("critical-load no longer met after %d millis", self.interval_millis)
            return None
        if not met:
            return None
        if self.hibernate_seconds:
            self.hibernate_until = now + self.hibernate_seconds
            self.log.error("critical-load met: %s. Will hibernate for the duration of %ds, "
                           "until %s", met, self.hibernate_seconds, _wall(self.hibernate_until))
            return Decision(True, "critical-load-hibernate until %s" % _wall(self.hibernate_until))
        if not self.interval_millis:
            return Decision(False, panic="critical-load met: %s" % met)
        if self.recheck_at is None:
            self.recheck_at = now + self.interval_millis / 1000.0
            self.log.error("critical-load met once: %s. Will check again in %d millis",
                           met, self.interval_millis)
        return None


class HttpCheck:
    """``--throttle-http``: a HEAD request every interval; the last status code is
    the signal (anything but 200 throttles). A request that fails counts as -1
    (throttles) unless ``--ignore-http-errors``, then as no signal."""

    def __init__(self, url: str, interval_millis: int, timeout_millis: int, ignore_errors: bool,
                 log: logging.Logger) -> None:
        self.url = url
        self.interval = max(0.01, (interval_millis or 100) / 1000.0)
        self.timeout = max(0.01, (timeout_millis or 1000) / 1000.0)
        self.ignore_errors = ignore_errors
        self.log = log
        self.status = 0

    def check(self) -> int:
        # here, not at the top: urllib.request (with http.client and email) is a tenth of
        # the engine's import time, and only --throttle-http uses it
        import urllib.error
        import urllib.request

        try:
            req = urllib.request.Request(self.url, method="HEAD")
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                self.status = resp.status
        except urllib.error.HTTPError as exc:
            self.status = exc.code
        except Exception as exc:  # unreachable, timed out, bad URL
            self.log.debug("throttle-http %s failed: %s", self.url, exc)
            if not self.ignore_errors:
                self.status = -1
        return self.status


class Throttler:
    def __init__(self, conn_config: ConnectionConfig, database: str, tunables: Tunables,
                 streamer_lag: Callable[[], float], panic_flag_file: str, log: logging.Logger,
                 changelog: str | None = None, critical: CriticalLoad | None = None,
                 http: HttpCheck | None = None, own_reader_lag: bool = False) -> None:
        self.cfg = conn_config
        self.own_reader_lag = own_reader_lag
        self.critical = critical or CriticalLoad(0, 0, log)
        self.http = http
        self.database = database
        self.changelog = changelog
        self._replica_conns: dict[str, Connection] = {}
        self.tunables = tunables
        self.streamer_lag = streamer_lag
        self.panic_flag_file = panic_flag_file
        self.log = log
        self.current = Decision(False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._slow = Metrics()
        self._slow_at = 0.0

    def start(self) -> None:
        self._conn = dbconn.connect(self.cfg, self.database)
        if self.http is not None:
            self.http.check()
            threading.Thread(target=self._run_http, name="osc-throttle-http",
                             daemon=True).start()
        self.current = self.evaluate()
        self._thread = threading.Thread(target=self._run, name="osc-throttler", daemon=True)
        self._thread.start()

    def hibernating(self) -> bool:
        return self.critical.hibernating(time.time())

    def evaluate(self) -> Decision:
        """One collection and decision (the migrator reads the result as ``current``)."""
        now = time.time()
        if self.critical.hibernating(now):  # touch nothing on the server
            self._slow_at = 0.0             # and read it afresh on waking
            if self.panic_flag_file and os.path.exists(self.panic_flag_file):
                return Decision(False, panic="Found panic-file; aborting")
            hibernation = self.critical.react("", now)
            assert hibernation is not None  # react() decides while it hibernates
            return hibernation
        t = self.tunables.snapshot()
        d = decide(self.collect(force_server=self.critical.recheck_due(now)), t)
        if d.panic:
            return d
        return self.critical.react(d.critical, now) or d

    def _run_http(self) -> None:
        http = self.http
        assert http is not None  # started only with --throttle-http
        while not self._stop.wait(http.interval):
            if not self.hibernating():
                http.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=3)
        for c in self._replica_conns.values():
            try:
                c.close()
            except Exception:  # best effort
                pass
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:  # best effort
            pass

    def _run(self) -> None:
        # a panic is final: the migrator may look only after its current chunk and
        # nice sleep, and must still see it then (a later look could start over)
        while not self.current.panic and not self._stop.wait(0.1):
            try:
                self.current = self.evaluate()
            except Exception as exc:  # no signal this cycle; keep going
                self.log.debug("throttler collection failed: %s", exc)

    def collect(self, force_server: bool = False) -> Metrics:
        t = self.tunables.snapshot()
        now = time.monotonic()
        if force_server or now - self._slow_at >= 1.0 or not self._slow_at:
            self._slow_at = now
            self._slow = self._collect_server(t)
        files = tuple(f for f in (t["throttle_flag_file"], t["throttle_additional_flag_file"])
                      if f and os.path.exists(f))
        return dataclasses.replace(
            self._slow, heartbeat_lag=self.streamer_lag(), own_reader_lag=self.own_reader_lag,
            flag_files=files,
            replica_lags=self._slow.replica_lags + fresh_replica_lags(
                t["reported_replica_lags"], now),
            http_status=self.http.status if self.http is not None else 0,
            panic_flag_exists=bool(self.panic_flag_file and os.path.exists(self.panic_flag_file)))

    def _collect_server(self, t: dict[str, Any]) -> Metrics:
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

    def _replica_lags(self,
                      replicas: Sequence[tuple[str, int]]) -> tuple[tuple[str, float | None], ...]:
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
