#!/usr/bin/env bash
# Checks the /metrics scrape of the running binary with `promtool check metrics`: any problem
# promtool reports fails the run.
# Usage: tests/metrics/run.sh   (needs promtool, from Debian's `prometheus` package; builds the binary)
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v promtool >/dev/null || { echo "promtool is not installed (apt-get install prometheus)" >&2; exit 1; }

cargo build --quiet --bin dropline
BIN=target/debug/dropline
WORK=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Port 0: the server picks a free loopback port and logs it.
NO_COLOR=1 DROPLINE_LOG_FORMAT=text DROPLINE_LOG_LEVEL=info \
DROPLINE_JWT_SECRET=metrics-check-secret-of-a-decent-length \
  "$BIN" serve --listen 127.0.0.1:0 --database-url "sqlite://$WORK/metrics.db?mode=rwc" \
  >"$WORK/server.log" 2>&1 &
pid=$!

addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's/.*dropline is listening addr=\([0-9.:]*\).*/\1/p' "$WORK/server.log" | head -n 1)
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "metrics: the server did not start" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi

# Some traffic, so the request histograms have series: a product read, a 404, an odd method.
curl -sS -o /dev/null "http://$addr/products"
curl -sS -o /dev/null "http://$addr/no/such/route"
curl -sS -o /dev/null -X FOO "http://$addr/products"
curl -fsS "http://$addr/metrics" >"$WORK/metrics.txt"

if ! promtool check metrics <"$WORK/metrics.txt"; then
  echo "metrics: promtool found problems in the scrape above" >&2
  exit 1
fi
echo "metrics: promtool check metrics passed ($(grep -vc '^#' "$WORK/metrics.txt") samples)"
