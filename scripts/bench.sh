#!/usr/bin/env bash
# bench.sh runs every benchmark family of the engine, each measured against its baseline in the
# same run, and writes BENCHMARKS.md: per family the command that reproduces it, a headline table
# (ratio against the baseline or target first, absolute numbers second), the tables the benchmark
# itself printed, and its raw `go test -bench` result lines.
#
#   scripts/bench.sh                    # every family (about 3 minutes on 2 cores)
#   scripts/bench.sh execute startup    # only these families (BENCHMARKS.md holds only them)
#
# Families: execute crash failover cluster ws sdk startup modules10k redis placement sites builder devwatch
# isolation statusflood.
# Environment: GO (default go), BENCH_OUT (default BENCHMARKS.md at the repository root).
# Exits non-zero when any benchmark fails; BENCHMARKS.md is written anyway and names the failure.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
GO=${GO:-go}
out=${BENCH_OUT:-$root/BENCHMARKS.md}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

all_families=(execute crash failover cluster ws sdk startup modules10k redis placement sites builder devwatch isolation statusflood)
if (($# > 0)); then
	families=("$@")
else
	families=("${all_families[@]}")
fi
for f in "${families[@]}"; do
	[[ " ${all_families[*]} " == *" $f "* ]] || { echo "bench.sh: unknown family $f (have: ${all_families[*]})" >&2; exit 2; }
done

failed=()

# run FAMILY CMD...: runs one `go test` command, showing its output live and keeping it in
# $work/FAMILY.out (appended, so a family may run several commands). The command line, as a
# reader would paste it, goes to $work/FAMILY.cmd.
run() {
	local fam=$1
	shift
	local shown='' a
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./=:,+-]+$ ]]; then shown+="$a "; else shown+="'$a' "; fi
	done
	shown=${shown% }
	echo "$shown" >>"$work/$fam.cmd"
	echo "==> $fam: $shown" >&2
	local began=$SECONDS
	"$@" 2>&1 | tee -a "$work/$fam.out" >&2
	local rc=${PIPESTATUS[0]}
	echo "<== $fam: exit $rc after $((SECONDS - began)) s" >&2
	if ((rc != 0)); then
		failed+=("$fam")
		echo "$rc" >"$work/$fam.failed"
	fi
}

# metrics FAMILY: every reported metric of the family's benchmarks as "benchmark unit value"
# lines. A benchmark that logs while it runs splits its result line (name, then log lines, then
# the numbers), so the name is remembered until the numbers come.
metrics() {
	awk '
		function emit(s,   n, f, i) {
			n = split(s, f, /[ \t]+/)
			for (i = 1; i < n; i++) if (f[i] ~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ && f[i+1] !~ /^[0-9.]+$/) { print name, f[i+1], f[i]; i++ }
		}
		/^Benchmark/ {
			name = $1; sub(/-[0-9]+$/, "", name)
			rest = substr($0, length($1) + 1)
			if (rest ~ /^[ \t]+[0-9]+[ \t]+-?[0-9.]+(e[-+]?[0-9]+)? [^ \t]/) { emit(rest); name = "" }
			next
		}
		name != "" && /^[ \t]+[0-9]+[ \t]+-?[0-9.]+(e[-+]?[0-9]+)? [^ \t]/ { emit($0); name = "" }
	' "$work/$1.out" 2>/dev/null
}

# metric FAMILY BENCHMARK UNIT: one value, empty when missing.
metric() {
	metrics "$1" | awk -v b="$2" -v u="$3" '$1 == b && $2 == u { print $3; exit }'
}

# result_lines FAMILY: the raw result lines, joined again where log lines split them.
result_lines() {
	awk '
		/^Benchmark/ {
			name = $1; rest = substr($0, length($1) + 1)
			if (rest ~ /^[ \t]+[0-9]+[ \t]+-?[0-9.]+(e[-+]?[0-9]+)? [^ \t]/) { print; name = "" }
			next
		}
		name != "" && /^[ \t]+[0-9]+[ \t]+-?[0-9.]+(e[-+]?[0-9]+)? [^ \t]/ { printf "%-40s%s\n", name, $0; name = "" }
	' "$work/$1.out" 2>/dev/null
}

# printed FAMILY: the markdown the benchmarks printed (tables and the prose around them), without
# go test's own lines and the engines' log lines. A benchmark that the framework runs twice (b.N
# = 1 first) prints its table twice; only the last table under each header is kept.
printed() {
	awk '
		function flush() {
			if (blk != "" && key != "") { if (!(key in pos)) order[++n] = key; pos[key] = blk }
			blk = ""; key = ""
		}
		/^(goos|goarch|pkg|cpu):|^Benchmark|^--- |^=== |^(PASS|FAIL|ok |exit status)|^[ \t]|^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|^[{[]/ { flush(); next }
		/^\|/ && key == "" { key = $0 }
		{ blk = blk $0 "\n" }
		END { flush(); for (i = 1; i <= n; i++) printf "%s\n", pos[order[i]] }
	' "$work/$1.out" 2>/dev/null | awk 'NF || prev { print } { prev = NF }' | sed -e '/./,$!d'
}

# ratio A B: A/B as "0.42×", or "—" when either is missing.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "—"; else printf "%.2f×\n", a / b }'
}

# num VALUE FORMAT [SCALE]: VALUE (times SCALE) formatted, or "—" when missing.
num() {
	awk -v v="$1" -v f="$2" -v k="${3:-1}" 'BEGIN { if (v == "") print "—"; else printf f "\n", v * k }'
}

headline_begin() {
	printf '| measure | ratio | against | value |\n|---|---|---|---|\n'
}

headline() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }

# The families with targets (issue 13) add a column saying whether each is met. Targets are
# reported here, never asserted by the benchmarks.
headline_targets_begin() {
	printf '| measure | ratio | against | value | target (issue 13) |\n|---|---|---|---|---|\n'
}

headline_target() { printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5"; }

# target VALUE OP LIMIT TEXT: "TEXT: met" or "TEXT: **not met**" (OP ge: VALUE >= LIMIT; le:
# VALUE <= LIMIT), or TEXT alone when VALUE is missing.
target() {
	awk -v v="$1" -v op="$2" -v l="$3" -v t="$4" 'BEGIN {
		if (v == "") { print t; exit }
		ok = op == "ge" ? v + 0 >= l + 0 : v + 0 <= l + 0
		printf "%s: %s\n", t, ok ? "met" : "**not met**"
	}'
}

# --- the families --------------------------------------------------------------------------
# Small -benchtime values where one iteration is a whole cluster or 1000 modules: those
# benchmarks measure once per process whatever b.N is.

bench=(-run '^$' -bench)

fam_execute() {
	# One iteration: the benchmark measures once per process (5 rounds of 5000 calls per path).
	run execute "$GO" test "${bench[@]}" '^BenchmarkExecute$' -benchtime 1x -timeout 10m ./scripts/bench/
	# The runtime settings auto chooses, against Go's defaults, side by side (5 rounds of 3000).
	run execute "$GO" test "${bench[@]}" '^BenchmarkExecuteSettings$' -benchtime 1x -timeout 15m ./scripts/bench/
}
head_execute() {
	local c v
	# clients N: "1 client", "32 clients"
	clients_text() { if (($1 == 1)); then echo "1 client"; else echo "$1 clients"; fi; }
	headline_targets_begin
	for c in 1 32; do
		v=$(metric execute BenchmarkExecute ratio-bare-c$c)
		headline_target "REST execute throughput, $(clients_text $c)" "$(num "$v" '%.2f×')" "bare proxy (net/http → the same go-plugin call)" "see below" "$(target "$v" ge 0.95 '≥ 0.95×')"
	done
	for c in 1 32; do
		v=$(metric execute BenchmarkExecute p50-over-bare-us-c$c)
		headline_target "REST execute p50 over the bare proxy's, $(clients_text $c)" "—" "bare proxy" "$(num "$v" '%+.0f µs')" "$(target "$v" le 25 '≤ 25 µs')"
	done
	v=$(metric execute BenchmarkExecute allocs-own)
	headline_target "engine's own allocations per REST execute (allocs-own; the worse of 1 and 32 clients)" "—" "the bare proxy's, subtracted" "$(num "$v" '%.1f')" "$(target "$v" le 20 '≤ 20')"
	for c in 1 32; do
		headline_target "REST execute throughput, $(clients_text $c)" "$(num "$(metric execute BenchmarkExecute ratio-direct-c$c)" '%.2f×')" "direct go-plugin gRPC call" "see below" "—"
	done
	for c in 1 32; do
		headline_target "bare proxy throughput (the floor), $(clients_text $c)" "$(num "$(metric execute BenchmarkExecute bare-ratio-c$c)" '%.2f×')" "direct go-plugin gRPC call" "see below" "—"
	done
	for c in 1 32; do
		headline_target "REST execute throughput with the runtime settings auto chooses (the default), $(clients_text $c)" "$(num "$(metric execute BenchmarkExecuteSettings vs-base-c$c-s1)" '%.2f×')" "the same engine with Go's defaults (GOGC 100, no limit, GOMAXPROCS = CPUs for the engine and its driver), in the same run" "see below" "—"
	done
}

fam_crash() {
	run crash "$GO" test "${bench[@]}" KillToAnswer -benchtime 100x -timeout 5m ./supervisor/
}
head_crash() {
	local v vn used p50 p99 n50 n99 slow fails
	v=$(metric crash BenchmarkKillToAnswer ms/recovery)
	used=$(metric crash BenchmarkKillToAnswerUnderLoad spare-used)
	vn=$(metric crash BenchmarkKillToAnswerNoSpare ms/recovery)
	p50=$(metric crash BenchmarkKillToAnswerUnderLoad ms/recovery-p50)
	p99=$(metric crash BenchmarkKillToAnswerUnderLoad ms/recovery-p99)
	n50=$(metric crash BenchmarkKillToAnswerUnderLoadNoSpare ms/recovery-p50)
	n99=$(metric crash BenchmarkKillToAnswerUnderLoadNoSpare ms/recovery-p99)
	slow=$(metric crash BenchmarkKillToAnswerUnderLoad ms/slowest-failure)
	fails=$(metric crash BenchmarkKillToAnswerUnderLoad failed-calls/kill)
	headline_targets_begin
	headline_target "driver SIGKILL → module answering from the spare process (the default; median of 100)" "$(ratio "$v" "$vn")" "a new process launched instead (--driver-spare=false, same run): $(num "$vn" '%.1f ms')" "$(num "$v" '%.1f ms')" "—"
	headline_target "the same with 32 clients calling its 8 modules: all 8 answering, p99 of 100" "$(ratio "$p99" 20)" "20 ms" "$(num "$p99" '%.1f ms') (median $(num "$p50" '%.1f ms'); the spare took over in $(num "$used" '%.2f') of the kills)" "$(target "$p99" le 20 '≤ 20 ms')"
	headline_target "the same, a new process launched instead (--driver-spare=false)" "$(ratio "$n99" 20)" "20 ms" "$(num "$n99" '%.1f ms') (median $(num "$n50" '%.1f ms'))" "—"
	headline_target "calls caught by the kill: the slowest to fail (they fail, none hangs)" "—" "—" "$(num "$slow" '%.1f ms') ($(num "$fails" '%.0f') failed calls per kill, 503)" "fail fast"
}

fam_failover() {
	run failover "$GO" test "${bench[@]}" LeaderFailover -benchtime 9x -timeout 5m ./raftfsm/
}
head_failover() {
	local med max
	med=$(metric failover BenchmarkLeaderFailover ms-median)
	max=$(metric failover BenchmarkLeaderFailover ms-max)
	headline_begin
	headline "Raft leader stopped → survivor leads, barrier done (median of 9)" "$(ratio "$med" 1000)" "target 1000 ms" "$(num "$med" '%.0f ms')"
	headline "the same, worst round" "$(ratio "$max" 1000)" "target 1000 ms" "$(num "$max" '%.0f ms')"
}

fam_cluster() {
	run cluster "$GO" test "${bench[@]}" '^BenchmarkCluster' -benchtime 1x -timeout 10m ./scripts/bench/
}
head_cluster() {
	local lk nk nm
	lk=$(metric cluster BenchmarkClusterLeaderKill ms-leader-median)
	nk=$(metric cluster BenchmarkClusterNodeKill ms-answering-median)
	nm=$(metric cluster BenchmarkClusterNodeKill ms-module-median)
	headline_begin
	headline "leader SIGKILL → new leader seen by both survivors (median)" "$(ratio "$lk" 1000)" "target 1000 ms" "$(num "$lk" '%.0f ms')"
	headline "node SIGKILL → its median module answering on the survivors (median)" "$(ratio "$nm" 1000)" "target 1000 ms" "$(num "$nm" '%.0f ms')"
	headline "node SIGKILL → all its modules answering on the survivors (median)" "$(ratio "$nk" 1500)" "target 1500 ms" "$(num "$nk" '%.0f ms')"
	headline "modules moved when a 4th node joins" "$(num "$(metric cluster BenchmarkClusterMovement join-x-ideal)" '%.2f×')" "the ideal 1/4 (target ≤ 1.3×)" "see below"
	headline "modules moved when one of 3 leaves" "$(num "$(metric cluster BenchmarkClusterMovement leave-x-ideal)" '%.2f×')" "the ideal 1/3 (target ≤ 1.3×)" "see below"
	local v
	for c in 1 16 32; do
		v=$(metric cluster BenchmarkClusterExecuteNonOwner ratio-c$c)
		headline "execute through a non-owner, $c client$( ((c > 1)) && echo s)" "$(num "$v" '%.2f×')" "$(target "$v" ge 0.75 'execute at the owner (issue 13: ≥ 0.75×)')" "see below"
		headline "execute through the bare forwarder (one more HTTP hop, the floor), $c client$( ((c > 1)) && echo s)" "$(num "$(metric cluster BenchmarkClusterExecuteNonOwner ratio-fwd-c$c)" '%.2f×')" "execute at the owner" "see below"
		headline "execute through the bare relay (one more process copying bytes, parsing nothing), $c client$( ((c > 1)) && echo s)" "$(num "$(metric cluster BenchmarkClusterExecuteNonOwner ratio-relay-c$c)" '%.2f×')" "execute at the owner" "see below"
	done
}

fam_ws() {
	run ws "$GO" test "${bench[@]}" '^BenchmarkWS' -benchtime 1x -timeout 10m ./scripts/bench/
}
head_ws() {
	local v
	headline_targets_begin
	v=$(metric ws BenchmarkWSExec ratio-bare)
	headline_target "WebSocket exec throughput, one session" "$(num "$v" '%.2f×')" "bare gorilla/websocket echo-to-gRPC loop" "see below" "$(target "$v" ge 0.95 '≥ 0.95× (as REST)')"
	v=$(metric ws BenchmarkWSExec p50-over-bare-us)
	headline_target "WebSocket exec p50 over the bare loop's" "—" "bare loop" "$(num "$v" '%+.0f µs')" "$(target "$v" le 25 '≤ 25 µs (as REST)')"
	headline_target "WebSocket exec p99" "$(num "$(metric ws BenchmarkWSExec p99-ratio)" '%.2f×')" "bare loop" "$(num "$(metric ws BenchmarkWSExec engine-p99-us)" '%.0f µs')" "none of its own"
	v=$(metric ws BenchmarkWSExec allocs-own)
	headline_target "engine's own allocations per WebSocket exec" "—" "the bare loop's, subtracted" "$(num "$v" '%.1f')" "—"
	v=$(metric ws BenchmarkWSFanout p99-ratio)
	headline_target "notify fan-out p99, 1000 sessions" "$(num "$v" '%.2f×')" "bare gorilla/websocket hub" "$(num "$(metric ws BenchmarkWSFanout engine-p99-ms)" '%.1f ms')" "$(target "$v" le 1.2 '≤ 1.2×')"
	v=$(metric ws BenchmarkWSSessionMemory session-mem-ratio)
	headline_target "idle session with one binding, Go heap" "$(num "$v" '%.2f×')" "bare gorilla/websocket session ($(num "$(metric ws BenchmarkWSSessionMemory bare-heap-KiB/session)" '%.1f KiB'))" "$(num "$(metric ws BenchmarkWSSessionMemory heap-KiB/session)" '%.1f KiB')" "$(target "$v" le 1.5 '≤ 1.5×')"
	headline_target "idle sessions (1 binding) per GiB" "—" "" "$(num "$(metric ws BenchmarkWSSessionMemory sessions/GiB)" '%.0f')" "—"
}

fam_sdk() {
	run sdk "$GO" test "${bench[@]}" '^BenchmarkSDK' -benchtime 20000x -timeout 10m ./scripts/bench/
}
head_sdk() {
	local w1 w32 rss heap
	w1=$(metric sdk BenchmarkSDKQueueThroughput/window-1 cmds/s)
	w32=$(metric sdk BenchmarkSDKQueueThroughput/window-32 cmds/s)
	rss=$(metric sdk BenchmarkSDKIdleModuleProcessRSS KiB/module)
	heap=$(metric sdk BenchmarkSDKIdleModuleHeap KiB/module)
	headline_begin
	headline "one module's queue, caller waiting for each command" "1.00×" "itself" "$(num "$w1" '%.0f cmds/s')"
	headline "one module's queue, 32 commands queued at once" "$(ratio "$w32" "$w1")" "caller waiting for each" "$(num "$w32" '%.0f cmds/s')"
	headline "idle module, driver process RSS (1000 modules in one process)" "$(ratio "$rss" 256)" "target 256 KiB" "$(num "$rss" '%.1f KiB')"
	headline "idle module, Go heap and stacks" "$(ratio "$heap" 256)" "target 256 KiB" "$(num "$heap" '%.1f KiB')"
}

fam_startup() {
	run startup "$GO" test "${bench[@]}" '^BenchmarkStartup1000Modules$' -benchtime 1x -timeout 5m ./scripts/bench/
}
head_startup() {
	headline_begin
	headline "process start → 1000 modules started" "$(num "$(metric startup BenchmarkStartup1000Modules started-ratio)" '%.2f×')" "the same modules started through go-plugin directly" "$(num "$(metric startup BenchmarkStartup1000Modules ms-started)" '%.0f ms')"
	headline "driver process up → 1000 modules started (the module starts alone)" "$(num "$(metric startup BenchmarkStartup1000Modules phase-ratio)" '%.2f×')" "the same through go-plugin directly" "$(num "$(metric startup BenchmarkStartup1000Modules ms-phase)" '%.0f ms')"
	headline "driver process RSS with 1000 modules" "$(ratio "$(metric startup BenchmarkStartup1000Modules MiB-driver-rss)" "$(metric startup BenchmarkStartup1000Modules MiB-direct-driver-rss)")" "the same driver started directly" "$(num "$(metric startup BenchmarkStartup1000Modules MiB-driver-rss)" '%.1f MiB')"
	headline "engine process RSS with 1000 modules" "—" "" "$(num "$(metric startup BenchmarkStartup1000Modules MiB-engine-rss)" '%.1f MiB')"
}

fam_modules10k() {
	# One iteration: 1k, 2.5k, 5k and 10k modules on one node, 1k and 10k on 3 nodes, 10k on the
	# SDK driver, execute with 10k loaded against 1k (about 2 minutes).
	run modules10k "$GO" test "${bench[@]}" '^BenchmarkStartup10kModules$' -benchtime 1x -timeout 20m ./scripts/bench/
}
head_modules10k() {
	local b=BenchmarkStartup10kModules v
	headline_targets_begin
	v=$(metric modules10k $b s-to-answering)
	headline_target "PUT /model → all 10,000 modules answering, one node" "$(num "$v" '%.2f×' 0.1)" "target 10 s" "$(num "$v" '%.2f s')" "$(target "$v" le 10 '≤ 10 s')"
	v=$(metric modules10k $b s-to-answering-cluster)
	headline_target "PUT /model → all 10,000 modules answering, 3 nodes" "$(num "$v" '%.2f×' 0.1)" "target 10 s" "$(num "$v" '%.2f s')" "$(target "$v" le 10 '≤ 10 s')"
	v=$(metric modules10k $b KiB-per-module)
	headline_target "RSS per idle module, engine + driver processes, one node (test driver)" "$(ratio "$v" 32)" "target 32 KiB" "$(num "$v" '%.1f KiB')" "$(target "$v" le 32 '≤ 32 KiB')"
	v=$(metric modules10k $b KiB-per-module-cluster)
	headline_target "the same, 3 nodes" "$(ratio "$v" 32)" "target 32 KiB" "$(num "$v" '%.1f KiB')" "$(target "$v" le 32 '≤ 32 KiB')"
	v=$(metric modules10k $b KiB-per-module-sdk)
	headline_target "the same, one node, SDK driver" "$(ratio "$v" 32)" "target 32 KiB" "$(num "$v" '%.1f KiB')" "$(target "$v" le 32 '≤ 32 KiB')"
	v=$(metric modules10k $b redis-cpu-share)
	headline_target "redis-server CPU while 10,000 modules start and set 3 statuses each" "—" "" "$(num "$v" '%.0f %% of one core' 100)" "not the bottleneck"
	for c in 1 32; do
		v=$(metric modules10k $b exec-ratio-c$c)
		headline_target "REST execute with 10,000 modules loaded, $c client(s)" "$(num "$v" '%.2f×')" "the same with 1,000 loaded" "see below" "unchanged"
	done
}

fam_redis() {
	run redis "$GO" test "${bench[@]}" '^BenchmarkRedisRestore$' -benchtime 1x -timeout 5m ./scripts/bench/
}
head_redis() {
	headline_begin
	headline "write-back of 1000 modules × 10 statuses after Redis restarted empty" "$(num "$(metric redis BenchmarkRedisRestore writeback-ratio)" '%.2f×')" "bare go-redis pipeline writing the same fields" "$(num "$(metric redis BenchmarkRedisRestore ms-writeback)" '%.1f ms')"
	headline "Redis restart begun → every status back in Redis" "—" "" "$(num "$(metric redis BenchmarkRedisRestore ms-restored)" '%.0f ms')"
}

fam_placement() {
	run placement "$GO" test -count=1 -v -run '^TestChooseConfig$' ./placement/
}
head_placement() {
	# "chosen: balance 1.143, join 1.034 x ideal, leave 1.023 x ideal"
	local line b j l
	line=$(grep -m1 'chosen: balance' "$work/placement.out" 2>/dev/null)
	read -r b j l < <(echo "$line" | sed -E 's/.*balance ([0-9.]+), join ([0-9.]+) x ideal, leave ([0-9.]+) x ideal.*/\1 \2 \3/')
	[[ $line ]] || b='' j='' l=''
	headline_begin
	headline "largest node share, 1000 modules on 3 nodes (worst of 8 name sets)" "$(num "$b" '%.2f×')" "the mean share" "—"
	headline "modules moved when a node joins" "$(num "$j" '%.2f×')" "the ideal" "—"
	headline "modules moved when a node leaves" "$(num "$l" '%.2f×')" "the ideal" "—"
}

fam_sites() {
	run sites "$GO" test "${bench[@]}" '^BenchmarkConstrainedMovement$' -benchtime 1x ./placement/
}
head_sites() {
	local j l o
	j=$(metric sites BenchmarkConstrainedMovement join-x-ideal)
	l=$(metric sites BenchmarkConstrainedMovement leave-x-ideal)
	o=$(metric sites BenchmarkConstrainedMovement other-site-moved)
	headline_begin
	headline "site=b modules moved when a 4th site=b node joins 3 (1000 modules, mean of 8 name sets)" "$(num "$j" '%.2f×')" "the ideal 1/4 ($(target "$j" le 1.3 'target ≤ 1.3×'))" "—"
	headline "site=b modules moved when one of 3 site=b nodes leaves" "$(num "$l" '%.2f×')" "the ideal 1/3 ($(target "$l" le 1.3 'target ≤ 1.3×'))" "—"
	headline "share of site=b modules moved by site=a nodes joining or leaving" "—" "target 0" "$(num "$o" '%.3f')"
}

fam_builder() {
	run builder "$GO" test "${bench[@]}" 'FirstBinary$|WarmBinary' -benchtime 5x -timeout 5m ./builder/
	# A brand-new node: the SDK and its gRPC dependencies compile from nothing (about 30 s).
	run builder "$GO" test "${bench[@]}" 'FirstBinaryColdCache' -benchtime 1x -timeout 5m ./builder/
}
head_builder() {
	local warm first cold
	warm=$(metric builder BenchmarkWarmBinary ns/op)
	first=$(metric builder BenchmarkFirstBinary ns/op)
	cold=$(metric builder BenchmarkFirstBinaryColdCache ns/op)
	headline_begin
	headline "binary already on disk (a restart)" "1.00×" "itself" "$(num "$warm" '%.0f ms' 1e-6)"
	headline "empty data directory → verified binary (clone + build, Go build cache warm)" "$(ratio "$first" "$warm")" "binary on disk" "$(num "$first" '%.0f ms' 1e-6)"
	headline "brand-new node, empty Go build cache too" "$(ratio "$cold" "$warm")" "binary on disk" "$(num "$cold" '%.1f s' 1e-9)"
}

fam_devwatch() {
	run devwatch "$GO" test "${bench[@]}" '^BenchmarkDevWatchSaveToAnswer$' -benchtime 1x -timeout 10m ./scripts/bench/
}
head_devwatch() {
	local l g
	l=$(metric devwatch BenchmarkDevWatchSaveToAnswer s-save-to-answer)
	g=$(metric devwatch BenchmarkDevWatchSaveToAnswer s-go-build)
	headline_targets_begin
	headline_target "save a driver's source → the new code answering an execute (engine dev --watch)" "$(ratio "$l" "$g")" "a plain go build of the folder" "$(num "$l" '%.2f s')" "$(target "$l" le 3 '≤ 3 s')"
}

fam_isolation() {
	run isolation "$GO" test "${bench[@]}" '^BenchmarkIsolationLogFlood$' -benchtime 1x -timeout 5m ./scripts/bench/
}
head_isolation() {
	local logs plain cl cp
	logs=$(metric isolation BenchmarkIsolationLogFlood p99-ms-logflood)
	plain=$(metric isolation BenchmarkIsolationLogFlood p99-ms-stderrflood)
	cl=$(metric isolation BenchmarkIsolationLogFlood cpu-cores-logflood)
	cp=$(metric isolation BenchmarkIsolationLogFlood cpu-cores-stderrflood)
	local rl rp rcl rcp
	rl=$(metric isolation BenchmarkIsolationLogFlood p99-ratio-logflood)
	rp=$(metric isolation BenchmarkIsolationLogFlood p99-ratio-stderrflood)
	rcl=$(metric isolation BenchmarkIsolationLogFlood cpu-ratio-logflood)
	rcp=$(metric isolation BenchmarkIsolationLogFlood cpu-ratio-stderrflood)
	# Ratios are medians of each round's ratio against that round's baseline.
	printf '| measure | ratio | against | value | bound (issue 18) |\n|---|---|---|---|---|\n'
	headline_target "healthy module's p99 while another driver floods hclog lines" "$(num "$rl" '%.2f×')" "no flood" "$(num "$logs" '%.2f ms')" "$(target "$rl" le 2 '≤ 2×')"
	headline_target "healthy module's p99 while another driver floods plain stderr" "$(num "$rp" '%.2f×')" "no flood" "$(num "$plain" '%.2f ms')" "$(target "$rp" le 2 '≤ 2×')"
	headline_target "engine CPU during the hclog flood" "$(num "$rcl" '%.2f×')" "no flood" "$(num "$cl" '%.2f cores')" "$(target "$rcl" le 1.25 '≤ 1.25×')"
	headline_target "engine CPU during the plain stderr flood" "$(num "$rcp" '%.2f×')" "no flood" "$(num "$cp" '%.2f cores')" "$(target "$rcp" le 1.25 '≤ 1.25×')"
}
fam_statusflood() {
	run statusflood "$GO" test "${bench[@]}" '^BenchmarkStatusFlood$' -benchtime 1x -timeout 10m ./scripts/bench/
}
head_statusflood() {
	local r ru p pu c cu q w cr
	r=$(metric statusflood BenchmarkStatusFlood p99-ratio)
	ru=$(metric statusflood BenchmarkStatusFlood p99-ratio-uncapped)
	p=$(metric statusflood BenchmarkStatusFlood p50-ratio)
	pu=$(metric statusflood BenchmarkStatusFlood p50-ratio-uncapped)
	c=$(metric statusflood BenchmarkStatusFlood cpu-s/s-flood)
	cu=$(metric statusflood BenchmarkStatusFlood cpu-s/s-flood-uncapped)
	q=$(metric statusflood BenchmarkStatusFlood cpu-s/s-quiet)
	w=$(metric statusflood BenchmarkStatusFlood flood-writes/s)
	cr=$(awk -v c="$c" -v q="$q" 'BEGIN { if (c != "" && q + 0 > 0) print c / q }')
	printf '| measure | ratio | against | value | bound (issue 18) |\n|---|---|---|---|---|\n'
	headline_target "healthy module's execute p99 during another driver's status flood (default --driver-status-rate 200/s)" "$(num "$r" '%.2f×')" "the same without the flood" "p50 $(num "$p" '%.2f×')" "$(target "$r" le 1.5 '≤ 1.5×')"
	headline_target "the same with --driver-status-rate off" "$(num "$ru" '%.2f×')" "the same without the flood" "p50 $(num "$pu" '%.2f×')" "—"
	headline_target "engine CPU during the flood (default rate)" "$(num "$cr" '%.2f×')" "the engine without the flood" "$(num "$c" '%.2f s/s') (rate off: $(num "$cu" '%.2f s/s'))" "$(target "$cr" le 1.25 '≤ 1.25×')"
	headline_target "status calls the flooding driver got answered (paced over the rate)" "—" "—" "$(num "$w" '%.0f/s')" "—"
}

declare -A titles=(
	[execute]="Execute: REST execute vs a bare proxy and the direct go-plugin call"
	[crash]="Crash recovery: driver SIGKILL → answering"
	[failover]="Raft leader failover (raftfsm, in process)"
	[cluster]="Cluster: leader kill, node kill, movement, execute through a non-owner (3 nodes on loopback)"
	[ws]="WebSocket: exec, notify fan-out and session memory vs bare gorilla/websocket"
	[sdk]="SDK: queue throughput and idle module memory"
	[startup]="1000 modules: start-up and memory"
	[modules10k]="Ten thousand modules: start-up, memory, Redis and execute from 1k to 10k (one node, 3 nodes)"
	[redis]="Redis restarted empty: every status written back"
	[placement]="Placement balance"
	[sites]="Constrained placement: movement within an eligible group (sites)"
	[builder]="Driver builds"
	[devwatch]="Driver development loop: save → new code answering (engine dev --watch)"
	[isolation]="Driver isolation: a healthy module while another driver floods its log"
	[statusflood]="Driver isolation: a healthy module during another driver's status flood"
)

began=$SECONDS
for f in "${families[@]}"; do
	: >"$work/$f.out"
	"fam_$f"
done
took=$((SECONDS - began))

{
	echo "# Benchmarks"
	echo
	echo "Generated by \`scripts/bench.sh\` (\`make bench\`); each benchmark is measured against its baseline"
	echo "in the same run. Ratios first, absolute numbers second."
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	# BENCHMARKS.md itself is what the run rewrites: a change to it alone leaves the code as committed.
	echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':!BENCHMARKS.md' 2>/dev/null || echo ' (with uncommitted changes)')"
	echo "- machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null), $(awk '/^MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo 2>/dev/null)"
	echo "- $($GO version)"
	echo "- whole run: ${took} s"
	if ((${#failed[@]} > 0)); then
		echo
		echo "**FAILED: ${failed[*]}** (their sections below show the end of the output)."
	fi
	for f in "${families[@]}"; do
		echo
		echo "## ${titles[$f]}"
		echo
		echo '```'
		cat "$work/$f.cmd"
		echo '```'
		echo
		if [[ -f $work/$f.failed ]]; then
			echo "**FAILED** (exit $(cat "$work/$f.failed")). End of the output:"
			echo
			echo '```'
			tail -n 40 "$work/$f.out"
			echo '```'
			echo
		fi
		"head_$f"
		text=$(printed "$f")
		if [[ -n $text ]]; then
			echo
			echo "$text"
		fi
		lines=$(result_lines "$f")
		if [[ -n $lines ]]; then
			echo
			echo '```'
			echo "$lines"
			echo '```'
		fi
	done
} >"$out.tmp" && mv "$out.tmp" "$out"

echo "bench.sh: wrote $out in ${took} s" >&2
if ((${#failed[@]} > 0)); then
	echo "bench.sh: FAILED: ${failed[*]}" >&2
	exit 1
fi
