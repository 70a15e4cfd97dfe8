"""The request context that travels with API requests and RPC messages."""

import dataclasses
import uuid


@dataclasses.dataclass
class RequestContext:
    project_id: str | None = None
    user_id: str | None = None
    roles: list = dataclasses.field(default_factory=list)
    is_admin: bool = False
    auth_token: str | None = None
    request_id: str = dataclasses.field(
        default_factory=lambda: "req-" + str(uuid.uuid4()))

    def to_dict(self):
        d = dataclasses.asdict(self)
        d.pop("auth_token")  # never put tokens on the bus
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d or {})
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})

    @classmethod
    def admin(cls):
        return cls(project_id=None, user_id="trove-lite", roles=["admin"], is_admin=True)
