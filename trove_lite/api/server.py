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
- A body larger than ``[api] max_request_body_size`` is refused (413) by the
  app from its Content-Length, without reading it.
- ``shutdown()`` stops accepting, closes idle connections, lets in-flight
  requests finish for up to ``[api] shutdown_timeout`` seconds and then cuts
  the connections still busy; it returns within that bound.
"""

import logging
import threading

from cheroot import wsgi as cheroot_wsgi

from trove_lite.api import opts as api_opts

LOG = logging.getLogger(__name__)


class _Gateway(cheroot_wsgi.Gateway_10):
    """Honours an app's ``Connection: close`` (stock cheroot keeps the connection
    and first reads the unread rest of the body, waiting on a stalled client
    once more)."""

    def start_response(self, status, headers, exc_info=None):
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
            self.req.close_connection = True
        return super().start_response(status, headers, exc_info)


class _Server(cheroot_wsgi.Server):
    # idle connections beyond this get no keep-alive (closed after their response)
    keep_alive_conn_limit = 256

    def process_conn(self, conn):
        """A new connection waits in the selector until its first bytes arrive."""
        if not getattr(conn, "trove_lite_seen", False):
            conn.trove_lite_seen = True
            self._connections.put(conn)  # registers it for readability (or processes it)
            return
        super().process_conn(conn)


class ApiServer:
    def __init__(self, server, shutdown_timeout):
        self._server = server
        self._shutdown_timeout = shutdown_timeout
        self.host, self.port = server.bind_addr[:2]
        self._thread = threading.Thread(target=server.serve, name="api-accept", daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def shutdown(self):
        self._server.stop()
        self._thread.join(self._shutdown_timeout + 1)


def serve(conf, app, host=None, port=None):
    """Start serving ``app`` on ``host:port`` (default ``[api] bind_host/bind_port``)."""
    api_opts.register(conf)
    api = conf.api
    address = (host or api.bind_host, api.bind_port if port is None else port)
    server = _Server(
        address, app, numthreads=api.workers, max=api.workers,
        request_queue_size=api.backlog, timeout=api.client_socket_timeout,
        shutdown_timeout=api.shutdown_timeout, server_name="trove-lite")
    # the app refuses large bodies itself, in Trove's fault format
    server.max_request_body_size = 0
    server.gateway = _Gateway
    server.prepare()  # binds and listens: a taken port raises here
    LOG.info("API listening on http://%s:%d with %d workers", server.bind_addr[0],
             server.bind_addr[1], api.workers)
    return ApiServer(server, api.shutdown_timeout)
