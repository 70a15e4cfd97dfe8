"""The MariaDB of one instance as the guest agent runs it: prepare, start/stop, status.

``MariaDBApp`` acts on a ``MariaDBServer`` (placement: base dir, datadir --
possibly on a mounted volume --, address, port) whose ``options`` should be
empty: options in my.cnf win over conf.d, so configuration groups could not
override them.

State files in ``server.base_dir`` (not the datadir: a restored or re-attached
volume must not carry them):

    prepare-complete      JSON, written last by prepare; before it, status is BUILDING
    stopped-on-purpose    written by stop(), removed by start(): SHUTDOWN vs CRASHED
    root-enabled          JSON list of times root was enabled (Trove's root history)

The agent administers the server as ``root@localhost`` over the unix socket
(unix_socket authentication, present in every datadir made from the template,
so replicas seeded from a backup work too). No ``os_admin`` user with a
password is created: it would replicate and its password would then differ
from the replica agent's copy. ``os_admin`` stays a reserved name, and users
cannot create or change anything at ``localhost`` or named root through the
API, so root@localhost is out of their reach (a customer with root enabled can
of course still drop it).
"""

import datetime
import decimal
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import pymysql

from trove_lite import datastores
from trove_lite.exceptions import BadRequest
from trove_lite.guestagent.datastore.mariadb import config, sql
from trove_lite.datastores.mariadb import validation as v
from trove_lite.guestagent.datastore.mariadb.admin import MariaDBAdmin
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer

LOG = logging.getLogger(__name__)

PREPARED_MARKER = "prepare-complete"
STOP_MARKER = "stopped-on-purpose"
ROOT_HISTORY = "root-enabled"

HEALTHY = "HEALTHY"
SHUTDOWN = "SHUTDOWN"
CRASHED = "CRASHED"
BLOCKED = "BLOCKED"
BUILDING = "BUILDING"
UNKNOWN = "UNKNOWN"


class StatusDecision(NamedTuple):
    status: str
    reason: str


def decide_status(prepared: bool, process_alive: bool, stop_marker: bool,
                  ping_ok: bool | None) -> StatusDecision:
    """The service status from one snapshot of facts (pure).

    prepared      prepare() has completed on this instance
    process_alive the pid file names a live mariadbd with our config
    stop_marker   the last stop was requested (stop() was called)
    ping_ok       ``SELECT 1`` answered within the ping timeout (None: not tried)

    Rules, first match wins:
      not prepared                      -> BUILDING
      alive and answering               -> HEALTHY  (even if stop() was called: it runs)
      alive, not answering, stop marker -> SHUTDOWN (shutting down)
      alive, not answering              -> BLOCKED  (starting, hung, or out of connections)
      not alive, stop marker            -> SHUTDOWN
      not alive                         -> CRASHED  (gone without being asked to)
    UNKNOWN is reported by the caller when the facts cannot be read at all.
    """
    if not prepared:
        return StatusDecision(BUILDING, "prepare has not completed")
    if process_alive and ping_ok:
        return StatusDecision(HEALTHY, "mariadbd answers SELECT 1")
    if process_alive and stop_marker:
        return StatusDecision(SHUTDOWN, "mariadbd is shutting down on request")
    if process_alive:
        return StatusDecision(BLOCKED, "mariadbd runs but does not answer SELECT 1")
    if stop_marker:
        return StatusDecision(SHUTDOWN, "mariadbd was stopped on request")
    return StatusDecision(CRASHED, "mariadbd is not running and was not stopped on request")


def _option_map(option_names: Mapping[str, str] | None) -> dict[str, str]:
    """{variable: option name} normalised as read_overrides names keys."""
    return {v.validate_parameter_name(k): v.validate_parameter_name(o)
            for k, o in (option_names or {}).items()}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class MariaDBApp:
    """Prepare, run and watch the instance's mariadbd.

    Timing measured on this machine (512 MB flavor, empty datadir): prepare
    0.4-0.6 s (template copy 0.1-0.3 s, start 0.16-0.18 s, SQL 70-90 ms); stop
    about 0.05 s, start 0.1-0.2 s (longer under load or after a crash);
    status() 20-30 ms, at most about ``ping_timeout`` s when the server hangs.
    Failures: start raises ``ServerError`` (from server.py) with the error log
    tail; input problems raise BadRequest/InvalidName before anything is done.
    """

    def __init__(self, server: MariaDBServer, template_path: str | None,
                 ping_timeout: float = 2) -> None:
        """``template_path`` None: an app that is never asked to prepare (an upgrade's)."""
        self.server = server
        self.template_path = template_path
        self.ping_timeout = ping_timeout
        self.datastore = datastores.get(getattr(server.binaries, "datastore", "mariadb"))
        self.admin = MariaDBAdmin(self.connect, self.datastore)

    def _path(self, name: str) -> str:
        return os.path.join(self.server.base_dir, name)

    def connect(self, **kw: Any) -> pymysql.connections.Connection:
        """An administrative connection: root over the unix socket."""
        return self.server.connect(**kw)

    # -- prepare ------------------------------------------------------------------
    def is_prepared(self) -> bool:
        return os.path.exists(self._path(PREPARED_MARKER))

    def prepare(self, flavor: Mapping[str, Any], server_id: int,
                databases: Iterable[Any] = (), users: Iterable[Any] = (),
                root_password: str | None = None, enable_root: bool=False,
                config_overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Initialise, configure and start the server, then create databases, users
        and (if asked) root. Returns what was done::

            {"databases": [names], "users": ["name@host"], "root_password": str|None,
             "root_enabled_at": iso|None, "timings": {step: seconds}, "already_prepared": bool}

        Everything is validated before the first file is written. A second call
        after success only makes sure the server runs (the agent may restart
        mid-build and be asked again).
        """
        if self.is_prepared():
            self.start()
            return {"already_prepared": True, "databases": [], "users": [],
                    "root_password": None, "root_enabled_at": None, "timings": {}}
        db_specs, user_specs, rendered, overrides = self._check_prepare_input(
            flavor, server_id, databases, users, root_password, config_overrides)

        timings: dict[str, float] = {}
        t0 = time.monotonic()
        os.makedirs(self.server.base_dir, exist_ok=True)
        self.server.initialize()
        timings["initialize"] = time.monotonic() - t0
        config.write_template_config(self.server, rendered)
        config.write_overrides(self.server, overrides)
        t1 = time.monotonic()
        self.start()
        timings["start"] = time.monotonic() - t1
        t2 = time.monotonic()
        created_dbs = self.admin.create_databases(db_specs) if db_specs else []
        created_users = self.admin.create_users(user_specs) if user_specs else []
        root_pw: str | None = None
        enabled_at: str | None = None
        if enable_root or root_password is not None:
            root_pw, enabled_at = self.enable_root(root_password)
        timings["sql"] = time.monotonic() - t2
        self._write_json(PREPARED_MARKER, {"prepared_at": _now(), "server_id": int(server_id),
                                           "flavor": dict(flavor)})
        LOG.info("prepared: %d database(s), %d user(s), root %s, %.2f s",
                 len(created_dbs), len(created_users),
                 "enabled" if root_pw else "not enabled", time.monotonic() - t0)
        return {"already_prepared": False, "databases": created_dbs, "users": created_users,
                "root_password": root_pw, "root_enabled_at": enabled_at, "timings": timings}

    def _check_prepare_input(
            self, flavor: Mapping[str, Any], server_id: int, databases: Iterable[Any],
            users: Iterable[Any], root_password: str | None,
            config_overrides: Mapping[str, Any] | None,
    ) -> tuple[list[dict], list[dict], str, dict[str, Any]]:
        """Validate everything prepare will use; raises before anything is written."""
        db_specs = [v.validate_database_spec(d) for d in databases or ()]
        user_specs = [v.validate_user_spec(u, self.datastore.user_name_max, allow_hash=True)
                      for u in users or ()]
        if root_password is not None:
            v.validate_password(root_password)
        fresh = not os.path.isdir(os.path.join(self.server.datadir, "mysql"))
        unknown = sorted({d for u in user_specs for d in u["databases"]}
                         - {d["name"] for d in db_specs})
        if fresh and unknown:
            raise BadRequest(reason="users refer to databases not being created: %s"
                             % ", ".join(unknown))
        if self.template_path is None:
            raise ValueError("this MariaDBApp has no config template: it cannot prepare")
        rendered = config.render_config(self.template_path, flavor, server_id)
        overrides = dict(config_overrides or {})
        for name, value in overrides.items():
            v.validate_parameter_name(name)
            config.format_option_value(value)
        return db_specs, user_specs, rendered, overrides

    # -- process control ------------------------------------------------------------
    def start(self, timeout: float = 60, extra_args: Sequence[str] = ()) -> None:
        """Start mariadbd (no-op if running) and wait until it answers.
        ``extra_args``: options for this start only (they win over the files)."""
        self._remove(STOP_MARKER)
        self.server.start(timeout=timeout, extra_args=extra_args)

    def stop(self, timeout: float = 60) -> bool:
        """Stop mariadbd on purpose: status becomes SHUTDOWN, not CRASHED."""
        with open(self._path(STOP_MARKER), "w") as f:
            f.write(_now() + "\n")
        return self.server.stop(timeout=timeout)

    def restart(self, timeout: float = 60) -> None:
        self.stop(timeout)
        self.start(timeout)

    # -- status ---------------------------------------------------------------------
    def ping(self) -> bool:
        """True if ``SELECT 1`` answers within ping_timeout seconds."""
        try:
            conn = self.connect(connect_timeout=self.ping_timeout,
                                read_timeout=self.ping_timeout)
        except (pymysql.MySQLError, OSError):
            return False
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        except (pymysql.MySQLError, OSError):
            return False
        finally:
            conn.close()

    def status_decision(self) -> StatusDecision:
        """Read the facts once, decide (see :func:`decide_status`)."""
        try:
            alive = self.server.pid() is not None
            facts = (self.is_prepared(), alive, os.path.exists(self._path(STOP_MARKER)),
                     self.ping() if alive else None)
        except OSError as exc:
            return StatusDecision(UNKNOWN, "cannot read the server's state: %s" % exc)
        return decide_status(*facts)

    def status(self) -> str:
        """Trove's service status name: HEALTHY, SHUTDOWN, CRASHED, BLOCKED, BUILDING, UNKNOWN."""
        return self.status_decision().status

    # -- root -------------------------------------------------------------------------
    def enable_root(self, password: str | None = None) -> tuple[str | None, str]:
        """Enable root@'%'; returns (password, enabled_at) and records the time."""
        password = self.admin.enable_root(password)
        enabled_at = _now()
        history = self._read_json(ROOT_HISTORY, [])
        history.append(enabled_at)
        self._write_json(ROOT_HISTORY, history)
        return password, enabled_at

    def disable_root(self) -> bool:
        return self.admin.disable_root()

    def root_history(self) -> list[str]:
        """Times (ISO 8601 UTC) root was enabled on this instance, oldest first."""
        return self._read_json(ROOT_HISTORY, [])

    # -- configuration groups ----------------------------------------------------------
    def attach_configuration(self, values: Mapping[str, Any], dynamic_names: Iterable[str],
                             option_names: Mapping[str, str] | None = None) -> bool:
        """Apply a configuration group: dynamic values at once, all values persisted.

        ``values`` are keyed by server variable name. ``dynamic_names``: which
        variables the server can change at run time (from the parameter table);
        it may name variables of the previous group too: those the new group no
        longer sets go back to the template's (or compiled-in) value at once.
        ``option_names``: {variable: option-file name} where they differ
        (``tx_isolation`` is written as ``transaction_isolation``). Dynamic
        values are set first, so a value the server refuses leaves both the
        server and the files unchanged (InvalidConfigurationValue). Returns True
        if a restart is needed for the rest to take effect.
        """
        values = {v.validate_parameter_name(k): val for k, val in values.items()}
        dynamic = {v.validate_parameter_name(n) for n in dynamic_names}
        options = _option_map(option_names)
        for value in values.values():
            config.format_option_value(value)
        previous_file = config.read_overrides(self.server)
        live = {k: val for k, val in values.items() if k in dynamic}
        running = self.server.is_running()
        if live and running:
            with self.connect() as conn:
                config.apply_dynamic(conn, live)
        config.write_overrides(self.server, {options.get(k, k): val
                                             for k, val in values.items()})
        written = config.read_overrides(self.server)
        dynamic_options = {options.get(n, n) for n in dynamic}
        removed = [n for n in dynamic if options.get(n, n) in previous_file
                   and n not in values]
        if removed and running:
            with self.connect() as conn:
                config.restore_dynamic(self.server, conn, removed)
        changed_static = {k for k in set(written) | set(previous_file)
                          if k not in dynamic_options and written.get(k) != previous_file.get(k)}
        return bool(changed_static)

    def detach_configuration(self, dynamic_names: Iterable[str],
                             option_names: Mapping[str, str] | None = None) -> bool:
        """Remove the configuration group; dynamic values go back to the template's
        (or compiled-in) values at once. Returns True if a restart is needed."""
        dynamic = {v.validate_parameter_name(n) for n in dynamic_names}
        options = _option_map(option_names)
        previous_file = config.read_overrides(self.server)
        config.remove_overrides(self.server)
        live = [n for n in dynamic if options.get(n, n) in previous_file]
        if live and self.server.is_running():
            with self.connect() as conn:
                config.restore_dynamic(self.server, conn, live)
        dynamic_options = {options.get(n, n) for n in dynamic}
        return any(k not in dynamic_options for k in previous_file)

    def live_values(self, names: Iterable[str]) -> dict[str, Any]:
        """{name: @@global value} of server variables ``names`` (unknown ones left out)."""
        out: dict[str, Any] = {}
        with self.connect() as conn, conn.cursor() as cur:
            for name in names:
                try:
                    cur.execute(sql.select_global(v.validate_parameter_name(name)))
                except pymysql.MySQLError:
                    continue
                value = cur.fetchone()[0]
                # RPC carries JSON: DECIMAL and bytes values become float and text
                if isinstance(value, decimal.Decimal):
                    value = float(value)
                elif isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                out[name] = value
        return out

    # -- small file helpers ---------------------------------------------------------------
    def _remove(self, name: str) -> None:
        try:
            os.unlink(self._path(name))
        except FileNotFoundError:
            pass

    def _read_json(self, name: str, default: Any) -> Any:
        try:
            with open(self._path(name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return default

    def _write_json(self, name: str, data: Any) -> None:
        tmp = self._path(name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self._path(name))
