"""The API's HTTP server against clients that misbehave, with a tiny WSGI app.

A real server on 127.0.0.1 and real sockets; the app is trivial so the
timings are the server's own.
"""

import socket
import threading
import time

import pytest
import requests

from trove_lite.api import server as api_server
from trove_lite.config import make_conf


def app(environ, start_response):
    """Answers 200 'ok'; ``/slow`` takes 0.5 s; POST echoes the body's length."""
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.5)
    body = b"ok"
    if environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = str(len(environ["wsgi.input"].read(length))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def serve():
    started = []

    def start(**api_options):
        options = {"api.workers": 2, "api.client_socket_timeout": 1.0}
        options.update({"api." + k: v for k, v in api_options.items()})
        conf = make_conf(overrides=options)
        server = api_server.serve(conf, app, "127.0.0.1", 0)
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()


def connect(server, count):
    socks = []
    for _ in range(count):
        socks.append(socket.create_connection((server.host, server.port), timeout=5))
    return socks


def close_all(socks):
    for s in socks:
        s.close()


def timed_get(url, timeout=10):
    started = time.monotonic()
    resp = requests.get(url, timeout=timeout)
    return resp, time.monotonic() - started


def test_fifty_idle_connections_do_not_hold_the_workers(serve):
    server = serve()
    idle = connect(server, 50)
    try:
        resp, took = timed_get(server.url + "/")
        assert resp.status_code == 200 and resp.text == "ok"
        # before: queued behind 50 connections each holding a worker for 1 s (~25 s)
        assert took < 3.0, "a request behind 50 idle connections took %.2f s" % took
    finally:
        close_all(idle)


@pytest.mark.parametrize("case", [
    # no spare thread: the two stalled clients hold both workers until the 1 s timeout
    ("read timeout frees the workers", dict(max_workers=2, client_socket_timeout=1.0), 2,
     3.0),
    # the pool adds workers instead of letting the GET wait for the 5 s timeouts
    ("pool grows", dict(max_workers=16, client_socket_timeout=5.0), 6, 2.5),
], ids=lambda c: c[0])
def test_clients_stalling_their_bodies_do_not_hold_the_api(serve, case):
    _, options, stalled, bound = case
    server = serve(**options)
    slow = connect(server, stalled)
    try:
        for s in slow:
            s.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
        time.sleep(0.2)
        resp, took = timed_get(server.url + "/")
        assert resp.status_code == 200
        assert took < bound, "a request behind %d stalled bodies took %.2f s" % (stalled, took)
    finally:
        close_all(slow)


def test_shutdown_finishes_the_in_flight_request_and_returns_quickly(serve):
    server = serve(shutdown_timeout=1.5)
    idle = connect(server, 5)
    result = {}

    def slow_request():
        result["resp"] = requests.get(server.url + "/slow", timeout=10)

    client = threading.Thread(target=slow_request)
    client.start()
    time.sleep(0.2)  # the request is in the app now
    started = time.monotonic()
    server.shutdown()
    took = time.monotonic() - started
    client.join(10)
    close_all(idle)
    assert result["resp"].status_code == 200 and result["resp"].text == "ok"
    assert took < 2.0, "shutdown with 5 idle connections took %.2f s" % took
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/", timeout=2)


def test_shutdown_cuts_a_stalled_request_after_the_shutdown_timeout(serve):
    server = serve(shutdown_timeout=0.5, client_socket_timeout=30)
    stalled = connect(server, 1)
    stalled[0].sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
    time.sleep(0.2)
    started = time.monotonic()
    server.shutdown()
    took = time.monotonic() - started
    close_all(stalled)
    assert took < 2.0, "shutdown behind a stalled body took %.2f s" % took


def test_listen_backlog_is_the_configured_one(serve):
    server = serve(backlog=77)
    # the kernel reports a listener's backlog as Send-Q in ss
    import subprocess
    out = subprocess.run(["ss", "-ltnH", "sport = :%d" % server.port], capture_output=True,
                         text=True, check=True).stdout
    assert out.split()[2] == "77", out


def test_trickling_clients_are_cut_at_the_request_deadline(serve):
    """Clients sending a body byte every 0.3 s never hit the 1 s read timeout; the
    1.5 s request deadline cuts them, so the workers serve others again."""
    server = serve(client_request_timeout=1.5)
    trickling = connect(server, 2)
    stop = threading.Event()

    def trickle():
        for s in trickling:
            s.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        while not stop.wait(0.3):
            for s in trickling:
                try:
                    s.sendall(b"a")
                except OSError:
                    pass

    feeder = threading.Thread(target=trickle)
    feeder.start()
    try:
        time.sleep(0.3)
        resp, took = timed_get(server.url + "/")
        assert resp.status_code == 200
        assert took < 3.0, "a request behind 2 trickling bodies took %.2f s" % took
    finally:
        stop.set()
        feeder.join()
        close_all(trickling)
