"""Oracle GTID sets (``uuid:1-5:7,uuid2:1-3``), as MySQL prints them (pure).

Both sides read them: the guest reports a replica's executed and received sets,
the taskmanager picks the replica that holds the most of a dead source's
transactions. Members of one set share one history, so the one whose set counts
the most transactions is the most advanced.
"""


def parse(text: str | None) -> dict[str, list[tuple[int, int]]]:
    """{uuid: [(first, last), ...] merged and sorted} of a GTID set text."""
    out: dict[str, list[tuple[int, int]]] = {}
    for part in (text or "").replace("\n", "").split(","):
        bits = part.strip().split(":")
        if len(bits) < 2 or not bits[0]:
            continue
        uuid = bits[0].lower()
        for interval in bits[1:]:
            if not interval:
                continue
            first, _, last = interval.partition("-")
            out.setdefault(uuid, []).append((int(first), int(last or first)))
    return {uuid: _merge(intervals) for uuid, intervals in out.items()}


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(intervals):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def union(*texts: str | None) -> str:
    """The union of GTID sets, in MySQL's notation."""
    joined: dict[str, list[tuple[int, int]]] = {}
    for text in texts:
        for uuid, intervals in parse(text).items():
            joined.setdefault(uuid, []).extend(intervals)
    return ",".join("%s:%s" % (uuid, ":".join(
        str(a) if a == b else "%d-%d" % (a, b) for a, b in _merge(intervals)))
        for uuid, intervals in sorted(joined.items()))


def count(text: str | None) -> int:
    """How many transactions a GTID set names."""
    return sum(last - first + 1 for intervals in parse(text).values()
               for first, last in intervals)


def is_oracle(text: str | None) -> bool:
    """Whether ``text`` is an Oracle GTID set (MariaDB's are ``domain-server-seq``)."""
    return ":" in (text or "")
