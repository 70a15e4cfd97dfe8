"""The request context that travels with API requests and RPC messages.

The request id of the request being handled is also the current thread's
(``bind_request_id``): every log line carries it (``RequestIdLogFilter``) and
every RPC message sent meanwhile takes it along (rpc/transport.py), so one id
follows a request from the API through the taskmanager to the guest. Work no
request started (heartbeats, the reconcile loop) logs ``-``.
"""

import contextvars
import dataclasses
import logging
import uuid
from typing import Any, Protocol

_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trove_lite_request_id", default=None)


def bind_request_id(request_id: str | None) -> None:
    """Make ``request_id`` the current thread's (None: no request)."""
    _REQUEST_ID.set(request_id)


def current_request_id() -> str | None:
    return _REQUEST_ID.get()


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` (the current one, or ``-``) to every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _REQUEST_ID.get() or "-"
        return True


class Context(Protocol):
    """What the services and the RPC clients need of a caller's context. The
    API's own (trove_lite.api.context, with its Keystone fields) and this
    module's RequestContext both are one."""

    @property
    def request_id(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclasses.dataclass
class RequestContext:
    project_id: str | None = None
    user_id: str | None = None
    roles: list = dataclasses.field(default_factory=list)
    is_admin: bool = False
    auth_token: str | None = None
    request_id: str = dataclasses.field(
        default_factory=lambda: "req-" + str(uuid.uuid4()))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("auth_token")  # never put tokens on the bus
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> "RequestContext":
        d = dict(d or {})
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})

    @classmethod
    def admin(cls) -> "RequestContext":
        return cls(project_id=None, user_id="trove-lite", roles=["admin"], is_admin=True)
