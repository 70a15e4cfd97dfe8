"""The guest launcher's process: loads the guest agent once, then forks guests.

``python -m trove_lite.cmd.guest_launcher`` is started by the local compute
driver (drivers/compute/launcher.py, which describes the protocol). It lives
among the commands because it imports the guest agent, which no driver may do.
"""

import sys

from trove_lite.drivers.compute import launcher


def preload() -> None:
    """Import what a guest agent imports (see trove_lite/cmd/guestagent.py)."""
    sys.modules.setdefault("eventlet", None)  # type: ignore[arg-type]  # blocks its import
    from trove_lite.cmd import common
    common.prefer_threading_backend()
    import oslo_messaging  # noqa: F401
    from stevedore import driver as stevedore_driver

    from trove_lite import config
    from trove_lite.cmd import guestagent  # noqa: F401
    from trove_lite.guestagent import heartbeat, manager  # noqa: F401
    from trove_lite.rpc import conductor, guest, transport  # noqa: F401
    config._module_opts(config.GUEST_OPT_MODULES)
    # the transport driver is found through entry points on first use
    stevedore_driver.DriverManager("oslo.messaging.drivers", "rabbit",
                                   invoke_on_load=False)


def main() -> None:
    preload()
    from trove_lite.cmd import guestagent
    launcher.serve(sys.stdin, sys.stdout, guestagent.main)


if __name__ == "__main__":
    main()
