"""What every trove-lite service process does at start and stop."""

import logging
import signal
import sys
import threading
import warnings

# futurist imports eventlet when it is installed (keystone pulls it in); we never
# use it, so its deprecation banner is noise in every service log.
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
warnings.filterwarnings("ignore", message="Eventlet is deprecated")


LOG = logging.getLogger(__name__)


def prefer_threading_backend():
    """Keep oslo libraries off eventlet (we never monkey-patch)."""
    from oslo_service import backend  # here: importing it costs ~0.1 s
    try:
        backend.init_backend(backend.BackendType.THREADING)
    except Exception:  # already initialised, or an older oslo.service
        pass


def setup_logging(name, debug=False, stream=None):
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, stream=stream or sys.stderr,
        format="%(asctime)s %(process)d %(levelname)s " + name + " %(name)s: %(message)s")
    for noisy in ("oslo_messaging", "amqp", "kombu", "stevedore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def wait_for_termination():
    """Block until SIGTERM or SIGINT; return the signal's name."""
    got = {}
    done = threading.Event()

    def handler(signum, _frame):
        got["name"] = signal.Signals(signum).name
        done.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not done.wait(1.0):
        pass
    return got["name"]
