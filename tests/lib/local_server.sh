# Sourced by tests/browser/run.sh and tests/schemathesis/run.sh: builds dropline and serves it
# on 127.0.0.1:$PORT with a mock receiver on $PORT+1 and a throwaway SQLite file, both stopped
# (and the work folder removed) when the calling script exits.
# Needs, set by the caller: SECRET (the JWT secret), PORT, and DB_NAME (the SQLite file's name).
# Sets: BIN, WORK (server.log and receiver.log live there), ADMIN (an admin token for 1h),
# and `api METHOD PATH [JSON]`, a request as admin that fails on an error answer.

cargo build --quiet --bin dropline
BIN=$(pwd)/target/debug/dropline
WORK=$(mktemp -d)
RECEIVER_PORT=$((PORT + 1))
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" mock-receiver --listen "127.0.0.1:$RECEIVER_PORT" >"$WORK/receiver.log" 2>&1 &
pids+=($!)
DROPLINE_JWT_SECRET=$SECRET DROPLINE_LOG_LEVEL=warn \
DROPLINE_NOTIFY_URL="http://127.0.0.1:$RECEIVER_PORT/notify" \
  "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "sqlite://$WORK/$DB_NAME?mode=rwc" >"$WORK/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

ADMIN=$(DROPLINE_JWT_SECRET=$SECRET "$BIN" token --role admin --ttl 1h)
api() { curl -fsS -X "$1" "http://127.0.0.1:$PORT$2" -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' ${3:+-d "$3"}; }
