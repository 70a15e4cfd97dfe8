"""The status line, printed the way gh-ost prints it, and when to print it.

Pure: ``status_line`` takes a StatusSnapshot; ``should_print`` decides the
cadence (every second in the first minute, every 5 s to 3 minutes, then 30 s).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class StatusSnapshot:
    rows_copied: int
    rows_estimate: int
    dml_applied: int
    backlog: int
    backlog_size: int
    elapsed: float
    copy_elapsed: float
    coords: str
    lag: float
    heartbeat_lag: float
    state: str                 # migrating | postponing cut-over | throttled, <reason> | ...
    copy_complete: bool


def go_duration(seconds: float) -> str:
    """Go's Duration.String() for whole seconds: 0s, 45s, 1m5s, 2h0m3s."""
    s = int(round(max(0.0, seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return "%dh%dm%ds" % (h, m, sec)
    if m:
        return "%dm%ds" % (m, sec)
    return "%ds" % sec


def progress_pct(s: StatusSnapshot) -> float:
    if s.copy_complete:
        return 100.0
    if s.rows_estimate <= 0:
        return 0.0
    return min(100.0, 100.0 * s.rows_copied / s.rows_estimate)


def eta(s: StatusSnapshot) -> str:
    if s.copy_complete:
        return "due"
    if s.rows_copied <= 0 or s.rows_estimate <= 0 or s.copy_elapsed <= 0:
        return "N/A"
    remaining = max(0, s.rows_estimate - s.rows_copied)
    if remaining == 0:
        return "due"
    return go_duration(s.copy_elapsed / s.rows_copied * remaining)


def eta_seconds(s: StatusSnapshot) -> int:
    if s.copy_complete:
        return 0
    if s.rows_copied <= 0 or s.rows_estimate <= 0 or s.copy_elapsed <= 0:
        return -1
    return int(s.copy_elapsed / s.rows_copied * max(0, s.rows_estimate - s.rows_copied))


def status_line(s: StatusSnapshot) -> str:
    return ("Copy: %d/%d %.1f%%; Applied: %d; Backlog: %d/%d; Time: %s(total), %s(copy); "
            "streamer: %s; Lag: %.2fs, HeartbeatLag: %.2fs, State: %s; ETA: %s" % (
                s.rows_copied, max(s.rows_estimate, s.rows_copied), progress_pct(s),
                s.dml_applied, s.backlog, s.backlog_size, go_duration(s.elapsed),
                go_duration(s.copy_elapsed), s.coords, s.lag, s.heartbeat_lag, s.state, eta(s)))


def should_print(elapsed_seconds: float, last_printed_second: int) -> bool:
    """Whether to print at this whole second (called about every second)."""
    sec = int(elapsed_seconds)
    if sec == last_printed_second:
        return False
    if sec <= 60:
        return True
    if sec <= 180:
        return sec % 5 == 0
    return sec % 30 == 0
