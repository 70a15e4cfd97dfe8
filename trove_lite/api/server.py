"""Serve a WSGI app with cheroot: a fixed pool of threads, bounded waits.

``serve(conf, app, host=None, port=None)`` binds at once (so a taken port
fails the call, not a later request), starts serving in a background thread
and returns an ``ApiServer``.

What a client can and cannot do to it:

- An idle connection holds no thread: connections wait in cheroot's selector
  and reach a worker only once bytes arrive (``_Server.process_conn``; stock
  cheroot hands a new connection to a worker at once, so eight silent clients
  froze eight workers); connections idle for ``[api] client_socket_timeout``
  are closed.
- A client that stops sending mid-request (headers or body) holds one worker
  for at most ``client_socket_timeout`` per read; the body then answers 400.
  One that keeps sending a byte now and then is cut once its request (line,
  headers, body) has taken ``[api] client_request_timeout`` (``_Watchdog``):
  otherwise eight trickling clients would hold the eight workers for ever.
  Headers are bounded to 64 KiB.
- A body larger than ``[api] max_request_body_size`` is refused (413) by the
  app from its Content-Length, without reading it.
- ``shutdown()`` stops accepting, closes idle connections, lets in-flight
  requests finish for up to ``[api] shutdown_timeout`` seconds and then cuts
  the connections still busy; it returns within that bound.
"""

import json
import logging
import socket
import threading
import time
from typing import Any
from wsgiref.types import WSGIApplication
from collections.abc import Callable

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server
from cheroot import wsgi as cheroot_wsgi
from cheroot.workers import threadpool
from oslo_config import cfg

from trove_lite.api import opts as api_opts
from trove_lite.exceptions import FAULT_NAMES

LOG = logging.getLogger(__name__)


class _Gateway(cheroot_wsgi.Gateway_10):
    """Honours an app's ``Connection: close`` (stock cheroot keeps the connection
    and first reads the unread rest of the body, waiting on a stalled client
    once more), and tells the watchdog when the body has been read."""

    # cheroot's stub says Gateway.get_environ returns None; it returns the environ
    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]
        env = super().get_environ()
        conn, watchdog = self.req.conn, self.req.server.watchdog
        env[ENVIRON_BODY_READ] = lambda: watchdog.release(conn)
        return env

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        self.req.server.watchdog.release(self.req.conn)
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
            self.req.close_connection = True
        return super().start_response(status, headers, exc_info)


ENVIRON_BODY_READ = "trove_lite.body_read"
MAX_HEADER_BYTES = 64 * 1024


class _Watchdog:
    """Shuts the socket of a connection whose request is still arriving after
    ``limit`` seconds; the worker reading it then sees the end of its input.

    Also grows the worker pool (up to its ``max``) while requests wait and no
    worker is idle: clients stalling their bodies hold workers until the read
    timeout, and others should not wait behind them."""

    def __init__(self, limit: int, pool: threadpool.ThreadPool | None = None) -> None:
        self.limit = limit
        self.pool = pool
        self._deadlines: dict[cheroot_server.HTTPConnection, float] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="api-watchdog", daemon=True)
        self._thread.start()

    def watch(self, conn: cheroot_server.HTTPConnection) -> None:
        with self._lock:
            self._deadlines[conn] = time.monotonic() + self.limit

    def release(self, conn: cheroot_server.HTTPConnection) -> None:
        with self._lock:
            self._deadlines.pop(conn, None)

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(min(0.25, self.limit / 4)):
            now = time.monotonic()
            with self._lock:
                late = [c for c, deadline in self._deadlines.items() if deadline < now]
                for conn in late:
                    del self._deadlines[conn]
            for conn in late:
                LOG.info("closing a connection whose request took over %.1f s to arrive",
                         self.limit)
                try:
                    conn.socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            if self.pool is not None:
                self._grow(self.pool)

    @staticmethod
    def _grow(pool: threadpool.ThreadPool) -> None:
        waiting = pool.qsize
        # cheroot's stub lacks the pool's _threads (its list of worker threads)
        threads = pool._threads  # type: ignore[attr-defined]  # noqa: SLF001
        if waiting and not pool.idle and len(threads) < pool.max:
            LOG.info("all %d API workers busy with %d request(s) waiting: adding workers",
                     len(threads), waiting)
            pool.grow(waiting)


class _Request(cheroot_server.HTTPRequest):
    def parse_request(self) -> None:
        """The request line and headers, and then the body (``read_body`` in the app
        calls ``environ[ENVIRON_BODY_READ]``), must arrive within the watchdog's limit."""
        watchdog = self.server.watchdog
        watchdog.watch(self.conn)
        try:
            super().parse_request()
        finally:
            if not (self.ready and self._expects_body()):
                watchdog.release(self.conn)

    def _expects_body(self) -> bool:
        length = self.inheaders.get(b"Content-Length", b"0")
        return self.chunked_read or (length.isdigit() and int(length) > 0)

    def simple_response(self, status: int | str, msg: str = "") -> None:
        """What cheroot answers itself (a request line with raw non-ASCII bytes, a
        malformed header...) in Trove's fault format, not text/plain."""
        status = str(status)
        code = int(status[:3])
        if code < 400:
            return super().simple_response(status, msg)
        name = FAULT_NAMES.get(code, "badRequest" if code < 500 else "instanceFault")
        if isinstance(msg, bytes):
            msg = msg.decode("latin-1")
        body = json.dumps({name: {"code": code, "message": msg or status[4:]}}).encode()
        head = ("%s %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                "Connection: close\r\n\r\n" % (self.server.protocol, status, len(body)))
        self.close_connection = True
        try:
            self.conn.wfile.write(head.encode("ISO-8859-1") + body)
        except OSError as ex:
            if ex.args and ex.args[0] not in cheroot_errors.socket_errors_to_ignore:
                raise
        return None


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request


class _Server(cheroot_wsgi.Server):
    ConnectionClass = _Connection
    # idle connections beyond this get no keep-alive (closed after their response)
    keep_alive_conn_limit = 256
    watchdog: _Watchdog  # set by serve()

    def process_conn(self, conn: cheroot_server.HTTPConnection) -> None:
        """A new connection waits in the selector until its first bytes arrive."""
        if not getattr(conn, "trove_lite_seen", False):
            setattr(conn, "trove_lite_seen", True)
            # registers it for readability (or processes it); cheroot's stub lacks the
            # server's _connections (its ConnectionManager)
            self._connections.put(conn)  # type: ignore[attr-defined]
            return
        super().process_conn(conn)


class ApiServer:
    def __init__(self, server: _Server, shutdown_timeout: float) -> None:
        self._server = server
        self._shutdown_timeout = shutdown_timeout
        self.host, self.port = server.bind_addr[:2]
        self._thread = threading.Thread(target=server.serve, name="api-accept", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return "http://%s:%d" % (self.host, self.port)

    def shutdown(self) -> None:
        self._server.watchdog.stop()
        self._server.stop()
        self._thread.join(self._shutdown_timeout + 1)


def serve(conf: cfg.ConfigOpts, app: WSGIApplication, host: str | None = None,
          port: int | None = None) -> ApiServer:
    """Start serving ``app`` on ``host:port`` (default ``[api] bind_host/bind_port``)."""
    api_opts.register(conf)
    api = conf.api
    address = (host or api.bind_host, api.bind_port if port is None else port)
    server = _Server(
        address, app, numthreads=api.workers, max=max(api.workers, api.max_workers),
        request_queue_size=api.backlog, timeout=api.client_socket_timeout,
        shutdown_timeout=api.shutdown_timeout, server_name="trove-lite")
    # the app refuses large bodies itself, in Trove's fault format
    server.max_request_body_size = 0
    server.max_request_header_size = MAX_HEADER_BYTES
    server.gateway = _Gateway
    server.watchdog = _Watchdog(api.client_request_timeout, server.requests)
    server.prepare()  # binds and listens: a taken port raises here
    LOG.info("API listening on http://%s:%d with %d workers", server.bind_addr[0],
             server.bind_addr[1], api.workers)
    return ApiServer(server, api.shutdown_timeout)
