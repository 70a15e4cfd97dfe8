"""The engine's error class (a member of the project's one hierarchy)."""

from __future__ import annotations

from trove_lite.exceptions import TroveLiteError


class MigrationError(TroveLiteError):
    """The migration refused to start or failed; ``message`` is what gh-ost would print."""

    code = "osc_migration_failed"
    message_format = "%(reason)s"

    def __init__(self, message: str) -> None:
        super().__init__(message)
