"""Free loopback addresses for test servers.

Every test server gets its own 127.x.y.z so that servers can use their standard
port side by side. Areas use their own second octet so concurrent runs of
different suites never collide:

    127.77.*  instances created by the local compute driver (product default)
    127.201.* OSC engine tests          127.202.* guest agent / admin tests
    127.203.* backup tests               127.204.* functional (control plane)
    127.205.* benchmarks                 127.206.* drivers contract tests
"""

import fcntl
import os
import random
import socket
import tempfile

from trove_lite.drivers.localutil import port_free


def free_loopback(second_octet, port=3306):
    """A 127.<second_octet>.y.z address where nothing listens on ``port``."""
    for _ in range(200):
        addr = "127.%d.%d.%d" % (second_octet, random.randint(0, 254), random.randint(1, 254))
        if port_free(addr, port):
            return addr
    raise RuntimeError("no free loopback address in 127.%d.0.0/16" % second_octet)


def reserve_subnet(second_octet):
    """A 127.<second_octet>.<k> prefix (a /24) no other process on this machine holds.

    Returns ``(prefix, lock)``: the prefix stays ours while ``lock`` (an open
    file with an exclusive flock) is open; the kernel drops the lock when the
    process ends, however it ends. Used where addresses are handed out in order
    from .1 (the local compute driver): two test runs at once on one machine would
    otherwise both give their first instance 127.<second_octet>.0.1.
    """
    lock_dir = os.path.join(tempfile.gettempdir(), "trove-lite-test-subnets")
    os.makedirs(lock_dir, exist_ok=True)
    for third in random.sample(range(0, 255), 255):
        prefix = "127.%d.%d" % (second_octet, third)
        lock = open(os.path.join(lock_dir, prefix + ".lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        if all(port_free("%s.%d" % (prefix, n), 3306) for n in (1, 2, 3)):
            return prefix, lock
        lock.close()
    raise RuntimeError("no free /24 left in 127.%d.0.0/16" % second_octet)


_HANDED_OUT = set()


def free_port(address="127.0.0.1"):
    """A port nothing listens on at ``address``, never one this process handed out
    before: the kernel may give the same port to two bind(0) calls in a row when
    nothing holds it in between (a Swift all-in-one once got its memcached's port
    for its account server, which then could not start)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((address, 0))
            port = s.getsockname()[1]
        if (address, port) not in _HANDED_OUT:
            _HANDED_OUT.add((address, port))
            return port
