"""Who is asking: the request context every API handler receives.

Built once per request by ``trove_lite.api.auth.AuthContextMiddleware`` and stored
in ``environ["trove_lite.context"]``:

* Keystone (``[api] auth_strategy = keystone``): from the headers
  keystonemiddleware sets after validating the token (``X-Project-Id``,
  ``X-User-Id``, ``X-Roles``, ``X-Identity-Status``). ``is_admin`` when the token
  has one of ``[api] admin_roles``.
* No-auth (the embedded default): from the tenant in the URL. The project *is*
  that tenant; nobody is verified. ``is_admin`` only for URL tenants listed in
  ``[api] noauth_admin_projects`` (default ``admin``), so ``/v1.0/admin/mgmt/...``
  works and ``/v1.0/demo/mgmt/...`` is refused as it would be with Keystone.
  Identity headers are ignored in this mode.

``tenant`` is the project whose resources the request addresses (the URL's
``{tenant_id}``). For non-admins the middleware guarantees ``tenant ==
project_id``; an admin may address another project's resources.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

CONTEXT_KEY = "trove_lite.context"


class Headers(Protocol):
    """Case-insensitive, read-only HTTP headers (``auth._Headers``)."""

    def get(self, name: str, default: str | None = None) -> str | None: ...


def new_request_id() -> str:
    return "req-" + str(uuid.uuid4())


@dataclasses.dataclass(frozen=True)
class RequestContext:
    project_id: str | None
    user_id: str | None
    roles: tuple = ()
    is_admin: bool = False
    auth_token: str | None = dataclasses.field(default=None, repr=False)
    request_id: str = dataclasses.field(default_factory=new_request_id)
    tenant: str | None = None
    user_name: str | None = None
    project_name: str | None = None

    def __post_init__(self) -> None:
        if self.tenant is None:
            object.__setattr__(self, "tenant", self.project_id)

    @classmethod
    def from_keystone_headers(cls, headers: Headers, tenant: str | None = None,
                              request_id: str | None = None,
                              admin_roles: Iterable[str] = ("admin",)) -> RequestContext:
        """The context keystonemiddleware's headers describe (case-insensitive mapping).

        Call only when ``X-Identity-Status`` is ``Confirmed``; a header that is
        missing becomes None.
        """
        roles = tuple(r.strip() for r in (headers.get("X-Roles") or "").split(",")
                      if r.strip())
        admin = {r.lower() for r in admin_roles}
        return cls(project_id=headers.get("X-Project-Id"),
                   user_id=headers.get("X-User-Id"),
                   roles=roles,
                   is_admin=any(r.lower() in admin for r in roles),
                   auth_token=headers.get("X-Auth-Token"),
                   request_id=request_id or new_request_id(),
                   tenant=tenant or headers.get("X-Project-Id"),
                   user_name=headers.get("X-User-Name"),
                   project_name=headers.get("X-Project-Name"))

    @classmethod
    def for_noauth(cls, tenant: str | None, admin_projects: Iterable[str] | None = (),
                   request_id: str | None = None) -> RequestContext:
        """No-auth mode: the URL tenant is the project and the user."""
        admin = tenant in set(admin_projects or ())
        return cls(project_id=tenant, user_id=tenant,
                   roles=("admin",) if admin else ("member",),
                   is_admin=admin, request_id=request_id or new_request_id(),
                   tenant=tenant)

    def to_policy_values(self) -> dict[str, Any]:
        """Credentials for oslo.policy (``role:``, ``project_id:``, ``is_admin:`` checks)."""
        return {"project_id": self.project_id, "user_id": self.user_id,
                "roles": list(self.roles), "is_admin": self.is_admin}

    def to_dict(self) -> dict[str, Any]:
        """For RPC (taskmanager casts): everything but the token."""
        data = dataclasses.asdict(self)
        data.pop("auth_token")
        data["roles"] = list(self.roles)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestContext:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["roles"] = tuple(values.get("roles") or ())
        return cls(**values)
