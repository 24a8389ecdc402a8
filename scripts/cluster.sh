#!/usr/bin/env bash
# A local 3-node cluster with Redis, four simulated displays and the demo model (`make cluster`).
# Ctrl-C stops every node, simulator and the Redis server it started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin
DATA=${DATA:-data/cluster}
REDIS_PORT=${REDIS_PORT:-6390}
HTTP_BASE=${HTTP_BASE:-8081}
RAFT_BASE=${RAFT_BASE:-7001}
DISPLAY_BASE=${DISPLAY_BASE:-5001}

command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install -y redis-server" >&2; exit 1; }
mkdir -p "$DATA"
# The nodes talk to each other over mutual TLS, with certificates of the cluster's own CA.
"$BIN/engine" tls init --out "$DATA/tls" --nodes node-1,node-2,node-3 >/dev/null
pids=()
cleanup() {
	trap - INT TERM EXIT
	echo; echo "stopping the cluster"
	for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	exit 0 # else a wait loop below goes on after the first Ctrl-C
}
trap cleanup INT TERM EXIT

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --daemonize no >"$DATA/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.1; done

model="$DATA/model.yaml"
cat >"$model" <<YAML
drivers:
  - {id: drv-display, name: Example Display, module_name: Display, role: device, binary: display}
  - {id: drv-room, name: Example Room, module_name: Room, role: logic, binary: room}
systems:
  - {id: sys-demo, name: Demo room, modules: [mod-display-1, mod-display-2, mod-display-3, mod-display-4, mod-room]}
modules:
YAML
for i in 1 2 3 4; do
	port=$((DISPLAY_BASE + i - 1))
	"$BIN/sims/display" --addr "127.0.0.1:$port" 2>>"$DATA/sims.log" &
	pids+=($!)
	echo "  - {id: mod-display-$i, driver_id: drv-display, ip: 127.0.0.1, port: $port, running: true}" >>"$model"
done
echo "  - {id: mod-room, driver_id: drv-room, control_system_id: sys-demo, running: true}" >>"$model"

node() { # node N [extra flags...]; the command line is kept in $DATA/node-N.cmd, the pid in node-N.pid
	local n=$1; shift
	local cmd=("$BIN/engine" serve --node-id "node-$n" --data-dir "$DATA/node-$n"
		--http-addr "127.0.0.1:$((HTTP_BASE + n - 1))" --raft-addr "127.0.0.1:$((RAFT_BASE + n - 1))"
		--redis "redis://127.0.0.1:$REDIS_PORT/0" --auth none --driver-dir "$BIN/drivers"
		--tls-ca "$DATA/tls/ca.pem" --tls-cert "$DATA/tls/node-$n.pem" --tls-key "$DATA/tls/node-$n-key.pem" "$@")
	# The script records its own pid and execs the engine, which keeps it: `bash node-N.cmd &`
	# gives the engine's pid in $! and in node-N.pid.
	{
		printf 'echo $$ >%q\nexec ' "$DATA/node-$n.pid"
		printf '%q ' "${cmd[@]}"
		echo
	} >"$DATA/node-$n.cmd"
	bash "$DATA/node-$n.cmd" 2>"$DATA/node-$n.log" &
	pids+=($!)
}
# As deploy/README.md configures a cluster: node-1 bootstraps only if no other member answers (it
# is started first, so it does, after asking for 3 s); restarted on an empty data dir with the same
# flags, it joins the others instead.
# A run on the data of an earlier one: the nodes are members already, and node-1 alone is no
# majority, so all three start at once.
again=false
[[ -d "$DATA/node-2/raft" ]] && again=true
node 1 --bootstrap --join "127.0.0.1:$((RAFT_BASE + 1)),127.0.0.1:$((RAFT_BASE + 2))" --model "$model"
$again || until curl -sf "http://127.0.0.1:$HTTP_BASE/api/core/v1/ready" >/dev/null; do sleep 0.2; done
node 2 --join "127.0.0.1:$RAFT_BASE"
node 3 --join "127.0.0.1:$RAFT_BASE"
for n in 1 2 3; do
	until curl -sf "http://127.0.0.1:$((HTTP_BASE + n - 1))/api/core/v1/ready" >/dev/null; do sleep 0.2; done
done

cat <<TXT

3-node cluster running (logs in $DATA/node-N.log, command lines in $DATA/node-N.cmd):
  node-1  http://127.0.0.1:$HTTP_BASE
  node-2  http://127.0.0.1:$((HTTP_BASE + 1))
  node-3  http://127.0.0.1:$((HTTP_BASE + 2))
  redis   redis://127.0.0.1:$REDIS_PORT/0
  cluster ports 127.0.0.1:$RAFT_BASE-$((RAFT_BASE + 2)) (mutual TLS, certificates in $DATA/tls)

Try:
  $BIN/engine status --server http://127.0.0.1:$((HTTP_BASE + 1))
  curl -s -X POST http://127.0.0.1:$((HTTP_BASE + 2))/api/engine/v2/systems/sys-demo/Display_3/power -d '[true]'
  curl -s http://127.0.0.1:$HTTP_BASE/api/engine/v2/cluster

Ctrl-C stops everything.
TXT
wait
