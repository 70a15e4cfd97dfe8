"""The three kinds of migration state, kept apart on purpose.

- ``MigrationRequest``: frozen; what the operator asked for (flags). Read by all.
- ``Tunables``: values an operator may change while running (control socket,
  library calls). Thread-safe; read by the migrator and throttler each cycle.
- ``Progress``: counters and phase written by the migrator/streamer threads and
  read by status reporting. Plain attributes; each has a single writer.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class MigrationRequest:
    database: str
    table: str
    alter: str
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = ""
    password: str = ""
    unix_socket: str | None = None
    master_user: str = ""
    master_password: str = ""
    assume_master_host: str = ""
    execute: bool = True
    allow_on_master: bool = False
    test_on_replica: bool = False
    test_on_replica_skip_replica_stop: bool = False
    migrate_on_replica: bool = False
    switch_to_rbr: bool = False
    assume_rbr: bool = False
    exact_rowcount: bool = False
    allow_nullable_unique_key: bool = False
    approve_renamed_columns: bool = False
    skip_renamed_columns: bool = False
    discard_foreign_keys: bool = False
    skip_foreign_key_checks: bool = False
    skip_strict_mode: bool = False
    allow_zero_in_date: bool = False
    skip_metadata_lock_check: bool = False
    cut_over: str = "atomic"
    cut_over_lock_timeout_seconds: int = 3
    cut_over_exponential_backoff: bool = False
    exponential_backoff_max_interval: int = 64
    default_retries: int = 60
    force_named_cut_over: bool = False
    force_named_panic: bool = False
    force_table_names: str = ""
    timestamp_old_table: bool = False
    ok_to_drop_table: bool = False
    initially_drop_old_table: bool = False
    initially_drop_ghost_table: bool = False
    include_triggers: bool = False
    trigger_suffix: str = ""
    remove_trigger_suffix_if_exists: bool = False
    panic_on_warnings: bool = False
    attempt_instant_ddl: bool = False
    analyze_ghost_table_before_cutover: bool = False
    checkpoint: bool = False
    checkpoint_seconds: int = 300
    resume: bool = False
    gtid: bool = False
    heartbeat_interval_millis: int = 100
    panic_flag_file: str = ""
    serve_socket_file: str = ""
    serve_tcp_port: int = 0
    initially_drop_socket_file: bool = False
    hooks_path: str = ""
    hooks_hint: str = ""
    hooks_hint_owner: str = ""
    hooks_hint_token: str = ""
    hooks_status_interval: int = 60
    replica_server_id: int = 99999
    mysql_timeout: float = 0.0
    critical_load_interval_millis: int = 0
    critical_load_hibernate_seconds: int = 0
    throttle_http: str = ""
    throttle_http_interval_millis: int = 100
    throttle_http_timeout_millis: int = 1000
    ignore_http_errors: bool = False
    tungsten: bool = False

    @property
    def table_prefix(self) -> str:
        return self.force_table_names or self.table


# flag names that are live tunables rather than request fields
TUNABLE_FLAGS = ("chunk-size", "dml-batch-size", "nice-ratio", "max-lag-millis",
                 "max-load", "critical-load", "throttle-query", "throttle-flag-file",
                 "throttle-additional-flag-file", "postpone-cut-over-flag-file",
                 "throttle-control-replicas")


def request_from_flags(values: Mapping[str, Any]) -> MigrationRequest:
    """Build the frozen request from parsed flag values (dashes become underscores)."""
    fields = {f.name for f in dataclasses.fields(MigrationRequest)}
    kw = {}
    for name, value in values.items():
        key = name.replace("-", "_")
        if key in fields:
            kw[key] = value
    kw["cut_over_lock_timeout_seconds"] = min(10, max(1, int(kw.get(
        "cut_over_lock_timeout_seconds", 3))))
    return MigrationRequest(**kw)


def parse_replicas(text: str | None) -> list[tuple[str, int]]:
    """``h1:3307,h2`` -> [('h1', 3307), ('h2', 3306)]."""
    out = []
    for part in (text or "").split(","):
        part = part.strip()
        if part:
            host, _, port = part.rpartition(":") if ":" in part else (part, "", "3306")
            out.append((host, int(port)))
    return out


def parse_load(text: str | None) -> dict[str, float]:
    """``Threads_running=25,Threads_connected=100`` -> {'Threads_running': 25, ...}."""
    out = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError("Invalid load value: %s" % part)
        k, v = part.split("=", 1)
        out[k.strip()] = float(v)
    return out


class Tunables:
    """Live settings; every setter clamps to gh-ost's bounds."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        values = values or {}
        self._lock = threading.Lock()
        self.chunk_size = 1000
        self.dml_batch_size = 10
        self.nice_ratio = 0.0
        self.max_lag_millis = 1500
        self.max_load: dict[str, float] = {}
        self.critical_load: dict[str, float] = {}
        self.throttle_query = ""
        self.throttle_flag_file = ""
        self.throttle_additional_flag_file = "/tmp/gh-ost.throttle"
        self.postpone_flag_file = ""
        self.throttle_control_replicas: list[tuple[str, int]] = []
        self.user_throttle = False
        self.user_unpostponed = False
        # {replica name: (lag seconds or None, time.monotonic() of the report)}: replica
        # lags measured by the program embedding the engine (the guest agent, from the
        # control plane), throttled on like --throttle-control-replicas
        self.reported_replica_lags: dict[str, tuple[float | None, float]] = {}
        self.set_chunk_size(values.get("chunk-size", 1000))
        self.set_dml_batch_size(values.get("dml-batch-size", 10))
        self.nice_ratio = max(0.0, float(values.get("nice-ratio", 0.0)))
        self.max_lag_millis = max(100, int(values.get("max-lag-millis", 1500)))
        self.max_load = parse_load(values.get("max-load", ""))
        self.critical_load = parse_load(values.get("critical-load", ""))
        self.throttle_query = values.get("throttle-query", "")
        self.throttle_flag_file = values.get("throttle-flag-file", "")
        self.throttle_additional_flag_file = values.get("throttle-additional-flag-file",
                                                        "/tmp/gh-ost.throttle")
        self.postpone_flag_file = values.get("postpone-cut-over-flag-file", "")
        self.throttle_control_replicas = parse_replicas(values.get("throttle-control-replicas"))

    def set_chunk_size(self, n: int | str) -> None:
        with self._lock:
            self.chunk_size = min(100000, max(10, int(n)))

    def set_dml_batch_size(self, n: int | str) -> None:
        with self._lock:
            self.dml_batch_size = min(100, max(1, int(n)))

    def set(self, flag: str, value: Any) -> None:
        """Set one tunable by its flag name (``chunk-size``, ``max-load``...) from text or a
        number, clamped as at start; ValueError for a bad value or an unknown flag."""
        if flag == "chunk-size":
            self.set_chunk_size(int(value))
        elif flag == "dml-batch-size":
            self.set_dml_batch_size(int(value))
        elif flag == "nice-ratio":
            self.nice_ratio = max(0.0, float(value))
        elif flag == "max-lag-millis":
            self.max_lag_millis = max(100, int(value))
        elif flag == "max-load":
            self.max_load = parse_load(value)
        elif flag == "critical-load":
            self.critical_load = parse_load(value)
        else:
            raise ValueError("unknown setting %r" % flag)

    def report_replica_lags(self, lags: dict[str, float | None], now: float | None = None) -> None:
        """``lags``: {replica name: seconds or None (unknown)}, measured just now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.reported_replica_lags = {k: (v, now) for k, v in lags.items()}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


REPORTED_LAG_MAX_AGE = 30.0


def fresh_replica_lags(reported: dict[str, tuple[float | None, float]], now: float,
                       max_age: float = REPORTED_LAG_MAX_AGE
                      ) -> tuple[tuple[str, float | None], ...]:
    """((name, lag), ...) of reported lags; one older than ``max_age`` seconds is unknown
    (None): whoever reported it stopped, and an unknown lag throttles (pure)."""
    return tuple((name, lag if now - at <= max_age else None)
                 for name, (lag, at) in sorted(reported.items()))


class Progress:
    """Counters and phase of one migration (single writer per field)."""

    def __init__(self) -> None:
        self.start_time = time.time()
        self.copy_start_time: float | None = None
        self.copy_end_time: float | None = None
        self.rows_estimate = 0
        self.rows_copied = 0
        self.dml_applied = 0
        self.backlog = 0
        self.phase = "starting"
        self.throttle_reason = ""
        self.postponing = False
        self.heartbeat_lag = 0.0
        self.streamer_coords = ""
        self.applied_coords = ""
        self.iteration = 0
        self.cut_over_lock_seconds: list[float] = []
        # where the time goes (seconds, migrator thread): see Migration.profile()
        self.timings = {"copy": 0.0, "apply": 0.0, "bounds": 0.0, "throttled": 0.0,
                        "nice": 0.0}
        self.chunks = 0
        # last attempt: phase -> seconds since the lock
        self.cut_over_phases: dict[str, float] = {}
        self.result: str | None = None  # None while running, then "success" or error text
        self.done = threading.Event()
