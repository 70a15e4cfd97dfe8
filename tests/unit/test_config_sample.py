import subprocess
import sys
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_committed_sample_config_is_current(tmp_path):
    out = tmp_path / "sample.conf"
    gen = os.path.join(os.path.dirname(sys.executable), "oslo-config-generator")
    subprocess.run([gen, "--namespace", "trove_lite", "--output-file", str(out)], check=True,
                   capture_output=True)
    with open(os.path.join(ROOT, "etc", "trove-lite.conf.sample")) as f:
        committed = f.read()
    assert out.read_text() == committed, \
        "etc/trove-lite.conf.sample is stale: run tools/genconfig.sh"


def test_make_conf_reads_files_and_overrides(tmp_path):
    from trove_lite import config
    f = tmp_path / "c.conf"
    f.write_text("[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:5672/\n"
                 "[taskmanager]\nusage_timeout = 33\n")
    conf = config.make_conf([], config_files=[str(f)],
                            overrides={"api.bind_port": 9999})
    assert conf.transport_url == "rabbit://u:p@127.0.0.1:5672/"
    assert conf.taskmanager.usage_timeout == 33
    assert conf.api.bind_port == 9999
    assert conf.control_exchange == "trove_lite"
    # two ConfigOpts never share values (no global CONF)
    other = config.make_conf([])
    assert other.taskmanager.usage_timeout == 400
