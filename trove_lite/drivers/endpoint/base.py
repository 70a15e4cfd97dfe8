"""The endpoint interface: two stable addresses per replication set.

``rw`` always reaches the set's current source and nothing else; ``ro`` spreads
connections over the replicas the caller names and falls back to the source
when it names none. The taskmanager (taskmanager/ha.py) is the only caller: it
decides which members are healthy and passes the whole desired layout each
time; a driver never probes the databases itself.

Contract of every implementation:

- ``ensure(set_id, layout)`` is idempotent and returns the set's ``Endpoints``
  (``"HOST:PORT"`` strings that do not change for the life of the set). It
  returns within 5 s (local: the first call starts a proxy, ~0.1 s; later calls
  are runtime changes, a few ms).
- Moving ``rw`` never has two servers reachable through it at once: the old
  server is taken out before the new one is put in. A driver whose load
  balancer can also cut the established sessions to the old server does so
  (``cuts_sessions = True``, local HAProxy); where it cannot (Octavia drains
  them), the failover's fence of the old source ends them (read_only, sessions
  waiting for an ack killed). Connections to servers that stay in a pool are
  never dropped.
- ``remove(set_id)`` is idempotent; afterwards both addresses refuse connections.
- ``get(set_id)`` returns the Endpoints or None, without side effects.
- Failures raise ``EndpointError`` with a message fit for an operator.
"""

import abc
from typing import NamedTuple

from trove_lite import exceptions


class EndpointError(exceptions.DriverError):
    code = "endpoint_error"
    message_format = "Endpoint failure: %(reason)s"


class Member(NamedTuple):
    id: str        # the instance id
    host: str
    port: int


class Layout(NamedTuple):
    rw: Member | None          # the current source; None takes rw out entirely
    ro: tuple                  # healthy replicas (Members); empty -> the source serves ro


class Endpoints(NamedTuple):
    rw: str
    ro: str


class EndpointDriver(abc.ABC):
    """Two stable addresses per replication set; the module docstring is the
    contract (timing: ``ensure`` within 5 s; failures: ``EndpointError``)."""

    cuts_sessions = True      # see the contract above
    @abc.abstractmethod
    def ensure(self, set_id: str, layout: Layout) -> Endpoints:
        """Make the set's endpoints route as ``layout`` says; returns Endpoints.

        Timing: local within 5 s (first call starts the proxy, ~0.1 s; later
        ones a few ms on its admin socket). Octavia waits for the load balancer
        to be ACTIVE after each changed pool, at most ``[octavia]
        status_timeout`` each (creating one takes minutes). Failures:
        ``EndpointError`` (no free address or slot, the proxy refused a command,
        an Octavia call failed or timed out).
        """

    @abc.abstractmethod
    def remove(self, set_id: str) -> None:
        """Tear the set's endpoints down (idempotent).

        Timing: local stops the proxy (waits up to 2.5 s for it to exit);
        Octavia deletes the load balancer and polls until it is gone, at most
        ``status_timeout``. Failures: ``EndpointError`` (Octavia only).
        """

    @abc.abstractmethod
    def get(self, set_id: str) -> Endpoints | None:
        """The set's Endpoints, or None if it has none.

        Timing: local reads a file; Octavia one GET. Failures: ``EndpointError``
        if Octavia cannot be asked.
        """
