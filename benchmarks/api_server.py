#!/usr/bin/env python3
"""The API's HTTP server under load and under hostile clients, beside a baseline.

    .venv/bin/python benchmarks/api_server.py [--requests 300] [--rounds 3]

Baseline, measured in the same run: the same app (SQLite control database)
served by the standard library's single-threaded ``wsgiref`` server. Printed
per round: median latency of GET /flavors from one keep-alive client, and
requests per second from 8 clients at once; then, for our server only, a
request's latency behind 50 idle connections and behind 8 clients that stall
their bodies (wsgiref would wait for ever on both, so there is no baseline).
"""

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from wsgiref import simple_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import requests  # noqa: E402

from tests.functional.api.conftest import seed  # noqa: E402
from trove_lite.api import server as api_server  # noqa: E402
from trove_lite.api import wsgi  # noqa: E402
from trove_lite.config import make_conf  # noqa: E402
from trove_lite.db.session import Database  # noqa: E402
from trove_lite.rpc.taskmanager import TaskManagerAPI  # noqa: E402


class _Quiet(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


class WsgirefServer:
    """The baseline: stdlib wsgiref, one request at a time."""

    def __init__(self, app):
        self.httpd = simple_server.make_server("127.0.0.1", 0, app, handler_class=_Quiet)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def shutdown(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def latency_and_rate(url, count):
    session = requests.Session()
    for _ in range(10):
        session.get(url, timeout=30)
    lat = []
    for _ in range(count):
        t = time.perf_counter()
        session.get(url, timeout=30)
        lat.append((time.perf_counter() - t) * 1000)

    def client():
        s = requests.Session()
        for _ in range(count // 8):
            s.get(url, timeout=30)

    threads = [threading.Thread(target=client) for _ in range(8)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return statistics.median(lat), (count // 8) * 8 / (time.perf_counter() - t)


def behind(server, url, hostile):
    socks = [socket.create_connection((server.host, server.port)) for _ in range(hostile[0])]
    try:
        for s in socks:
            if hostile[1]:
                s.sendall(hostile[1])
        time.sleep(0.1)
        t = time.perf_counter()
        requests.get(url, timeout=60)
        return (time.perf_counter() - t) * 1000
    finally:
        for s in socks:
            s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="trove-lite-bench-api-")
    conf = make_conf(overrides={"state_dir": tmp,
                                "taskmanager.topic": "bench-" + uuid.uuid4().hex[:8]})
    db = Database("sqlite:///" + os.path.join(tmp, "control.sqlite"))
    db.sync()
    seed(db)
    app = wsgi.make_app(conf, db, TaskManagerAPI(conf))
    for rnd in range(1, args.rounds + 1):
        for name, make in (("wsgiref (baseline)", lambda: WsgirefServer(app)),
                           ("trove-lite (cheroot)",
                            lambda: api_server.serve(conf, app, "127.0.0.1", 0))):
            server = make()
            try:
                med, rate = latency_and_rate(server.url + "/v1.0/t/flavors", args.requests)
            finally:
                server.shutdown()
            print("round %d  %-21s GET median %6.2f ms   8 clients %6.0f req/s"
                  % (rnd, name, med, rate), flush=True)
    stalled_body = b"POST /v1.0/t/instances HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
    server = api_server.serve(conf, app, "127.0.0.1", 0)
    try:
        url = server.url + "/v1.0/t/flavors"
        print("trove-lite: GET behind 50 idle connections %.1f ms"
              % behind(server, url, (50, None)))
        print("trove-lite: GET behind 8 stalled bodies %.1f ms (read timeout %.0f s)" % (
            behind(server, url, (8, stalled_body)), conf.api.client_socket_timeout))
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
