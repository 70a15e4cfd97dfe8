"""Trove's status model: service statuses (from the guest), task statuses (from the
control plane), and the ``status`` users see, derived as Trove derives it.

Everything here is pure: the API view and the taskmanager both call
``display_status``.
"""


class ServiceStatus:
    """What the guest reports about its database (Trove's names)."""

    RUNNING = "RUNNING"
    HEALTHY = "HEALTHY"
    BLOCKED = "BLOCKED"
    PAUSED = "PAUSED"
    SHUTDOWN = "SHUTDOWN"
    CRASHED = "CRASHED"
    FAILED = "FAILED"
    BUILDING = "BUILDING"
    PROMOTING = "PROMOTING"
    EJECTING = "EJECTING"
    LOGGING = "LOGGING"
    UNKNOWN = "UNKNOWN"
    NEW = "NEW"
    DELETED = "DELETED"
    FAILED_TIMEOUT_GUESTAGENT = "FAILED_TIMEOUT_GUESTAGENT"
    INSTANCE_READY = "INSTANCE_READY"
    RESTART_REQUIRED = "RESTART_REQUIRED"
    UPGRADING = "UPGRADING"
    RESTARTING = "RESTARTING"

    ALL = frozenset([RUNNING, HEALTHY, BLOCKED, PAUSED, SHUTDOWN, CRASHED, FAILED,
                     BUILDING, PROMOTING, EJECTING, LOGGING, UNKNOWN, NEW, DELETED,
                     FAILED_TIMEOUT_GUESTAGENT, INSTANCE_READY, RESTART_REQUIRED,
                     UPGRADING, RESTARTING])
    # the database is up and serving
    SERVING = frozenset([RUNNING, HEALTHY])


class TaskStatus:
    NONE = "NONE"
    BUILDING = "BUILDING"
    DELETING = "DELETING"
    REBOOTING = "REBOOTING"
    RESIZING = "RESIZING"
    PROMOTING = "PROMOTING"
    EJECTING = "EJECTING"
    DETACHING = "DETACHING"
    UPDATING = "UPDATING"
    UPGRADING = "UPGRADING"
    RESTART_REQUIRED = "RESTART_REQUIRED"
    LOGGING = "LOGGING"
    BACKING_UP = "BACKING_UP"
    BUILDING_ERROR = "BUILDING_ERROR"
    BUILDING_ERROR_TIMEOUT_GA = "BUILDING_ERROR_TIMEOUT_GA"
    BUILDING_ERROR_SERVER = "BUILDING_ERROR_SERVER"
    BUILDING_ERROR_VOLUME = "BUILDING_ERROR_VOLUME"
    BUILDING_ERROR_RESTORE = "BUILDING_ERROR_RESTORE"
    DELETE_ERROR = "DELETE_ERROR"
    REBOOT_ERROR = "REBOOT_ERROR"
    RESIZE_ERROR = "RESIZE_ERROR"
    UPGRADE_ERROR = "UPGRADE_ERROR"
    # a former source a failover left behind holds transactions its set never got
    # (taskmanager/ha.py): shown as ERROR with the fault naming them; rebuild it
    REJOIN_ERROR = "REJOIN_ERROR"

    # a task in progress: a new task may not start
    ACTIVE = frozenset([BUILDING, DELETING, REBOOTING, RESIZING, PROMOTING, EJECTING,
                        DETACHING, UPDATING, UPGRADING, LOGGING, BACKING_UP])

    @staticmethod
    def is_error(task: str) -> bool:
        return task.endswith("_ERROR") or "_ERROR_" in task


_TASK_DISPLAY = {
    TaskStatus.BUILDING: "BUILD",
    TaskStatus.REBOOTING: "REBOOT",
    TaskStatus.RESIZING: "RESIZE",
    TaskStatus.UPGRADING: "UPGRADE",
    TaskStatus.PROMOTING: "PROMOTE",
    TaskStatus.EJECTING: "EJECT",
    TaskStatus.DETACHING: "DETACH",
    TaskStatus.RESTART_REQUIRED: "RESTART_REQUIRED",
    TaskStatus.DELETING: "SHUTDOWN",
    TaskStatus.LOGGING: "LOGGING",
    TaskStatus.UPDATING: "UPDATE",
}

_SERVICE_DISPLAY = {
    ServiceStatus.RUNNING: "ACTIVE",
    ServiceStatus.HEALTHY: "ACTIVE",
    ServiceStatus.BLOCKED: "BLOCKED",
    ServiceStatus.PAUSED: "SHUTDOWN",
    ServiceStatus.SHUTDOWN: "SHUTDOWN",
    ServiceStatus.CRASHED: "SHUTDOWN",
    ServiceStatus.FAILED: "FAILED",
    ServiceStatus.FAILED_TIMEOUT_GUESTAGENT: "ERROR",
    ServiceStatus.BUILDING: "BUILD",
    ServiceStatus.NEW: "BUILD",
    ServiceStatus.INSTANCE_READY: "BUILD",
    ServiceStatus.PROMOTING: "PROMOTE",
    ServiceStatus.EJECTING: "EJECT",
    ServiceStatus.LOGGING: "LOGGING",
    ServiceStatus.RESTART_REQUIRED: "RESTART_REQUIRED",
    ServiceStatus.UPGRADING: "UPGRADE",
    ServiceStatus.RESTARTING: "REBOOT",
    ServiceStatus.UNKNOWN: "ERROR",
    ServiceStatus.DELETED: "SHUTDOWN",
}


def display_status(task_status: str | None, service_status: str | None,
                   backup_running: bool = False, server_status: str | None = None) -> str:
    """The ``status`` shown for an instance.

    Task first (an operation in progress wins), then an error task, then a
    running backup, then the server (a server in ERROR/SHUTOFF wins over a stale
    guest report), then the guest's service status.
    """
    if task_status in _TASK_DISPLAY:
        return _TASK_DISPLAY[task_status]
    if task_status and TaskStatus.is_error(task_status):
        return "ERROR"
    if backup_running:
        return "BACKUP"
    if server_status == "ERROR":
        return "ERROR"
    if server_status == "SHUTOFF":
        return "SHUTDOWN"
    return _SERVICE_DISPLAY.get(service_status or "", "ERROR")
