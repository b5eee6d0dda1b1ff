#!/usr/bin/env bash
# Stops every Redis that tests/redis/start.sh started in DIR (default: $DROPLINE_TEST_REDIS_DIR),
# by the PIDs it recorded there, then removes DIR.
set -uo pipefail
dir=${1:-${DROPLINE_TEST_REDIS_DIR:-}}
[ -n "$dir" ] && [ -d "$dir" ] || exit 0
for f in "$dir"/pid.*; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
done
for f in "$dir"/pid.*; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
done
rm -rf "$dir"
