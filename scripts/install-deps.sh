#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: a real redis-server, git
# (driver repositories in the builder and end-to-end tests) and chromium (the console's
# end-to-end test drives it headless).
# As root it installs with apt-get; otherwise it says what to run.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v git >/dev/null 2>&1 || missing+=(git)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "missing: ${missing[*]} — install with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
