#!/usr/bin/env bash
# The test command: installs what is missing, then runs the whole suite against
# real mariadbd, RabbitMQ (127.0.0.1:5672) and the machine's MariaDB (127.0.0.1:3306).
set -euo pipefail
cd "$(dirname "$0")"
bash tools/bootstrap.sh
exec .venv/bin/python -m pytest -p no:cacheprovider -q -ra "$@"
