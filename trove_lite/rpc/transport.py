"""oslo.messaging plumbing: one transport per process, threading executor.

No eventlet, no monkey-patching. The RPC context travelling with every message
is a plain dict (project_id, user_id, request_id, is_admin); see RequestContext.
"""

import logging
import threading

import oslo_messaging as messaging

LOG = logging.getLogger(__name__)

_TRANSPORTS = {}
_LOCK = threading.Lock()


def get_transport(conf):
    """The process-wide RPC transport for ``conf.transport_url`` (created once)."""
    key = (id(conf), conf.transport_url)
    with _LOCK:
        if key not in _TRANSPORTS:
            _TRANSPORTS[key] = messaging.get_rpc_transport(conf, url=conf.transport_url)
        return _TRANSPORTS[key]


def make_server(conf, topic, server, endpoints):
    """An RPC server on ``topic`` dispatching to ``endpoints`` in threads.

    Call ``.start()``; ``.stop(); .wait()`` to finish in-flight requests.
    """
    target = messaging.Target(topic=topic, server=server)
    return messaging.get_rpc_server(get_transport(conf), target, list(endpoints),
                                    executor="threading",
                                    access_policy=messaging.rpc.DefaultRPCAccessPolicy)


def make_client(conf, topic, version, timeout=None, server=None):
    target = messaging.Target(topic=topic, version=version, server=server)
    return messaging.get_rpc_client(get_transport(conf), target, timeout=timeout)


def release(conf):
    """Close and forget the transport of one ConfigOpts (tests, short-lived tools)."""
    with _LOCK:
        for key in [k for k in _TRANSPORTS if k[0] == id(conf)]:
            _TRANSPORTS.pop(key).cleanup()


def cleanup():
    with _LOCK:
        for transport in _TRANSPORTS.values():
            transport.cleanup()
        _TRANSPORTS.clear()
