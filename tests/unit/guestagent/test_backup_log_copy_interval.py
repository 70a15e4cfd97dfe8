"""A hot backup must not wait a second for the redo-log copier at its end.

mariadb-backup ends once its log copier has read up to the last LSN; the copier
looks for new redo every ``--log-copy-interval`` ms (1,000 by default), so on a
server that commits while the backup runs (our heartbeat row does, every second)
each backup and each replica seed took up to a second longer. Every image's own
tool must accept the shorter interval the strategy passes.
"""

import subprocess

import pytest

from trove_lite.drivers import imagebuild, images
from trove_lite.guestagent.backup.strategies import MariaBackupStrategy

VERSIONS = {"10.5": "mariadb-10.5", "10.11": None, "11.8": "mariadb-11.8"}


def _binaries(version):
    if VERSIONS[version] is None:
        return images.binaries_from_spec(images.system_mariadb_image())
    spec, _ = imagebuild.build(VERSIONS[version], progress=lambda line: None)
    return images.binaries_from_spec(spec)


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_each_versions_backup_tool_takes_the_short_log_copy_interval(version):
    b = _binaries(version)
    strat = MariaBackupStrategy(b)
    argv = strat.backup_stage("/etc/my.cnf", "/tmp/lsn").argv
    interval = [a for a in argv if a.startswith("--log-copy-interval=")]
    assert interval == ["--log-copy-interval=%d" % strat.log_copy_interval_ms]
    assert strat.log_copy_interval_ms <= 50
    out = subprocess.run([strat.tool, "--no-defaults", interval[0], "--help"],
                         env=b.env(), capture_output=True, text=True, timeout=60).stdout
    effective = [line.split() for line in out.splitlines()
                 if line.startswith("log-copy-interval")]
    if version == "10.5":
        # its table shows the defaults, not what it parsed: the option exists
        assert effective == [["log-copy-interval", "1000"]], out[-400:]
    else:
        # the tool's table of effective values shows what it parsed
        assert effective == [["log-copy-interval", str(strat.log_copy_interval_ms)]], \
            out[-400:]
