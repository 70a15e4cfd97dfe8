"""Options of the API process that config.py does not define itself.

``list_opts()`` is the hook config.py aggregates; ``register(conf)`` makes the
options available on a ConfigOpts built before this module was listed there
(registration of identical options is idempotent in oslo.config).
"""

from oslo_config import cfg

API_OPTS = [
    cfg.IntOpt("max_request_body_size", default=1024 * 1024, min=1024,
               help="Largest request body (bytes); a larger one is refused with 413 "
                    "before it is read."),
    cfg.IntOpt("max_json_depth", default=32, min=4,
               help="Deepest nesting of arrays and objects accepted in a JSON body."),
    cfg.FloatOpt("client_socket_timeout", default=10.0, min=0.1,
                 help="Seconds the API waits for a client's next bytes (request line, "
                      "headers, body) before giving up on it, and for an idle kept-alive "
                      "connection before closing it."),
    cfg.IntOpt("max_workers", default=32, min=1,
               help="Threads the API may add beyond [api] workers while every worker "
                    "is busy and requests wait (clients stalling their bodies hold a "
                    "worker until client_socket_timeout)."),
    cfg.FloatOpt("client_request_timeout", default=30.0, min=0.5,
                 help="Seconds a client has to send a whole request (request line, "
                      "headers and body); a slower one is disconnected."),
    cfg.IntOpt("backlog", default=128, min=1,
               help="Listen backlog: connections the kernel queues before accept."),
    cfg.ListOpt("volume_types", default=[],
                help="Volume types a create may ask for (volume.type); any other is "
                     "refused with 400. Empty: none (the volume driver's default)."),
    cfg.ListOpt("availability_zones", default=[],
                help="Availability zones a create may ask for; any other is refused "
                     "with 400. Empty: none (the compute driver's default)."),
    cfg.FloatOpt("shutdown_timeout", default=1.0, min=0,
                 help="On stop, seconds in-flight requests get to finish before their "
                      "connections are closed."),
]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("api", list(API_OPTS))]


def register(conf: cfg.ConfigOpts) -> None:
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)
