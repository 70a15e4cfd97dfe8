"""Moved to :mod:`trove_lite.datastores.mariadb.validation` (shared with the control plane)."""

from trove_lite.datastores.mariadb.validation import *  # noqa: F401,F403
