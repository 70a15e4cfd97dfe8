#!/usr/bin/env bash
# Installs what is missing, starts trove-lite-aio in the background (state and logs
# in ./.state), creates a demo MariaDB instance through the API and prints how to
# connect to it. Run it again to reuse the running all-in-one and the demo instance.
#   TROVE_LITE_STATE=dir  TROVE_LITE_PORT=8779  change where and on which port.
set -euo pipefail
cd "$(dirname "$0")"
bash tools/bootstrap.sh

STATE=${TROVE_LITE_STATE:-$PWD/.state}
PORT=${TROVE_LITE_PORT:-8779}
mkdir -p "$STATE"
export TROVE_LITE_ENDPOINT="http://127.0.0.1:$PORT/v1.0/demo"
cli=.venv/bin/trove-lite

if ! curl -sf "http://127.0.0.1:$PORT/" >/dev/null; then
    echo "starting trove-lite-aio on 127.0.0.1:$PORT (log: $STATE/aio.log)"
    nohup .venv/bin/trove-lite-aio --state-dir "$STATE" --port "$PORT" \
        >>"$STATE/aio.log" 2>&1 </dev/null &
    echo $! >"$STATE/aio.pid"
    for _ in $(seq 1 120); do
        curl -sf "http://127.0.0.1:$PORT/" >/dev/null && break
        kill -0 "$(cat "$STATE/aio.pid")" 2>/dev/null || { tail -20 "$STATE/aio.log"; exit 1; }
        sleep 0.5
    done
fi

id=$($cli list --json | .venv/bin/python -c 'import json,sys; print(next((i["id"] for i in json.load(sys.stdin) if i["name"]=="demo"), ""))')
if [ -z "$id" ]; then
    echo "creating instance 'demo' (flavor tiny, 1 GB volume, MariaDB 10.11)"
    id=$($cli create demo tiny --size 1 --datastore mariadb --datastore_version 10.11 \
            --databases demo --users demo:demo-password --json |
         .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["id"])')
fi
for _ in $(seq 1 240); do
    status=$($cli show "$id" --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$status" = ACTIVE ] || [ "$status" = ERROR ] && break
    sleep 0.5
done
$cli show "$id"
ip=$($cli show "$id" --json | .venv/bin/python -c 'import json,sys; d=json.load(sys.stdin); print((d.get("ip") or [""])[0])')
cat <<EOT

Connect:      mariadb -h $ip -u demo -pdemo-password demo
CLI:          TROVE_LITE_ENDPOINT=$TROVE_LITE_ENDPOINT $cli list
openstack:    .venv/bin/openstack --os-auth-type none --os-endpoint $TROVE_LITE_ENDPOINT database instance list
Stop the API: kill \$(cat $STATE/aio.pid)     (instances keep running; delete them first with '$cli delete demo')
EOT
