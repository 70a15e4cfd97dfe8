"""What every trove-lite service process does at start and stop."""

import logging
import os
import signal
import sys
import threading
import time
import warnings
from types import FrameType
from typing import Callable, Iterable, TextIO

from trove_lite.rpc import context

# futurist imports eventlet when it is installed (keystone pulls it in); we never
# use it, so its deprecation banner is noise in every service log.
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
warnings.filterwarnings("ignore", message="Eventlet is deprecated")


LOG = logging.getLogger(__name__)


def prefer_threading_backend() -> None:
    """Keep oslo libraries off eventlet (we never monkey-patch)."""
    from oslo_service import backend  # here: importing it costs ~0.1 s
    try:
        backend.init_backend(backend.BackendType.THREADING)
    except Exception:  # already initialised, or an older oslo.service
        pass


def setup_logging(name: str, debug: bool = False, stream: TextIO | None = None) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, stream=stream or sys.stderr,
        format="%(asctime)s %(process)d %(levelname)s " + name
               + " %(name)s [%(request_id)s]: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(context.RequestIdLogFilter())
    for noisy in ("oslo_messaging", "amqp", "kombu", "stevedore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def wait_for_termination() -> str:
    """Block until SIGTERM or SIGINT; return the signal's name."""
    got: dict[str, str] = {}
    done = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        got["name"] = signal.Signals(signum).name
        done.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not done.wait(1.0):
        pass
    return got["name"]


def stop_in_parallel(stoppers: Iterable[tuple[str, Callable[[], object]]],
                     timeout: float = 5.0) -> list[str]:
    """Run each ``(name, callable)`` in its own thread; wait up to ``timeout`` for all.

    Stopping an oslo.messaging server waits up to a second for its listener's
    poll to return, so stopping the API and two RPC servers one after the other
    took 2-3 s; side by side they take the longest one. Returns the names of
    those still running at the deadline (logged; the process exits anyway).
    """
    threads = []
    for name, stop in stoppers:
        thread = threading.Thread(target=_logged(name, stop), name="stop-" + name,
                                  daemon=True)
        thread.start()
        threads.append((name, thread))
    deadline = time.monotonic() + timeout
    late: list[str] = []
    for name, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            late.append(name)
    if late:
        LOG.warning("still stopping after %.1f s: %s", timeout, ", ".join(late))
    return late


def _logged(name: str, stop: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        started = time.monotonic()
        try:
            stop()
        except Exception:
            LOG.exception("stopping %s failed", name)
        LOG.info("%s stopped in %.2f s", name, time.monotonic() - started)
    return run


def exit_now(code: int = 0) -> None:
    """Exit once the services are stopped, skipping interpreter finalization.

    Tearing down the modules these processes import (oslo, kombu, keystone
    middleware, eventlet pulled in by them) takes 0.8-2 s after everything is
    already stopped and flushed; that alone broke the 2 s SIGTERM budget.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
