"""Instance access (``allowed_cidrs``) enforced on the database port of each instance.

``AccessFirewall.apply(entries)`` replaces this deployment's whole rule set
with ``entries``: ``[(address, port, cidrs)]``, one per instance whose
``allowed_cidrs`` is not empty (empty means open to everyone, as in Trove).
It is idempotent and cheap to call again with the same entries; it returns
whether the rules are enforced. Failures are logged, never raised: access is
recorded on the instance either way, and the log says when it is not applied.

Implementations: ``NftablesFirewall`` for the local compute driver (one
nftables table per deployment, replaced in one transaction by ``nft -f``; the
table is deleted when no instance restricts access), and ``NotEnforced`` for
backends whose network this control plane does not manage (Nova: security
groups are Neutron's).
"""

import abc
import hashlib
import ipaddress
import logging
import os
import shutil
import subprocess
from typing import Iterable, Sequence

from oslo_config import cfg

from trove_lite.drivers.compute.base import ComputeDriver

LOG = logging.getLogger(__name__)


# (address, port, allowed CIDRs) of one instance
Entry = tuple[str, int, Sequence[str]]


def table_name(deployment_key: str) -> str:
    """The nftables table of one deployment (``deployment_key``: its local state dir)."""
    return "trove_lite_" + hashlib.sha1(deployment_key.encode()).hexdigest()[:12]


def ruleset(table: str, entries: Iterable[Entry]) -> str:
    """The ``nft -f`` script that makes ``table`` hold exactly ``entries``.

    Declaring the table first makes the delete valid when it does not exist
    yet; the whole script is one transaction.
    """
    lines = ["table inet %s" % table, "delete table inet %s" % table]
    rules = []
    for address, port, cidrs in sorted(entries):
        ip = ipaddress.ip_address(address)
        family = "ip" if ip.version == 4 else "ip6"
        nets = sorted(str(n) for n in (ipaddress.ip_network(c, strict=False) for c in cidrs)
                      if n.version == ip.version)
        match = "%s daddr %s tcp dport %d" % (family, ip, int(port))
        if nets:
            match += " %s saddr != { %s }" % (family, ", ".join(nets))
        rules.append("        %s reject with tcp reset" % match)
    if rules:
        lines += ["table inet %s {" % table,
                  "    chain input {",
                  "        type filter hook input priority filter; policy accept;",
                  *rules,
                  "    }",
                  "}"]
    return "\n".join(lines) + "\n"


class AccessFirewall(abc.ABC):
    @abc.abstractmethod
    def apply(self, entries: Sequence[Entry]) -> bool:
        """Make the rules exactly ``entries``; True when enforced. Returns within 10 s.

        Never raises: a failure is logged and returns False (retried on the next call).
        """


class NotEnforced(AccessFirewall):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        self._last: list[Entry] | None = None

    def apply(self, entries: Sequence[Entry]) -> bool:
        wanted = sorted(entries)
        if wanted and wanted != self._last:
            LOG.warning("allowed_cidrs of %d instance(s) are recorded but NOT enforced: %s",
                        len(wanted), self.reason)
        self._last = wanted
        return False


class NftablesFirewall(AccessFirewall):
    def __init__(self, table: str, nft: str = "nft") -> None:
        self.table = table
        self.nft = nft
        self._applied: str | None = None
        self._failed: str | None = None

    def apply(self, entries: Sequence[Entry]) -> bool:
        script = ruleset(self.table, entries)
        if script == self._applied:
            return True
        try:
            subprocess.run([self.nft, "-f", "-"], input=script, text=True, check=True,
                           capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", None) or exc
            # retried on every call (each reconcile pass); said once per rule set
            log = LOG.debug if script == self._failed else LOG.error
            log("allowed_cidrs NOT enforced: nft failed on table %s: %s",
                self.table, str(detail).strip())
            self._applied, self._failed = None, script
            return False
        LOG.info("access rules of %d instance(s) applied (nftables table %s)",
                 len(entries), self.table)
        self._applied, self._failed = script, None
        return True


def for_compute(compute: ComputeDriver, conf: cfg.ConfigOpts) -> AccessFirewall:
    """The firewall that fits ``compute``: nftables for the local driver when
    ``nft`` is installed (its table named after the driver's state directory),
    else one that says why it cannot enforce."""
    from trove_lite.drivers.compute.local import LocalComputeDriver
    from trove_lite.drivers.factory import local_state_dir
    if not isinstance(compute, LocalComputeDriver):
        return NotEnforced("the %s driver's network (security groups) is not managed "
                           "here" % type(compute).__name__)
    nft = shutil.which("nft")
    if nft is None:
        return NotEnforced("nft (Debian package nftables) is not installed")
    return NftablesFirewall(table_name(os.path.abspath(local_state_dir(conf, "local_compute"))),
                            nft)
