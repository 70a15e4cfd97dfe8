#!/usr/bin/env bash
# Regenerate etc/trove-lite.conf.sample from the options in code.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/oslo-config-generator --namespace trove_lite --output-file etc/trove-lite.conf.sample
