"""The one request id of an API request (Trove's ``X-OpenStack-Request-ID``).

:class:`RequestIdMiddleware` sits in front of everything under ``/v1.0`` (auth
included): it takes the client's ``X-OpenStack-Request-ID`` when it is a valid
``req-<uuid>``, else makes one; puts it in ``environ["openstack.request_id"]``
(the request context takes it from there), binds it for the request (log lines,
events and RPC casts carry it, rpc/context.py) until it answers, and answers it in exactly one
response header, faults included.
"""

import re
from collections.abc import Callable, Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment
from typing import Any

from trove_lite.api.context import new_request_id
from trove_lite.rpc import context as rpc_context

ENVIRON_KEY = "openstack.request_id"
HEADER = "X-OpenStack-Request-ID"
_VALID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def from_client(environ: dict) -> str | None:
    """The client's request id if it is a well-formed ``req-<uuid>``, else None."""
    value = environ.get("HTTP_X_OPENSTACK_REQUEST_ID", "").strip().lower()
    return value if _VALID.match(value) else None


class RequestIdMiddleware:
    """Decides, binds and returns the request id (see the module docstring)."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = from_client(environ) or new_request_id()
        environ[ENVIRON_KEY] = request_id
        rpc_context.bind_request_id(request_id)

        def start(status: str, headers: list[tuple[str, str]],
                  exc_info: Any = None) -> Callable[[bytes], object]:
            headers = [(k, v) for k, v in headers if k.lower() != HEADER.lower()]
            return start_response(status, headers + [(HEADER, request_id)], exc_info)
        try:
            return self.app(environ, start)
        finally:
            rpc_context.bind_request_id(None)  # what the thread logs next is no request's
