"""Image building decisions that need no network: the private apt configuration and
the package closure read from apt-cache."""

import os

import pytest

from trove_lite.drivers import imagebuild


def test_private_apt_never_reads_or_writes_the_system_s_apt_state(tmp_path):
    apt = imagebuild.PrivateApt(str(tmp_path / "apt" / "trixie"), "trixie")
    opts = dict(o.split("=", 1) for o in apt._opts() if "=" in o)
    assert opts["Dir::Etc::sourcelist"] == str(tmp_path / "apt" / "trixie" / "sources.list")
    assert opts["Dir::Etc::sourceparts"] == "-"          # no /etc/apt/sources.list.d
    assert opts["Dir::State::Lists"].startswith(str(tmp_path))
    assert opts["Dir::Cache"].startswith(str(tmp_path))
    assert opts["Dir::State::status"] == "/dev/null"     # not the installed packages
    with open(apt.sources) as f:
        assert f.read().split()[-2:] == ["trixie", "main"]


def test_closure_keeps_real_packages_once_and_drops_virtual_ones():
    out = ("mariadb-server-core\n  Depends: libc6\n  Depends: <libaio1t64>\n"
           "libc6\n  Depends: libgcc-s1\n<debconf-2.0>\nlibgcc-s1\nlibc6\n")
    assert imagebuild.parse_depends(out) == ["libc6", "libgcc-s1", "mariadb-server-core"]


def test_unknown_image_names_the_known_ones():
    with pytest.raises(imagebuild.ImageBuildError) as info:
        imagebuild.recipe_of("mariadb-9.9")
    assert "mariadb-10.5" in info.value.message and "mariadb-11.8" in info.value.message


def test_a_build_without_its_complete_marker_is_not_used(tmp_path):
    d = tmp_path / "mariadb-10.5"
    os.makedirs(d)
    (d / "image.json").write_text("{}")
    assert imagebuild.cached_image("mariadb-10.5", str(tmp_path)) is None
    (d / ".complete").write_text("")
    assert imagebuild.cached_image("mariadb-10.5", str(tmp_path))[0] == {}


def test_template_option_10_5_lacks_is_still_shown_under_its_name():
    # binlog_expire_logs_seconds is "loose_" in the template (10.5 has no such
    # variable); the instance's effective configuration still names it
    from trove_lite import config
    from trove_lite.configuration import service
    names = service.template_parameter_names(config.make_conf([]))
    assert "binlog_expire_logs_seconds" in names
    assert not [n for n in names if n.startswith("loose")]
