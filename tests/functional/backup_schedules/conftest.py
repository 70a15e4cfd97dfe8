from tests.support.controldb import control_db  # noqa: F401
