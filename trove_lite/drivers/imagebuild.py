"""Build local datastore images from Debian packages of other suites.

A local image is a tree of binaries (see images.py). The system's MariaDB is
10.11 (bookworm); other versions come from other Debian suites, fetched with a
private apt configuration (its own sources.list, lists and cache under the image
cache: the system's apt sources are never read or changed) and unpacked with
``dpkg -x``:

- ``mariadb-10.5`` (bullseye): its server, client and mariabackup, plus the
  libraries bookworm lacks (libssl1.1, libsnappy); it runs on the system's libc
  with ``LD_LIBRARY_PATH`` pointing at its own lib dir.
- ``mariadb-11.8`` (trixie): needs a newer libc, so the whole library closure
  of its packages is unpacked beside it and every executable gets trixie's
  dynamic loader as interpreter and the tree's lib dir as RPATH (``patchelf``).
- ``mysql-9.7`` (sid ``mysql-server-core`` and ``mysql-client-core``): as 11.8,
  with sid's libraries; its rules come from ``performance_schema.variables_metadata``
  (see datastores/mysql/rules.py). mysqldump is its backup tool.

Layout of the cache (``TROVE_LITE_IMAGE_CACHE`` or /var/cache/trove-lite/images,
outside any clone so a fresh checkout reuses it)::

    apt/<suite>/      sources.list, lists/, cache/  (the private apt state)
    <image id>/root/  the unpacked packages
    <image id>/image.json  the image spec (Binaries fields + version)
    <image id>/rules.json  configuration-parameter rules read from this server's
                           own information_schema.SYSTEM_VARIABLES
    <image id>/.complete   written last: a build cut off halfway is redone

Timing here: apt update of one suite 7-9 s, download 1-2 s (15-25 MB), unpack
and patch 2 s, rules 1-2 s (mariadb-install-db plus one start). A cached image
costs nothing. Failures raise ImageBuildError naming the step and its output.
"""

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Callable, Iterable

from trove_lite.drivers import localutil
from trove_lite.drivers.images import parse_version
from trove_lite.exceptions import DriverError

DEFAULT_CACHE = "/var/cache/trove-lite/images"
MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
LIB_DIR = "usr/lib/x86_64-linux-gnu"


class ImageBuildError(DriverError):
    code = "image_build_failed"
    message_format = "Building image %(image)s failed at %(step)s: %(reason)s"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to build one image: which suite, which packages, how to make it run.

    ``closure``: unpack every package the main ones depend on (libc included)
    and patch the executables to use them; otherwise only ``extra`` packages
    (libraries the system lacks) are unpacked and ``LD_LIBRARY_PATH`` is used.
    """

    datastore: str
    version: str
    suite: str
    packages: tuple[str, ...]
    extra: tuple[str, ...] = ()
    closure: bool = False


RECIPES = {
    "mariadb-10.5": Recipe("mariadb", "10.5", "bullseye",
                           ("mariadb-server-core-10.5", "mariadb-client-core-10.5",
                            "mariadb-backup"),
                           extra=("libssl1.1", "libsnappy1v5")),
    "mariadb-11.8": Recipe("mariadb", "11.8", "trixie",
                           ("mariadb-server-core", "mariadb-client-core", "mariadb-backup"),
                           closure=True),
    # sid has MySQL 9.7 (no 8.x anywhere reachable); it needs sid's libc like 11.8
    "mysql-9.7": Recipe("mysql", "9.7", "sid", ("mysql-server-core", "mysql-client-core"),
                        closure=True),
}


Progress = Callable[[str], None]


def cache_root() -> str:
    return os.environ.get("TROVE_LITE_IMAGE_CACHE") or DEFAULT_CACHE


def recipe_of(image_id: str) -> Recipe:
    try:
        return RECIPES[image_id]
    except KeyError:
        raise ImageBuildError(image=image_id, step="lookup",
                              reason="no recipe; known images: %s"
                                     % ", ".join(sorted(RECIPES))) from None


def cached_image(image_id: str,
                 root: str | None = None) -> tuple[dict[str, Any], str] | None:
    """(spec, rules path) of a complete cached build, or None."""
    d = os.path.join(root or cache_root(), image_id)
    if not os.path.exists(os.path.join(d, ".complete")):
        return None
    return localutil.read_json(os.path.join(d, "image.json")), os.path.join(d, "rules.json")


def build(image_id: str, root: str | None = None,
          progress: Progress = print) -> tuple[dict[str, Any], str]:
    """Build ``image_id`` into the cache unless it is there; returns (spec, rules path)."""
    recipe = recipe_of(image_id)
    root = os.path.abspath(root or cache_root())
    os.makedirs(root, exist_ok=True)
    with localutil.FileLock(os.path.join(root, ".lock-" + image_id)):
        done = cached_image(image_id, root)
        if done:
            progress("%s: cached in %s" % (image_id, os.path.join(root, image_id)))
            return done
        apt = PrivateApt(os.path.join(root, "apt", recipe.suite), recipe.suite)
        progress("%s: apt update of %s (private lists)" % (image_id, recipe.suite))
        apt.update()
        names = list(recipe.packages) + list(recipe.extra)
        if recipe.closure:
            names = apt.closure(recipe.packages)
        final = os.path.join(root, image_id)
        shutil.rmtree(final, ignore_errors=True)
        work = tempfile.mkdtemp(prefix=image_id + ".", dir=root)
        try:
            progress("%s: downloading %d packages" % (image_id, len(names)))
            debs = apt.download(names, os.path.join(work, "debs"))
            progress("%s: unpacking" % image_id)
            tree = os.path.join(final, "root")
            for deb in debs:
                _run(image_id, "dpkg -x", ["dpkg", "-x", deb, os.path.join(work, "root")])
            os.makedirs(final)
            os.rename(os.path.join(work, "root"), tree)
            if recipe.closure:
                progress("%s: patching interpreter and rpath" % image_id)
                patch_tree(image_id, tree)
            spec = image_spec(image_id, tree, lib_path=not recipe.closure,
                              datastore=recipe.datastore)
            progress("%s: %s %s runs; reading its configuration rules" % (
                image_id, recipe.datastore, spec["version"]))
            rules_path = os.path.join(final, "rules.json")
            write_rules(image_id, spec, rules_path, work)
            localutil.write_json(os.path.join(final, "image.json"), spec)
            open(os.path.join(final, ".complete"), "w").close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        progress("%s: built in %s" % (image_id, final))
        return spec, rules_path


class PrivateApt:
    """apt-get/apt-cache with their own sources, lists and cache; system untouched."""

    def __init__(self, base: str, suite: str) -> None:
        self.base, self.suite = base, suite
        for d in ("lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(base, d), exist_ok=True)
        self.sources = os.path.join(base, "sources.list")
        with open(self.sources, "w") as f:
            f.write("deb [signed-by=%s] %s %s main\n" % (KEYRING, MIRROR, suite))

    def _opts(self) -> list[str]:
        return ["-o", "Dir::Etc::sourcelist=" + self.sources,
                "-o", "Dir::Etc::sourceparts=-",
                "-o", "Dir::State::Lists=" + os.path.join(self.base, "lists"),
                "-o", "Dir::Cache=" + os.path.join(self.base, "cache"),
                # resolve against nothing installed: the suite's own packages
                "-o", "Dir::State::status=/dev/null",
                "-o", "APT::Sandbox::User=root", "-q"]

    def update(self) -> None:
        _run(self.suite, "apt-get update", ["apt-get", *self._opts(), "update"])

    def closure(self, packages: Iterable[str]) -> list[str]:
        out = _run(self.suite, "apt-cache depends", [
            "apt-cache", *self._opts(), "depends", "--recurse", "--no-recommends",
            "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
            "--no-enhances", *packages])
        return parse_depends(out)

    def download(self, names: Iterable[str], dest: str) -> list[str]:
        os.makedirs(dest, exist_ok=True)
        _run(self.suite, "apt-get download", ["apt-get", *self._opts(), "download", *names],
             cwd=dest)
        return sorted(os.path.join(dest, n) for n in os.listdir(dest) if n.endswith(".deb"))


def parse_depends(text: str) -> list[str]:
    """Package names of ``apt-cache depends --recurse`` output (pure): the unindented
    lines, without virtual packages (``<name>``), which a real package provides."""
    return sorted({line.strip() for line in text.splitlines()
                   if line.strip() and not line.startswith(" ") and not line.startswith("<")})


def patch_tree(image_id: str, tree: str) -> None:
    """Point every ELF executable of the tree at the tree's loader and libraries."""
    lib = os.path.join(tree, LIB_DIR)
    loader = os.path.join(lib, "ld-linux-x86-64.so.2")
    for sub in ("usr/bin", "usr/sbin"):
        d = os.path.join(tree, sub)
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if os.path.islink(path) or not _is_elf(path):
                continue
            _run(image_id, "patchelf " + name, [
                "patchelf", "--set-interpreter", loader, "--force-rpath",
                "--set-rpath", lib, path])


def image_spec(image_id: str, tree: str, lib_path: bool,
               datastore: str = "mariadb") -> dict[str, Any]:
    """The Binaries spec of an unpacked tree; checks that its server runs."""
    share = os.path.join(tree, "usr/share/mariadb")
    if not os.path.isdir(share):
        share = os.path.join(tree, "usr/share/mysql")
    spec: dict[str, Any] = mysql_spec(tree, share) if datastore == "mysql" else {
        "mariadbd": os.path.join(tree, "usr/sbin/mariadbd"),
        "install_db": os.path.join(tree, "usr/bin/mariadb-install-db"),
        "basedir": os.path.join(tree, "usr"),
        "lib_dir": os.path.join(tree, LIB_DIR) if lib_path else None,
        "lc_messages_dir": share,
        "backup_tool": os.path.join(tree, "usr/bin/mariadb-backup"),
        "mbstream": os.path.join(tree, "usr/bin/mbstream"),
        "upgrade_tool": os.path.join(tree, "usr/bin/mariadb-upgrade")}
    for key, path in spec.items():
        if key != "datastore" and path and not os.path.exists(path):
            raise ImageBuildError(image=image_id, step="layout",
                                  reason="%s (%s) is missing" % (key, path))
    env = dict(os.environ)
    if lib_path:
        env["LD_LIBRARY_PATH"] = spec["lib_dir"]
    out = _run(image_id, "server --version", [spec["mariadbd"], "--version"], env=env)
    spec["version"] = parse_version(out) or out.strip()
    return spec


def mysql_spec(tree: str, share: str) -> dict[str, Any]:
    """A MySQL tree's Binaries: mysqld initialises its own datadir, mysqldump backs up,
    the client restores, and the server upgrades a datadir itself on start."""
    mysqld = os.path.join(tree, "usr/sbin/mysqld")
    return {"datastore": "mysql", "mariadbd": mysqld, "install_db": mysqld,
            "basedir": os.path.join(tree, "usr"), "lib_dir": None,
            "lc_messages_dir": share,
            "backup_tool": os.path.join(tree, "usr/bin/mysqldump"),
            "client": os.path.join(tree, "usr/bin/mysql"),
            "mbstream": "", "upgrade_tool": "",
            "plugin_dir": os.path.join(tree, "usr/lib/mysql/plugin")}


def write_rules(image_id: str, spec: dict[str, Any], path: str, work: str) -> None:
    """Rules for this version from its own variables: the guest's probe starts a
    throw-away server in a process of its own (guestagent/rules_probe.py)."""
    spec_path = os.path.join(work, "rules-spec.json")
    localutil.write_json(spec_path, spec)
    _run(image_id, "rules", [sys.executable, "-m", "trove_lite.guestagent.rules_probe",
                             spec_path, path, work])


def _is_elf(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def _run(image_id: str, step: str, cmd: list[str], **kw: Any) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise ImageBuildError(image=image_id, step=step,
                              reason=(proc.stderr or proc.stdout)[-1500:].strip())
    return proc.stdout


def main(argv: list[str] | None = None) -> int:
    """``python -m trove_lite.drivers.imagebuild IMAGE_ID...``: fill the cache only
    (bootstrap); ``trove-lite-manage image_fetch`` also registers the version."""
    ids = list(sys.argv[1:] if argv is None else argv) or sorted(RECIPES)
    try:
        for image_id in ids:
            build(image_id, progress=lambda line: print(line, flush=True))
    except ImageBuildError as e:
        print("ERROR: %s" % e.message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
