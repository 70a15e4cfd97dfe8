"""Free loopback addresses for test servers.

Every test server gets its own 127.x.y.z so that servers can use their standard
port side by side. Areas use their own second octet so concurrent runs of
different suites never collide:

    127.77.*  instances created by the local compute driver (product default)
    127.201.* OSC engine tests          127.202.* guest agent / admin tests
    127.203.* backup tests               127.204.* functional (control plane)
    127.205.* benchmarks                 127.206.* drivers contract tests
"""

import random
import socket

from trove_lite.drivers.localutil import port_free


def free_loopback(second_octet, port=3306):
    """A 127.<second_octet>.y.z address where nothing listens on ``port``."""
    for _ in range(200):
        addr = "127.%d.%d.%d" % (second_octet, random.randint(0, 254), random.randint(1, 254))
        if port_free(addr, port):
            return addr
    raise RuntimeError("no free loopback address in 127.%d.0.0/16" % second_octet)


def free_port(address="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]
