#!/usr/bin/env bash
# Keyway's test command. On a fresh Debian machine (as root) it installs what
# is missing, starts a throw-away Redis on a free loopback port, and runs the
# format check, go vet, the race-enabled test suite (unit, interop against
# oidc-provider, and the headless-Chromium test) and the fuzz targets for a
# bounded time. Everything it starts is stopped on exit.
#
#   ./test.sh              everything
#   FUZZTIME=2m ./test.sh  fuzz longer (default 20s per target)
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
FUZZTIME=${FUZZTIME:-20s}

step() { printf '\n== %s\n' "$*"; }

# --- what the machine needs ---------------------------------------------
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if ((${#missing[@]})); then
	step "installing ${missing[*]}"
	if [ "$(id -u)" -eq 0 ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		echo "not root: install ${missing[*]} yourself; tests that need them are skipped (or fail under CI=true)" >&2
	fi
fi

if command -v npm >/dev/null; then
	lock=interop/package-lock.json
	if [ ! -d interop/node_modules ] || [ "$lock" -nt interop/node_modules/.package-lock.json ]; then
		step "npm ci (interop provider)"
		(cd interop && npm ci --no-audit --no-fund --loglevel=error)
	fi
else
	echo "npm not found: interop tests are skipped (or fail under CI=true)" >&2
fi

# --- a throw-away Redis on a free loopback port ---------------------------
pids=()
tmp=$(mktemp -d)
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if command -v redis-server >/dev/null; then
	for _ in $(seq 1 20); do
		port=$((20000 + RANDOM % 40000))
		port_free "$port" || continue
		redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
			--dir "$tmp" --logfile "$tmp/redis.log" &
		pids+=($!)
		for _ in $(seq 1 50); do
			[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
			sleep 0.1
		done
		if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
			export KEYWAY_REDIS_URL="redis://127.0.0.1:$port/0"
			echo "redis on 127.0.0.1:$port"
			break
		fi
	done
	[ -n "${KEYWAY_REDIS_URL:-}" ] || { echo "could not start redis-server" >&2; cat "$tmp/redis.log" >&2 || true; exit 1; }
fi
export KEYWAY_CHROMIUM=${KEYWAY_CHROMIUM:-/usr/bin/chromium}

# --- checks ----------------------------------------------------------------
step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './interop/node_modules/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...
if [ -f bench/go.mod ]; then (cd bench && go vet ./...); fi
(cd examples/metrics && go vet ./...)

step "go test -race"
go test -race -count=1 -timeout 15m ./...
# The metrics example is its own module (it needs the Prometheus client).
(cd examples/metrics && go test -race -count=1 ./...)

step "fuzz (each target $FUZZTIME)"
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "$pkg $target"
		go test -run=NONE -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >"$tmp/fuzz.log" 2>&1 ||
			{ cat "$tmp/fuzz.log"; exit 1; }
	done
done

step "all checks passed"
