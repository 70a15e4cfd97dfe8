"""One exception hierarchy for the whole project.

Every error a user can see carries a stable ``code`` (a string that is never
reused for another meaning) and an HTTP status. The API maps these, in one place,
to Trove's fault format ``{"<faultName>": {"code": N, "message": "..."}}``.
Services raise these; they never build HTTP responses themselves.
"""

from typing import Any

FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflict",
    413: "overLimit",
    415: "badMediaType",
    422: "unprocessableEntity",
    500: "instanceFault",
    501: "notImplemented",
    503: "serviceUnavailable",
    504: "serviceUnavailable",
}


class TroveLiteError(Exception):
    """Base class. ``message`` is safe to show to the user (no secrets)."""

    http_status = 500
    code = "internal_error"
    message_format = "An unexpected error occurred."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.message_format % kwargs
            except (KeyError, TypeError):
                message = self.message_format
        self.message = message
        super().__init__(message)


class BadRequest(TroveLiteError):
    http_status = 400
    code = "bad_request"
    message_format = "The request is not valid: %(reason)s"


class InvalidName(BadRequest):
    code = "invalid_name"
    message_format = "%(kind)s name %(name)r is not valid: %(reason)s"


class InvalidConfigurationValue(BadRequest):
    code = "invalid_configuration_value"
    message_format = "%(reason)s"


class Unauthorized(TroveLiteError):
    http_status = 401
    code = "unauthorized"
    message_format = "Authentication required."


class Forbidden(TroveLiteError):
    http_status = 403
    code = "forbidden"
    message_format = "Policy does not allow %(action)s."


class NotFound(TroveLiteError):
    http_status = 404
    code = "not_found"
    message_format = "%(kind)s %(id)s could not be found."


class Conflict(TroveLiteError):
    http_status = 409
    code = "conflict"
    message_format = "%(reason)s"


class InstanceNotActive(Conflict):
    code = "instance_not_active"
    message_format = ("Instance %(id)s is not ACTIVE (it is %(status)s); "
                      "%(action)s needs an ACTIVE instance.")


class QuotaExceeded(TroveLiteError):
    http_status = 413
    code = "quota_exceeded"
    message_format = "Quota exceeded for resources: %(resources)s"


class UnprocessableEntity(TroveLiteError):
    http_status = 422
    code = "unprocessable_entity"
    message_format = "%(reason)s"


class NotImplementedYet(TroveLiteError):
    http_status = 501
    code = "not_implemented"
    message_format = "%(feature)s is not implemented."


class ServiceUnavailable(TroveLiteError):
    http_status = 503
    code = "service_unavailable"
    message_format = "%(reason)s"


class GuestTimeout(ServiceUnavailable):
    """The guest agent did not answer an RPC call in time."""

    code = "guest_timeout"
    message_format = ("The guest agent of instance %(instance_id)s did not answer "
                      "%(method)s within %(timeout)s s.")


class GuestError(TroveLiteError):
    """The guest agent answered with an error."""

    http_status = 500
    code = "guest_error"
    message_format = "The guest agent of instance %(instance_id)s failed %(method)s: %(reason)s"


class DriverError(TroveLiteError):
    """A compute, volume or storage backend failed."""

    code = "driver_error"
    message_format = "%(reason)s"


class BackupError(TroveLiteError):
    code = "backup_error"
    message_format = "%(reason)s"


class RestoreError(TroveLiteError):
    code = "restore_error"
    message_format = "%(reason)s"


def fault_body(exc: BaseException) -> tuple[int, dict]:
    """Trove's fault document for an exception of this hierarchy."""
    status = getattr(exc, "http_status", 500)
    name = FAULT_NAMES.get(status, "instanceFault")
    return status, {name: {"code": status, "message": getattr(exc, "message", str(exc))}}
