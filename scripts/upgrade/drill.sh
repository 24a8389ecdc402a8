#!/usr/bin/env bash
# The rolling-upgrade drill, with real processes: a 3-node cluster of the engine at OLD_COMMIT
# (built in a worktree of its own) under load — REST executes through every node, a WebSocket
# session per node binding statuses and executing, model writes, deadline probes (load.go) —
# is upgraded node by node to this checkout's engine as deploy/README.md "Upgrades" says
# (SIGTERM, the same data dir and flags, wait for the cluster ready), then the repository driver
# is recompiled on every node. Too heavy for the suite (two builds, minutes of load); run it by
# hand before a release:
#
#	scripts/upgrade/drill.sh 9154de5            # yesterday's release
#	SOAK=30 BASE=19600 scripts/upgrade/drill.sh a462e8d
#
# It prints the failures grouped (kind, status, message, first and last time) and every WARN and
# ERROR line of the nodes' logs, and keeps everything in $WORK (events.jsonl, n1.log ...). It
# stops every process it started. Expected: connection refused from the node being restarted,
# 503 "is starting"/"catching up" for 1-3 s per restart, the display's own "replaced by a newer
# volume command (Abort)" between concurrent clients; anything else is a finding.
set -euo pipefail
OLD=${1:?usage: scripts/upgrade/drill.sh OLD_COMMIT}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${BASE:-19600} # Redis BASE; HTTP BASE+11..13; cluster ports BASE+21..23; displays BASE+31..34
SOAK=${SOAK:-20}    # seconds of load before and after each step
WORK=${WORK:-$(mktemp -d /tmp/upgrade-drill.XXXXXX)}
NEW=$ROOT/bin/engine
echo "drill of $OLD -> $(git -C "$ROOT" rev-parse --short HEAD) in $WORK"
command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install -y redis-server" >&2; exit 1; }

pids=()
cleanup() {
	trap - EXIT INT TERM
	touch "$WORK/stop"
	for n in 1 2 3; do [[ -f $WORK/n$n.pid ]] && kill -INT "$(cat "$WORK/n$n.pid")" 2>/dev/null || true; done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	redis-cli -p "$BASE" shutdown nosave >/dev/null 2>&1 || true
	git -C "$ROOT" worktree remove --force "$WORK/old" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Both versions, each with its example drivers and simulators.
git -C "$ROOT" worktree add --detach "$WORK/old" "$OLD" >/dev/null
(cd "$WORK/old" && make build >"$WORK/build-old.log" 2>&1)
(cd "$ROOT" && make build >"$WORK/build-new.log" 2>&1)
(cd "$ROOT" && go build -o "$WORK/load" scripts/upgrade/load.go)
mkdir -p "$WORK/drivers" && cp "$WORK/old/bin/drivers/"* "$WORK/drivers/"

# A driver repository built by each node against its own SDK: its version, a status per call,
# and how an execute's context ended (last_wait).
repo=$WORK/repo
mkdir -p "$repo/drivers/probe"
cat >"$repo/go.mod" <<'MOD'
module example.com/acme/drivers

go 1.26

require github.com/placeos-go/engine v0.0.0-00010101000000-000000000000

replace github.com/placeos-go/engine => ../engine
MOD
cat "$ROOT/go.sum" "$WORK/old/go.sum" | sort -u >"$repo/go.sum"
cat >"$repo/drivers/probe/main.go" <<'GO'
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Probe reports its version, sets a status per call, and records how a call's context ended.
type Probe struct{ sdk.Base }

// Version returns the build's version.
func (p *Probe) Version(ctx context.Context) (string, error) { return "probe-v1", nil }

// Tick sets the status tick.
func (p *Probe) Tick(ctx context.Context, a struct {
	N int `json:"n"`
}) (int, error) {
	p.Set("tick", a.N)
	return a.N, nil
}

// Wait waits for the call's end and records it in last_wait.
func (p *Probe) Wait(ctx context.Context) (string, error) {
	_, ok := ctx.Deadline()
	<-ctx.Done()
	p.Set("last_wait", fmt.Sprintf("deadline_set=%v err=%v at=%s", ok, ctx.Err(), time.Now().Format(time.RFC3339Nano)))
	return "", ctx.Err()
}

func main() { sdk.Serve(func() *Probe { return &Probe{} }) }
GO
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=drill -c user.email=drill@example.com commit -qm probe

"$WORK/old/bin/engine" tls init --out "$WORK/tls" --nodes node-1,node-2,node-3 >/dev/null
redis-server --bind 127.0.0.1 --port "$BASE" --save '' --appendonly no --daemonize yes \
	--pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
until redis-cli -p "$BASE" ping >/dev/null 2>&1; do sleep 0.1; done
{
	echo "repositories: [{id: repo-probe, uri: $repo, branch: main}]"
	echo "drivers:"
	echo "  - {id: drv-display, module_name: Display, role: device, binary: display}"
	echo "  - {id: drv-room, module_name: Room, role: logic, binary: room}"
	echo "  - {id: drv-probe, module_name: Probe, role: service, repository_id: repo-probe, path: drivers/probe}"
	echo "systems: [{id: sys-demo, name: Demo, modules: [mod-display-1, mod-display-2, mod-display-3, mod-display-4, mod-room, mod-probe-1, mod-probe-2, mod-probe-3, mod-probe-4, mod-probe-5, mod-probe-6]}]"
	echo "modules:"
	for i in 1 2 3 4; do
		"$WORK/old/bin/sims/display" --addr "127.0.0.1:$((BASE + 30 + i))" 2>>"$WORK/sims.log" &
		pids+=($!)
		echo "  - {id: mod-display-$i, driver_id: drv-display, ip: 127.0.0.1, port: $((BASE + 30 + i)), running: true}"
	done
	echo "  - {id: mod-room, driver_id: drv-room, control_system_id: sys-demo, running: true}"
	for i in 1 2 3 4 5 6; do echo "  - {id: mod-probe-$i, driver_id: drv-probe, running: true}"; done
} >"$WORK/model.yaml"

# node N BINARY [flags]: start node N, as deploy/README.md configures a cluster (every node with
# --join, node-1 with --bootstrap too), its log appended to nN.log.
node() {
	local n=$1 bin=$2
	shift 2
	local join=127.0.0.1:$((BASE + 21))
	[[ $n == 1 ]] && join=127.0.0.1:$((BASE + 22)),127.0.0.1:$((BASE + 23))
	echo "=== $(date -u +%T.%N) start node-$n $bin" >>"$WORK/n$n.log"
	"$bin" serve --node-id "node-$n" --data-dir "$WORK/data/node-$n" \
		--http-addr "127.0.0.1:$((BASE + 10 + n))" --raft-addr "127.0.0.1:$((BASE + 20 + n))" \
		--redis "redis://127.0.0.1:$BASE/0" --auth none --driver-dir "$WORK/drivers" --join "$join" \
		--tls-ca "$WORK/tls/ca.pem" --tls-cert "$WORK/tls/node-$n.pem" --tls-key "$WORK/tls/node-$n-key.pem" \
		"$@" >>"$WORK/n$n.log" 2>&1 &
	echo $! >"$WORK/n$n.pid"
}
# ready N: the cluster is ready with every node up, as node N answers.
ready() {
	curl -sf "http://127.0.0.1:$((BASE + 10 + $1))/api/engine/v2/cluster" | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d["ready"] and len(d["nodes"]) == 3 and all(n["state"] == "up" for n in d["nodes"]) else 1)' 2>/dev/null
}
step() { echo "$(date -u +%T.%N | cut -c1-12) $*" | tee -a "$WORK/drill.log"; }

node 1 "$WORK/old/bin/engine" --bootstrap --model "$WORK/model.yaml"
until curl -sf "http://127.0.0.1:$((BASE + 11))/api/core/v1/ready" >/dev/null; do sleep 0.2; done
node 2 "$WORK/old/bin/engine"
node 3 "$WORK/old/bin/engine"
until ready 1; do sleep 0.2; done
step "old cluster ready"
"$WORK/load" -nodes "127.0.0.1:$((BASE + 11)),127.0.0.1:$((BASE + 12)),127.0.0.1:$((BASE + 13))" \
	-out "$WORK/events.jsonl" -stop "$WORK/stop" >"$WORK/load.out" 2>&1 &
load=$!
sleep "$SOAK"
for n in 3 2 1; do # the leader (node-1, which bootstrapped) last
	pid=$(cat "$WORK/n$n.pid")
	step "SIGTERM node-$n"
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	step "node-$n exited; starting it on the new engine"
	node "$n" "$NEW"
	until ready "$n"; do sleep 0.2; done
	step "node-$n: cluster ready, every node up"
	sleep "$SOAK"
done
for n in 1 2 3; do
	step "recompile drv-probe on node-$n: $(curl -s -X POST "http://127.0.0.1:$((BASE + 10 + n))/api/engine/v2/drivers/drv-probe/recompile" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("load"), d.get("moved"))')"
done
sleep "$SOAK"
touch "$WORK/stop"
wait "$load" || true
cat "$WORK/load.out"

echo "--- failures (count, first, last, kind, status, message)"
python3 - "$WORK/events.jsonl" <<'PY'
import collections, json, re, sys
c, first, last = collections.Counter(), {}, {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["kind"] == "ws_open":
        continue
    m = e.get("body", "")
    for key in ("message", "msg"):
        try:
            m = json.loads(m.replace("<nil>", "")).get(key, m)
        except Exception:
            pass
    m = re.sub(r"mod-[a-z]+-\d+", "mod-X", m)
    m = re.sub(r'"http://[^"]*"', "URL", m)
    m = re.sub(r"\d+ms|at=\S+|127\.0\.0\.1:\d+->", "", m)
    k = (e["kind"], e.get("status", 0), m[:160])
    c[k] += 1
    first.setdefault(k, e["t"])
    last[k] = e["t"]
for k, v in c.most_common():
    print(v, first[k], last[k], *k)
PY
echo "--- WARN and ERROR lines of the nodes (the request failures above left out)"
for n in 1 2 3; do
	grep -h 'WARN\|ERROR' "$WORK/n$n.log" | grep -v 'request failed\|AUTHENTICATION IS OFF' |
		sed -E 's/^[0-9TZ:.-]+ //; s/(request_id|pid)=[^ ]+//g' | cut -c1-220 | sort | uniq -c | sort -rn | sed "s/^/node-$n /"
done
