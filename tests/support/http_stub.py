"""A local HTTP endpoint whose answer to HEAD the test sets (``--throttle-http``)."""

import http.server
import threading


class StatusEndpoint:
    """``with StatusEndpoint(503) as ep:`` serves on 127.0.0.1; ``ep.code`` is the
    status every HEAD gets, ``ep.heads`` counts them, ``ep.url`` is the address."""

    def __init__(self, code=200):
        self.code = code
        self.heads = 0
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self):
                endpoint.heads += 1
                self.send_response(endpoint.code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/may-i" % self._server.server_address[1]

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
