"""Control socket (unix file and/or TCP on loopback): gh-ost's interactive commands.

One line in, text out, connection closed. ``handle`` maps a command to a call
on the Migration (the same calls the library exposes) and returns the reply.
"""

from __future__ import annotations

import os
import selectors
import socketserver
import threading
from typing import TYPE_CHECKING

from trove_lite.osc.context import parse_replicas

if TYPE_CHECKING:
    from trove_lite.osc.migrator import Migration

HELP = """available commands:
status                               # Print a detailed status message
sup                                  # Print a short status message
coordinates                          # Print the currently inspected coordinates
applier                              # Print the hostname of the applier
inspector                            # Print the hostname of the inspector
chunk-size=<newsize>                 # Set a new chunk-size
dml-batch-size=<newsize>             # Set a new dml-batch-size
nice-ratio=<ratio>                   # Set a new nice-ratio, immediate sleep after each row-copy operation, float (examples: 0 is aggressive, 0.7 adds 70% runtime, 1.0 doubles runtime, 2.0 triples runtime, ...)
critical-load=<load>                 # Set a new set of max-load thresholds
max-lag-millis=<max-lag>             # Set a new replication lag threshold
max-load=<load>                      # Set a new set of max-load thresholds
throttle-query=<query>               # Set a new throttle-query
throttle-control-replicas=<replicas> # Set a new comma delimited list of throttle control replicas
throttle                             # Force throttling
no-throttle                          # End forced throttling (other throttling may still apply)
unpostpone                           # Bail out a cut-over postpone; proceed to cut-over
panic                                # panic and quit without cleanup
help                                 # This message
- use '?' (question mark) as argument to get info rather than set. e.g. "max-load=?" will just print out current max-load."""


def handle(line: str, migration: Migration) -> str:
    """Run one command against ``migration``; returns the reply text."""
    line = line.strip()
    cmd, _, arg = line.partition("=")
    cmd, arg = cmd.strip(), arg.strip()
    t = migration.tunables
    readers = {"chunk-size": lambda: t.chunk_size, "dml-batch-size": lambda: t.dml_batch_size,
               "nice-ratio": lambda: t.nice_ratio, "max-lag-millis": lambda: t.max_lag_millis,
               "max-load": lambda: _load(t.max_load), "critical-load": lambda: _load(t.critical_load),
               "throttle-query": lambda: t.throttle_query,
               "throttle-control-replicas": lambda: ",".join(
                   "%s:%d" % r for r in t.throttle_control_replicas)}
    if arg == "?" and cmd in readers:
        return "%s\n" % readers[cmd]()
    try:
        if cmd in ("help", ""):
            return HELP + "\n"
        if cmd in ("status", "info"):
            return migration.status_text(detailed=True) + "\n"
        if cmd == "sup":
            return migration.status_text(detailed=False) + "\n"
        if cmd == "coordinates":
            return migration.coordinates() + "\n"
        if cmd in ("applier", "inspector"):
            text = migration.server_text(cmd)
            return text + "\n" if text else ""
        if cmd in ("chunk-size", "dml-batch-size", "nice-ratio", "max-lag-millis", "max-load",
                   "critical-load"):
            t.set(cmd, arg)
        elif cmd == "throttle-query":
            t.throttle_query = arg
        elif cmd == "throttle-control-replicas":
            t.throttle_control_replicas = parse_replicas(arg)
        elif cmd in ("throttle", "pause", "suspend"):
            migration.throttle()
        elif cmd in ("no-throttle", "unthrottle", "resume", "continue"):
            migration.no_throttle()
        elif cmd in ("unpostpone", "no-postpone", "cut-over"):
            if migration.request.force_named_cut_over and arg != migration.request.table:
                return "User commanded 'unpostpone' without specifying table name, but --force-named-cut-over is set\n"
            migration.unpostpone()
        elif cmd == "panic":
            if migration.request.force_named_panic and arg != migration.request.table:
                return "User commanded 'panic' without specifying table name, but --force-named-panic is set\n"
            migration.panic()
        else:
            return "Unknown command: %s\n" % cmd
    except ValueError as exc:
        return "%s\n" % exc
    return migration.status_text(detailed=False) + "\n" if cmd in readers else ""


def _load(d: dict[str, float]) -> str:
    return ",".join("%s=%s" % (k, int(v) if float(v).is_integer() else v) for k, v in d.items())


class _Handler(socketserver.StreamRequestHandler):
    server: _Unix | _Tcp

    def handle(self) -> None:
        line = self.rfile.readline().decode("utf-8", "replace")
        reply = handle(line, self.server.migration)
        self.wfile.write(reply.encode())


class _Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    migration: Migration  # set by ControlServer.start
    daemon_threads = True


class _Tcp(socketserver.ThreadingMixIn, socketserver.TCPServer):
    migration: Migration  # set by ControlServer.start
    daemon_threads = True
    allow_reuse_address = True


class ControlServer:
    """Serves the socket file and/or TCP port until ``stop()``; removes the socket file."""

    def __init__(self, migration: Migration, socket_file: str = "", tcp_port: int = 0,
                 drop_stale: bool = False) -> None:
        self.migration = migration
        self.socket_file = socket_file
        self.tcp_port = tcp_port
        self.drop_stale = drop_stale
        self.servers: list[_Unix | _Tcp] = []
        self._threads: list[threading.Thread] = []
        self._wake_r, self._wake_w = -1, -1

    def start(self) -> None:
        if self.socket_file:
            if os.path.exists(self.socket_file):
                if not self.drop_stale:
                    raise OSError("%s exists; use --initially-drop-socket-file" % self.socket_file)
                os.unlink(self.socket_file)
            self.servers.append(_Unix(self.socket_file, _Handler))
        if self.tcp_port:
            self.servers.append(_Tcp(("127.0.0.1", self.tcp_port), _Handler))
        if self.servers:
            self._wake_r, self._wake_w = os.pipe()
        for s in self.servers:
            s.migration = self.migration
            t = threading.Thread(target=self._serve, args=(s,), name="osc-control", daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, server: _Unix | _Tcp) -> None:
        """Accept until ``stop()`` writes to the wake-up pipe: the stop takes effect at
        once (serve_forever's shutdown waits for its next poll, up to 0.2 s at exit)."""
        with selectors.DefaultSelector() as sel:
            sel.register(server, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in sel.select()]
                if self._wake_r in ready:
                    return
                server.handle_request()   # the socket is readable: accepts without waiting

    def stop(self) -> None:
        if self._wake_w >= 0:
            os.write(self._wake_w, b"x")
        for t in self._threads:
            t.join(timeout=2)     # bounded: an accept stuck on a vanished client ends with
                                  # the socket closed below (the thread is a daemon)
        for s in self.servers:
            s.server_close()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._threads, self._wake_r, self._wake_w = [], -1, -1
        if self.socket_file and os.path.exists(self.socket_file):
            os.unlink(self.socket_file)
