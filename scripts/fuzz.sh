#!/usr/bin/env bash
# Runs every fuzz target for a short time (FUZZTIME, default 10s each), one after another:
# `go test -fuzz` accepts a single target per run. The committed seed corpora
# (testdata/fuzz/<Target>/ and the f.Add seeds) also run in every plain `go test`.
#
#   scripts/fuzz.sh                     # every target, 10s each
#   FUZZTIME=5m scripts/fuzz.sh         # longer, e.g. nightly
#   scripts/fuzz.sh FuzzBind            # only the targets named
#
# A failure leaves the minimised input in <package>/testdata/fuzz/<Target>/; commit it with the
# fix so that it stays a regression test. FUZZ_PARALLEL sets -parallel (default: the go default,
# GOMAXPROCS workers).
set -euo pipefail

cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-10s}"
GO="${GO:-go}"

# package target, in the order they are run.
TARGETS=(
	"./httpapi FuzzParseWSRequest"
	"./httpapi FuzzWSSession"
	"./httpapi FuzzParseSlug"
	"./httpapi FuzzRESTRequest"
	"./core FuzzCheckArgs"
	"./jsonscan FuzzMembers"
	"./jsonscan FuzzCheck"
	"./peer FuzzExecBody"
	"./peer FuzzFrames"
	"./sdk FuzzBind"
	"./model FuzzParseFile"
)

want() {
	[[ $# -eq 0 ]] && return 0
	local t
	for t in "${@:2}"; do [[ "$t" == "$1" ]] && return 0; done
	return 1
}

parallel=()
[[ -n "${FUZZ_PARALLEL:-}" ]] && parallel=(-parallel "$FUZZ_PARALLEL")

failed=()
ran=0
for entry in "${TARGETS[@]}"; do
	read -r pkg target <<<"$entry"
	if [[ $# -gt 0 ]] && ! want "$target" "$@"; then
		continue
	fi
	ran=$((ran + 1))
	echo "=== fuzz $pkg $target for $FUZZTIME"
	for attempt in 1 2; do
		out=$(mktemp)
		if "$GO" test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "${parallel[@]}" 2>&1 | tee "$out"; then
			rm -f "$out"
			break
		fi
		# On a loaded machine the fuzz engine can miss its own deadline stopping its workers
		# ("context deadline exceeded", no failing input): not a finding, so once more.
		if [[ $attempt -eq 1 ]] && grep -q "context deadline exceeded" "$out" && ! grep -q "Failing input written" "$out"; then
			echo "fuzz.sh: $target: the fuzz engine's own deadline, not a finding; running it again"
			rm -f "$out"
			continue
		fi
		rm -f "$out"
		failed+=("$pkg $target")
		break
	done
done

if [[ $ran -eq 0 ]]; then
	echo "fuzz.sh: no target matches: $*" >&2
	exit 2
fi
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "fuzz.sh: FAILED: ${failed[*]}" >&2
	echo "fuzz.sh: the failing inputs are under <package>/testdata/fuzz/<target>/" >&2
	exit 1
fi
echo "fuzz.sh: all $ran targets passed ($FUZZTIME each)"
