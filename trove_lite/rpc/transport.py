"""oslo.messaging plumbing: one transport per process, threading executor.

No eventlet, no monkey-patching. The RPC context travelling with every message
is a plain dict (project_id, user_id, request_id, is_admin); see RequestContext.
"""

import logging
import threading
from collections.abc import Iterable
from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg

from trove_lite.rpc import context

LOG = logging.getLogger(__name__)

# (group, option, name pattern): what a deployment gets for itself unless the
# operator set it. oslo.messaging's rabbit driver names a topic's queue after the
# topic alone, whatever the exchange: a private exchange is not enough, the
# topics must differ too.
_PER_DEPLOYMENT = (
    (None, "control_exchange", "trove_lite_%s"),
    ("taskmanager", "topic", "trove-lite-taskmanager.%s"),
    ("conductor", "topic", "trove-lite-conductor.%s"),
)
_UNSET = (cfg.Locations.opt_default, cfg.Locations.set_default)

_TRANSPORTS: dict[tuple, messaging.Transport] = {}
_LOCK = threading.Lock()


def isolate(conf: cfg.ConfigOpts, deployment_id: str) -> dict[str, str]:
    """Give the deployment its own exchange and topics where the operator set none.

    Call before the first transport of ``conf`` is made. Returns {option: value}
    of what it set. Guests get the same names in their injected config.
    """
    short = deployment_id[:12]
    chosen = {}
    for group, name, pattern in _PER_DEPLOYMENT:
        if getattr(conf.get_location(name, group), "location", None) in _UNSET:
            conf.set_default(name, pattern % short, group=group)
            chosen["%s.%s" % (group or "DEFAULT", name)] = pattern % short
    if chosen:
        LOG.info("deployment %s: %s", deployment_id,
                 ", ".join("%s = %s" % kv for kv in sorted(chosen.items())))
    return chosen


def get_transport(conf: cfg.ConfigOpts) -> messaging.Transport:
    """The process-wide RPC transport for ``conf.transport_url`` (created once)."""
    key = (id(conf), conf.transport_url)
    with _LOCK:
        if key not in _TRANSPORTS:
            _TRANSPORTS[key] = messaging.get_rpc_transport(conf, url=conf.transport_url)
        return _TRANSPORTS[key]


class _RequestIdSerializer(messaging.NoOpSerializer):
    """Carries the current request id in every message's context and makes a
    received message's id the current one while its endpoint runs."""

    def serialize_context(self, ctxt: dict | None) -> dict:
        ctxt = dict(ctxt or {})
        current = context.current_request_id()
        if current and not ctxt.get("request_id"):
            ctxt["request_id"] = current
        return ctxt

    def deserialize_context(self, ctxt: dict | None) -> dict | None:
        context.bind_request_id((ctxt or {}).get("request_id"))
        return ctxt


def make_server(conf: cfg.ConfigOpts, topic: str, server: str, endpoints: Iterable[object],
                serializer: messaging.Serializer | None = None) -> Any:
    """An RPC server on ``topic`` dispatching to ``endpoints`` in threads.

    Call ``.start()``; ``.stop(); .wait()`` to finish in-flight requests.
    """
    target = messaging.Target(topic=topic, server=server)
    return messaging.get_rpc_server(get_transport(conf), target, list(endpoints),
                                    executor="threading",
                                    access_policy=messaging.rpc.DefaultRPCAccessPolicy,
                                    serializer=serializer or _RequestIdSerializer())


def make_client(conf: cfg.ConfigOpts, topic: str, version: str, timeout: float | None = None,
                server: str | None = None) -> messaging.RPCClient:
    target = messaging.Target(topic=topic, version=version, server=server)
    return messaging.get_rpc_client(get_transport(conf), target, timeout=timeout,
                                    serializer=_RequestIdSerializer())


def release(conf: cfg.ConfigOpts) -> None:
    """Close and forget the transport of one ConfigOpts (tests, short-lived tools)."""
    with _LOCK:
        for key in [k for k in _TRANSPORTS if k[0] == id(conf)]:
            _TRANSPORTS.pop(key).cleanup()


def cleanup() -> None:
    with _LOCK:
        for transport in _TRANSPORTS.values():
            transport.cleanup()
        _TRANSPORTS.clear()
