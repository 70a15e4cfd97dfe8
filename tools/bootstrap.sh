#!/usr/bin/env bash
# Installs what trove-lite needs on a fresh Debian bookworm machine (as root) and
# creates ./.venv with the package and its test dependencies. Safe to run again:
# it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pair in mariadb-backup:mariadb-backup memcached:memcached pigz:pigz zstd:zstd \
            pt-online-schema-change:percona-toolkit sysbench:sysbench e2fsck:e2fsprogs nft:nftables \
            mariadbd:mariadb-server patchelf:patchelf haproxy:haproxy \
            chromium:chromium chromedriver:chromium-driver; do
    cmd=${pair%%:*}; pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "bootstrap: apt-get install ${need_apt[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
fi

stamp=.venv/.installed-$(cat setup.cfg | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
    # pip too: a venv cut off while it was being made has a python and no pip
    [ -x .venv/bin/python ] && [ -x .venv/bin/pip ] || python3 -m venv --clear .venv
    .venv/bin/pip install -q -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
    .venv/bin/python -c 'import trove_lite, oslo_messaging, troveclient, swift' 
    rm -f .venv/.installed-*
    touch "$stamp"
fi

# Guests are short-lived Python processes; with PYTHONDONTWRITEBYTECODE set (as on
# these machines) they would compile trove_lite on every start. Compile it once.
.venv/bin/python -m compileall -q trove_lite >/dev/null

# Images of the other MariaDB versions (upgrade tests) and of MySQL 9.7 (tests/functional/
# mysql): built from Debian's bullseye, trixie and sid packages into a cache outside the
# clone (TROVE_LITE_IMAGE_CACHE, default /var/cache/trove-lite/images), so a fresh clone
# reuses them. ~15 s the first time for MariaDB, ~60 s for MySQL (sid's lists, 60 packages).
.venv/bin/python -m trove_lite.drivers.imagebuild mariadb-10.5 mariadb-11.8 \
    || echo "bootstrap: WARNING: the MariaDB 10.5/11.8 images could not be built; the upgrade tests will skip"
.venv/bin/python -m trove_lite.drivers.imagebuild mysql-9.7 \
    || echo "bootstrap: WARNING: the MySQL 9.7 image could not be built; the MySQL tests will skip"
