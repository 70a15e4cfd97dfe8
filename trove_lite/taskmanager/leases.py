"""Leases on flows in the control DB, so several taskmanagers can share one.

A flow on an instance (create, delete, resize, restart, ...) or on a backup runs
only in the taskmanager that holds the key's row in ``flow_leases``: taken by an
INSERT (or, when the row is there, by a conditional UPDATE of an expired one or
one this taskmanager already holds), so of two taskmanagers asking at once
exactly one wins. A thread renews the held leases every third of
``[taskmanager] flow_lease_seconds``; a killed holder stops renewing and its
lease expires, after which another taskmanager's reconciler may resume the flow.
The row is deleted when the flow ends.
"""

import datetime
import logging
import os
import socket
import threading
import uuid
from typing import Any

from sqlalchemy import delete, exc, or_, select, update

from trove_lite.db import models
from trove_lite.db.session import Database

LOG = logging.getLogger(__name__)


def new_holder() -> str:
    return "%s:%d:%s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])


def dead_here(holder: str) -> bool:
    """True for a holder on this machine whose process is gone: a taskmanager
    restarted after a crash takes its predecessor's leases without waiting."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class FlowLeases:
    def __init__(self, db: Database, seconds: float, holder: str | None = None) -> None:
        self.db = db
        self.seconds = seconds
        self.holder = holder or new_holder()
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _until(self, now: datetime.datetime) -> datetime.datetime:
        return now + datetime.timedelta(seconds=self.seconds)

    def acquire(self, key: str, flow: str = "") -> bool:
        """True if this taskmanager now holds the lease on ``key``."""
        now = models.utcnow()
        try:
            with self.db.session() as s:
                s.add(models.FlowLease(key=key, holder=self.holder, flow=flow[:64],
                                       expires=self._until(now)))
            taken = True
        except exc.IntegrityError:
            try:
                with self.db.session() as s:
                    current = s.get(models.FlowLease, key)
                    dead = [current.holder] if current and dead_here(current.holder) else []
                    res: Any = s.execute(update(models.FlowLease).where(
                        models.FlowLease.key == key,
                        or_(models.FlowLease.holder == self.holder,
                            models.FlowLease.holder.in_(dead),
                            models.FlowLease.expires < now)).values(
                        holder=self.holder, flow=flow[:64],
                        expires=self._until(now)))
                    taken = res.rowcount == 1
            except exc.SQLAlchemyError as e:
                LOG.warning("lease on %s not taken: %s", key, e)
                return False
        if taken:
            with self._lock:
                self._held[key] = flow
        return taken

    def release(self, key: str) -> None:
        with self._lock:
            self._held.pop(key, None)
        try:
            with self.db.session() as s:
                s.execute(delete(models.FlowLease).where(
                    models.FlowLease.key == key, models.FlowLease.holder == self.holder))
        except exc.SQLAlchemyError as e:   # it expires all the same
            LOG.warning("lease on %s not released: %s", key, e)

    def renew(self) -> None:
        """Push the expiry of every held lease; log one another taskmanager took."""
        with self._lock:
            keys = list(self._held)
        now = models.utcnow()
        for key in keys:
            try:
                with self.db.session() as s:
                    res: Any = s.execute(update(models.FlowLease).where(
                        models.FlowLease.key == key,
                        models.FlowLease.holder == self.holder).values(
                        expires=self._until(now)))
                    n = res.rowcount
            except exc.SQLAlchemyError as e:
                LOG.warning("lease on %s not renewed: %s", key, e)
                continue
            if n != 1:
                LOG.warning("lease on %s lost to another taskmanager (renewal too late)",
                            key)

    def leased_elsewhere(self) -> set[str]:
        """Keys whose unexpired lease another taskmanager holds."""
        with self.db.session() as s:
            rows = s.execute(select(models.FlowLease.key, models.FlowLease.holder).where(
                models.FlowLease.holder != self.holder,
                models.FlowLease.expires >= models.utcnow())).all()
        return {key for key, holder in rows if not dead_here(holder)}

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.seconds / 3.0):
                try:
                    self.renew()
                except Exception:
                    LOG.exception("Unexpected exception raised, please report it as a BUG")
        self._thread = threading.Thread(target=loop, name="flow-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """On a clean stop: release every held lease at once rather than at expiry."""
        self._stop.set()
        with self._lock:
            keys = list(self._held)
        for key in keys:
            self.release(key)
