"""The datastore logs an instance has, as both sides name them (Trove's names).

``general`` and ``slow_query`` are USER logs (off until a user enables them);
``error`` (the server's) and ``guest`` (the agent's) are SYS logs, always on. The
guest keeps and reads them (guestagent/logs.py); the control plane publishes them
(instance/logs.py): both check names and types here.
"""

from trove_lite.exceptions import NotFound

USER, SYS = "USER", "SYS"
LOG_TYPES = {"general": USER, "slow_query": USER, "error": SYS, "guest": SYS}


def check_name(name: str) -> str:
    """``name`` if it is a log; NotFound naming the logs otherwise."""
    if name not in LOG_TYPES:
        raise NotFound(message="Log %s does not exist; logs are %s."
                       % (name, ", ".join(sorted(LOG_TYPES))))
    return name
