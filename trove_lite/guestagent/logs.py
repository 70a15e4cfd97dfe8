"""The guest's datastore logs: which exist, their state, enable/disable, reads.

Logs (Trove's names and types):

- ``general`` and ``slow_query`` (USER): off until a user enables them. Enable
  writes ``conf.d/40-guest-logs.cnf`` (so the choice survives a restart) and
  turns the log on at once with ``SET GLOBAL``; where the server refuses the
  dynamic change the log is ``Restart Required`` until the next restart. The
  slow-query threshold is the server's ``long_query_time``, i.e. whatever the
  attached configuration group sets. Files live on the volume (``logs/``).
- ``error`` (the server's error log) and ``guest`` (this agent's log) (SYS):
  always on; enabling or disabling them is refused.

Rotation: a read that reaches the end of a USER log over ``max_size`` bytes (or
the heartbeat, for a log past 4 x ``max_size`` that nobody publishes) renames it to
``NAME.log.1`` (older ones shift up, at most ``keep`` kept) and the server
reopens its file (``FLUSH GENERAL/SLOW LOGS``), so a busy log cannot fill the
volume. A file's identity (inode) tells the publisher a rotation happened.

Passwords: reads replace the password literals of account statements (which
MariaDB logs as sent) by ``'<secret>'`` before anything leaves the guest.

The publisher (the control plane) reads with ``read(name, offset, limit,
file_id)``: bytes from ``offset`` of the current file when ``file_id`` matches,
else from 0 of the new file (``rotated`` in the answer).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import pymysql

from trove_lite.datastores.logs import LOG_TYPES, SYS, USER, check_name
from trove_lite.exceptions import BadRequest

if TYPE_CHECKING:
    from trove_lite.guestagent.datastore.mariadb.app import MariaDBApp
    from trove_lite.guestagent.state import GuestState

LOG = logging.getLogger(__name__)

# USER log -> (server switch variable, file variable, file name, flush statement)
_USER_VARS = {
    "general": ("general_log", "general_log_file", "general.log", "FLUSH GENERAL LOGS"),
    "slow_query": ("slow_query_log", "slow_query_log_file", "slow_query.log",
                   "FLUSH SLOW LOGS"),
}
CONF_NAME = "40-guest-logs.cnf"
READ_LIMIT = 4 << 20
HARD_FACTOR = 4


# MariaDB writes statements to its general and slow logs as sent, passwords and
# all (MySQL rewrites them; MariaDB 10.11 does not): what leaves the guest has the
# literal after these replaced by '<secret>', as MySQL's logs show them.
_QUOTED = rb"""(?:'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")"""
_SECRET = re.compile(
    rb"(?i)(\bIDENTIFIED\s+BY\s+|\b(?:OLD_)?PASSWORD\s*\(\s*"
    rb"|\bMASTER_PASSWORD\s*=\s*|\bSET\s+PASSWORD\b[^=\n]*=\s*)" + _QUOTED)


_KEYWORDS = (b"identified", b"password")


def redact(data: bytes) -> bytes:
    """``data`` with password literals of account statements replaced (pure).

    Only lines holding a keyword go through the expression (a scan of all bytes
    with it ran at 30 MB/s; ``lower``/``find`` at memory speed)."""
    lower = data.lower()
    starts = set()
    for word in _KEYWORDS:
        at = lower.find(word)
        while at != -1:
            starts.add(lower.rfind(b"\n", 0, at) + 1)
            at = lower.find(word, at + len(word))
    if not starts:
        return data
    out: list[bytes] = []
    done = 0
    for start in sorted(starts):
        if start < done:
            continue
        end = lower.find(b"\n", start)
        end = len(data) if end == -1 else end + 1
        out.append(data[done:start])
        out.append(_SECRET.sub(rb"\1'<secret>'", data[start:end]))
        done = end
    out.append(data[done:])
    return b"".join(out)


def render_conf(enabled: Collection[str], paths: Mapping[str, str | None]) -> str:
    """The conf.d text that keeps the USER logs' switches across restarts (pure)."""
    lines = ["# Written by the guest agent: datastore logs a user enabled.", "[mariadbd]",
             "log_output = FILE"]
    for name, (switch, file_var, _, _) in sorted(_USER_VARS.items()):
        lines.append("%s = %s" % (file_var, paths[name]))
        lines.append("%s = %s" % (switch, "ON" if name in enabled else "OFF"))
    return "\n".join(lines) + "\n"


def decide_status(log_type: str, enabled: bool | None, restart_pending: bool | None,
                  size: int) -> str:
    """Guest-side status of one log (pure); the publisher adds Published/Partial."""
    if log_type == SYS:
        return "Ready" if size else "Unavailable"
    if restart_pending:
        return "Restart Required"
    if not enabled:
        return "Disabled"
    return "Ready" if size else "Enabled"


def should_rotate(size: int, max_size: int, read_to_end: bool) -> bool:
    """Rotate what the publisher has read to its end once past ``max_size``, so
    nothing is lost; a log nobody publishes is rotated at 4 x ``max_size`` anyway,
    so it cannot fill the volume (pure)."""
    return size > max_size and (read_to_end or size > HARD_FACTOR * max_size)


def _file_info(path: str) -> tuple[int, str | None]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0, None
    return st.st_size, "%d:%d" % (st.st_dev, st.st_ino)


class GuestLogs:
    """The logs of one instance. ``app()`` -> MariaDBApp; ``state`` the GuestState
    (keeps ``guest_logs``: {name: {"enabled", "restart_pending"}});
    ``guest_log_path()`` the agent's own log file (None if it has none)."""

    def __init__(self, app: Callable[[], MariaDBApp], state: GuestState,
                 mount_point: Callable[[], str | None],
                 guest_log_path: Callable[[], str | None], max_size: int,
                 keep: int) -> None:
        self._app = app
        self.state = state
        self._mount_point = mount_point
        self.guest_log_path = guest_log_path
        self.max_size = max_size
        self.keep = keep
        self._rotating = threading.Lock()  # RPC reads and the heartbeat's maintain

    # -- paths and state ----------------------------------------------------------
    def log_dir(self) -> str | None:
        mount = self._mount_point()
        return os.path.join(mount, "logs") if mount else None

    def path(self, name: str) -> str | None:
        if name == "error":
            return self._app().server.error_log
        if name == "guest":
            return self.guest_log_path()
        log_dir = self.log_dir()
        return os.path.join(log_dir, _USER_VARS[name][2]) if log_dir else None

    def _settings(self) -> dict[str, dict[str, Any]]:
        return dict(self.state.read().get("guest_logs") or {})

    def describe(self, name: str) -> dict[str, Any]:
        setting = self._settings().get(name) or {}
        path = self.path(name)
        size, file_id = _file_info(path) if path else (0, None)
        return {"name": name, "type": LOG_TYPES[name], "size": size, "file_id": file_id,
                "enabled": LOG_TYPES[name] == SYS or bool(setting.get("enabled")),
                "status": decide_status(LOG_TYPES[name], setting.get("enabled"),
                                        setting.get("restart_pending"), size)}

    def list(self) -> list[dict[str, Any]]:
        return [self.describe(name) for name in LOG_TYPES]

    # -- enable / disable ---------------------------------------------------------
    def set_enabled(self, name: str, enable: bool) -> dict[str, Any]:
        check_name(name)
        if LOG_TYPES[name] == SYS:
            raise BadRequest(reason="log %s is a system log (SYS): it is always on and "
                                    "cannot be %s" % (name, "enabled" if enable
                                                      else "disabled"))
        log_dir = self.log_dir()
        if not log_dir:
            raise BadRequest(reason="the instance has no volume for logs yet")
        os.makedirs(log_dir, exist_ok=True)
        settings = self._settings()
        settings[name] = dict(settings.get(name) or {}, enabled=bool(enable))
        enabled = {n for n, s in settings.items() if s.get("enabled")}
        app = self._app()
        app.server.write_conf_d(CONF_NAME, render_conf(enabled, {
            n: self.path(n) for n in _USER_VARS}))
        settings[name]["restart_pending"] = not self._apply_live(name, enable)
        self.state.update(guest_logs=settings)
        return self.describe(name)

    def _apply_live(self, name: str, enable: bool) -> bool:
        """SET GLOBAL the switch; False when the server refuses a dynamic change."""
        switch, file_var, _, _ = _USER_VARS[name]
        try:
            conn = self._app().connect()
        except pymysql.MySQLError as e:
            LOG.warning("log %s: server not reachable (%s); takes effect on restart",
                        name, e)
            return False
        try:
            with conn.cursor() as cur:
                if enable:
                    cur.execute("SET GLOBAL log_output = 'FILE'")
                    cur.execute("SET GLOBAL %s = %%s" % file_var, (self.path(name),))
                cur.execute("SET GLOBAL %s = %s" % (switch, "ON" if enable else "OFF"))
            return True
        except pymysql.MySQLError as e:
            LOG.warning("log %s: SET GLOBAL refused (%s); takes effect on restart", name, e)
            return False
        finally:
            conn.close()

    def after_restart(self) -> None:
        """A restart applied the conf.d file: nothing is pending any more."""
        settings = self._settings()
        if any(s.get("restart_pending") for s in settings.values()):
            for s in settings.values():
                s["restart_pending"] = False
            self.state.update(guest_logs=settings)

    # -- rotation and reads ---------------------------------------------------------
    def rotate_if_needed(self, name: str) -> bool:
        """Rotate a USER log past ``max_size`` now; True if it rotated."""
        with self._rotating:
            return self._rotate(name)

    def _rotate(self, name: str) -> bool:
        path = self.path(name)
        if LOG_TYPES[name] != USER or not path or _file_info(path)[0] <= self.max_size:
            return False
        for n in range(self.keep, 0, -1):
            older = "%s.%d" % (path, n)
            if n == self.keep and os.path.exists(older):
                os.unlink(older)
            elif os.path.exists(older):
                os.replace(older, "%s.%d" % (path, n + 1))
        os.replace(path, path + ".1")
        try:
            conn = self._app().connect()
            try:
                with conn.cursor() as cur:
                    cur.execute(_USER_VARS[name][3])
            finally:
                conn.close()
        except pymysql.MySQLError as e:
            LOG.warning("log %s: rotated but the server did not reopen it: %s", name, e)
        LOG.info("log %s rotated at %d bytes (keeping %d)", name, self.max_size, self.keep)
        return True

    def read(self, name: str, offset: int, limit: int,
             file_id: str | None = None) -> dict[str, Any]:
        """Up to ``limit`` bytes from ``offset`` (from 0 if the file is not
        ``file_id`` any more: ``rotated``), cut after the last whole line, password
        literals redacted. Returns {"data": base64, "offset", "next_offset",
        "file_id", "size", "rotated", "at_end"}; the caller continues at
        (``file_id``, ``next_offset``) unless ``at_end``. A read that reaches the
        end of a USER log past ``max_size`` rotates it and adds what the server
        wrote meanwhile, so nothing is lost."""
        check_name(name)
        path = self.path(name)
        size, current = _file_info(path) if path else (0, None)
        rotated = bool(file_id) and current != file_id
        if rotated or offset > size:
            offset = 0
        data = b""
        if path is not None and current is not None:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(max(0, min(limit, READ_LIMIT)))
            if len(data) == limit and b"\n" in data:
                # whole lines only, so a statement is redacted in one piece
                data = data[:data.rindex(b"\n") + 1]
        next_offset, next_id = offset + len(data), current
        at_end = next_offset >= size
        if (path is not None and current is not None
                and should_rotate(size, self.max_size, at_end)
                and self.rotate_if_needed(name)):
            # what the server wrote between our read and the rename is in .1
            with open(path + ".1", "rb") as f:
                f.seek(next_offset)
                data += f.read()
            next_offset, next_id = 0, _file_info(path)[1]
        return {"data": base64.b64encode(redact(data)).decode(), "offset": offset,
                "next_offset": next_offset, "size": size, "file_id": next_id,
                "rotated": rotated, "at_end": at_end}

    def maintain(self) -> None:
        """Rotate USER logs nobody publishes once past the hard bound (called from
        the heartbeat), so a busy log cannot fill the volume."""
        for name in _USER_VARS:
            path = self.path(name)
            if path and should_rotate(_file_info(path)[0], self.max_size, False):
                self.rotate_if_needed(name)
