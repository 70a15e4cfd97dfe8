"""Serve a WSGI app with wsgiref on a bounded pool of threads.

``serve(conf, app, host=None, port=None)`` binds at once (so a taken port
fails the call, not a later request), starts serving in a background thread
and returns an ``ApiServer``. ``shutdown()`` stops accepting, waits for
in-flight requests to finish and closes the socket; it returns within the
longest in-flight request's time.
"""

import concurrent.futures
import logging
import socketserver
import threading
from wsgiref import simple_server

LOG = logging.getLogger(__name__)


class _Handler(simple_server.WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        # the app logs each request itself; keep stderr clean
        LOG.debug("%s " + format, self.address_string(), *args)


class _PooledWSGIServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    """ThreadingMixIn whose threads come from a fixed pool ([api] workers)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, workers):
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                          thread_name_prefix="api")
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        self.pool.submit(self.process_request_thread, request, client_address)


class ApiServer:
    def __init__(self, httpd):
        self._httpd = httpd
        self.host, self.port = httpd.server_address[:2]
        self._thread = threading.Thread(target=httpd.serve_forever, name="api-accept",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def shutdown(self):
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.pool.shutdown(wait=True)
        self._httpd.server_close()


def serve(conf, app, host=None, port=None):
    """Start serving ``app`` on ``host:port`` (default ``[api] bind_host/bind_port``)."""
    address = (host or conf.api.bind_host,
               conf.api.bind_port if port is None else port)
    httpd = _PooledWSGIServer(address, conf.api.workers)
    httpd.set_app(app)
    LOG.info("API listening on http://%s:%d with %d workers", address[0],
             httpd.server_address[1], conf.api.workers)
    return ApiServer(httpd)
