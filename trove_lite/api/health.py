"""``/healthz`` and ``/readyz`` for load balancers and supervisors.

``/healthz`` answers 200 while the process serves requests. ``/readyz``
answers 200 only when the control-plane database answers ``SELECT 1`` and
the RabbitMQ broker of ``transport_url`` completes an AMQP login, each within
``PROBE_TIMEOUT`` seconds; otherwise 503 in Trove's fault format naming what
is down (host and port only: never the URL, which carries the password).
"""

import concurrent.futures
import logging

import amqp
import oslo_messaging as messaging
import sqlalchemy
from sqlalchemy.pool import NullPool
from oslo_config import cfg

from trove_lite.exceptions import ServiceUnavailable
from trove_lite.db.session import Database

LOG = logging.getLogger(__name__)

PROBE_TIMEOUT = 2


class Readiness:
    """The two probes; each returns None when reachable, else why not."""

    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        self.conf = conf
        self.db = db
        self._probe_engine: sqlalchemy.engine.Engine | None = None

    def _engine(self) -> sqlalchemy.engine.Engine:
        if self.db.url.startswith("sqlite"):
            return self.db.engine
        if self._probe_engine is None:
            # its own connection per probe, with a short timeout: the app's pool
            # would wait its default 10 s connect timeout on a silent host
            self._probe_engine = sqlalchemy.create_engine(
                self.db.url, poolclass=NullPool,
                connect_args={"connect_timeout": PROBE_TIMEOUT,
                              "read_timeout": PROBE_TIMEOUT})
        return self._probe_engine

    def database(self) -> str | None:
        try:
            with self._engine().connect() as conn:
                conn.execute(sqlalchemy.text("SELECT 1"))
        except Exception as e:  # any driver error means not ready
            url = sqlalchemy.engine.make_url(self.db.url)
            where = ("%s:%s" % (url.host, url.port or 3306)) if url.host else url.drivername
            LOG.warning("readyz: control database at %s unreachable: %s", where,
                        type(e).__name__)
            return "control database at %s unreachable (%s)" % (where, type(e).__name__)
        return None

    def message_bus(self) -> str | None:
        url = messaging.TransportURL.parse(self.conf, self.conf.transport_url)
        errors = []
        for host in url.hosts or [None]:
            where = "%s:%s" % (host.hostname, host.port or 5672) if host else "localhost:5672"
            conn = amqp.Connection(
                host=where, userid=(host.username if host else None) or "guest",
                password=(host.password if host else None) or "guest",
                virtual_host=url.virtual_host or "/", connect_timeout=PROBE_TIMEOUT,
                read_timeout=PROBE_TIMEOUT, write_timeout=PROBE_TIMEOUT)
            try:
                conn.connect()  # TCP, AMQP handshake and login: one attempt, no retry
            except Exception as e:  # refused, timed out, refused login
                errors.append("%s (%s)" % (where, type(e).__name__))
                conn.collect()  # drop whatever was opened, without a close handshake
                continue
            conn.close()
            return None
        LOG.warning("readyz: RabbitMQ unreachable: %s", ", ".join(errors))
        return "RabbitMQ unreachable at %s" % ", ".join(errors)

    def check(self) -> None:
        """Raise ServiceUnavailable naming every dependency that is down."""
        # both at once: a load balancer's probe waits for the slower, not the sum
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            probes = [pool.submit(self.database), pool.submit(self.message_bus)]
            down = [reason for reason in (p.result() for p in probes) if reason]
        if down:
            raise ServiceUnavailable(reason="not ready: " + "; ".join(down))
